// kafka.security_protocol / kafka.sasl_* validation: what a misconfigured client is told, and the
// librdkafka settings a valid one gets (the password read from its file, never from config text).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "relais/kafka/security.hpp"

using relais::kafka::apply_security;
using relais::kafka::Security;
using relais::kafka::Settings;

namespace {
std::string write_file(const std::string& text) {
  char name[] = "/tmp/relais-kafka-pw-XXXXXX";
  int fd = mkstemp(name);
  ::close(fd);
  std::ofstream(name) << text;
  return name;
}
Security sasl(const std::string& file) {
  Security s;
  s.protocol = "SASL_PLAINTEXT";
  s.username = "relais-router";
  s.password_file = file;
  return s;
}
}  // namespace

TEST(KafkaSecurity, PlaintextByDefaultAddsNoCredentials) {
  Settings out{{"bootstrap.servers", "b:1"}};
  EXPECT_FALSE(apply_security(Security{}, out).has_value());
  EXPECT_EQ(out.at("security.protocol"), "plaintext");
  EXPECT_EQ(out.count("sasl.username"), 0u);
}

TEST(KafkaSecurity, SaslReadsThePasswordFromItsFile) {
  auto f = write_file("s3cret-Passw0rd\n");
  Settings out;
  ASSERT_FALSE(apply_security(sasl(f), out).has_value());
  EXPECT_EQ(out.at("security.protocol"), "sasl_plaintext");
  EXPECT_EQ(out.at("sasl.mechanism"), "SCRAM-SHA-512");
  EXPECT_EQ(out.at("sasl.username"), "relais-router");
  EXPECT_EQ(out.at("sasl.password"), "s3cret-Passw0rd");  // first line, newline stripped
  std::remove(f.c_str());
}

TEST(KafkaSecurity, SaslWithoutPasswordFileIsRefused) {
  Settings out;
  auto e = apply_security(sasl(""), out);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("kafka.sasl_password_file"), std::string::npos) << *e;
  auto s = sasl("/nonexistent/relais.password");
  e = apply_security(s, out);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("cannot read"), std::string::npos) << *e;
  auto empty = write_file("");
  e = apply_security(sasl(empty), out);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("is empty"), std::string::npos) << *e;
  std::remove(empty.c_str());
  s = sasl(empty);
  s.username.clear();
  EXPECT_TRUE(apply_security(s, out).has_value());
}

TEST(KafkaSecurity, CredentialsWithoutSaslOrInExtraAreRefused) {
  auto f = write_file("s3cret-Passw0rd");
  auto s = sasl(f);
  s.protocol = "plaintext";
  Settings out;
  auto e = apply_security(s, out);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("kafka.security_protocol"), std::string::npos) << *e;

  Settings extra{{"sasl.password", "inline"}};
  e = apply_security(sasl(f), extra);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("kafka.extra must not set sasl.password"), std::string::npos) << *e;
  EXPECT_EQ(e->find("inline"), std::string::npos) << "the secret must not be echoed: " << *e;

  s = sasl(f);
  s.protocol = "tls";
  EXPECT_TRUE(apply_security(s, out).has_value());
  s = sasl(f);
  s.mechanism = "GSSAPI";
  EXPECT_TRUE(apply_security(s, out).has_value());
  s = sasl(f);
  s.ssl_ca_file = f;  // a CA file only makes sense with TLS
  EXPECT_TRUE(apply_security(s, out).has_value());
  s.protocol = "sasl_ssl";
  Settings ok;
  ASSERT_FALSE(apply_security(s, ok).has_value());
  EXPECT_EQ(ok.at("ssl.ca.location"), f);
  std::remove(f.c_str());
}

namespace {
Security mtls(const std::string& cert, const std::string& key) {
  Security s;
  s.protocol = "SSL";
  s.ssl_cert_file = cert;
  s.ssl_key_file = key;
  return s;
}
}  // namespace

TEST(KafkaSecurity, SslNamesTheClientCertificateAndKey) {
  auto cert = write_file("-----BEGIN CERTIFICATE-----\n");
  auto key = write_file("-----BEGIN PRIVATE KEY-----\n");
  auto s = mtls(cert, key);
  s.ssl_ca_file = cert;
  Settings out;
  ASSERT_FALSE(apply_security(s, out).has_value());
  EXPECT_EQ(out.at("security.protocol"), "ssl");
  EXPECT_EQ(out.at("ssl.certificate.location"), cert);
  EXPECT_EQ(out.at("ssl.key.location"), key);
  EXPECT_EQ(out.at("ssl.ca.location"), cert);
  EXPECT_EQ(out.count("sasl.username"), 0u);
  std::remove(cert.c_str());
  std::remove(key.c_str());
}

TEST(KafkaSecurity, SslWithoutAReadableCertificateOrKeyIsRefused) {
  auto cert = write_file("-----BEGIN CERTIFICATE-----\n");
  auto key = write_file("-----BEGIN PRIVATE KEY-----\n");
  Settings out;
  auto e = apply_security(mtls("", key), out);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("kafka.ssl_cert_file is empty"), std::string::npos) << *e;
  e = apply_security(mtls(cert, ""), out);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("kafka.ssl_key_file is empty"), std::string::npos) << *e;
  e = apply_security(mtls("/nonexistent/relais-router.pem", key), out);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("kafka.ssl_cert_file: cannot read /nonexistent/relais-router.pem"),
            std::string::npos)
      << *e;
  e = apply_security(mtls(cert, "/nonexistent/relais-router.key"), out);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("kafka.ssl_key_file: cannot read"), std::string::npos) << *e;
  EXPECT_EQ(out.count("ssl.certificate.location"), 0u);

  // a certificate without TLS, or the key in kafka.extra, is refused too
  auto s = mtls(cert, key);
  s.protocol = "plaintext";
  e = apply_security(s, out);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("kafka.security_protocol is plaintext"), std::string::npos) << *e;
  Settings extra{{"ssl.key.location", key}};
  e = apply_security(mtls(cert, key), extra);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("kafka.extra must not set ssl.key.location"), std::string::npos) << *e;
  // sasl_ssl: the client certificate is optional, but never half of it
  s = mtls("", "");
  s.protocol = "sasl_ssl";
  s.username = "relais-router";
  s.password_file = write_file("s3cret-Passw0rd");
  Settings ok;
  EXPECT_FALSE(apply_security(s, ok).has_value());
  EXPECT_EQ(ok.count("ssl.certificate.location"), 0u);
  s.ssl_cert_file = cert;
  EXPECT_TRUE(apply_security(s, ok).has_value());
  std::remove(s.password_file.c_str());
  std::remove(cert.c_str());
  std::remove(key.c_str());
}
