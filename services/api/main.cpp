// relais-api: the directory (CPAS, integrations) for CPAS applications and operators.
#include <boost/asio/io_context.hpp>

#include "relais/api/service.hpp"
#include "relais/common/config.hpp"
#include "relais/common/log.hpp"
#include "relais/service/runtime.hpp"

using namespace relais;

int main(int argc, char** argv) {
  using config::Type;
  auto spec = config::common_options();
  for (auto& o : service::http_options("127.0.0.1:8081")) spec.push_back(o);
  for (auto& o : service::kafka_options()) spec.push_back(o);
  spec.insert(spec.end(), {
      {"pg.dsn", Type::string, "host=127.0.0.1 port=55432 dbname=relais user=relais", "PostgreSQL connection string"},
      {"pg.pool_size", Type::integer, "4", "PostgreSQL connections (and worker threads)"},
      {"api.cpas_topic_partitions", Type::integer, "3", "partitions of the topics of a new CPAS"},
      {"api.replication_factor", Type::integer, "1", "replication factor of the topics of a new CPAS"},
      {"api.max_import_bytes", Type::integer, "67108864", "largest bulk import request"},
      {"api.max_import_lines", Type::integer, "1000000", "most lines in one bulk import"},
  });
  config::Config cfg;
  if (auto rc = config::bootstrap(argc, argv, "relais-api",
                                  "Serves the directory of integrated persons (register, unregister, list, import).",
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
  metrics::Registry registry;
  pg::Pool pool(cfg.str("pg.dsn") + " connect_timeout=5", static_cast<std::size_t>(cfg.integer("pg.pool_size")));
  auto& pool_in_use = registry.gauge("relais_pg_pool_connections_in_use", "PostgreSQL connections in use").with();
  registry.on_collect([&] { pool_in_use.set(static_cast<double>(pool.in_use())); });
  api::Options ao;
  ao.kafka = ks;
  ao.cpas_topic_partitions = static_cast<int>(cfg.integer("api.cpas_topic_partitions"));
  ao.replication_factor = static_cast<int>(cfg.integer("api.replication_factor"));
  ao.max_import_bytes = static_cast<std::size_t>(cfg.integer("api.max_import_bytes"));
  ao.max_import_lines = static_cast<std::size_t>(cfg.integer("api.max_import_lines"));
  api::Service svc(ao, pool, registry);
  http::Router router;
  svc.add_routes(router);
  service::add_ops_routes(router, registry, "api", [&] {
    std::vector<service::Check> c;
    bool pg_ok = pool.healthy();
    c.push_back({"postgresql", pg_ok, pg_ok ? "SELECT 1 ok" : "unreachable"});
    return c;
  });
  auto so = service::listen_options(cfg.str("http.listen"));
  if (!so) {
    logger.error("configuration error", {{"error", "http.listen must be host:port"}});
    return 2;
  }
  so->body_limit = [&svc](const http::Request& r) { return svc.body_limit(r); };
  boost::asio::io_context ioc;
  http::Server server(ioc, *so, router.handler(), &registry);
  if (auto e = server.start()) {
    logger.error("cannot listen", {{"listen", cfg.str("http.listen")}, {"error", *e}});
    return 1;
  }
  logger.info("relais-api listening", {{"listen", so->address + ":" + std::to_string(server.port())}});
  service::run_until_signal(ioc, server, static_cast<int>(cfg.integer("http.threads")),
                            std::chrono::milliseconds(cfg.integer("shutdown.grace_ms")), nullptr, nullptr);
  return 0;
}
