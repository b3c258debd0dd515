// relais-ingest's SOAP gateway on its own: the decode chain (XML, envelope, XSD, mapping, JSON
// validation) gives the canonical notification or the right answer, and a reload that fails
// keeps the previous XSD set and mappings.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "relais/codec/decode.hpp"
#include "relais/ingest/soap.hpp"

using namespace relais;
using google::protobuf::util::MessageDifferencer;
namespace fs = std::filesystem;

namespace {

const std::string kRepo = RELAIS_SOURCE_DIR;

struct Folder {
  fs::path dir = fs::temp_directory_path() / ("soap-gateway-" + std::to_string(::getpid()));
  Folder() {
    fs::create_directories(dir);
    fs::copy_file(kRepo + "/deploy/mappings/notify-person.yaml", dir / "notify-person.yaml");
    fs::copy_file(kRepo + "/deploy/mappings/_envelope.yaml", dir / "_envelope.yaml");
  }
  ~Folder() { fs::remove_all(dir); }
};

ingest::SoapConfig config(const fs::path& mappings) {
  ingest::SoapConfig c;
  c.xsd_files = {kRepo + "/var/bcss/cbss/XSD/SSDN/Common/NamespaceRoot.xsd",
                 kRepo + "/deploy/xsd/relais/notifications.xsd",
                 kRepo + "/deploy/xsd/relais/sppis-clignotants.xsd"};
  c.xsd_roots = {kRepo + "/var/bcss/cbss/XSD", kRepo + "/deploy/xsd/relais"};
  c.mappings_dir = mappings.string();
  return c;
}

std::string request(const std::string& ssin = "68060105329") {
  return R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>)"
         R"(<NotifyPerson xmlns="urn:be:relais:bcss:notifications:v1"><Context><Ticket>0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11</Ticket></Context>)"
         "<Person><SSIN>" +
         ssin +
         "</SSIN></Person><EffectiveDate>2026-11-01</EffectiveDate><Event>DEATH</Event>"
         "<DateOfDeath>2026-11-01</DateOfDeath></NotifyPerson></s:Body></s:Envelope>";
}

}  // namespace

TEST(SoapGateway, DecodesToTheCanonicalNotification) {
  Folder f;
  std::string err;
  auto g = ingest::SoapGateway::create(config(f.dir), err);
  ASSERT_TRUE(g) << err;
  auto d = g->decode(request(), {});
  ASSERT_TRUE(d.ok) << d.answer;
  EXPECT_EQ(d.flow_id, "notify-person");
  EXPECT_EQ(d.notification.notify_person().ssin(), "68060105329");
  EXPECT_EQ(d.notification.notify_person().date_of_death(), "2026-11-01");
  EXPECT_EQ(d.notification.envelope().ticket(), "0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11");

  auto bad = g->decode(request("68060105320"), {});
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.code, "INVALID_SSIN_CHECKSUM");
  EXPECT_EQ(bad.status, 200u);
  EXPECT_NE(bad.answer.find(R"(ok="NO")"), std::string::npos);
}

TEST(SoapGateway, AFailedReloadKeepsThePreviousSet) {
  Folder f;
  std::string err;
  auto g = ingest::SoapGateway::create(config(f.dir), err);
  ASSERT_TRUE(g) << err;
  std::ofstream(f.dir / "broken.yaml")
      << "flow: notify-person\nroot: {namespace: u, element: E}\nfields: [{path: x:Y, field: y}]\n";
  auto e = g->reload();
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("broken.yaml"), std::string::npos);
  EXPECT_TRUE(g->decode(request(), {}).ok);  // still served with the previous mappings

  fs::remove(f.dir / "broken.yaml");
  fs::remove(f.dir / "notify-person.yaml");
  EXPECT_FALSE(g->reload());  // an empty folder is a valid (empty) catalog
  auto gone = g->decode(request(), {});
  EXPECT_FALSE(gone.ok);
  EXPECT_EQ(gone.code, "UNKNOWN_BODY");
}

TEST(SoapGateway, RefusesToStartOnABadConfiguration) {
  Folder f;
  std::string err;
  auto c = config(f.dir);
  c.xsd_roots = {kRepo + "/deploy/xsd/relais"};  // the Common XSD is outside every root
  EXPECT_FALSE(ingest::SoapGateway::create(c, err));
  EXPECT_NE(err.find("XSD set"), std::string::npos);
  std::ofstream(f.dir / "x.yaml")
      << "flow: no-such-flow\nroot: {namespace: u, element: E}\nfields: []\n";
  EXPECT_FALSE(ingest::SoapGateway::create(config(f.dir), err));
  EXPECT_NE(err.find("unknown flow"), std::string::npos);
}

