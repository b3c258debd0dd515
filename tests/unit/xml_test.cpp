// libs/xml: hostile documents get a typed error and nothing else happens (no entity expanded,
// no file or network read); XSD sets load only local files under their folder and report the
// failing path.
#include "relais/xml/xml.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "relais/xml/stream.hpp"

using namespace relais;

namespace {

const std::string kData = RELAIS_TEST_DATA_DIR "/xml";

xml::errc parse_error(std::string_view doc, const xml::Limits& l = {}) {
  auto r = xml::parse(doc, l);
  EXPECT_FALSE(r.has_value()) << "parsed: " << doc.substr(0, 80);
  return r.has_value() ? xml::errc::schema_invalid : r.error().code;
}

std::shared_ptr<const xml::Schema> person_schema() {
  auto s = xml::Schema::load({kData + "/schema/person.xsd"}, kData + "/schema");
  EXPECT_TRUE(s.has_value()) << (s.has_value() ? "" : s.error().message);
  return s.has_value() ? *s : nullptr;
}

}  // namespace

TEST(XmlParse, AcceptsAWellFormedDocument) {
  auto r = xml::parse(
      R"(<?xml version="1.0"?><p:Person xmlns:p="urn:relais:test:person"><p:SSIN>68060105329</p:SSIN><p:Name>A &amp; B</p:Name></p:Person>)");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  auto* root = r->root();
  EXPECT_EQ(xml::local_name(root), "Person");
  EXPECT_EQ(xml::namespace_uri(root), "urn:relais:test:person");
  EXPECT_EQ(xml::text(xml::first_child(root, "urn:relais:test:person", "SSIN")), "68060105329");
  EXPECT_EQ(xml::text(xml::first_child(root, "urn:relais:test:person", "Name")), "A & B");
  EXPECT_EQ(xml::first_child(root, "urn:other", "SSIN"), nullptr);  // namespaces matter
}

TEST(XmlParse, RefusesMalformed) {
  EXPECT_EQ(parse_error("<a><b></a>"), xml::errc::malformed);
  EXPECT_EQ(parse_error(""), xml::errc::malformed);
  EXPECT_EQ(parse_error("not xml"), xml::errc::malformed);
  EXPECT_EQ(parse_error("<a>\xff\xfe</a>"), xml::errc::malformed);  // not UTF-8
  auto r = xml::parse("<a>\n<b></a>");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().line, 2);
  EXPECT_FALSE(r.error().message.empty());
}

TEST(XmlParse, RefusesEveryDoctype) {
  // Billion laughs: refused at the DOCTYPE, nothing expanded.
  std::string laughs = R"(<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">)";
  for (int i = 1; i <= 9; ++i) {
    laughs += "<!ENTITY lol" + std::to_string(i) + " \"";
    for (int j = 0; j < 10; ++j)
      laughs += "&lol" + (i == 1 ? std::string() : std::to_string(i - 1)) + ";";
    laughs += "\">";
  }
  laughs += "]><lolz>&lol9;</lolz>";
  EXPECT_EQ(parse_error(laughs), xml::errc::dtd_forbidden);
  // XXE through a local file and through the network.
  EXPECT_EQ(parse_error(R"(<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>)"),
            xml::errc::dtd_forbidden);
  EXPECT_EQ(parse_error(R"(<!DOCTYPE a [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]><a>&x;</a>)"),
            xml::errc::dtd_forbidden);
  EXPECT_EQ(parse_error(R"(<!DOCTYPE a SYSTEM "http://127.0.0.1:9/a.dtd"><a/>)"),
            xml::errc::dtd_forbidden);
  EXPECT_EQ(parse_error(R"(<!DOCTYPE a><a/>)"), xml::errc::dtd_forbidden);
  // Parameter entities.
  EXPECT_EQ(parse_error(R"(<!DOCTYPE a [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><a/>)"),
            xml::errc::dtd_forbidden);
}

TEST(XmlParse, UndeclaredEntityIsMalformed) {
  EXPECT_EQ(parse_error("<a>&x;</a>"), xml::errc::malformed);
}

