// libs/xmlmap: a declarative mapping turns a partner's XML body into the JSON form of a flow
// message; mapping files are checked when loaded, and every ambiguity or unknown code in a
// document is a typed error naming the XML path.
#include "relais/xmlmap/xmlmap.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "relais/xml/xml.hpp"

using namespace relais;
namespace json = boost::json;

namespace {

const char* kMapping = R"(
flow: notify-family-composition
root: {namespace: "urn:t", element: Household}
namespaces: {t: "urn:t", c: "urn:c"}
fields:
  - {path: t:Ticket, field: ticket}
  - {path: t:Person/c:SSIN, field: ssin}
  - {path: "@event", field: event, codes: {"01": MEMBER_ADDED, "02": MEMBER_REMOVED}}
  - {path: t:Nis, field: municipality_nis_code}
  - {path: t:Count, field: count, type: integer}
  - {path: t:Flag, field: flag, type: boolean}
  - path: t:Member
    field: members
    repeated: true
    fields:
      - {path: c:SSIN, field: ssin}
      - {path: t:Role, field: role_code, type: integer}
)";

xmlmap::Mapping mapping() {
  auto m = xmlmap::load(kMapping);
  EXPECT_TRUE(m.has_value()) << (m.has_value() ? "" : m.error().message);
  return m.has_value() ? *m : xmlmap::Mapping{};
}

struct Mapped {
  xml::Document doc;
  boost::system::result<json::object, xmlmap::Error> out;
};

Mapped map(const std::string& body) {
  auto d = xml::parse(body);
  EXPECT_TRUE(d.has_value()) << body;
  Mapped r{d.has_value() ? std::move(*d) : xml::Document(), xmlmap::Error{}};
  r.out = xmlmap::apply(mapping(), r.doc.root());
  return r;
}

const std::string kHead = R"(<Household xmlns="urn:t" xmlns:c="urn:c" event="01">)";

}  // namespace

TEST(XmlMap, MapsScalarsNestedListsAttributesAndCodes) {
  auto r = map(
      kHead +
      R"(<Ticket> 0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11 </Ticket><Person><c:SSIN>68060105329</c:SSIN></Person>
      <Nis>21004</Nis><Count>3</Count><Flag>true</Flag>
      <Member><c:SSIN>68060105329</c:SSIN><Role>1</Role></Member><Member><c:SSIN>12060105317</c:SSIN><Role>3</Role></Member>
      <Unmapped>ignored</Unmapped></Household>)");
  ASSERT_TRUE(r.out.has_value()) << r.out.error().message;
  const json::object expected = {
      {"ticket", "0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11"},
      {"ssin", "68060105329"},
      {"event", "MEMBER_ADDED"},
      {"municipality_nis_code", "21004"},
      {"count", 3},
      {"flag", true},
      {"members", json::array{json::object{{"ssin", "68060105329"}, {"role_code", 1}},
                              json::object{{"ssin", "12060105317"}, {"role_code", 3}}}}};
  EXPECT_EQ(*r.out, expected) << json::serialize(*r.out);
}

TEST(XmlMap, AbsentElementsLeaveTheFieldAbsent) {
  auto r = map(kHead + "<Ticket>t</Ticket></Household>");
  ASSERT_TRUE(r.out.has_value());
  EXPECT_EQ(*r.out, (json::object{{"ticket", "t"}, {"event", "MEMBER_ADDED"}}));
}

TEST(XmlMap, NamespacesMatter) {
  auto r =
      map(kHead +
          R"(<Person><SSIN>68060105329</SSIN></Person></Household>)");  // SSIN in urn:t, not urn:c
  ASSERT_TRUE(r.out.has_value());
  EXPECT_FALSE(r.out->contains("ssin"));
}