// Every field a shipped mapping writes exists in its flow's message (nested messages too), so a
// typo in deploy/mappings is caught here rather than as UNKNOWN_FIELD on a partner's request.
namespace {
void expect_fields_exist(const std::vector<xmlmap::Field>& fields,
                         const google::protobuf::Descriptor* d, const std::string& where) {
  for (const auto& f : fields) {
    const auto* fd = d->FindFieldByName(f.field);
    ASSERT_NE(fd, nullptr) << where << ": " << f.field << " is not a field of " << d->full_name();
    if (!f.fields.empty()) {
      ASSERT_EQ(fd->cpp_type(), google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE)
          << where << ": " << f.field;
      expect_fields_exist(f.fields, fd->message_type(), where + "." + f.field);
    }
    EXPECT_EQ(fd->is_repeated(), f.repeated) << where << ": " << f.field;
  }
}
}  // namespace

TEST(SoapGateway, ShippedMappingsWriteOnlyRealFields) {
  auto catalog = xmlmap::load_folder(kRepo + "/deploy/mappings");
  ASSERT_TRUE(catalog.has_value()) << catalog.error().message;
  EXPECT_EQ(catalog->by_root.size(), 7u);  // the six BCSS flows and SPP IS clignotants
  const auto* body = relais::v1::Notification::descriptor()->FindOneofByName("body");
  ASSERT_NE(body, nullptr);
  for (const auto& [root, m] : catalog->by_root) {
    const google::protobuf::Descriptor* d = nullptr;
    for (int i = 0; i < body->field_count(); ++i) {
      if (body->field(i)->message_type()->name() == root.second) d = body->field(i)->message_type();
    }
    ASSERT_NE(d, nullptr) << root.second;
    expect_fields_exist(m.fields, d, m.flow);
  }
}

TEST(SoapGateway, SourceCodesTravelFromXmlToTheNotification) {
  Folder f;
  for (const auto* name : {"personnel-file.yaml"})
    fs::copy_file(kRepo + "/deploy/mappings/" + name, f.dir / name);
  std::string err;
  auto g = ingest::SoapGateway::create(config(f.dir), err);
  ASSERT_TRUE(g) << err;
  const std::string head =
      R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>)";
  auto np = g->decode(
      head +
          R"(<NotifyPerson xmlns="urn:be:relais:bcss:notifications:v1"><Context><Ticket>0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11</Ticket></Context>)"
          "<Person><SSIN>68060105329</SSIN></Person><EffectiveDate>2026-11-00</"
          "EffectiveDate><Event>ADDRESS_CHANGE</Event>"
          "<InformationType>IT020</InformationType><RawValue>raw register text</RawValue>"
          "<Address><Street>Rue</Street><HouseNumber>1</HouseNumber><PostalCode>1000</"
          "PostalCode><Municipality>Bruxelles</Municipality>"
          "<MunicipalityNisCode>21004</MunicipalityNisCode><CountryNrCode>150</CountryNrCode></"
          "Address>"
          "</NotifyPerson></s:Body></s:Envelope>",
      {});
  ASSERT_TRUE(np.ok) << np.answer;
  const auto& p = np.notification.notify_person();
  EXPECT_EQ(p.nr_information_type(), "IT020");
  EXPECT_EQ(p.nr_raw_value(), "raw register text");
  EXPECT_EQ(p.address().country_nr_code(), 150u);
  EXPECT_EQ(p.effective_date(), "2026-11-00");

  auto pf = g->decode(
      head +
          R"(<PersonnelFile xmlns="urn:be:relais:bcss:notifications:v1"><Context><Ticket>0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d12</Ticket></Context>)"
          "<Person><SSIN>68060105329</SSIN></Person><EffectiveDate>2026-11-01</"
          "EffectiveDate><Event>DIMONA_IN</Event>"
          "<EmployerCbe>0212344876</EmployerCbe><DimonaWorkerType>OTH</"
          "DimonaWorkerType><CpasArticle60>true</CpasArticle60>"
          "<PeriodStartDate>2026-11-01</PeriodStartDate></PersonnelFile></s:Body></s:Envelope>",
      {});
  ASSERT_TRUE(pf.ok) << pf.answer;
  EXPECT_EQ(pf.notification.personnel_file().dimona_worker_type(), "OTH");
  EXPECT_TRUE(pf.notification.personnel_file().cpas_article_60());
}

