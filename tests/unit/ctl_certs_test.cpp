// relaisctl certs check: certificates made here with a chosen lifetime (OpenSSL), read back from
// PEM files, judged against the warning window, and the command's lines and exit codes.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cert_support.hpp"
#include "relais/ctl/certs.hpp"
#include "relais/ctl/cli.hpp"

using namespace relais::ctl;

namespace {

// A self-signed EC certificate CN=<cn>,O=Relais valid from a day ago until now + lifetime_s.
std::string make_cert_pem(const std::string& cn, long lifetime_s) {
  return relais::test::cert_pem(relais::test::new_ec_key().get(), cn, -86400, lifetime_s);
}

// A new file under the temporary directory holding `text` (removed by the test).
std::string write_file(const std::string& text) {
  return relais::test::write_temp_file("relais-certs-", text);
}

constexpr long kDay = 86400;

std::vector<CertInfo> read_ok(const std::string& file) {
  auto r = read_pem_certificates(file);
  if (auto* e = std::get_if<std::string>(&r)) ADD_FAILURE() << *e;
  return std::get<std::vector<CertInfo>>(r);
}

int run_ctl(std::vector<std::string> words, std::string& out, std::string& err) {
  words.insert(words.begin(), "relaisctl");
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  char* env[] = {nullptr};
  std::ostringstream o, e;
  int rc = run(static_cast<int>(argv.size()), argv.data(), env, o, e);
  out = o.str();
  err = e.str();
  return rc;
}

}  // namespace

TEST(CtlCerts, ACertificateExpiringWithinTheWindowIsFlagged) {
  auto f = write_file(make_cert_pem("relais-router", 10 * kDay));
  auto certs = read_ok(f);
  ASSERT_EQ(certs.size(), 1u);
  EXPECT_EQ(certs[0].subject, "CN=relais-router,O=Relais");
  const auto now = std::time(nullptr);
  EXPECT_NEAR(static_cast<double>(certs[0].not_after - now), 10.0 * kDay, 120.0);
  EXPECT_EQ(judge_certificate(certs[0], now, 30).state, CertState::expiring);
  EXPECT_EQ(judge_certificate(certs[0], now, 5).state, CertState::ok);
  // an hour short of ten days: nine whole days left; the window's edge is inclusive
  const auto at = certs[0].not_after - 10 * kDay + 3600;
  auto v = judge_certificate(certs[0], at, 30);
  EXPECT_EQ(v.state, CertState::expiring);
  EXPECT_EQ(v.days_left, 9);
  EXPECT_EQ(judge_certificate(certs[0], certs[0].not_after - 9 * kDay, 9).state,
            CertState::expiring);
  EXPECT_EQ(judge_certificate(certs[0], certs[0].not_after - 9 * kDay - 1, 9).state, CertState::ok);
  EXPECT_EQ(judge_certificate(certs[0], certs[0].not_after, 9).state, CertState::expired);
  auto line = describe_certificate(certs[0], v);
  EXPECT_EQ(line.rfind("EXPIRING " + f + " CN=relais-router,O=Relais: expires ", 0), 0u) << line;
  EXPECT_NE(line.find("(9 days left)"), std::string::npos) << line;
  std::remove(f.c_str());
}

TEST(CtlCerts, ExpiredAndLongLivedCertificates) {
  auto f =
      write_file(make_cert_pem("cpas-0123456749", -kDay / 2) + make_cert_pem("ca", 400 * kDay));
  auto certs = read_ok(f);
  ASSERT_EQ(certs.size(), 2u);  // a bundle: one entry per certificate
  EXPECT_EQ(certs[1].index, 1);
  const auto now = std::time(nullptr);
  auto expired = judge_certificate(certs[0], now, 30);
  EXPECT_EQ(expired.state, CertState::expired);
  EXPECT_NE(describe_certificate(certs[0], expired).find("EXPIRED "), std::string::npos);
  EXPECT_EQ(judge_certificate(certs[1], now, 30).state, CertState::ok);
  EXPECT_NE(describe_certificate(certs[1], judge_certificate(certs[1], now, 30)).find(f + "#1"),
            std::string::npos);
  std::remove(f.c_str());
}

