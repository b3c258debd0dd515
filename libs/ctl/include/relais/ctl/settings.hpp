// relaisctl's own settings: where the brokers, the database and the three services are.
// Read like a service's configuration (YAML file given by --config, then RELAIS_* environment).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "relais/common/config.hpp"
#include "relais/kafka/client.hpp"
#include "relais/kafka/security.hpp"

namespace relais::ctl {

struct Settings {
  std::string kafka_brokers;
  std::string kafka_extra;
  kafka::Security kafka_security;  // kafka.security_protocol, kafka.sasl_*, kafka.ssl_ca_file
  std::string pg_dsn;
  std::string ingest_url;
  std::string api_url;
  std::string router_url;
  std::string inbound_topic = "relais.inbound.v1";
  std::string dlq_topic = "relais.dlq.v1";
  std::string actor;  // recorded with replays (relais-api records the credential, not this)
  int timeout_ms = 30000;
  std::string acls_tool = "deploy/kafka/acls.sh";  // cpas onboard/offboard: the Kafka side
  std::string lang = "en";  // ctl.lang: labels for people (relais/ctl/lang.hpp); --lang overrides

  // librdkafka settings (bootstrap.servers + kafka.extra + credentials, the password read from its
  // file); throws std::runtime_error on bad extra or credentials.
  kafka::Settings kafka() const;
};

std::vector<config::Option> options();
// Loads `path` (may be empty) and the environment. Returns an error message on failure.
std::optional<std::string> load(const std::string& path, char** env, Settings& out);

struct Url {
  std::string host;
  unsigned short port = 0;
  std::string base_path;  // without a trailing '/'
};
// "http://host:port[/path]" (https is refused: the services speak plain HTTP behind the LB).
std::optional<Url> parse_url(const std::string& url);

}  // namespace relais::ctl