// A batch record (relaisctl ingest-file, the spool): one notification element on its own,
// validated and mapped like a SOAP body; a record without a Ticket gets the one given.
TEST(SoapGateway, MapsABatchRecordAndFillsItsTicket) {
  Folder f;
  std::string err;
  auto g = ingest::SoapGateway::create(config(f.dir), err);
  ASSERT_TRUE(g) << err;
  const std::string derived = "11111111-2222-8333-9444-555555555555";
  auto record = [](const std::string& ticket, const std::string& ssin) {
    return R"(<NotifyPerson xmlns="urn:be:relais:bcss:notifications:v1"><Context>)" + ticket +
           "</Context><Person><SSIN>" + ssin +
           "</SSIN></Person><EffectiveDate>2026-11-01</EffectiveDate>"
           "<Event>DEATH</Event><DateOfDeath>2026-11-01</DateOfDeath></NotifyPerson>";
  };
  auto m = g->map_record(record("", "68060105329"), derived);
  ASSERT_TRUE(m.ok) << m.code << ": " << m.message;
  EXPECT_EQ(m.flow_id, "notify-person");
  EXPECT_NE(m.json.find(R"("ticket":")" + derived + "\""), std::string::npos) << m.json;
  EXPECT_NE(m.json.find(R"("ssin":"68060105329")"), std::string::npos) << m.json;

  m = g->map_record(record("<Ticket>0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11</Ticket>", "68060105329"),
                    derived);
  ASSERT_TRUE(m.ok) << m.message;
  EXPECT_NE(m.json.find("0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11"), std::string::npos) << m.json;
  EXPECT_EQ(m.json.find(derived), std::string::npos) << m.json;

  m = g->map_record(record("", "6806010532"), derived);  // ten digits: the XSD refuses it
  EXPECT_FALSE(m.ok);
  EXPECT_EQ(m.code, "XML_SCHEMA_INVALID");
  EXPECT_NE(m.path.find("SSIN"), std::string::npos) << m.path;

  m = g->map_record(R"(<Unknown xmlns="urn:x"/>)", derived);
  EXPECT_FALSE(m.ok);
  EXPECT_EQ(m.code, "UNKNOWN_BODY");
  m = g->map_record("<NotifyPerson", derived);
  EXPECT_FALSE(m.ok);
  EXPECT_EQ(m.code, "XML_MALFORMED");
}

// SPP IS clignotants over SOAP (deploy/xsd/relais/sppis-clignotants.xsd, Relais's own XSD, and
// deploy/mappings/sppis-clignotant.yaml): the same clignotant as SOAP, JSON and protobuf gives
// the same canonical notification; refusals name the reason code and the failing path in the
// ResultSummary.
namespace {

struct SppIsFolder : Folder {
  SppIsFolder() {
    fs::copy_file(kRepo + "/deploy/mappings/sppis-clignotant.yaml", dir / "sppis-clignotant.yaml");
  }
};

const std::string kTicket = "0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d21";

// The clignotant's body element; `replace` swaps one exact fragment for another (a mutation).
std::string clignotant_xml(const std::string& from = {}, const std::string& to = {}) {
  std::string x =
      R"(<SppIsClignotant xmlns="urn:be:relais:sppis:clignotants:v1"><Context><Ticket>)" + kTicket +
      "</Ticket><SentAt>2026-03-01T08:00:00Z</SentAt></Context>"
      "<SppIsId>CLG-2026-0004711</SppIsId><TypeCode>WORK_INCOME</TypeCode>"
      "<Person><SSIN>68060105329</SSIN></Person><CpasCbe>0212344876</CpasCbe>"
      "<Period><StartDate>2026-01-01</StartDate><EndDate>2026-01-31</EndDate></Period>"
      "<Amounts><DeclaredCents>0</DeclaredCents><ObservedCents>182500</ObservedCents></Amounts>"
      "<Sources><Source><Name>DIMONA</Name><Reference>DMN-2026-1</Reference></Source>"
      "<Source><Name>DMFA</Name><Reference>2026/Q1/77</Reference></Source></Sources>"
      "<IssuedDate>2026-03-01</IssuedDate><DeadlineDate>2026-04-30</DeadlineDate>"
      "<Event>ISSUED</Event></SppIsClignotant>";
  if (!from.empty()) {
    auto at = x.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) x.replace(at, from.size(), to);
  }
  return x;
}

std::string soap11(const std::string& body) {
  return R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>)" + body +
         "</s:Body></s:Envelope>";
}