TEST(CtlCerts, UnreadableOrNonCertificateFilesAreErrors) {
  auto r = read_pem_certificates("/nonexistent/relais.pem");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_EQ(std::get<std::string>(r), "/nonexistent/relais.pem: cannot read");
  auto f = write_file("not a certificate\n");
  r = read_pem_certificates(f);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("no PEM certificate"), std::string::npos);
  std::remove(f.c_str());
  f = write_file("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  r = read_pem_certificates(f);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  std::remove(f.c_str());
}

TEST(CtlCerts, TheFilesAServiceConfigurationNames) {
  auto f = write_file(
      "http:\n  listen: 127.0.0.1:8081\n  tls:\n    cert_file: /etc/relais/tls/api.pem\n"
      "    key_file: /etc/relais/tls/api.key\n    client_ca_file: \"\"\n"
      "kafka:\n  security_protocol: ssl\n  ssl_ca_file: /etc/relais/tls/kafka-ca.pem\n"
      "  ssl_cert_file: /etc/relais/tls/relais-api.pem\n"
      "pg:\n  dsn: host=db port=5432 sslmode=verify-full sslrootcert=/etc/relais/tls/pg-ca.pem\n"
      "manage_access:\n  mode: proxy\n  bcss_url: https://bcss.example/ManageAccess\n  tls:\n"
      "    ca_file: /etc/relais/tls/bcss-ca.pem\n    cert_file: "
      "/etc/relais/tls/relais-api-bcss.pem\n"
      "    key_file: /etc/relais/tls/relais-api-bcss.key\n");
  auto r = certificate_files_of_config(f);
  ASSERT_TRUE(std::holds_alternative<std::vector<std::string>>(r)) << std::get<std::string>(r);
  EXPECT_EQ(std::get<std::vector<std::string>>(r),
            (std::vector<std::string>{"/etc/relais/tls/api.pem", "/etc/relais/tls/kafka-ca.pem",
                                      "/etc/relais/tls/relais-api.pem", "/etc/relais/tls/pg-ca.pem",
                                      "/etc/relais/tls/bcss-ca.pem",
                                      "/etc/relais/tls/relais-api-bcss.pem"}));
  std::remove(f.c_str());
}

TEST(CtlCerts, TheCommandWarnsWithANonZeroExit) {
  auto soon = write_file(make_cert_pem("relais-ingest", 20 * kDay));
  auto later = write_file(make_cert_pem("relais-api", 200 * kDay));
  std::string out, err;
  EXPECT_EQ(run_ctl({"certs", "check", later}, out, err), kExitOk) << out << err;
  EXPECT_EQ(out.rfind("OK       " + later + " CN=relais-api,O=Relais", 0), 0u) << out;
  EXPECT_EQ(run_ctl({"certs", "check", later, soon}, out, err), kExitFailed);
  EXPECT_NE(out.find("EXPIRING " + soon + " CN=relais-ingest,O=Relais"), std::string::npos) << out;
  EXPECT_NE(out.find("OK       " + later), std::string::npos) << out;
  EXPECT_NE(err.find("need attention"), std::string::npos) << err;
  // a narrower window: nothing to say
  EXPECT_EQ(run_ctl({"certs", "check", "--warn-days", "7", soon}, out, err), kExitOk) << out;
  // a missing file is a failure, not a silent pass
  EXPECT_EQ(run_ctl({"certs", "check", "/nonexistent/x.pem"}, out, err), kExitFailed);
  EXPECT_NE(out.find("UNREADABLE /nonexistent/x.pem: cannot read"), std::string::npos) << out;
  EXPECT_EQ(run_ctl({"certs", "check", "--warn-days", "x", soon}, out, err), kExitUsage);
  EXPECT_EQ(run_ctl({"certs", "check"}, out, err), kExitUsage);
  EXPECT_EQ(run_ctl({"certs", "check", "--service-config", "/nonexistent/api.yaml"}, out, err),
            kExitFailed);
  std::remove(soon.c_str());
  std::remove(later.c_str());
}
