// How a Relais client authenticates to the brokers: the kafka.security_protocol, kafka.sasl_*
// and kafka.ssl_ca_file configuration keys (shared by the services and relaisctl), validated and
// turned into librdkafka settings. The SASL password is only ever read from a file.
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
  std::string ssl_ca_file;  // PEM bundle of the brokers' CA (ssl, sasl_ssl); empty: system store
};

// The configuration keys above, with their defaults and help.
std::vector<config::Option> security_options();
Security security_from(const config::Config& c);

// Validates `sec` (SASL needs a username and a readable, non-empty password file; a username or
// password file without SASL is refused; credentials already in `out`, e.g. from kafka.extra, are
// refused) and adds security.protocol, sasl.* and ssl.ca.location to `out`. Returns an error
// message on failure; the message never contains the password.
std::optional<std::string> apply_security(const Security& sec, Settings& out);

}  // namespace relais::kafka
