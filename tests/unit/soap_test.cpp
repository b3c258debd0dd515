// libs/soap: envelopes opened or refused with a typed error; replies and faults whose
// ResultSummary is valid against the public BCSS schema (var/bcss, scripts/fetch-bcss-xsd.sh),
// whatever text they carry.
#include "relais/soap/soap.hpp"

#include <gtest/gtest.h>

#include <string>

#include "relais/xml/xml.hpp"

using namespace relais;

namespace {

const std::string kXsd = RELAIS_BCSS_XSD_DIR;

const xml::Schema& common_schema() {
  static const auto s = xml::Schema::load({kXsd + "/SSDN/Common/NamespaceRoot.xsd"}, kXsd);
  if (!s.has_value())
    throw std::runtime_error("BCSS XSDs missing (scripts/fetch-bcss-xsd.sh): " + s.error().message);
  return **s;
}

xml::Document parsed(const std::string& text) {
  auto d = xml::parse(text);
  EXPECT_TRUE(d.has_value()) << text;
  return d.has_value() ? std::move(*d) : xml::Document();
}

// The ResultSummary element of a reply, re-serialised on its own and validated.
std::vector<xml::Error> validate_summary(const std::string& summary_xml) {
  return common_schema().validate(parsed(summary_xml));
}

soap::errc open_error(const std::string& text,
                      const std::vector<std::string_view>& understood = {}) {
  auto d = parsed(text);
  auto e = soap::open(d, understood);
  EXPECT_FALSE(e.has_value()) << text;
  return e.has_value() ? soap::errc::not_an_envelope : e.error().code;
}

const std::string k11 = R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">)";
const std::string k12 = R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">)";

}  // namespace

TEST(SoapOpen, FindsThePayloadInBothVersions) {
  for (const auto& [head, version] :
       {std::pair{k11, soap::Version::soap11}, std::pair{k12, soap::Version::soap12}}) {
    auto d = parsed(
        head +
        R"(<s:Header><h:Ref xmlns:h="urn:h">1</h:Ref></s:Header><s:Body> <m:Msg xmlns:m="urn:m"/> </s:Body></s:Envelope>)");
    auto env = soap::open(d);
    ASSERT_TRUE(env.has_value()) << env.error().message;
    EXPECT_EQ(env->version, version);
    EXPECT_EQ(xml::local_name(env->payload), "Msg");
    EXPECT_EQ(xml::namespace_uri(env->payload), "urn:m");
    ASSERT_NE(env->header, nullptr);
  }
}

