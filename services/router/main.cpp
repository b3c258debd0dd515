// relais-router: routes relais.inbound.v1 to the CPAS topics through the
// directory, exactly once, and copies the journal to PostgreSQL.
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <thread>

#include "relais/common/config.hpp"
#include "relais/common/log.hpp"
#include "relais/router/engine.hpp"
#include "relais/router/journal_sink.hpp"
#include "relais/service/readiness.hpp"
#include "relais/service/runtime.hpp"
#include "relais/service/status.hpp"

using namespace relais;

int main(int argc, char** argv) {
  using config::Type;
  auto spec = config::common_options();
  for (auto& o : service::http_options("127.0.0.1:8082")) spec.push_back(o);
  for (auto& o : service::kafka_options()) spec.push_back(o);
  spec.insert(
      spec.end(),
      {
          {"pg.dsn", Type::string,
           "host=127.0.0.1 port=55432 dbname=relais user=relais "
           "passfile=var/stack/secrets/pg/pgpass",
           "PostgreSQL connection string (default: the local stack of make run, run from the "
           "repository root)"},
          {"router.instance_id", Type::string, "0",
           "stable id of this replica (its transactional.id suffix)"},
          {"router.group_id", Type::string, "relais-router", "consumer group of the routers"},
          {"router.batch_max", Type::integer, "1000",
           "records per transaction at most while the router keeps up"},
          {"router.catchup_batch_max", Type::integer, "20000",
           "records per transaction at most after transactions that filled up (group commit); "
           "batch_max or less: off"},
          {"router.batch_linger_ms", Type::integer, "20", "how long to wait to fill a batch"},
          {"router.stall_timeout_s", Type::integer, "30",
           "a lane whose assigned partitions have records waiting but which received none for "
           "this long creates its Kafka clients again (a stalled consumer); 0: off"},
          {"router.producer_linger_ms", Type::integer, "5",
           "linger.ms of the transactional producer: how long a partition's records wait to be "
           "sent inside a transaction (the commit sends whatever waits at once)"},
          {"router.lanes", Type::integer, "1",
           "consume-plan-transact loops in this process (1-16), each a group member with its own "
           "transactional producer: one commits while another plans"},
          {"router.cpas_topic_partitions", Type::integer, "1",
           "partitions of CPAS topics created on demand"},
          {"router.replication_factor", Type::integer, "1",
           "replication factor of topics created on demand"},
          {"router.dedupe_window_hours", Type::integer, "168", "how long a ticket is remembered"},
          {"router.directory_poll_ms", Type::integer, "200",
           "how often the directory is polled for changes"},
          {"journal.enabled", Type::boolean, "true",
           "copy relais.journal.v1 to PostgreSQL in this process"},
          {"readyz.sink_stall_s", Type::integer, "60",
           "/readyz turns not ready when the journal sink has not advanced for this long"},
          {"router.rules_file", Type::string, "deploy/rules/clignotants.yaml",
           "clignotant rule file (YAML, validated at start); empty = raise no clignotants"},
      });
  config::Config cfg;
  if (auto rc = config::bootstrap(
          argc, argv, "relais-router",
          "Routes accepted notifications to the CPAS whose integration covers them,\n"
          "exactly once (Kafka transactions), and journals every decision.",
          spec, cfg))
    return *rc;
  service::route_protobuf_logs();
  log::Logger logger("router");
  std::string err;
  auto ks = service::kafka_settings(cfg, err);
  if (!err.empty()) {
    logger.error("configuration error", {{"error", err}});
    return 2;
  }
  metrics::Registry registry;
  // SIGHUP: the Kafka clients below follow it (made again with their TLS files read again).
  service::KafkaReload kafka_reload(kafka::security_from(cfg), registry);
  router::DirectoryFeed feed(cfg.str("pg.dsn"),
                             std::chrono::milliseconds(cfg.integer("router.directory_poll_ms")));
  router::EngineOptions eo;
  eo.kafka = ks;
  eo.reloads = kafka_reload.reloads();
  eo.group_id = cfg.str("router.group_id");
  eo.transactional_id = "relais-router-" + cfg.str("router.instance_id");
  eo.batch_max = static_cast<std::size_t>(cfg.integer("router.batch_max"));
  eo.catchup_batch_max = static_cast<std::size_t>(cfg.integer("router.catchup_batch_max"));
  eo.batch_linger = std::chrono::milliseconds(cfg.integer("router.batch_linger_ms"));
  eo.producer_linger = std::chrono::milliseconds(cfg.integer("router.producer_linger_ms"));
  eo.stall_timeout = std::chrono::seconds(cfg.integer("router.stall_timeout_s"));
  eo.lanes = static_cast<int>(cfg.integer("router.lanes"));
  if (eo.lanes < 1 || eo.lanes > 16) {
    logger.error("configuration error", {{"error", "router.lanes must be between 1 and 16"}});
    return 2;
  }
  eo.cpas_topic_partitions = static_cast<int>(cfg.integer("router.cpas_topic_partitions"));
  eo.replication_factor = static_cast<int>(cfg.integer("router.replication_factor"));
  eo.dedupe_window_us = cfg.integer("router.dedupe_window_hours") * 3600LL * 1000000LL;
  if (const auto& path = cfg.str("router.rules_file"); !path.empty()) {
    auto loaded = alerts::load_rules(path);
    if (auto* e = std::get_if<std::string>(&loaded)) {
      logger.error("invalid clignotant rule file", {{"error", *e}});
      return 2;
    }
    eo.rules =
        std::make_shared<const alerts::Ruleset>(std::get<alerts::Ruleset>(std::move(loaded)));
    logger.info("clignotant rules loaded", {{"file", path}, {"rules", eo.rules->rules.size()}});
  } else {
    logger.warn("no clignotant rule file configured: no alerts will be raised");
  }
  router::Engine engine(eo, feed, registry);

  router::JournalSinkOptions jo;
  jo.kafka = ks;
  jo.reloads = kafka_reload.reloads();
  jo.dsn = cfg.str("pg.dsn");
  jo.instance_id = eo.transactional_id + "-journal";  // static membership, stable per replica
  router::JournalSink sink(jo, registry);

  http::Router routes;
  const bool journal_on = cfg.boolean("journal.enabled");
  const double sink_stall_s = static_cast<double>(cfg.integer("readyz.sink_stall_s"));
  service::Checks ready = [&] {
    std::vector<service::Check> c;
    c.push_back({"kafka", engine.ready(), engine.ready() ? "consuming" : "starting"});
    char age[64];
    std::snprintf(age, sizeof age, "directory refreshed %.1f s ago", feed.age_seconds());
    c.push_back({"postgresql", feed.healthy(), age});
    // The journal sink must advance (a stuck sink used to retry one refused batch for ever).
    if (journal_on) {
      double j = sink.age_seconds();
      std::snprintf(age, sizeof age, "last batch or idle poll %.1f s ago", j);
      c.push_back({"journal_sink", j < sink_stall_s, age});
    }
    return c;
  };
  // The checks run on the probe's thread: a slow PostgreSQL or Kafka never blocks the loop.
  service::ReadinessProbe readiness(ready);
  service::add_ops_routes(routes, registry, "router", readiness.cached());
  service::add_status_routes(
      routes, registry, "router", readiness.cached(),
      {
          {"consumed/s", "relais_router_records_consumed_total", service::Figure::Kind::rate},
          {"routed/s", "relais_router_routed_total", service::Figure::Kind::rate},
          {"dropped/s", "relais_router_dropped_total", service::Figure::Kind::rate},
          {"duplicates/s", "relais_router_duplicates_total", service::Figure::Kind::rate},
          {"dead letters/s", "relais_router_dlq_total", service::Figure::Kind::rate},
          {"alerts raised/s", "relais_router_alerts_raised_total", service::Figure::Kind::rate},
          {"consumer lag (records)", "relais_router_consumer_lag", service::Figure::Kind::value},
          {"directory age (s)", "relais_directory_refresh_age_seconds",
           service::Figure::Kind::value},
      });
  std::string http_error;
  auto so = service::server_options(cfg, http_error);
  if (!so) {
    logger.error("configuration error", {{"error", http_error}});
    return 2;
  }
  boost::asio::io_context ioc;
  http::Server server(ioc, *so, routes.handler(), &registry);
  if (auto e = server.start()) {
    logger.error("cannot listen", {{"listen", cfg.str("http.listen")}, {"error", *e}});
    return 1;
  }

  // Load the directory before consuming anything.
  for (int attempt = 0;; ++attempt) {
    try {
      feed.initial_load(engine.directory_for_load());
      break;
    } catch (const std::exception& e) {
      logger.warn("directory load failed, retrying", {{"error", e.what()}});
      if (attempt > 30) return 1;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  feed.start();
  if (auto e = engine.start()) {
    logger.error("cannot start the routing engine", {{"error", *e}});
    return 1;
  }
  if (cfg.boolean("journal.enabled")) {
    if (auto e = sink.start()) {
      logger.error("cannot start the journal sink", {{"error", *e}});
      return 1;
    }
  }
  logger.info("relais-router running",
              {{"listen", so->address + ":" + std::to_string(server.port())},
               {"transactional_id", eo.transactional_id},
               {"lanes", eo.lanes}});
  int exit_code = 0;
  std::thread loop([&] {
    exit_code = engine.run();
    if (exit_code != 0) ::kill(::getpid(), SIGTERM);  // a fatal error stops the whole process
  });
  service::run_until_signal(
      ioc, server, 1, std::chrono::milliseconds(cfg.integer("shutdown.grace_ms")),
      [&] { engine.stop(); },
      [&] {
        engine.stop();
        loop.join();
        sink.stop();
        feed.stop();
      },
      [&] { kafka_reload(); });
  return exit_code;
}