// The same clignotant in the flow's JSON form (docs/clignotants.md).
const char* kClignotantJson = R"({"ticket": "0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d21",
  "sent_at": "2026-03-01T08:00:00Z", "sppis_id": "CLG-2026-0004711", "type_code": "WORK_INCOME",
  "ssin": "68060105329", "cpas_cbe": "0212344876", "effective_date": "2026-01-01",
  "period_end": "2026-01-31", "amount_declared_cents": 0, "amount_observed_cents": 182500,
  "sources": [{"source": "DIMONA", "reference": "DMN-2026-1"},
              {"source": "DMFA", "reference": "2026/Q1/77"}],
  "issued_date": "2026-03-01", "deadline_date": "2026-04-30", "event": "ISSUED"})";

// ...and as the protobuf message, built field by field.
std::string clignotant_protobuf() {
  relais::v1::SppIsClignotant b;
  b.set_ticket(kTicket);
  b.set_sent_at("2026-03-01T08:00:00Z");
  b.set_sppis_id("CLG-2026-0004711");
  b.set_type_code("WORK_INCOME");
  b.set_ssin("68060105329");
  b.set_cpas_cbe("0212344876");
  b.set_effective_date("2026-01-01");
  b.set_period_end("2026-01-31");
  b.set_amount_observed_cents(182500);
  auto* s = b.add_sources();
  s->set_source("DIMONA");
  s->set_reference("DMN-2026-1");
  s = b.add_sources();
  s->set_source("DMFA");
  s->set_reference("2026/Q1/77");
  b.set_issued_date("2026-03-01");
  b.set_deadline_date("2026-04-30");
  b.set_event(relais::v1::SppIsClignotant::ISSUED);
  return b.SerializeAsString();
}

}  // namespace

TEST(SoapGateway, SppIsClignotantSameFromSoapJsonAndProtobuf) {
  SppIsFolder f;
  std::string err;
  auto g = ingest::SoapGateway::create(config(f.dir), err);
  ASSERT_TRUE(g) << err;
  auto d = g->decode(soap11(clignotant_xml()), {});
  ASSERT_TRUE(d.ok) << d.answer;
  EXPECT_EQ(d.flow_id, "sppis-clignotant");
  const auto& c = d.notification.sppis_clignotant();
  EXPECT_EQ(c.sppis_id(), "CLG-2026-0004711");
  EXPECT_EQ(c.effective_date(), "2026-01-01");
  EXPECT_EQ(c.period_end(), "2026-01-31");
  EXPECT_EQ(c.amount_observed_cents(), 182500);
  ASSERT_EQ(c.sources_size(), 2);
  EXPECT_EQ(c.sources(1).reference(), "2026/Q1/77");
  EXPECT_EQ(c.deadline_date(), "2026-04-30");

  relais::v1::Notification from_json, from_pb;
  ASSERT_FALSE(codec::decode_and_validate_json(relais::v1::FLOW_SPPIS_CLIGNOTANT, kClignotantJson,
                                               from_json));
  ASSERT_FALSE(codec::decode_and_validate_protobuf(relais::v1::FLOW_SPPIS_CLIGNOTANT,
                                                   clignotant_protobuf(), from_pb));
  EXPECT_TRUE(MessageDifferencer::Equals(d.notification, from_json))
      << d.notification.DebugString() << "\n---\n"
      << from_json.DebugString();
  EXPECT_TRUE(MessageDifferencer::Equals(d.notification, from_pb));

  // Without Amounts: both amounts 0, as a JSON post that leaves them out.
  auto no_amounts = g->decode(
      soap11(clignotant_xml("<Amounts><DeclaredCents>0</DeclaredCents><ObservedCents>182500</"
                            "ObservedCents></Amounts>",
                            "")),
      {});
  ASSERT_TRUE(no_amounts.ok) << no_amounts.answer;
  EXPECT_EQ(no_amounts.notification.sppis_clignotant().amount_observed_cents(), 0);
}