TEST(SoapOpen, RefusesWhatIsNotOneMessage) {
  EXPECT_EQ(open_error(R"(<Envelope><Body><x/></Body></Envelope>)"), soap::errc::not_an_envelope);
  EXPECT_EQ(open_error(R"(<s:Envelope xmlns:s="urn:soap-ish"><s:Body><x/></s:Body></s:Envelope>)"),
            soap::errc::not_an_envelope);
  EXPECT_EQ(open_error(k11 + "</s:Envelope>"), soap::errc::no_body);
  EXPECT_EQ(open_error(k11 + "<s:Body> text only </s:Body></s:Envelope>"), soap::errc::empty_body);
  EXPECT_EQ(open_error(k11 + "<s:Body><a/><b/></s:Body></s:Envelope>"),
            soap::errc::several_body_elements);
  // A Body in the other version's namespace is not this envelope's Body.
  EXPECT_EQ(
      open_error(
          k11 +
          R"(<t:Body xmlns:t="http://www.w3.org/2003/05/soap-envelope"><a/></t:Body></s:Envelope>)"),
      soap::errc::no_body);
}

TEST(SoapOpen, MustUnderstandHeadersAreRefusedUnlessUnderstood) {
  const std::string doc =
      k11 +
      R"(<s:Header><h:Sec xmlns:h="urn:sec" s:mustUnderstand="1"/></s:Header><s:Body><a/></s:Body></s:Envelope>)";
  EXPECT_EQ(open_error(doc), soap::errc::must_understand);
  auto d = parsed(doc);
  EXPECT_TRUE(soap::open(d, {"urn:sec"}).has_value());
  // mustUnderstand="0" or absent: ignored.
  auto d2 = parsed(
      k11 +
      R"(<s:Header><h:Sec xmlns:h="urn:sec" s:mustUnderstand="0"/></s:Header><s:Body><a/></s:Body></s:Envelope>)");
  EXPECT_TRUE(soap::open(d2).has_value());
  EXPECT_EQ(soap::code_name(soap::errc::must_understand), "SOAP_MUST_UNDERSTAND");
}

TEST(SoapReply, ResultSummariesAreValidAgainstThePublicSchema) {
  EXPECT_TRUE(validate_summary(soap::result_summary_xml(soap::success())).empty());
  auto f = soap::failure("INVALID_SSIN_CHECKSUM", "the check digits do not match", "/Notify/SSIN",
                         "68060105320");
  const auto xml_text = soap::result_summary_xml(f);
  EXPECT_TRUE(validate_summary(xml_text).empty()) << xml_text;
  EXPECT_NE(xml_text.find(R"(ok="NO")"), std::string::npos);
  EXPECT_NE(xml_text.find("<ReturnCode>10000</ReturnCode>"), std::string::npos);
  EXPECT_NE(xml_text.find("<FieldName>/Notify/SSIN</FieldName>"), std::string::npos);
}

TEST(SoapReply, HostileTextStaysText) {
  auto f = soap::failure("X", "</Diagnostic><Injected/>\x01\x7f & 'q' \xff\xfe", "<a b=\"c\">",
                         std::string(5000, 'v'));
  const auto xml_text = soap::result_summary_xml(f);
  EXPECT_TRUE(validate_summary(xml_text).empty()) << xml_text;
  EXPECT_EQ(xml_text.find("<Injected/>"), std::string::npos);
  auto d = parsed(xml_text);
  auto* detail = xml::first_child(d.root(), soap::kBcssCommon, "Detail");
  auto diag = xml::text(xml::first_child(detail, soap::kBcssCommon, "Diagnostic"));
  EXPECT_NE(diag.find("</Diagnostic><Injected/>"), std::string::npos);  // round-trips as text
  auto* info = xml::first_child(detail, soap::kBcssCommon, "Information");
  EXPECT_LE(xml::text(xml::first_child(info, soap::kBcssCommon, "FieldValue")).size(), 256u);
}

TEST(SoapReply, BoundsFollowTheSchema) {
  soap::ResultSummary r = soap::failure("A", "a");
  for (int i = 0; i < 40; ++i) r.details.push_back(r.details.front());
  for (int i = 0; i < 9; ++i) r.details.front().information.push_back({"f", "v"});
  const auto xml_text = soap::result_summary_xml(r);
  EXPECT_TRUE(validate_summary(xml_text).empty());  // maxOccurs 30 and 5 respected
  auto d = parsed(xml_text);
  EXPECT_EQ(xml::children(d.root(), soap::kBcssCommon, "Detail").size(), 30u);
}

TEST(SoapFault, BothVersionsCarryAValidSummary) {
  for (auto v : {soap::Version::soap11, soap::Version::soap12}) {
    const auto text =
        soap::fault(v, true, "not well-formed: <oops>", soap::failure("XML_MALFORMED", "line 3"));
    auto d = parsed(text);
    auto env = soap::open(d);
    ASSERT_TRUE(env.has_value());
    EXPECT_EQ(env->version, v);
    EXPECT_EQ(xml::local_name(env->payload), "Fault");
    EXPECT_NE(text.find(v == soap::Version::soap11 ? "soap:Client" : "soap:Sender"),
              std::string::npos);
    const auto start = text.find("<ResultSummary");
    const auto end = text.find("</ResultSummary>");
    ASSERT_NE(start, std::string::npos);
    EXPECT_TRUE(validate_summary(text.substr(start, end + 16 - start)).empty());
  }
  EXPECT_EQ(soap::content_type(soap::Version::soap12), "application/soap+xml; charset=utf-8");
}
