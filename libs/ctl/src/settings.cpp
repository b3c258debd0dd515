#include "relais/ctl/settings.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <stdexcept>

#include "relais/labels/labels.hpp"

namespace relais::ctl {

std::vector<config::Option> options() {
  using config::Type;
  std::vector<config::Option> v{
      {"kafka.brokers", Type::string, "127.0.0.1:59092", "Kafka bootstrap servers"},
      {"kafka.extra", Type::string, "",
       "extra librdkafka settings k=v,k=v (never credentials: see kafka.sasl_*)"},
      // The local stack of `make run`, its password from the stack's passfile (a relative path:
      // from the repository's root, as the README runs it; libpq ignores a passfile that does not
      // exist, and PGPASSFILE or a DSN of one's own take over elsewhere).
      {"pg.dsn", Type::string,
       "host=127.0.0.1 port=55432 dbname=relais user=relais passfile=var/stack/secrets/pg/pgpass",
       "libpq connection string (default: the local stack of make run)"},
      {"ingest.url", Type::string, "http://127.0.0.1:8080", "relais-ingest base URL"},
      {"api.url", Type::string, "http://127.0.0.1:8081", "relais-api base URL"},
      {"router.url", Type::string, "http://127.0.0.1:8082",
       "relais-router base URL (ops endpoints)"},
      {"topics.inbound", Type::string, "relais.inbound.v1", "inbound topic (replay target)"},
      {"topics.dlq", Type::string, "relais.dlq.v1", "dead-letter topic"},
      {"ctl.actor", Type::string, "", "who is operating (default: relaisctl:$USER)"},
      {"ctl.timeout_ms", Type::integer, "30000", "timeout of each HTTP request and Kafka wait"},
      {"ctl.acls_tool", Type::string, "deploy/kafka/acls.sh",
       "the Kafka access tool cpas onboard/offboard run (app-add, app-remove)"},
      {"ctl.lang", Type::string, "en",
       "language of the labels for people (fr, nl, de, en); --lang overrides it"},
  };
  for (auto& o : kafka::security_options()) v.push_back(std::move(o));
  return v;
}

kafka::Settings Settings::kafka() const {
  kafka::Settings s{{"bootstrap.servers", kafka_brokers}};
  std::string err;
  if (!kafka_extra.empty() && !kafka::parse_extra(kafka_extra, s, err))
    throw std::runtime_error("kafka.extra: " + err);
  if (auto e = kafka::apply_security(kafka_security, s)) throw std::runtime_error(*e);
  return s;
}

std::optional<std::string> load(const std::string& path, char** env, Settings& out) {
  config::Config c;
  if (auto e = config::Config::load(options(), path, env, c)) return e;
  out.kafka_brokers = c.str("kafka.brokers");
  out.kafka_extra = c.str("kafka.extra");
  out.kafka_security = kafka::security_from(c);
  {
    // refuse bad credentials settings at load time, not at the first Kafka command
    kafka::Settings probe;
    std::string err;
    if (!out.kafka_extra.empty() && !kafka::parse_extra(out.kafka_extra, probe, err))
      return "kafka.extra: " + err;
    if (auto e = kafka::apply_security(out.kafka_security, probe)) return *e;
  }
  out.pg_dsn = c.str("pg.dsn");
  out.ingest_url = c.str("ingest.url");
  out.api_url = c.str("api.url");
  out.router_url = c.str("router.url");
  out.inbound_topic = c.str("topics.inbound");
  out.dlq_topic = c.str("topics.dlq");
  out.actor = c.str("ctl.actor");
  out.acls_tool = c.str("ctl.acls_tool");
  out.lang = c.str("ctl.lang");
  if (!labels::parse_lang(out.lang)) return "ctl.lang: one of fr, nl, de, en";
  if (out.actor.empty()) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, loading the settings before any thread
    const char* u = std::getenv("USER");
    out.actor = std::string("relaisctl:") + (u && *u ? u : std::to_string(::getuid()));
  }
  auto t = c.integer("ctl.timeout_ms");
  if (t < 100 || t > 3600000) return "ctl.timeout_ms: must be between 100 and 3600000";
  out.timeout_ms = static_cast<int>(t);
  return std::nullopt;
}

std::optional<Url> parse_url(const std::string& url) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) return std::nullopt;
  std::string rest = url.substr(scheme.size());
  Url u;
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    u.base_path = rest.substr(slash);
    while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
    rest = rest.substr(0, slash);
  }
  auto colon = rest.rfind(':');
  std::string port = "80";
  if (colon != std::string::npos && rest.find(']') == std::string::npos) {
    port = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return std::nullopt;
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc{} || ptr != port.data() + port.size() || p == 0 || p > 65535)
    return std::nullopt;
  u.host = rest;
  u.port = static_cast<unsigned short>(p);
  return u;
}

}  // namespace relais::ctl
