// relaisctl cpas onboard|offboard: one CPAS application's access in one step. The pure part
// (names, the connection bundle's client.properties, the next commands) is here and unit-tested;
// onboard()/offboard() are the shell: the CPAS row and the journal in PostgreSQL, the API
// token (libs/auth), the Kafka side (topics, SCRAM user, ACLs) through the Kafka access tool
// (deploy/kafka/acls.sh app-add|app-remove, run with the administrator's Kafka credentials).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "relais/ctl/settings.hpp"

namespace relais::ctl {

// An application name: 1-40 of [a-z0-9-], starting with a letter or digit. nullopt when valid.
std::optional<std::string> validate_app_name(const std::string& app);

// The Kafka principal of one application of a CPAS ("cpas-<cbe>-<app>"), its consumer group
// ("cpas.<cbe>.<app>": inside the prefix cpas.<cbe>. its ACLs allow) and its CPAS's topics.
std::string app_principal(const std::string& cbe, const std::string& app);
std::string app_group(const std::string& cbe, const std::string& app);
std::vector<std::string> cpas_topics(const std::string& cbe);

struct BundleSettings {
  std::string cbe, app;
  std::string brokers;
  std::string security_protocol;  // SASL_PLAINTEXT (local stack) or SASL_SSL
  std::string mechanism = "SCRAM-SHA-512";
  std::string password;
  bool with_ca = false;  // ca.pem is in the bundle (TLS)
};

// client.properties: the keys both the Java client and librdkafka understand, then the
// Java-only keys (sasl.jaas.config, ssl.truststore.*) that librdkafka-based clients must skip
// (listed in a comment line "# java-only: k1 k2 ..." the reference consumers read).
std::string render_client_properties(const BundleSettings& b);

// The three commands printed after onboarding (bundle directory `dir`).
std::string next_commands(const std::string& dir, const std::string& cbe);

struct OnboardOptions {
  std::string cbe, app;
  std::string cpas_name;  // used only when the CPAS is created
  std::string out_dir;    // the bundle directory
  std::string acls_tool;  // deploy/kafka/acls.sh
  long long token_lifetime_seconds = 180LL * 86400;
};

struct OnboardResult {
  bool cpas_created = false;
  bool token_created = false;  // false: the bundle's token was still valid and kept
  std::string credential_id;
  std::string principal, group;
};

// Idempotent. Throws std::runtime_error (the step that failed) on failure.
OnboardResult onboard(const Settings& s, const OnboardOptions& o);

struct OffboardResult {
  std::vector<std::string> revoked_credentials;
  std::string principal;
};
OffboardResult offboard(const Settings& s, const std::string& cbe, const std::string& app,
                        const std::string& acls_tool, const std::string& reason);

}  // namespace relais::ctl
