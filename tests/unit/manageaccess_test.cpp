// libs/manageaccess: requests parsed against the public ManageAccess XSD (var/bcss,
// scripts/fetch-bcss-xsd.sh), typed errors, the mapping onto directory lines, replies built and
// validated against the same XSD, BCSS's answers read, LIST exports read and diffed.
#include "relais/manageaccess/manageaccess.hpp"

#include <gtest/gtest.h>

#include <string>

#include "relais/soap/soap.hpp"
#include "relais/xml/xml.hpp"

using namespace relais;
namespace ma = relais::manageaccess;

namespace {

const std::string kXsd = RELAIS_BCSS_XSD_DIR;
const std::string kMa = std::string(ma::kNs);
const std::string kCommon = std::string(soap::kBcssCommon);

const xml::Schema& schema() {
  static const auto s = xml::Schema::load(ma::schema_files(kXsd), kXsd);
  if (!s.has_value())
    throw std::runtime_error("BCSS XSDs missing (scripts/fetch-bcss-xsd.sh): " + s.error().message);
  return **s;
}

std::string body(
    const std::string& action, const std::string& purpose = "<Purpose>2</Purpose>",
    const std::string& period = "<Period><c:StartDate>2026-01-01</c:StartDate></Period>",
    const std::string& ssin = "68060105329", const std::string& extra = "") {
  return "<ManageAccessRequest xmlns=\"" + kMa + "\" xmlns:c=\"" + kCommon + "\"><SSIN>" + ssin +
         "</SSIN>" + purpose + period + "<Action>" + action + "</Action>" + extra +
         "<ProofOfAuthentication><PersonData><LastName>Dupont</LastName><BirthDate>1968-06-01</"
         "BirthDate>"
         "</PersonData></ProofOfAuthentication></ManageAccessRequest>";
}

std::string ssdn(const std::string& ma_body, const std::string& org_unit = "0212344876",
                 const std::string& service =
                     "<ServiceId>OCMWCPASManageAccess</ServiceId><Version>20050930</Version>") {
  return "<SSDNRequest xmlns=\"" + std::string(ma::kServiceNs) +
         "\"><RequestContext><AuthorizedUser><UserID>68060105329</"
         "UserID><Email>agent@cpas.example</Email><OrgUnit>" +
         org_unit +
         "</OrgUnit><MatrixID>17</MatrixID><MatrixSubID>1</MatrixSubID></AuthorizedUser>"
         "<Message><Reference>REF-1</Reference></Message></RequestContext><ServiceRequest>" +
         service + ma_body + "</ServiceRequest></SSDNRequest>";
}

std::string soap11(const std::string& payload) {
  return soap::envelope(soap::Version::soap11, payload);
}

struct Parsed {
  xml::Document doc;
  boost::system::result<ma::Request, ma::Error> r;
};

Parsed parse(const std::string& payload_xml) {
  auto d = xml::parse(soap11(payload_xml));
  if (!d) throw std::runtime_error("not XML: " + d.error().message);
  auto env = soap::open(*d);
  if (!env) throw std::runtime_error("not SOAP");
  auto r = ma::parse(env->payload, schema());
  return Parsed{std::move(*d), std::move(r)};
}

ma::errc error_of(const std::string& payload_xml) {
  auto p = parse(payload_xml);
  EXPECT_FALSE(p.r.has_value()) << payload_xml;
  return p.r.has_value() ? ma::errc::bad_reply : p.r.error().code;
}

// Validates a SOAP reply's payload against the public XSD set.
std::vector<xml::Error> validate_reply(const std::string& soap_xml) {
  auto d = xml::parse(soap_xml);
  EXPECT_TRUE(d.has_value()) << soap_xml;
  if (!d) return {xml::Error{}};
  auto env = soap::open(*d);
  EXPECT_TRUE(env.has_value()) << soap_xml;
  if (!env) return {xml::Error{}};
  return schema().validate_element(env->payload);
}

}  // namespace

