// relais-api: the directory (CPAS, integrations) and the clignotants (alerts,
// reactions) for CPAS applications and operators.
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include "relais/alerts/reaction_codes.hpp"
#include "relais/api/access.hpp"
#include "relais/api/alert_store.hpp"
#include "relais/api/alerts.hpp"
#include "relais/api/archive.hpp"
#include "relais/api/manage_access.hpp"
#include "relais/api/operator_view.hpp"
#include "relais/api/problem.hpp"
#include "relais/api/replay.hpp"
#include "relais/api/service.hpp"
#include "relais/api/subscriber_health.hpp"
#include "relais/common/config.hpp"
#include "relais/common/log.hpp"
#include "relais/outbox/sender.hpp"
#include "relais/service/readiness.hpp"
#include "relais/service/runtime.hpp"
#include "relais/service/status.hpp"

using namespace relais;

int main(int argc, char** argv) {
  using config::Type;
  auto spec = config::common_options();
  for (auto& o : service::http_options("127.0.0.1:8081")) spec.push_back(o);
  for (auto& o : service::kafka_options()) spec.push_back(o);
  spec.insert(
      spec.end(),
      {
          {"pg.dsn", Type::string,
           "host=127.0.0.1 port=55432 dbname=relais user=relais "
           "passfile=var/stack/secrets/pg/pgpass",
           "PostgreSQL connection string (default: the local stack of make run, run from the "
           "repository root)"},
          {"pg.pool_size", Type::integer, "4", "PostgreSQL connections (and worker threads)"},
          {"api.cpas_topic_partitions", Type::integer, "1",
           "partitions of the topics of a new CPAS"},
          {"api.replication_factor", Type::integer, "1",
           "replication factor of the topics of a new CPAS"},
          {"api.max_import_bytes", Type::integer, "67108864", "largest bulk import request"},
          {"api.max_import_lines", Type::integer, "1000000", "most lines in one bulk import"},
          {"api.reaction_codes_file", Type::string, "deploy/rules/reaction-codes.yaml",
           "the reaction codes a CPAS may send (validated at start)"},
          {"api.alerts_group_id", Type::string, "relais-api-alerts",
           "consumer group of the alert store"},
          {"api.alerts_metadata_refresh_ms", Type::integer, "2000",
           "how often the alert store looks for new cpas.<cbe>.alerts.v1 topics"},
          {"api.clignotant_match_window_days", Type::integer, "31",
           "days an early signal's date may lie outside an SPP IS clignotant's period and still "
           "be linked to it"},
          {"archive.enabled", Type::boolean, "true",
           "copy every record routed to cpas.<cbe>.notifications.v1 to the notification archive "
           "(replays, docs/subscribers.md section 6)"},
          {"archive.group_id", Type::string, "relais-api-archive", "consumer group of the archive"},
          {"archive.retention_days", Type::integer, "3650",
           "archived records older than this are deleted (the legal period: an assumption, "
           "docs/subscribers.md)"},
          {"replay.chunk", Type::integer, "500",
           "records a replay publishes between two progress updates"},
          {"replay.lease_ms", Type::integer, "30000",
           "a replay whose worker is silent this long is taken up by another"},
          {"replay.topic_retention_ms", Type::integer, "604800000",
           "retention of a new cpas.<cbe>.replay.v1 topic"},
          {"upstream.url", Type::string, "http://127.0.0.1:8099/pcsaa/alert-reactions",
           "PCSAAAlertReaction endpoint of SPP IS: https://host[:port]/path (mTLS, upstream.tls.*) "
           "or http:// (local stand-in)"},
          {"upstream.tls.ca_file", Type::string, "",
           "https: the CAs trusted for SPP IS's server certificate (PEM; empty = the system "
           "store)"},
          {"upstream.tls.cert_file", Type::string, "",
           "https: relais-api's client certificate for SPP IS (PEM, chain allowed)"},
          {"upstream.tls.key_file", Type::string, "", "https: the client certificate's key (PEM)"},
          {"upstream.tls.server_name", Type::string, "",
           "https: the name SPP IS's certificate must carry (and SNI); empty = the URL's host"},
          {"upstream.tls.verify", Type::boolean, "true",
           "https: verify SPP IS's certificate and name (false only for diagnostics)"},
          {"upstream.timeout_ms", Type::integer, "5000",
           "timeout of each phase of an upstream call (connect, TLS handshake, write, read)"},
          {"upstream.base_backoff_ms", Type::integer, "200",
           "first retry delay ceiling (doubles per failed attempt)"},
          {"upstream.max_backoff_ms", Type::integer, "30000", "cap of the retry delay"},
          {"upstream.concurrency", Type::integer, "4",
           "deliveries in flight (outbox worker threads)"},
          {"upstream.breaker_failures", Type::integer, "10",
           "consecutive failures that open the circuit breaker"},
          {"upstream.breaker_open_ms", Type::integer, "10000",
           "how long the breaker stays open before one trial call"},
          {"manage_access.enabled", Type::boolean, "false",
           "serve BCSS's ManageAccess on POST /v1/cpas/{cbe}/soap/manage-access (docs/bcss.md)"},
          {"manage_access.mode", Type::string, "mirror",
           "mirror: record in the directory only; proxy: forward to BCSS, record what BCSS "
           "accepted"},
          {"manage_access.xsd_dir", Type::string, "var/bcss/cbss/XSD",
           "the public BCSS XSD folder (SSDN/Service, SSDN/OCMW_CPAS/ManageAccess), read once at "
           "start"},
          {"manage_access.bcss_url", Type::string, "",
           "proxy: BCSS's ManageAccess endpoint, https://host[:port]/path (mTLS, "
           "manage_access.tls.*), or http:// to a local egress proxy only"},
          {"manage_access.tls.ca_file", Type::string, "",
           "https: the CAs trusted for BCSS's server certificate (PEM; empty = the system store)"},
          {"manage_access.tls.cert_file", Type::string, "",
           "https: the data centre's client certificate for BCSS (PEM, chain allowed; required)"},
          {"manage_access.tls.key_file", Type::string, "",
           "https: the client certificate's key (PEM; required)"},
          {"manage_access.tls.server_name", Type::string, "",
           "https: the name BCSS's certificate must carry (and SNI); empty = the URL's host"},
          {"manage_access.bcss_timeout_ms", Type::integer, "10000",
           "proxy: timeout of each phase of the call to BCSS (connect, TLS handshake, write, "
           "read); a timeout answers 504 BCSS_TIMEOUT, "
           "directory unchanged"},
          {"manage_access.user_id", Type::string, "00000000097",
           "proxy: AuthorizedUser/UserID sent to BCSS when the caller's body has none (a bare "
           "ManageAccessRequest)"},
          {"manage_access.email", Type::string, "relais@localhost",
           "proxy: AuthorizedUser/Email sent with it"},
          {"outbox.poll_ms", Type::integer, "200", "idle poll of the outbox"},
          {"outbox.kafka_timeout_ms", Type::integer, "10000",
           "delivery timeout of a reaction to its Kafka topic"},
          {"outbox.gauges_interval_ms", Type::integer, "5000",
           "refresh of the outbox and alert gauges from PostgreSQL"},
          {"auth.cache_ttl_ms", Type::integer, "5000",
           "how long a verified credential is trusted without asking PostgreSQL again (a "
           "revocation takes effect "
           "within this delay)"},
          {"auth.access_journal_capacity", Type::integer, "100000",
           "access journal records waiting for PostgreSQL before calls are refused (503)"},
          {"auth.access_journal_flush_ms", Type::integer, "200",
           "how often the access journal is written"},
          {"subscribers.interval_ms", Type::integer, "30000",
           "how often the subscriber health pass reads the CPAS applications' consumer groups "
           "and topics (0: never)"},
          {"subscribers.timeout_ms", Type::integer, "10000",
           "deadline of each Kafka call of a subscriber health pass"},
          {"subscribers.group_id", Type::string, "relais-api-health",
           "consumer group the subscriber health pass assigns partitions in to read one record's "
           "timestamp (never commits)"},
          {"readyz.sink_stall_s", Type::integer, "60",
           "/readyz turns not ready when the access journal has had records waiting and no "
           "successful write for this "
           "long (or is half full), or the alert store has not advanced for this long"},
      });
  config::Config cfg;
  if (auto rc = config::bootstrap(
          argc, argv, "relais-api",
          "Serves the directory of integrated persons (register, unregister, list, import) "
          "and the clignotants (list, read, react); delivers reactions upstream.",
          spec, cfg))
    return *rc;
  service::route_protobuf_logs();
  log::Logger logger("api");
  std::string err;
  auto ks = service::kafka_settings(cfg, err);
  if (!err.empty()) {
    logger.error("configuration error", {{"error", err}});
    return 2;
  }
  auto codes = alerts::load_reaction_codes(cfg.str("api.reaction_codes_file"));
  if (auto* e = std::get_if<std::string>(&codes)) {
    logger.error("configuration error: bad reaction code file", {{"error", *e}});
    return 2;
  }
  metrics::Registry registry;
  // SIGHUP: the Kafka clients below follow it (made again with their TLS files read again).
  service::KafkaReload kafka_reload(kafka::security_from(cfg), registry);
  pg::Pool pool(cfg.str("pg.dsn") + " connect_timeout=5",
                static_cast<std::size_t>(cfg.integer("pg.pool_size")));
  auto& pool_in_use =
      registry.gauge("relais_pg_pool_connections_in_use", "PostgreSQL connections in use").with();
  registry.on_collect([&] { pool_in_use.set(static_cast<double>(pool.in_use())); });
  api::Options ao;
  ao.kafka = ks;
  ao.cpas_topic_partitions = static_cast<int>(cfg.integer("api.cpas_topic_partitions"));
  ao.replication_factor = static_cast<int>(cfg.integer("api.replication_factor"));
  ao.max_import_bytes = static_cast<std::size_t>(cfg.integer("api.max_import_bytes"));
  ao.max_import_lines = static_cast<std::size_t>(cfg.integer("api.max_import_lines"));
  api::Service svc(ao, pool, registry);
  // The CPAS applications' consumption (lag, oldest unread, retention left): on the Kafka admin
  // thread, never on the PostgreSQL pool (subscriber_health.hpp).
  api::SubscriberHealthOptions sho;
  sho.kafka = ks;
  sho.reloads = kafka_reload.reloads();
  sho.group_id = cfg.str("subscribers.group_id");
  sho.interval = std::chrono::milliseconds(cfg.integer("subscribers.interval_ms"));
  sho.timeout = std::chrono::milliseconds(cfg.integer("subscribers.timeout_ms"));
  api::SubscriberHealth subscribers(sho, svc.kafka_admin().executor(), registry);
  api::ManageAccessOptions mao;
  mao.enabled = cfg.boolean("manage_access.enabled");
  const std::string ma_mode = cfg.str("manage_access.mode");
  if (ma_mode != "mirror" && ma_mode != "proxy") {
    logger.error("configuration error",
                 {{"error", "manage_access.mode: expected mirror or proxy"}});
    return 2;
  }
  mao.proxy = ma_mode == "proxy";
  mao.xsd_dir = cfg.str("manage_access.xsd_dir");
  mao.bcss_url = cfg.str("manage_access.bcss_url");
  mao.bcss_tls.ca_file = cfg.str("manage_access.tls.ca_file");
  mao.bcss_tls.cert_file = cfg.str("manage_access.tls.cert_file");
  mao.bcss_tls.key_file = cfg.str("manage_access.tls.key_file");
  mao.bcss_tls.server_name = cfg.str("manage_access.tls.server_name");
  mao.bcss_timeout = std::chrono::milliseconds(cfg.integer("manage_access.bcss_timeout_ms"));
  mao.user_id = cfg.str("manage_access.user_id");
  mao.email = cfg.str("manage_access.email");
  std::unique_ptr<api::ManageAccessService> manage_access;
  try {
    manage_access = std::make_unique<api::ManageAccessService>(mao, pool, registry);
  } catch (const std::exception& e) {
    logger.error("configuration error", {{"error", e.what()}});
    return 2;
  }

  outbox::SenderOptions so_out;
  so_out.dsn = cfg.str("pg.dsn");
  so_out.upstream_url = cfg.str("upstream.url");
  so_out.timeout = std::chrono::milliseconds(cfg.integer("upstream.timeout_ms"));
  so_out.backoff.base = std::chrono::milliseconds(cfg.integer("upstream.base_backoff_ms"));
  so_out.backoff.cap = std::chrono::milliseconds(cfg.integer("upstream.max_backoff_ms"));
  so_out.tls.ca_file = cfg.str("upstream.tls.ca_file");
  so_out.tls.cert_file = cfg.str("upstream.tls.cert_file");
  so_out.tls.key_file = cfg.str("upstream.tls.key_file");
  so_out.tls.server_name = cfg.str("upstream.tls.server_name");
  so_out.tls.verify = cfg.boolean("upstream.tls.verify");
  so_out.concurrency = static_cast<int>(cfg.integer("upstream.concurrency"));
  so_out.breaker_failures = static_cast<int>(cfg.integer("upstream.breaker_failures"));
  so_out.breaker_open = std::chrono::milliseconds(cfg.integer("upstream.breaker_open_ms"));
  so_out.poll = std::chrono::milliseconds(cfg.integer("outbox.poll_ms"));
  so_out.kafka = ks;
  so_out.reloads = kafka_reload.reloads();
  so_out.topic_partitions = ao.cpas_topic_partitions;
  so_out.replication_factor = ao.replication_factor;
  so_out.kafka_timeout = std::chrono::milliseconds(cfg.integer("outbox.kafka_timeout_ms"));
  so_out.gauges_every = std::chrono::milliseconds(cfg.integer("outbox.gauges_interval_ms"));
  {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    so_out.instance = std::string(host) + ":" + std::to_string(::getpid());
  }
  outbox::Sender sender(so_out, registry);

  api::AlertsOptions alo;
  alo.codes = std::get<alerts::ReactionCodes>(std::move(codes));
  logger.info("reaction codes loaded",
              {{"file", cfg.str("api.reaction_codes_file")}, {"codes", alo.codes.codes.size()}});
  api::AlertsService alerts_svc(std::move(alo), pool, registry, [&sender] { sender.wake(); });

  api::AlertStoreOptions aso;
  aso.kafka = ks;
  aso.reloads = kafka_reload.reloads();
  aso.dsn = cfg.str("pg.dsn");
  aso.group_id = cfg.str("api.alerts_group_id");
  aso.metadata_refresh_ms = static_cast<int>(cfg.integer("api.alerts_metadata_refresh_ms"));
  aso.match_window_days = static_cast<int>(cfg.integer("api.clignotant_match_window_days"));
  api::AlertStore store(aso, registry);

  api::ArchiveSinkOptions archo;
  archo.kafka = ks;
  archo.reloads = kafka_reload.reloads();
  archo.dsn = cfg.str("pg.dsn");
  archo.group_id = cfg.str("archive.group_id");
  archo.metadata_refresh_ms = static_cast<int>(cfg.integer("api.alerts_metadata_refresh_ms"));
  const bool archive_on = cfg.boolean("archive.enabled");
  api::ArchiveSink archive(archo, registry);
  api::ReplayOptions ro;
  ro.kafka = ks;
  ro.reloads = kafka_reload.reloads();
  ro.dsn = cfg.str("pg.dsn");
  ro.instance = so_out.instance;
  ro.replication_factor = ao.replication_factor;
  ro.chunk = static_cast<std::size_t>(std::max<long long>(1, cfg.integer("replay.chunk")));
  ro.lease = std::chrono::milliseconds(cfg.integer("replay.lease_ms"));
  ro.topic_retention_ms = std::to_string(cfg.integer("replay.topic_retention_ms"));
  ro.archive_retention_days = static_cast<int>(cfg.integer("archive.retention_days"));
  api::ReplayService replays(ro, pool, registry);

  auth::JournalWriterOptions jo;
  jo.dsn = cfg.str("pg.dsn");
  jo.capacity = static_cast<std::size_t>(cfg.integer("auth.access_journal_capacity"));
  jo.flush_every = std::chrono::milliseconds(cfg.integer("auth.access_journal_flush_ms"));
  auth::JournalWriter access_journal(jo, registry);
  api::AccessOptions aco;
  aco.cache_ttl = std::chrono::milliseconds(cfg.integer("auth.cache_ttl_ms"));
  // relais-api's one table of routes: each route with its policy and handler (api/routes.hpp).
  api::RouteTable routes;
  api::AccessControl access(aco, routes, pool, access_journal, registry);
  svc.add_routes(routes);
  manage_access->add_routes(routes);
  alerts_svc.add_routes(routes);
  replays.add_routes(routes);
  access.add_routes(routes);
  // The operator's table of every CPAS (GET /v1/ops/cpas, the page GET /ops/cpas).
  api::OperatorView operator_view(pool, subscribers);
  operator_view.add_routes(routes);
  // The operations routes (probes, metrics, status page, OpenAPI document): open, not journaled.
  http::Router router;
  const std::chrono::seconds stall(cfg.integer("readyz.sink_stall_s"));
  service::Checks ready = [&] {
    std::vector<service::Check> c;
    bool pg_ok = pool.healthy();
    c.push_back({"postgresql", pg_ok, pg_ok ? "SELECT 1 ok" : "unreachable"});
    // A journal that cannot keep up means calls will soon be refused (503 JOURNAL_UNAVAILABLE):
    // take this replica out of the load balancer first. Figures only, no personal data.
    bool journal_ok = access_journal.keeping_up(stall);
    c.push_back({"access_journal", journal_ok,
                 std::to_string(access_journal.queued()) + " waiting, last write " +
                     std::to_string(static_cast<long long>(access_journal.seconds_since_flush())) +
                     " s ago"});
    double store_age = store.age_seconds();
    bool store_ok = store_age < static_cast<double>(stall.count());
    c.push_back({"alert_store", store_ok,
                 "last batch or idle poll " + std::to_string(static_cast<long long>(store_age)) +
                     " s ago"});
    if (archive_on) {
      double archive_age = archive.age_seconds();
      c.push_back({"archive", archive_age < static_cast<double>(stall.count()),
                   "last batch or idle poll " +
                       std::to_string(static_cast<long long>(archive_age)) + " s ago"});
    }
    return c;
  };
  // The checks run on the probe's thread: a slow PostgreSQL or Kafka never blocks the loop.
  service::ReadinessProbe readiness(ready);
  service::add_ops_routes(router, registry, "api", readiness.cached());
  service::add_status_routes(
      router, registry, "api", readiness.cached(),
      {
          {"HTTP requests/s", "relais_http_requests_total", service::Figure::Kind::rate},
          {"directory changes/s", "relais_api_directory_changes_total",
           service::Figure::Kind::rate},
          {"import lines/s", "relais_api_import_lines_total", service::Figure::Kind::rate},
          {"alerts stored/s", "relais_api_alerts_stored_total", service::Figure::Kind::rate},
          {"reactions/s", "relais_api_reactions_total", service::Figure::Kind::rate},
          {"outbox delivered/s", "relais_outbox_delivered_total", service::Figure::Kind::rate},
          {"outbox depth", "relais_outbox_depth", service::Figure::Kind::value},
      });
  service::add_openapi_route(router, service::openapi_api());
  // The event contract (AsyncAPI) beside the OpenAPI document: HTML and YAML, embedded.
  service::add_events_routes(router, service::asyncapi_html(), service::asyncapi_yaml());
  routes.add_open(router);
  std::string http_error;
  auto so = service::server_options(cfg, http_error);
  if (!so) {
    logger.error("configuration error", {{"error", http_error}});
    return 2;
  }
  // A request without a verified credential is refused whatever its body: never read more than
  // 64 KiB of it. The token is verified from the header (cache, else PostgreSQL) before the body
  // is read, so a junk Authorization header does not lift the limit.
  so->body_limit_async = [&svc, &access](const http::Request& r) {
    return access.body_limit(r, svc.body_limit(r), std::size_t{64} * 1024);
  };
  so->error_response = api::server_error;  // every error of relais-api is a problem document
  so->on_refused = [&access](const http::Request& r, unsigned status, std::string reason) {
    return access.refused_by_server(r, status, std::move(reason));
  };
  boost::asio::io_context ioc;
  http::Server server(ioc, *so, access.handler(), &registry);
  if (auto e = server.start()) {
    logger.error("cannot listen", {{"listen", cfg.str("http.listen")}, {"error", *e}});
    return 1;
  }
  if (auto e = access_journal.start()) {
    logger.error("cannot start the access journal", {{"error", *e}});
    return 1;
  }
  if (auto e = store.start()) {
    logger.error("cannot start the alert store", {{"error", *e}});
    return 1;
  }
  if (auto e = sender.start()) {
    logger.error("cannot start the outbox sender", {{"error", *e}});
    store.stop();
    return 2;
  }
  if (archive_on) {
    if (auto e = archive.start()) {
      logger.error("cannot start the archive", {{"error", *e}});
      sender.stop();
      store.stop();
      return 1;
    }
  }
  if (auto e = replays.start()) {
    logger.error("cannot start the replay worker", {{"error", *e}});
    archive.stop();
    sender.stop();
    store.stop();
    return 1;
  }
  if (sho.interval.count() > 0) {
    if (auto e = subscribers.start()) {
      logger.error("cannot start the subscriber health pass", {{"error", *e}});
      replays.stop();
      archive.stop();
      sender.stop();
      store.stop();
      return 2;
    }
  }
  logger.info("relais-api listening",
              {{"listen", so->address + ":" + std::to_string(server.port())}});
  // Stopped in reverse order of start once the HTTP server has drained.
  service::run_until_signal(
      ioc, server, static_cast<int>(cfg.integer("http.threads")),
      std::chrono::milliseconds(cfg.integer("shutdown.grace_ms")), nullptr,
      [&] {
        subscribers.stop();
        replays.stop();
        archive.stop();
        sender.stop();
        store.stop();
        access_journal.stop();
      },
      [&] { kafka_reload(); });
  return 0;
}