TEST(XmlParse, EnforcesTheLimits) {
  xml::Limits l;
  l.max_bytes = 100;
  EXPECT_EQ(parse_error(std::string(101, ' '), l), xml::errc::too_large);

  l = {};
  l.max_depth = 10;
  std::string deep;
  for (int i = 0; i < 11; ++i) deep += "<a>";
  for (int i = 0; i < 11; ++i) deep += "</a>";
  EXPECT_EQ(parse_error(deep, l), xml::errc::too_deep);
  std::string ok_depth;
  for (int i = 0; i < 10; ++i) ok_depth += "<a>";
  for (int i = 0; i < 10; ++i) ok_depth += "</a>";
  EXPECT_TRUE(xml::parse(ok_depth, l).has_value());

  // Far deeper than any limit: refused, no crash (libxml2's own depth limit or ours).
  std::string very_deep;
  for (int i = 0; i < 100000; ++i) very_deep += "<a>";
  auto r = xml::parse(very_deep);
  ASSERT_FALSE(r.has_value());

  l = {};
  l.max_elements = 5;
  EXPECT_EQ(parse_error("<a><b/><b/><b/><b/><b/></a>", l), xml::errc::too_many_nodes);

  l = {};
  l.max_attributes = 3;
  EXPECT_EQ(parse_error(R"(<a x="1" y="2" z="3" w="4"/>)", l), xml::errc::too_many_attributes);
  EXPECT_EQ(parse_error(R"(<a xmlns:p="u1" xmlns:q="u2" x="1" y="2"/>)", l),
            xml::errc::too_many_attributes);

  l = {};
  l.max_text_bytes = 16;
  EXPECT_EQ(parse_error("<a>" + std::string(17, 'x') + "</a>", l), xml::errc::text_too_long);
  EXPECT_EQ(parse_error("<a x=\"" + std::string(17, 'x') + "\"/>", l), xml::errc::text_too_long);
  EXPECT_EQ(parse_error("<a><![CDATA[" + std::string(17, 'x') + "]]></a>", l),
            xml::errc::text_too_long);
  EXPECT_TRUE(xml::parse("<a>" + std::string(16, 'x') + "</a>", l).has_value());
}

TEST(XmlParse, ErrorCodesHaveStableNames) {
  EXPECT_EQ(xml::code_name(xml::errc::dtd_forbidden), "XML_DTD_FORBIDDEN");
  EXPECT_EQ(xml::code_name(xml::errc::schema_invalid), "XML_SCHEMA_INVALID");
  EXPECT_EQ(xml::code_name(xml::errc::too_large), "XML_TOO_LARGE");
}

// The schema's errors for a well-formed document (the parse must succeed).
std::vector<xml::Error> schema_errors(const xml::Schema& schema, std::string_view doc) {
  auto d = xml::parse(doc);
  EXPECT_TRUE(d.has_value()) << doc;
  return d.has_value() ? schema.validate(*d) : std::vector<xml::Error>{};
}

TEST(XmlSchema, ValidatesAndNamesTheFailingPath) {
  auto schema = person_schema();
  ASSERT_TRUE(schema);
  const std::string ns = R"(<Person xmlns="urn:relais:test:person">)";
  EXPECT_TRUE(
      schema_errors(*schema, ns + "<SSIN>68060105329</SSIN><Name>A</Name><Name>B</Name></Person>")
          .empty());

  auto errors = schema_errors(*schema, ns + "<SSIN>6806010532</SSIN><Name>A</Name></Person>");
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].code, xml::errc::schema_invalid);
  EXPECT_EQ(errors[0].path, "/Person/SSIN");
  EXPECT_NE(errors[0].message.find("6806010532"), std::string::npos);

  EXPECT_FALSE(
      schema_errors(
          *schema,
          R"(<Person xmlns="urn:relais:test:other"><SSIN>68060105329</SSIN><Name>A</Name></Person>)")
          .empty());

  auto e = schema_errors(*schema, ns + "<SSIN>68060105329</SSIN><Name>A</Name><Name>B</"
                                       "Name><Name>C</Name><Name>D</Name></Person>");
  ASSERT_FALSE(e.empty());
  EXPECT_EQ(e[0].path, "/Person/Name[4]");
}