TEST(XmlMap, DocumentErrorsAreTypedAndLocated) {
  auto two = map(kHead + "<Ticket>a</Ticket><Ticket>b</Ticket></Household>");
  ASSERT_FALSE(two.out.has_value());
  EXPECT_EQ(two.out.error().code, "XML_AMBIGUOUS");
  EXPECT_EQ(two.out.error().path, "/Household/Ticket[2]");

  auto code = map(R"(<Household xmlns="urn:t" event="09"/>)");
  ASSERT_FALSE(code.out.has_value());
  EXPECT_EQ(code.out.error().code, "XML_UNKNOWN_CODE");

  auto count = map(kHead + "<Count>3x</Count></Household>");
  ASSERT_FALSE(count.out.has_value());
  EXPECT_EQ(count.out.error().code, "XML_BAD_VALUE");
  EXPECT_EQ(count.out.error().path, "/Household/Count");

  auto flag = map(kHead + "<Flag>yes</Flag></Household>");
  ASSERT_FALSE(flag.out.has_value());
  EXPECT_EQ(flag.out.error().code, "XML_BAD_VALUE");

  auto nested = map(kHead + "<Member><Role>x</Role></Member></Household>");
  ASSERT_FALSE(nested.out.has_value());
  EXPECT_EQ(nested.out.error().path, "/Household/Member/Role");

  auto root = map(R"(<Other xmlns="urn:t"/>)");
  ASSERT_FALSE(root.out.has_value());
  EXPECT_EQ(root.out.error().code, "MAPPING_INVALID");
}

TEST(XmlMap, BadMappingFilesAreRefusedWhenLoaded) {
  auto bad = [](const std::string& y) {
    auto m = xmlmap::load(y);
    EXPECT_FALSE(m.has_value()) << y;
    return m.has_value() ? std::string() : m.error().code;
  };
  const std::string head = "flow: f\nroot: {namespace: u, element: E}\nnamespaces: {p: u}\n";
  EXPECT_EQ(bad("not: [yaml"), "MAPPING_INVALID");
  EXPECT_EQ(bad("flow: f\n"), "MAPPING_INVALID");
  EXPECT_EQ(bad(head + "fields: [{path: q:X, field: x}]"), "MAPPING_INVALID");  // undeclared prefix
  EXPECT_EQ(bad(head + "fields: [{path: X, field: x}]"), "MAPPING_INVALID");    // no prefix
  EXPECT_EQ(bad(head + "fields: [{path: \"@a/p:X\", field: x}]"),
            "MAPPING_INVALID");                                       // attribute not last
  EXPECT_EQ(bad(head + "fields: [{path: p:X}]"), "MAPPING_INVALID");  // no field
  EXPECT_EQ(bad(head + "fields: [{path: p:X, field: x, type: float}]"), "MAPPING_INVALID");
  EXPECT_EQ(bad(head + "fields: [{path: p:X//p:Y, field: x}]"), "MAPPING_INVALID");
  EXPECT_TRUE(xmlmap::load(head + "fields: [{path: p:X/@a, field: x}]").has_value());
}

TEST(XmlMap, FolderCatalogFindsByRootAndRefusesDuplicates) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("xmlmap-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "a.yaml") << kMapping;
  std::ofstream(dir / "notes.txt") << "not a mapping";
  auto c = xmlmap::load_folder(dir.string());
  ASSERT_TRUE(c.has_value()) << c.error().message;
  ASSERT_NE(c->find("urn:t", "Household"), nullptr);
  EXPECT_EQ(c->find("urn:t", "Household")->flow, "notify-family-composition");
  EXPECT_EQ(c->find("urn:x", "Household"), nullptr);
  std::ofstream(dir / "b.yaml") << kMapping;
  auto dup = xmlmap::load_folder(dir.string());
  ASSERT_FALSE(dup.has_value());
  EXPECT_NE(dup.error().message.find("b.yaml"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(XmlMap, IncludesComeFromTheMappingFolderOnly) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("xmlmap-inc-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "_common.yaml")
      << "namespaces: {t: \"urn:t\"}\nfields: [{path: t:Ticket, field: ticket}]\n";
  const std::string m =
      "flow: f\nroot: {namespace: urn:t, element: E}\ninclude: [_common.yaml]\nfields: [{path: "
      "t:X, field: x}]\n";
  auto with = xmlmap::load(m, dir.string());
  ASSERT_TRUE(with.has_value()) << with.error().message;
  ASSERT_EQ(with->fields.size(), 2u);
  EXPECT_EQ(with->fields[0].field, "ticket");  // included fields first
  EXPECT_FALSE(xmlmap::load(m).has_value());   // no folder, no include
  auto escape =
      xmlmap::load("flow: f\nroot: {namespace: u, element: E}\ninclude: [../x.yaml]\nfields: []\n",
                   dir.string());
  ASSERT_FALSE(escape.has_value());
  EXPECT_EQ(escape.error().code, "MAPPING_INVALID");
  std::ofstream(dir / "main.yaml") << m;
  auto c = xmlmap::load_folder(dir.string());  // _common.yaml is not a mapping of its own
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->by_root.size(), 1u);
  std::filesystem::remove_all(dir);
}
