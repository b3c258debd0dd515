#include "relais/kafka/security.hpp"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cctype>
#include <fstream>

#include "relais/common/log.hpp"

namespace relais::kafka {

std::vector<config::Option> security_options() {
  using config::Type;
  return {
      {"kafka.security_protocol", Type::string, "plaintext",
       "plaintext, ssl, sasl_plaintext (loopback only) or sasl_ssl (production)"},
      {"kafka.sasl_mechanism", Type::string, "SCRAM-SHA-512",
       "SASL mechanism: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN"},
      {"kafka.sasl_username", Type::string, "",
       "SASL user: this program's own Kafka principal (e.g. relais-router)"},
      {"kafka.sasl_password_file", Type::string, "",
       "file holding the SASL password (first line; keep it mode 0600)"},
      {"kafka.ssl_ca_file", Type::string, "",
       "PEM CA bundle to verify the brokers (ssl, sasl_ssl; empty: system store)"},
      {"kafka.ssl_cert_file", Type::string, "",
       "PEM client certificate, this program's principal over mTLS (required with ssl; its CN "
       "is the principal, e.g. relais-router)"},
      {"kafka.ssl_key_file", Type::string, "",
       "PEM private key of kafka.ssl_cert_file (unencrypted; keep it mode 0600)"},
  };
}

Security security_from(const config::Config& c) {
  Security s;
  s.protocol = c.str("kafka.security_protocol");
  s.mechanism = c.str("kafka.sasl_mechanism");
  s.username = c.str("kafka.sasl_username");
  s.password_file = c.str("kafka.sasl_password_file");
  s.ssl_ca_file = c.str("kafka.ssl_ca_file");
  s.ssl_cert_file = c.str("kafka.ssl_cert_file");
  s.ssl_key_file = c.str("kafka.ssl_key_file");
  return s;
}

namespace {

// A file the process can open for reading (exists, permitted): librdkafka would otherwise fail
// later, inside the client's creation, with a less telling message.
bool readable(const std::string& path) {
  return static_cast<bool>(std::ifstream(path));
}

// kafka.ssl_cert_file / kafka.ssl_key_file: the client certificate of mTLS. Required with `ssl`
// (without one, the broker sees no principal and refuses the handshake), both or neither with
// sasl_ssl, refused without TLS.
std::optional<std::string> apply_client_certificate(const Security& sec, const std::string& proto,
                                                    Settings& out) {
  const bool any = !sec.ssl_cert_file.empty() || !sec.ssl_key_file.empty();
  if (!proto.ends_with("ssl")) {
    if (any)
      return "kafka.ssl_cert_file/kafka.ssl_key_file are set but kafka.security_protocol is " +
             proto + " (use ssl for mTLS)";
    return std::nullopt;
  }
  if (!any && proto == "sasl_ssl") return std::nullopt;
  if (sec.ssl_cert_file.empty())
    return "kafka.security_protocol is " + proto +
           " but kafka.ssl_cert_file is empty (the client certificate is this program's principal)";
  if (sec.ssl_key_file.empty())
    return "kafka.security_protocol is " + proto + " but kafka.ssl_key_file is empty";
  if (!readable(sec.ssl_cert_file)) return "kafka.ssl_cert_file: cannot read " + sec.ssl_cert_file;
  if (!readable(sec.ssl_key_file)) return "kafka.ssl_key_file: cannot read " + sec.ssl_key_file;
  out["ssl.certificate.location"] = sec.ssl_cert_file;
  out["ssl.key.location"] = sec.ssl_key_file;
  return std::nullopt;
}

}  // namespace

std::optional<std::string> apply_security(const Security& sec, Settings& out) {
  auto lower = [](std::string t) {
    for (auto& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return t;
  };
  for (const char* k :
       {"sasl.password", "sasl.username", "sasl.jaas.config", "ssl.key.password",
        "ssl.keystore.password", "security.protocol", "sasl.mechanism", "sasl.mechanisms",
        "ssl.key.location", "ssl.key.pem", "ssl.certificate.location", "ssl.certificate.pem",
        "ssl.keystore.location"}) {
    if (out.count(k))
      return std::string("kafka.extra must not set ") + k +
             " (use kafka.security_protocol, kafka.sasl_mechanism, kafka.sasl_username, "
             "kafka.sasl_password_file, kafka.ssl_cert_file, kafka.ssl_key_file)";
  }
  const std::string proto = lower(sec.protocol);
  if (proto != "plaintext" && proto != "ssl" && proto != "sasl_plaintext" && proto != "sasl_ssl")
    return "kafka.security_protocol: expected plaintext, ssl, sasl_plaintext or sasl_ssl, got \"" +
           sec.protocol + "\"";
  const bool sasl = proto.starts_with("sasl_");
  if (!sasl) {
    if (!sec.username.empty() || !sec.password_file.empty())
      return "kafka.sasl_username/kafka.sasl_password_file are set but kafka.security_protocol "
             "is " +
             proto + " (use sasl_ssl, or sasl_plaintext on loopback)";
  } else {
    const std::string mech = sec.mechanism;
    if (mech != "SCRAM-SHA-512" && mech != "SCRAM-SHA-256" && mech != "PLAIN")
      return "kafka.sasl_mechanism: expected SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN, got \"" + mech +
             "\"";
    if (sec.username.empty())
      return "kafka.security_protocol is " + proto + " but kafka.sasl_username is empty";
    if (sec.password_file.empty())
      return "kafka.security_protocol is " + proto + " but kafka.sasl_password_file is empty";
    std::ifstream in(sec.password_file);
    if (!in) return "kafka.sasl_password_file: cannot read " + sec.password_file;
    std::string password;
    std::getline(in, password);
    while (!password.empty() &&
           (password.back() == '\r' || password.back() == ' ' || password.back() == '\t'))
      password.pop_back();
    if (password.empty()) return "kafka.sasl_password_file: " + sec.password_file + " is empty";
    // librdkafka before 2.6.1 computes a SCRAM proof that Kafka 4 brokers reject
    // (confluentinc/librdkafka#4895): say so once instead of leaving "invalid credentials".
    static std::atomic<bool> warned{false};
    if (mech.starts_with("SCRAM") && rd_kafka_version() < 0x020601ff && !warned.exchange(true))
      log::Logger("kafka").warn(
          "SCRAM with this librdkafka fails against Kafka 4 brokers; use "
          "kafka.sasl_mechanism=PLAIN over sasl_ssl",
          {{"librdkafka", std::string(rd_kafka_version_str())}});
    out["sasl.mechanism"] = mech;
    out["sasl.username"] = sec.username;
    out["sasl.password"] = std::move(password);
  }
  if (!sec.ssl_ca_file.empty()) {
    if (!proto.ends_with("ssl"))
      return "kafka.ssl_ca_file is set but kafka.security_protocol is " + proto;
    if (!readable(sec.ssl_ca_file)) return "kafka.ssl_ca_file: cannot read " + sec.ssl_ca_file;
    out["ssl.ca.location"] = sec.ssl_ca_file;
  }
  if (auto e = apply_client_certificate(sec, proto, out)) return e;
  out["security.protocol"] = proto;
  return std::nullopt;
}

}  // namespace relais::kafka