TEST(XmlSchema, ReadsOnlyLocalFilesUnderItsFolder) {
  auto escape = xml::Schema::load({kData + "/schema/escapes.xsd"}, kData + "/schema");
  ASSERT_FALSE(escape.has_value());
  EXPECT_EQ(escape.error().code, xml::errc::schema_load_failed);
  auto net = xml::Schema::load({kData + "/schema/network.xsd"}, kData + "/schema");
  ASSERT_FALSE(net.has_value());
  EXPECT_EQ(net.error().code, xml::errc::schema_load_failed);
  // A file named outside the folder is refused before it is read.
  auto outside = xml::Schema::load({kData + "/outside/secret.xsd"}, kData + "/schema");
  ASSERT_FALSE(outside.has_value());
  EXPECT_NE(outside.error().message.find("not a file under"), std::string::npos);
  auto missing = xml::Schema::load({kData + "/schema/none.xsd"}, kData + "/schema");
  EXPECT_FALSE(missing.has_value());
  auto no_dir = xml::Schema::load({kData + "/schema/person.xsd"}, kData + "/no-such-dir");
  EXPECT_FALSE(no_dir.has_value());
}

TEST(XmlSchema, ConcurrentValidationIsSafe) {
  auto schema = person_schema();
  ASSERT_TRUE(schema);
  std::vector<std::thread> threads;
  std::atomic<int> valid{0}, invalid{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const bool good = (i + t) % 2 == 0;
        auto d = xml::parse(std::string(R"(<Person xmlns="urn:relais:test:person"><SSIN>)") +
                            (good ? "68060105329" : "x") + "</SSIN><Name>A</Name></Person>");
        if (!d.has_value()) continue;
        (schema->validate(*d).empty() ? valid : invalid).fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(valid.load(), 400);
  EXPECT_EQ(invalid.load(), 400);
}

TEST(XmlSchema, ValidatesOneElementInsideAnEnvelope) {
  auto schema = person_schema();
  ASSERT_TRUE(schema);
  auto d = xml::parse(
      R"(<e:Envelope xmlns:e="urn:envelope"><e:Body><Person xmlns="urn:relais:test:person"><SSIN>68060105329</SSIN><Name>A</Name></Person></e:Body></e:Envelope>)");
  ASSERT_TRUE(d.has_value());
  EXPECT_FALSE(schema->validate(*d).empty());  // the envelope is not in the set
  auto* person = xml::element_children(xml::first_child(d->root(), "urn:envelope", "Body")).front();
  EXPECT_TRUE(schema->validate_element(person).empty());
  auto bad = xml::parse(
      R"(<e:Envelope xmlns:e="urn:envelope"><e:Body><Person xmlns="urn:relais:test:person"><SSIN>1</SSIN></Person></e:Body></e:Envelope>)");
  ASSERT_TRUE(bad.has_value());
  auto errors = schema->validate_element(
      xml::element_children(xml::first_child(bad->root(), "urn:envelope", "Body")).front());
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].path, "/Envelope/Body/Person/SSIN");
}

// The streaming reader of batch files: the prolog is checked before libxml2 reads it, records
// come one by one, self-contained (namespace declarations of the root included).
TEST(XmlStream, ScansTheProlog) {
  using xml::Prolog;
  EXPECT_EQ(xml::scan_prolog("<?xml version=\"1.0\"?>\n<!-- c --><root/>"), Prolog::root);
  EXPECT_EQ(xml::scan_prolog("\xEF\xBB\xBF<root/>"), Prolog::root);
  EXPECT_EQ(xml::scan_prolog("<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"b\">]><r/>"),
            Prolog::doctype);
  EXPECT_EQ(xml::scan_prolog("<!-- <r> --><!DOCTYPE r SYSTEM \"file:///etc/passwd\"><r/>"),
            Prolog::doctype);
  EXPECT_EQ(xml::scan_prolog("<?xml version=\"1.0\"?><!-- unfinished"), Prolog::need_more);
  EXPECT_EQ(xml::scan_prolog(std::string("<\0r\0", 4)), Prolog::unsupported);
  EXPECT_EQ(xml::scan_prolog("\xFF\xFE<\0"), Prolog::unsupported);
}

