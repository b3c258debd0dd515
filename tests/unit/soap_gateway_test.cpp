// relais-ingest's SOAP gateway on its own: the decode chain (XML, envelope, XSD, mapping, JSON
// validation) gives the canonical notification or the right answer, and a reload that fails
// keeps the previous XSD set and mappings.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

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
  c.xsd_files = {kRepo + "/var/bcss/cbss/XSD/SSDN/Common/NamespaceRoot.xsd", kRepo + "/deploy/xsd/relais/notifications.xsd"};
  c.xsd_roots = {kRepo + "/var/bcss/cbss/XSD", kRepo + "/deploy/xsd/relais"};
  c.mappings_dir = mappings.string();
  return c;
}

std::string request(const std::string& ssin = "68060105329") {
  return R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>)"
         R"(<NotifyPerson xmlns="urn:be:relais:bcss:notifications:v1"><Context><Ticket>0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11</Ticket></Context>)"
         "<Person><SSIN>" + ssin + "</SSIN></Person><EffectiveDate>2026-11-01</EffectiveDate><Event>DEATH</Event>"
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
  std::ofstream(f.dir / "broken.yaml") << "flow: notify-person\nroot: {namespace: u, element: E}\nfields: [{path: x:Y, field: y}]\n";
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
  std::ofstream(f.dir / "x.yaml") << "flow: no-such-flow\nroot: {namespace: u, element: E}\nfields: []\n";
  EXPECT_FALSE(ingest::SoapGateway::create(config(f.dir), err));
  EXPECT_NE(err.find("unknown flow"), std::string::npos);
}