TEST(ManageAccessParse, BareAndSsdnFormsGiveTheSameTypedRequest) {
  const auto b = body(
      "REGISTER", "<Purpose>2</Purpose>",
      "<Period><c:StartDate>2026-01-01</c:StartDate><c:EndDate>2026-12-31</c:EndDate></Period>",
      "68060105329", "<Sector>17</Sector><QueryRegister>PRIMARY</QueryRegister>");
  for (const auto& payload : {b, ssdn(b)}) {
    auto p = parse(payload);
    ASSERT_TRUE(p.r.has_value()) << p.r.error().message << " at " << p.r.error().path;
    const auto& r = *p.r;
    EXPECT_EQ(r.ssin, "68060105329");
    EXPECT_EQ(r.purpose, 2);
    EXPECT_EQ(r.period.start, "2026-01-01");
    EXPECT_EQ(r.period.end, "2026-12-31");
    EXPECT_EQ(r.action, ma::Action::register_);
    EXPECT_EQ(r.sector, 17);
    EXPECT_EQ(r.query_register, ma::Register::primary);
    ASSERT_TRUE(r.proof.person.has_value());
    EXPECT_EQ(r.proof.person->last_name, "Dupont");
    EXPECT_EQ(r.proof.person->birth_date, "1968-06-01");
  }
  auto s = parse(ssdn(b, "0999999999"));
  ASSERT_TRUE(s.r.has_value());
  EXPECT_EQ(s.r->form, ma::Form::ssdn);
  EXPECT_EQ(s.r->context.org_unit, "0999999999");
  EXPECT_EQ(s.r->context.reference, "REF-1");
  EXPECT_EQ(parse(b).r->form, ma::Form::bare);
}

TEST(ManageAccessParse, TheXsdRefusalsOfTheSchemaNotesAreTypedErrors) {
  // bcss-schemas.md §1: 10-digit SSIN, Action register/DELETE, QueryRegister BOTH, no Period.
  EXPECT_EQ(error_of(body("REGISTER", "<Purpose>2</Purpose>",
                          "<Period><c:StartDate>2026-01-01</c:StartDate></Period>", "6806010532")),
            ma::errc::schema_invalid);
  EXPECT_EQ(error_of(body("register")), ma::errc::schema_invalid);
  EXPECT_EQ(error_of(body("DELETE")), ma::errc::schema_invalid);
  EXPECT_EQ(error_of(body("LIST", "", "<Period><c:StartDate>2026-01-01</c:StartDate></Period>",
                          "68060105329", "<QueryRegister>BOTH</QueryRegister>")),
            ma::errc::schema_invalid);
  EXPECT_EQ(error_of(body("LIST", "", "")), ma::errc::schema_invalid);
  // Period children in the ManageAccess namespace instead of Common.
  EXPECT_EQ(error_of(body("LIST", "", "<Period><StartDate>2026-01-01</StartDate></Period>")),
            ma::errc::schema_invalid);
  // Inside the SSDN envelope too (its body is a lax wildcard: validated because the set loads
  // ManageAccess).
  auto p = parse(ssdn(body("DELETE")));
  ASSERT_FALSE(p.r.has_value());
  EXPECT_EQ(p.r.error().code, ma::errc::schema_invalid);
  EXPECT_NE(p.r.error().path.find("ManageAccessRequest"), std::string::npos) << p.r.error().path;
  EXPECT_EQ(ma::code_name(ma::errc::schema_invalid), "XML_SCHEMA_INVALID");
}

TEST(ManageAccessParse, WhatTheXsdLeavesOpenIsCheckedByRelais) {
  // Any 11 digits pass the XSD; the check digits do not pass Relais.
  EXPECT_EQ(error_of(body("REGISTER", "<Purpose>2</Purpose>",
                          "<Period><c:StartDate>2026-01-01</c:StartDate></Period>", "68060105328")),
            ma::errc::invalid_ssin);
  EXPECT_EQ(error_of(body("REGISTER", "")), ma::errc::missing_purpose);
  EXPECT_EQ(error_of(body("UNREGISTER", "")), ma::errc::missing_purpose);
  EXPECT_EQ(error_of(body("REGISTER", "<Purpose>999</Purpose>")), ma::errc::invalid_quality_code);
  EXPECT_EQ(error_of(body("REGISTER", "<Purpose>10</Purpose>")), ma::errc::invalid_quality_code);
  EXPECT_EQ(error_of(body("REGISTER", "<Purpose>99999999999999999999</Purpose>")),
            ma::errc::invalid_quality_code);
  EXPECT_EQ(error_of(body("REGISTER", "<Purpose>2</Purpose>",
                          "<Period><c:StartDate>2026-05-01</c:StartDate><c:EndDate>2026-04-01</"
                          "c:EndDate></Period>")),
            ma::errc::date_order);
  EXPECT_EQ(error_of(body("REGISTER", "<Purpose>2</Purpose>",
                          "<Period><c:StartDate>1700-05-01</c:StartDate></Period>")),
            ma::errc::invalid_date);
  // LIST without Purpose is fine; a timezone on xs:date is dropped.
  auto p = parse(body("LIST", "", "<Period><c:StartDate>2012-05-24+02:00</c:StartDate></Period>"));
  ASSERT_TRUE(p.r.has_value()) << p.r.error().message;
  EXPECT_EQ(p.r->period.start, "2012-05-24");
  EXPECT_FALSE(p.r->purpose.has_value());
}