namespace {
std::string write_temp(const std::string& name, const std::string& content) {
  const auto p = std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
  std::ofstream(p, std::ios::binary) << content;
  return p.string();
}
}  // namespace

TEST(XmlStream, ReadsRecordsOneByOne) {
  std::string body =
      "<?xml version=\"1.0\"?>\n<b:Batch xmlns:b=\"urn:b\" "
      "xmlns=\"urn:n\"><b:FileId>F</b:FileId>\n";
  for (int i = 1; i <= 3000; ++i) body += "<R><V>" + std::to_string(i) + "</V></R>\n";
  body += "</b:Batch>\n<!-- end -->\n";
  const auto path = write_temp("stream-ok", body);
  auto r = xml::StreamReader::open(path, 1u << 20);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)->root_ns(), "urn:b");
  EXPECT_EQ((*r)->root_name(), "Batch");
  auto first = (*r)->next();
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->name, "FileId");
  int n = 0;
  for (;;) {
    auto c = (*r)->next();
    ASSERT_TRUE(c) << c.error().message;
    if (!*c) break;
    ++n;
    EXPECT_EQ((*c)->ns, "urn:n");
    auto doc = xml::parse((*c)->xml);  // self-contained
    ASSERT_TRUE(doc) << (*c)->xml;
    EXPECT_EQ(xml::namespace_uri(doc->root()), "urn:n");
    EXPECT_EQ(xml::text(doc->root()), std::to_string(n));
  }
  EXPECT_EQ(n, 3000);
  EXPECT_GT((*r)->bytes_consumed(), body.size() / 2);  // the progress figure
  EXPECT_LE((*r)->bytes_consumed(), body.size());
  std::filesystem::remove(path);
}

TEST(XmlStream, RefusesHostileFiles) {
  const auto dtd = write_temp("stream-dtd",
                              "<?xml version=\"1.0\"?><!DOCTYPE b [<!ENTITY a \"aaaa\"><!ENTITY b "
                              "\"&a;&a;&a;\">]><b>&b;</b>");
  auto r = xml::StreamReader::open(dtd, 1u << 20);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, xml::errc::dtd_forbidden);

  std::string big = "<b>";
  for (int i = 0; i < 6000; ++i) big += "<r>0123456789</r>";  // past the 64 KiB prolog read
  big += "</b>";
  const auto large = write_temp("stream-large", big);
  r = xml::StreamReader::open(large, 1000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, xml::errc::too_large);
  r = xml::StreamReader::open(large, big.size() - 1);
  ASSERT_TRUE(r) << r.error().message;
  bool failed = false;
  for (int i = 0; i < 7000; ++i) {
    auto c = (*r)->next();
    if (!c) {
      EXPECT_EQ(c.error().code, xml::errc::too_large);
      failed = true;
      break;
    }
    if (!*c) break;
  }
  EXPECT_TRUE(failed);

  std::string bad = "<b>";
  for (int i = 0; i < 6000; ++i) bad += "<r>0123456789</r>";
  bad += "<r>2</x></b>";  // a malformed record far into the file: the records before it come first
  const auto broken = write_temp("stream-broken", bad);
  r = xml::StreamReader::open(broken, 1u << 20);
  ASSERT_TRUE(r) << r.error().message;
  int good = 0;
  for (;;) {
    auto c = (*r)->next();
    if (!c) {
      EXPECT_EQ(c.error().code, xml::errc::malformed);
      break;
    }
    ASSERT_TRUE(*c) << "the malformed tail was not reported";
    ++good;
  }
  EXPECT_GT(good, 1000);
  EXPECT_LE(good, 6000);
  for (const auto& p : {dtd, large, broken}) std::filesystem::remove(p);
}
