// relais-ingest's SOAP gateway on its own: the decode chain (XML, envelope, XSD, mapping, JSON
// validation) gives the canonical notification or the right answer, and a reload that fails
// keeps the previous XSD set and mappings.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "relais/ingest/soap.hpp"

using namespace relais;
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
                 kRepo + "/deploy/xsd/relais/notifications.xsd"};
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
  EXPECT_EQ(catalog->by_root.size(), 6u);  // the six flows
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