TEST(ManageAccessParse, OtherBodiesAndServicesAreRefused) {
  EXPECT_EQ(error_of("<Other xmlns=\"urn:x\"/>"), ma::errc::unknown_body);
  EXPECT_EQ(
      error_of(ssdn(body("LIST"), "0212344876",
                    "<ServiceId>OCMWCPASIdentifyPerson</ServiceId><Version>20050930</Version>")),
      ma::errc::wrong_service);
  EXPECT_EQ(error_of(ssdn("<x:Other xmlns:x=\"urn:x\"/>")), ma::errc::unknown_body);
}

TEST(ManageAccessChange, MapsOntoDirectoryLines) {
  auto reg = parse(body(
      "REGISTER", "<Purpose>7</Purpose>",
      "<Period><c:StartDate>2026-03-01</c:StartDate><c:EndDate>2026-06-30</c:EndDate></Period>"));
  auto c = ma::to_change(*reg.r);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->action, ma::Action::register_);
  EXPECT_EQ(c->line, (ma::Line{"68060105329", 7, "2026-03-01", "2026-06-30"}));
  auto un = parse(body("UNREGISTER", "<Purpose>7</Purpose>",
                       "<Period><c:StartDate>2026-03-01</c:StartDate></Period>"));
  auto u = ma::to_change(*un.r);
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->close_end, "2026-02-28");
  auto ls = parse(body("LIST", "", "<Period><c:StartDate>2026-01-01</c:StartDate></Period>",
                       "68060105329", "<Sector>6</Sector>"));
  auto l = ma::to_change(*ls.r);
  ASSERT_TRUE(l.has_value());
  EXPECT_TRUE(l->other_sector);
  EXPECT_EQ(l->line.quality, 0);
}

TEST(ManageAccessChange, OverlapsOfPeriods) {
  EXPECT_TRUE(ma::overlaps({"2026-01-01", ""}, {"2026-06-01", "2026-06-01"}));
  EXPECT_TRUE(ma::overlaps({"2026-01-01", "2026-01-31"}, {"2026-01-31", ""}));
  EXPECT_FALSE(ma::overlaps({"2026-01-01", "2026-01-31"}, {"2026-02-01", ""}));
  EXPECT_FALSE(ma::overlaps({"2026-03-01", ""}, {"2026-01-01", "2026-02-28"}));
  EXPECT_FALSE(ma::overlaps({"2026-03-01", "2026-02-28"}, {"2026-01-01", ""}));  // cancelled
  EXPECT_FALSE(ma::overlaps({"garbage", ""}, {"2026-01-01", ""}));
}

TEST(ManageAccessReply, BuiltRepliesAreValidAgainstThePublicXsd) {
  ma::Outcome ok;
  ok.registrations = {{2, {"2026-01-01", ""}, "0212344876", ma::Register::primary},
                      {7, {"2025-01-01", "2025-12-31"}, "0212344876", ma::Register::secondary}};
  ma::Outcome refused;
  refused.summary = soap::failure("INTEGRATION_NOT_FOUND", "no active integration <&> to close",
                                  "SSIN", "68060105329");
  refused.has_reply = false;
  ma::Outcome refused_with_reply = refused;
  refused_with_reply.has_reply = true;
  for (const auto& b : {body("REGISTER"), body("LIST", ""),
                        body("UNREGISTER", "<Purpose>2</Purpose>",
                             "<Period><c:StartDate>2026-01-01</c:StartDate>"
                             "<c:EndDate>2026-01-01</c:EndDate></Period>",
                             "68060105329", "<QueryRegister>ALL</QueryRegister>")}) {
    auto p = parse(ssdn(b));
    ASSERT_TRUE(p.r.has_value());
    for (const auto& o : {ok, refused, refused_with_reply}) {
      auto reply = ma::soap_reply(soap::Version::soap11, *p.r, o, "c0ffee-ticket",
                                  "20261205T010203", "20261205T010204");
      auto errs = validate_reply(reply);
      EXPECT_TRUE(errs.empty()) << (errs.empty() ? "" : errs[0].message + " at " + errs[0].path)
                                << "\n"
                                << reply;
    }
    // Bare: the ManageAccessReply itself.
    auto bare = parse(b);
    auto reply = ma::soap_reply(soap::Version::soap11, *bare.r, ok, "t", "20261205T010203",
                                "20261205T010204");
    auto errs = validate_reply(reply);
    EXPECT_TRUE(errs.empty()) << (errs.empty() ? "" : errs[0].message) << "\n" << reply;
    EXPECT_NE(reply.find("<OrgUnit>0212344876</OrgUnit>"), std::string::npos);
    auto fault = ma::soap_reply(soap::Version::soap11, *bare.r, refused, "t", "20261205T010203",
                                "20261205T010204");
    EXPECT_NE(fault.find("Fault"), std::string::npos);
    EXPECT_NE(fault.find("INTEGRATION_NOT_FOUND"), std::string::npos);
  }
}

