// The check a SIGHUP makes before the Kafka clients are made again with their TLS files read
// again (kafka/reload.hpp): certificates and keys made here (OpenSSL) with chosen lifetimes,
// written to files, read back and judged; the verdict alone on given facts; the reload watch.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "cert_support.hpp"
#include "relais/kafka/reload.hpp"
#include "relais/kafka/security.hpp"

using namespace relais::kafka;

namespace {

using relais::test::key_pem;

relais::test::KeyPtr new_key() {
  return relais::test::new_ec_key();
}

// A self-signed certificate CN=relais-ingest of `key`, valid from now + from_s to now + until_s.
std::string cert_pem(EVP_PKEY* key, long from_s, long until_s) {
  return relais::test::cert_pem(key, "relais-ingest", from_s, until_s);
}

std::string write_file(const std::string& text) {
  return relais::test::write_temp_file("relais-reload-", text);
}

constexpr long kDay = 86400;

// Security over ssl with a CA bundle (the certificate itself: self-signed) and the client pair.
Security ssl(const std::string& cert, const std::string& key) {
  Security s;
  s.protocol = "SSL";
  s.ssl_ca_file = cert;
  s.ssl_cert_file = cert;
  s.ssl_key_file = key;
  return s;
}

}  // namespace

TEST(KafkaReload, AGoodPairIsAccepted) {
  auto key = new_key();
  auto cert = write_file(cert_pem(key.get(), -kDay, 30 * kDay));
  auto k = write_file(key_pem(key.get()));
  const auto facts = read_client_files(ssl(cert, k));
  EXPECT_EQ(facts.unreadable, "");
  EXPECT_TRUE(facts.has_certificate);
  EXPECT_TRUE(facts.key_matches);
  EXPECT_EQ(check_client_files(ssl(cert, k), std::time(nullptr)), std::nullopt);
}

TEST(KafkaReload, AKeyOfAnotherCertificateIsRefusedNamingTheKeyFile) {
  auto key = new_key();
  auto other = new_key();
  auto cert = write_file(cert_pem(key.get(), -kDay, 30 * kDay));
  auto k = write_file(key_pem(other.get()));
  auto e = check_client_files(ssl(cert, k), std::time(nullptr));
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("kafka.ssl_key_file: " + k + " is not the private key of " + cert),
            std::string::npos)
      << *e;
}

TEST(KafkaReload, AnExpiredCertificateIsRefused) {
  auto key = new_key();
  auto cert = write_file(cert_pem(key.get(), -30 * kDay, -kDay));
  auto k = write_file(key_pem(key.get()));
  auto e = check_client_files(ssl(cert, k), std::time(nullptr));
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("kafka.ssl_cert_file: " + cert + " expired "), std::string::npos) << *e;
}

TEST(KafkaReload, ACertificateNotValidYetIsRefused) {
  auto key = new_key();
  auto cert = write_file(cert_pem(key.get(), kDay, 30 * kDay));
  auto k = write_file(key_pem(key.get()));
  auto e = check_client_files(ssl(cert, k), std::time(nullptr));
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("is not valid before"), std::string::npos) << *e;
}

TEST(KafkaReload, UnreadableFilesAreRefusedNamingTheFile) {
  auto key = new_key();
  auto cert = write_file(cert_pem(key.get(), -kDay, 30 * kDay));
  auto k = write_file(key_pem(key.get()));
  const std::string missing = "/nonexistent/relais/kafka.key";
  auto e = check_client_files(ssl(cert, missing), std::time(nullptr));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->rfind("kafka.ssl_key_file: cannot read " + missing, 0), 0U) << *e;

  auto garbage = write_file("not a certificate\n");
  auto s = ssl(cert, k);
  s.ssl_cert_file = garbage;
  e = check_client_files(s, std::time(nullptr));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->rfind("kafka.ssl_cert_file: cannot read " + garbage, 0), 0U) << *e;

  s = ssl(cert, k);
  s.ssl_ca_file = garbage;
  e = check_client_files(s, std::time(nullptr));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->rfind("kafka.ssl_ca_file: cannot read " + garbage, 0), 0U) << *e;

  // A key file holding a certificate (swapped by mistake) is no key.
  e = check_client_files(ssl(cert, cert), std::time(nullptr));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->rfind("kafka.ssl_key_file: cannot read " + cert, 0), 0U) << *e;
}

// The verdict alone, on facts, at a given time: the validity bounds are exact.
TEST(KafkaReload, TheVerdictOnFactsIsPure) {
  const Security s = ssl("/c.pem", "/k.pem");
  ClientFileFacts f;
  f.has_certificate = true;
  f.key_matches = true;
  f.not_before = 1000;
  f.not_after = 2000;
  EXPECT_EQ(judge_client_files(s, f, 1000), std::nullopt);
  EXPECT_EQ(judge_client_files(s, f, 1999), std::nullopt);
  EXPECT_TRUE(judge_client_files(s, f, 2000));
  EXPECT_TRUE(judge_client_files(s, f, 999));
  f.key_matches = false;
  EXPECT_TRUE(judge_client_files(s, f, 1500));
  f.unreadable = "kafka.ssl_cert_file: cannot read /c.pem: gone";
  EXPECT_EQ(judge_client_files(s, f, 1500), f.unreadable);
  Security half = s;
  half.ssl_key_file.clear();
  EXPECT_TRUE(judge_client_files(half, ClientFileFacts{}, 1500));
}

TEST(KafkaReload, OnlyTlsSettingsHaveFilesToReload) {
  EXPECT_TRUE(has_client_files(ssl("/c.pem", "/k.pem")));
  Security plain;
  EXPECT_FALSE(has_client_files(plain));
  Security sasl_ssl;
  sasl_ssl.protocol = "sasl_ssl";
  EXPECT_FALSE(has_client_files(sasl_ssl));  // the system store: nothing of ours to read again
  sasl_ssl.ssl_ca_file = "/ca.pem";
  EXPECT_TRUE(has_client_files(sasl_ssl));
}

TEST(KafkaReload, AWatchIsDueOncePerRequest) {
  Reloads r;
  r.request();  // before the watch: not its business
  ReloadWatch w(&r);
  EXPECT_FALSE(w.due());
  r.request();
  r.request();
  EXPECT_TRUE(w.due());
  EXPECT_FALSE(w.due());
  ReloadWatch none;
  r.request();
  EXPECT_FALSE(none.due());
}