TEST(SoapGateway, SppIsClignotantRefusalsNameTheCodeAndPath) {
  SppIsFolder f;
  std::string err;
  auto g = ingest::SoapGateway::create(config(f.dir), err);
  ASSERT_TRUE(g) << err;
  std::string sources21 = "<Sources>";
  for (int i = 0; i < 21; ++i)
    sources21 +=
        "<Source><Name>DMFA</Name><Reference>R-" + std::to_string(i) + "</Reference></Source>";
  sources21 += "</Sources>";
  const std::string two_sources =
      "<Sources><Source><Name>DIMONA</Name><Reference>DMN-2026-1</Reference></Source>"
      "<Source><Name>DMFA</Name><Reference>2026/Q1/77</Reference></Source></Sources>";
  struct Case {
    std::string from, to, code, where;  // `where`: in the ResultSummary (path or field)
  };
  const std::vector<Case> cases = {
      // the type list is data: schema-valid, refused by validation as a JSON post would be
      {"<TypeCode>WORK_INCOME</TypeCode>", "<TypeCode>NOT_A_TYPE</TypeCode>", "INVALID_CODE",
       "type_code"},
      {"<SSIN>68060105329</SSIN>", "<SSIN>68060105320</SSIN>", "INVALID_SSIN_CHECKSUM", "ssin"},
      {"<SSIN>68060105329</SSIN>", "<SSIN>6806010532</SSIN>", "XML_SCHEMA_INVALID",
       "/SppIsClignotant/Person/SSIN"},
      {"<SppIsId>CLG-2026-0004711</SppIsId>", "", "XML_SCHEMA_INVALID", "SppIsId"},
      {"<SppIsId>CLG-2026-0004711</SppIsId>", "<SppIsId>clg 1</SppIsId>", "INVALID_SPPIS_ID",
       "sppis_id"},
      {"<CpasCbe>0212344876</CpasCbe>", "<CpasCbe>0212344877</CpasCbe>", "INVALID_CBE", "cpas_cbe"},
      {"<DeadlineDate>2026-04-30</DeadlineDate>", "<DeadlineDate>2026-02-28</DeadlineDate>",
       "DATE_ORDER", "deadline_date"},
      {"<ObservedCents>182500</ObservedCents>", "<ObservedCents>100000000001</ObservedCents>",
       "INVALID_AMOUNT", "amount_observed_cents"},
      {two_sources, sources21, "XML_SCHEMA_INVALID", "/SppIsClignotant/Sources/Source"},
      {"<Event>ISSUED</Event>", "<Event>CLOSED</Event>", "XML_SCHEMA_INVALID",
       "/SppIsClignotant/Event"},
  };
  for (const auto& c : cases) {
    auto d = g->decode(soap11(clignotant_xml(c.from, c.to)), {});
    EXPECT_FALSE(d.ok) << c.to;
    EXPECT_EQ(d.code, c.code) << c.to << "\n" << d.answer;
    EXPECT_EQ(d.status, 200u) << c.to;  // a processable envelope: a reply saying NO
    EXPECT_NE(d.answer.find(R"(ok="NO")"), std::string::npos) << d.answer;
    EXPECT_NE(d.answer.find("<ReasonCode>" + c.code + "</ReasonCode>"), std::string::npos)
        << d.answer;
    EXPECT_NE(d.answer.find(c.where), std::string::npos) << c.to << "\n" << d.answer;
  }

  // Oversized: a document over the XML size limit is a Fault (400) naming XML_TOO_LARGE.
  auto small = config(f.dir);
  small.limits.max_bytes = 1024;
  auto g_small = ingest::SoapGateway::create(small, err);
  ASSERT_TRUE(g_small) << err;
  auto big = g_small->decode(soap11(clignotant_xml(two_sources, sources21)), {});
  EXPECT_FALSE(big.ok);
  EXPECT_EQ(big.code, "XML_TOO_LARGE");
  EXPECT_EQ(big.status, 400u);
  EXPECT_NE(big.answer.find("Fault"), std::string::npos) << big.answer;
  EXPECT_NE(big.answer.find("<ReasonCode>XML_TOO_LARGE</ReasonCode>"), std::string::npos)
      << big.answer;
}

// The batch path (relaisctl ingest-file, the spool): a clignotant record without a Ticket gets
// the derived one and maps to the flow's JSON form.
TEST(SoapGateway, MapsASppIsClignotantBatchRecord) {
  SppIsFolder f;
  std::string err;
  auto g = ingest::SoapGateway::create(config(f.dir), err);
  ASSERT_TRUE(g) << err;
  const std::string derived = "11111111-2222-8333-9444-555555555556";
  auto m = g->map_record(clignotant_xml("<Ticket>" + kTicket + "</Ticket>", ""), derived);
  ASSERT_TRUE(m.ok) << m.code << ": " << m.message;
  EXPECT_EQ(m.flow_id, "sppis-clignotant");
  relais::v1::Notification n;
  ASSERT_FALSE(codec::decode_and_validate_json(relais::v1::FLOW_SPPIS_CLIGNOTANT, m.json, n))
      << m.json;
  EXPECT_EQ(n.envelope().ticket(), derived);
  EXPECT_EQ(n.sppis_clignotant().sources_size(), 2);

  m = g->map_record(clignotant_xml("<SppIsId>CLG-2026-0004711</SppIsId>", ""), derived);
  EXPECT_FALSE(m.ok);
  EXPECT_EQ(m.code, "XML_SCHEMA_INVALID");
  EXPECT_NE(m.message.find("SppIsId"), std::string::npos) << m.message;
}