TEST(ManageAccessForward, TheCpasIsTheAuthenticatedOneWhateverTheBodySays) {
  auto p = parse(ssdn(body("REGISTER"), "0999999999"));
  ASSERT_TRUE(p.r.has_value());
  auto fwd = ma::forward_xml(*p.r, "0212344876", "00000000097", "relais@dc.example");
  EXPECT_NE(fwd.find("<OrgUnit>0212344876</OrgUnit>"), std::string::npos) << fwd;
  EXPECT_EQ(fwd.find("0999999999"), std::string::npos) << fwd;
  // The forwarded request is a valid SSDNRequest with the same typed ManageAccessRequest.
  auto again = parse(fwd.substr(fwd.find("<SSDNRequest"),
                                fwd.find("</SSDNRequest>") + 14 - fwd.find("<SSDNRequest")));
  ASSERT_TRUE(again.r.has_value()) << again.r.error().message;
  EXPECT_EQ(again.r->ssin, p.r->ssin);
  EXPECT_EQ(again.r->purpose, p.r->purpose);
  EXPECT_EQ(again.r->period.start, p.r->period.start);
  EXPECT_EQ(again.r->proof.person->last_name, "Dupont");
  EXPECT_EQ(again.r->context.matrix_sub_id, 1);
  auto bare = parse(body("LIST", ""));
  auto fwd2 = ma::forward_xml(*bare.r, "0212344876", "00000000097", "relais@dc.example");
  EXPECT_NE(fwd2.find("<UserID>00000000097</UserID>"), std::string::npos);
}

TEST(ManageAccessBcss, AcceptedRefusedFaultAndGarbage) {
  auto p = parse(ssdn(body("REGISTER")));
  ma::Outcome ok;
  ok.registrations = {{2, {"2026-01-01", ""}, "0212344876", ma::Register::primary}};
  auto a = ma::read_bcss_reply(
      ma::soap_reply(soap::Version::soap11, *p.r, ok, "T", "20261205T010203", "20261205T010204"),
      schema());
  ASSERT_TRUE(a.has_value()) << a.error().message;
  EXPECT_TRUE(a->accepted);
  ASSERT_EQ(a->outcome.registrations.size(), 1u);
  EXPECT_EQ(a->outcome.registrations[0].org_unit, "0212344876");
  ma::Outcome no;
  no.summary = soap::failure("MSG00008", "person unknown");
  no.has_reply = false;
  auto r = ma::read_bcss_reply(
      ma::soap_reply(soap::Version::soap11, *p.r, no, "T", "20261205T010203", "20261205T010204"),
      schema());
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->accepted);
  ASSERT_FALSE(r->outcome.summary.details.empty());
  EXPECT_EQ(r->outcome.summary.details[0].reason_code, "MSG00008");
  auto f = ma::read_bcss_reply(
      soap::fault(soap::Version::soap11, false, "down", soap::failure("X", "y")), schema());
  ASSERT_TRUE(f.has_value());
  EXPECT_FALSE(f->accepted);
  auto g = ma::read_bcss_reply("<html>busy</html>", schema());
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().code, ma::errc::bad_reply);
  // Schema-invalid SSDNReply (no ReplyContext) is not believed.
  auto h = ma::read_bcss_reply(soap11("<SSDNReply xmlns=\"" + std::string(ma::kServiceNs) + "\"/>"),
                               schema());
  ASSERT_FALSE(h.has_value());
  EXPECT_EQ(h.error().code, ma::errc::bad_reply);
}

