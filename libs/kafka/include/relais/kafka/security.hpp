// How a Relais client authenticates to the brokers: the kafka.security_protocol, kafka.sasl_*
// and kafka.ssl_* configuration keys (shared by the services and relaisctl), validated and
// turned into librdkafka settings. The SASL password is only ever read from a file; over `ssl`
// the client certificate (mTLS) is the principal: the broker maps its CN to the principal name.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "relais/common/config.hpp"
#include "relais/kafka/client.hpp"

namespace relais::kafka {

struct Security {
  std::string protocol = "plaintext";  // plaintext | ssl | sasl_plaintext | sasl_ssl (any case)
  std::string mechanism = "SCRAM-SHA-512";  // SCRAM-SHA-512 | SCRAM-SHA-256 | PLAIN
  std::string username;
  std::string password_file;
  std::string ssl_ca_file;    // PEM bundle of the brokers' CA (ssl, sasl_ssl); empty: system store
  std::string ssl_cert_file;  // PEM client certificate (mTLS): required with ssl
  std::string ssl_key_file;   // its PEM private key (unencrypted, mode 0600): required with ssl
};

// The configuration keys above, with their defaults and help.
std::vector<config::Option> security_options();
Security security_from(const config::Config& c);

// Validates `sec` (SASL needs a username and a readable, non-empty password file; a username or
// password file without SASL is refused; credentials already in `out`, e.g. from kafka.extra, are
// refused; `ssl` needs a readable client certificate and key, which only an ssl protocol may
// name) and adds security.protocol, sasl.*, ssl.ca.location, ssl.certificate.location and
// ssl.key.location to `out`. Returns an error
// message on failure; the message never contains the password.
std::optional<std::string> apply_security(const Security& sec, Settings& out);

}  // namespace relais::kafka
