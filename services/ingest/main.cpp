// relais-ingest: receives BCSS notifications over HTTP and writes them to
// relais.inbound.v1, answering 2xx only once Kafka has acknowledged them.
#include <algorithm>
#include <boost/algorithm/string/predicate.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_future.hpp>
#include <csignal>
#include <functional>
#include <memory>

#include "relais/common/config.hpp"
#include "relais/common/log.hpp"
#include "relais/ingest/service.hpp"
#include "relais/ingest/spool.hpp"
#include "relais/kafka/stats.hpp"
#include "relais/service/readiness.hpp"
#include "relais/service/runtime.hpp"
#include "relais/service/status.hpp"

using namespace relais;

int main(int argc, char** argv) {
  using config::Type;
  auto spec = config::common_options();
  for (auto& o : service::http_options("127.0.0.1:8080")) spec.push_back(o);
  for (auto& o : service::kafka_options()) spec.push_back(o);
  spec.insert(
      spec.end(),
      {
          {"ingest.topic", Type::string, "relais.inbound.v1", "topic notifications are written to"},
          {"ingest.max_in_flight", Type::integer, "200000",
           "notifications waiting for the broker before 429"},
          {"ingest.max_body_bytes", Type::integer, "65536", "largest single notification"},
          {"ingest.max_batch_bytes", Type::integer, "33554432", "largest NDJSON batch request"},
          {"ingest.max_batch_lines", Type::integer, "100000", "most lines in one batch"},
          {"ingest.delivery_timeout_ms", Type::integer, "30000",
           "give up on the broker after this (then 503)"},
          {"ingest.retry_after_seconds", Type::integer, "2", "Retry-After sent with 429 and 503"},
          {"ingest.soap.enabled", Type::boolean, "false",
           "serve POST /v1/soap (SOAP 1.1/1.2 notifications, docs/bcss.md)"},
          {"ingest.soap.xsd_files", Type::string,
           "var/bcss/cbss/XSD/SSDN/Common/NamespaceRoot.xsd,deploy/xsd/relais/notifications.xsd,"
           "deploy/xsd/relais/sppis-clignotants.xsd",
           "XSDs of the SOAP bodies, comma-separated, in import order (common types first)"},
          {"ingest.soap.xsd_roots", Type::string, "var/bcss/cbss/XSD,deploy/xsd/relais",
           "the only folders XSDs (and what they include) may be read from, comma-separated"},
          {"ingest.soap.mappings_dir", Type::string, "deploy/mappings",
           "one XML -> JSON mapping per flow (*.yaml)"},
          {"ingest.spool.dir", Type::string, "",
           "spool directory of batch files (XML or NDJSON, docs/operations.md); empty: off"},
          {"ingest.spool.poll_ms", Type::integer, "1000",
           "how often the spool directory is looked at"},
          {"ingest.spool.max_file_bytes", Type::integer, "1073741824",
           "larger spool files go to failed/"},
          {"ingest.spool.chunk", Type::integer, "1000", "spool records per batch call"},
      });
  config::Config cfg;
  if (auto rc = config::bootstrap(
          argc, argv, "relais-ingest",
          "Receives BCSS notifications (six flows, JSON or protobuf, single or NDJSON batch)\n"
          "and writes them durably to Kafka.",
          spec, cfg))
    return *rc;
  service::route_protobuf_logs();
  log::Logger logger("ingest");
  std::string err;
  auto ks = service::kafka_settings(cfg, err);
  if (!err.empty()) {
    logger.error("configuration error", {{"error", err}});
    return 2;
  }
  ks["message.timeout.ms"] = cfg.str("ingest.delivery_timeout_ms");
  ks.emplace("linger.ms", "2");
  // Record batches compressed on the wire and on the brokers' disks, the SOAP sender's raw XML
  // (header "raw") included; lz4 for its low CPU cost (librdkafka CONFIGURATION.md).
  ks.emplace("compression.type", "lz4");
  // The local queue must hold every in-flight record, or produce() would refuse some.
  ks["queue.buffering.max.messages"] = std::to_string(
      std::clamp<std::int64_t>(cfg.integer("ingest.max_in_flight") + 1000, 100000, 10000000));
  ks.emplace("statistics.interval.ms", kafka::kStatsIntervalMs);
  // Declared before the producer: its poll thread feeds these until it stops.
  metrics::Registry registry;
  // SIGHUP: the Kafka clients below follow it (made again with their TLS files read again).
  service::KafkaReload kafka_reload(kafka::security_from(cfg), registry);
  auto kafka_stats = std::make_shared<kafka::StatsExporter>(registry, "ingest");
  auto producer = kafka::Producer::create(ks, err, kafka_reload.reloads());
  if (!producer) {
    logger.error("cannot create the Kafka producer", {{"error", err}});
    return 1;
  }
  producer->on_stats([kafka_stats](const std::string& json) { kafka_stats->update(json); });
  ingest::Options io;
  io.topic = cfg.str("ingest.topic");
  io.max_in_flight = static_cast<std::size_t>(cfg.integer("ingest.max_in_flight"));
  io.max_body_bytes = static_cast<std::size_t>(cfg.integer("ingest.max_body_bytes"));
  io.max_batch_bytes = static_cast<std::size_t>(cfg.integer("ingest.max_batch_bytes"));
  io.max_batch_lines = static_cast<std::size_t>(cfg.integer("ingest.max_batch_lines"));
  io.retry_after_seconds = static_cast<int>(cfg.integer("ingest.retry_after_seconds"));
  ingest::Service svc(io, *producer, registry);
  // The SOAP boundary: XSD set and mappings loaded now, again on SIGHUP (a failed reload keeps
  // the previous ones).
  std::unique_ptr<ingest::SoapGateway> soap;
  if (cfg.boolean("ingest.soap.enabled")) {
    auto split = [](const std::string& text) {
      std::vector<std::string> out;
      std::size_t start = 0;
      while (start <= text.size()) {
        auto end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        if (end > start) out.push_back(text.substr(start, end - start));
        start = end + 1;
      }
      return out;
    };
    ingest::SoapConfig sc;
    sc.xsd_files = split(cfg.str("ingest.soap.xsd_files"));
    sc.xsd_roots = split(cfg.str("ingest.soap.xsd_roots"));
    sc.mappings_dir = cfg.str("ingest.soap.mappings_dir");
    sc.limits.max_bytes = io.max_body_bytes;
    soap = ingest::SoapGateway::create(sc, err);
    if (!soap) {
      logger.error("configuration error", {{"error", "ingest.soap: " + err}});
      return 2;
    }
    svc.set_soap(soap.get());
  }

  http::Router router;
  svc.add_routes(router);
  service::Checks ready = [&] {
    std::vector<service::Check> c;
    bool up = !producer->brokers_down();
    int parts = up ? producer->partition_count(io.topic, std::chrono::milliseconds(2000)) : -1;
    c.push_back({"kafka", parts > 0,
                 parts > 0 ? io.topic + " has " + std::to_string(parts) + " partitions"
                           : "broker or topic unreachable"});
    return c;
  };
  // The checks run on the probe's thread: a slow PostgreSQL or Kafka never blocks the loop.
  service::ReadinessProbe readiness(ready);
  service::add_ops_routes(router, registry, "ingest", readiness.cached());
  service::add_status_routes(
      router, registry, "ingest", readiness.cached(),
      {
          {"HTTP requests/s", "relais_http_requests_total", service::Figure::Kind::rate},
          {"accepted/s", "relais_ingest_accepted_total", service::Figure::Kind::rate},
          {"rejected/s", "relais_ingest_rejected_total", service::Figure::Kind::rate},
          {"backpressure refusals/s", "relais_ingest_backpressure_total",
           service::Figure::Kind::rate},
          {"in flight", "relais_ingest_in_flight", service::Figure::Kind::value},
      });
  service::add_openapi_route(router, service::openapi_ingest());
  std::string http_error;
  auto so = service::server_options(cfg, http_error);
  if (!so) {
    logger.error("configuration error", {{"error", http_error}});
    return 2;
  }
  // Only the BCSS sender may post: verified client certificates, except on loopback (development).
  if (auto e = service::require_authenticated_clients(*so)) {
    logger.error("configuration error", {{"error", *e}});
    return 2;
  }
  so->body_limit = [&svc](const http::Request& r) { return svc.body_limit(r); };
  boost::asio::io_context ioc;
  http::Server server(ioc, *so, router.handler(), &registry);
  if (auto e = server.start()) {
    logger.error("cannot listen", {{"listen", cfg.str("http.listen")}, {"error", *e}});
    return 1;
  }
  logger.info("relais-ingest listening",
              {{"listen", so->address + ":" + std::to_string(server.port())},
               {"kafka", cfg.str("kafka.brokers")},
               {"topic", io.topic}});
  // The spool directory: its files go through the same batch handler as POST .../{flow}:batch,
  // in process (one file at a time, on its own thread).
  std::unique_ptr<ingest::Spool> spool;
  if (!cfg.str("ingest.spool.dir").empty()) {
    ingest::SpoolOptions spo;
    spo.dir = cfg.str("ingest.spool.dir");
    spo.poll =
        std::chrono::milliseconds(std::max<std::int64_t>(50, cfg.integer("ingest.spool.poll_ms")));
    spo.max_file_bytes = static_cast<std::uint64_t>(
        std::max<std::int64_t>(1, cfg.integer("ingest.spool.max_file_bytes")));
    spo.chunk = static_cast<std::size_t>(
        std::clamp<std::int64_t>(cfg.integer("ingest.spool.chunk"), 1, 100000));
    auto send = [&ioc, &svc](const std::string& flow, const std::string& ndjson) {
      auto req = std::make_shared<http::Request>();
      req->method = boost::beast::http::verb::post;
      req->method_string = "POST";
      req->path = req->target = "/v1/notifications/" + flow + ":batch";
      req->route = "/v1/notifications/{flow}:batch";
      req->params["flow"] = flow;
      req->headers.set(boost::beast::http::field::content_type, "application/x-ndjson");
      req->body = ndjson;
      req->remote_address = "spool";
      auto fut = boost::asio::co_spawn(
          ioc,
          [req, &svc]() -> boost::asio::awaitable<http::Response> {
            co_return co_await svc.post(*req);
          },
          boost::asio::use_future);
      auto r = fut.get();
      int retry = 1;
      for (const auto& [k, v] : r.headers) {
        if (boost::iequals(k, "retry-after")) retry = ingest::retry_after_seconds(v);
      }
      return ingest::ChunkReply{r.status, std::move(r.body), retry};
    };
    try {
      spool = std::make_unique<ingest::Spool>(spo, soap.get(), send, registry);
    } catch (const std::exception& e) {
      logger.error("configuration error",
                   {{"error", std::string("ingest.spool.dir: ") + e.what()}});
      return 2;
    }
    spool->start();
  }
  boost::asio::signal_set hup(ioc, SIGHUP);
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      if (soap) {
        if (auto e = soap->reload()) {
          logger.error("SOAP schemas and mappings not reloaded; the previous ones stay in use",
                       {{"error", *e}});
        } else {
          logger.info("SOAP schemas and mappings reloaded");
        }
      }
      wait_hup();
    });
  };
  wait_hup();
  service::run_until_signal(
      ioc, server, static_cast<int>(cfg.integer("http.threads")),
      std::chrono::milliseconds(cfg.integer("shutdown.grace_ms")),
      [&] {
        if (spool) spool->request_stop();  // on a loop thread: no waiting here
      },
      [&] {
        if (spool) spool->stop();  // after its chunk in progress (resumed at the next start)
        int left = producer->flush(std::chrono::milliseconds(cfg.integer("shutdown.grace_ms")));
        if (left > 0) logger.warn("records not delivered at shutdown", {{"count", left}});
      },
      [&] { kafka_reload(); });
  return 0;
}