TEST(ManageAccessExport, XmlRepliesAndCsv) {
  auto p1 = parse(body("LIST", ""));
  auto p2 = parse(
      body("LIST", "", "<Period><c:StartDate>2026-01-01</c:StartDate></Period>", "93051822361"));
  ma::Outcome o1, o2;
  o1.registrations = {{2, {"2026-01-01", ""}, "0212344876", ma::Register::primary},
                      {4, {"2026-01-01", ""}, "0999999999", ma::Register::primary}};
  o2.registrations = {{7, {"2025-01-01+01:00", "2025-12-31"}, "63023", ma::Register::secondary}};
  std::string file = "<Export>" + ma::reply_xml(*p1.r, o1.registrations) +
                     ma::reply_xml(*p2.r, o2.registrations) + "</Export>";
  auto e = ma::read_export(file, {"0212344876", "63023"}, &schema());
  ASSERT_TRUE(e.has_value()) << e.error().message;
  EXPECT_FALSE(e->complete);
  EXPECT_EQ(e->ssins, (std::set<std::string>{"68060105329", "93051822361"}));
  ASSERT_EQ(e->lines.size(), 2u);  // the other CPAS's registration left out
  EXPECT_EQ(e->lines[0], (ma::Line{"68060105329", 2, "2026-01-01", ""}));
  EXPECT_EQ(e->lines[1], (ma::Line{"93051822361", 7, "2025-01-01", "2025-12-31"}));
  auto csv = ma::read_export(
      "ssin,quality_code,start_date,end_date\r\n68060105329,2,2026-01-01,\n\n93051822361,7,2025-01-"
      "01,2025-12-31\n",
      {}, nullptr);
  ASSERT_TRUE(csv.has_value()) << csv.error().message;
  EXPECT_TRUE(csv->complete);
  ASSERT_EQ(csv->lines.size(), 2u);
  EXPECT_EQ(csv->lines[1].end, "2025-12-31");
  auto bad = ma::read_export("68060105328,2,2026-01-01\n", {}, nullptr);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ma::errc::invalid_ssin);
  EXPECT_EQ(bad.error().path, "line 1");
  EXPECT_FALSE(ma::read_export("<Nothing/>", {}, nullptr).has_value());
  EXPECT_FALSE(ma::read_export("68060105329;2;2026-01-01\n", {}, nullptr).has_value());
}

TEST(ManageAccessDiff, EveryKindOfDifferenceAndItsRepairs) {
  const std::string a = "68060105329", b = "93051822361";
  ma::Export e;
  e.ssins = {a, b};
  e.lines = {{a, 2, "2026-01-01", ""},            // same in both
             {a, 7, "2026-02-01", "2026-03-31"},  // period differs
             {b, 4, "2026-01-01", ""},            // quality differs (mirror: 3)
             {b, 9, "2026-05-01", ""}};           // missing in the mirror
  std::vector<ma::Line> mirror = {
      {a, 2, "2026-01-01", ""},
      {a, 7, "2026-02-01", ""},
      {b, 3, "2026-01-01", ""},
      {a, 1, "2025-01-01", "2025-06-30"},     // missing at BCSS
      {a, 5, "2025-01-01", "2024-12-31"},     // cancelled: absent
      {"80010100107", 2, "2026-01-01", ""}};  // not covered by the export
  auto d = ma::diff(mirror, e);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].kind, ma::DiffKind::missing_at_bcss);
  EXPECT_EQ(d[0].repairs, (std::vector<ma::Line>{{a, 1, "2025-01-01", "2024-12-31"}}));
  EXPECT_EQ(d[1].kind, ma::DiffKind::period_differs);
  EXPECT_EQ(d[1].repairs, (std::vector<ma::Line>{{a, 7, "2026-02-01", "2026-03-31"}}));
  EXPECT_EQ(d[2].kind, ma::DiffKind::quality_differs);
  EXPECT_EQ(d[2].repairs,
            (std::vector<ma::Line>{{b, 3, "2026-01-01", "2025-12-31"}, {b, 4, "2026-01-01", ""}}));
  EXPECT_EQ(d[3].kind, ma::DiffKind::missing_in_mirror);
  EXPECT_EQ(d[3].repairs, (std::vector<ma::Line>{{b, 9, "2026-05-01", ""}}));
  // Applying the repairs to the mirror leaves no difference.
  for (const auto& x : d)
    for (const auto& r : x.repairs) {
      bool found = false;
      for (auto& m : mirror)
        if (m.ssin == r.ssin && m.quality == r.quality && m.start == r.start) m = r, found = true;
      if (!found) mirror.push_back(r);
    }
  EXPECT_TRUE(ma::diff(mirror, e).empty());
  // A complete (CSV) export covers every person: the uncovered line is now missing at BCSS.
  e.complete = true;
  auto d2 = ma::diff(mirror, e);
  ASSERT_EQ(d2.size(), 1u);
  EXPECT_EQ(d2[0].mirror->ssin, "80010100107");
}
