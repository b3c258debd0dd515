#include "relais/service/runtime.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>

#include <charconv>
#include <chrono>
#include <future>
#include <thread>

#include <google/protobuf/stubs/logging.h>

#include "relais/common/log.hpp"
#include "relais/kafka/security.hpp"

namespace relais::service {
namespace {
const log::Logger logger{"service"};
const auto g_started = std::chrono::steady_clock::now();
}  // namespace

std::vector<config::Option> http_options(std::string default_listen) {
  using config::Type;
  return {
      {"http.listen", Type::string, std::move(default_listen), "address:port the HTTP server listens on"},
      {"http.threads", Type::integer, "2", "threads running the HTTP event loop"},
      {"shutdown.grace_ms", Type::integer, "10000", "on SIGTERM, how long in-flight requests may take to finish"},
  };
}

std::vector<config::Option> kafka_options() {
  using config::Type;
  std::vector<config::Option> v{
      {"kafka.brokers", Type::string, "127.0.0.1:59092", "Kafka bootstrap servers (comma-separated host:port)"},
      {"kafka.extra", Type::string, "", "extra librdkafka settings, k=v,k=v (never credentials: see kafka.sasl_*)"},
  };
  for (auto& o : kafka::security_options()) v.push_back(std::move(o));
  return v;
}

std::optional<http::ServerOptions> listen_options(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  unsigned port = 0;
  auto ps = std::string_view(listen).substr(colon + 1);
  auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
  if (ec != std::errc{} || p != ps.data() + ps.size() || port > 65535) return std::nullopt;
  http::ServerOptions o;
  o.address = listen.substr(0, colon);
  if (o.address.size() > 2 && o.address.front() == '[') o.address = o.address.substr(1, o.address.size() - 2);
  o.port = static_cast<unsigned short>(port);
  return o;
}

kafka::Settings kafka_settings(const config::Config& c, std::string& error) {
  kafka::Settings s{{"bootstrap.servers", c.str("kafka.brokers")}, {"client.id", "relais"}};
  if (!kafka::parse_extra(c.str("kafka.extra"), s, error)) {
    error = "kafka.extra: " + error;
    return s;
  }
  if (auto e = kafka::apply_security(kafka::security_from(c), s)) error = *e;
  return s;
}

void add_ops_routes(http::Router& r, metrics::Registry& m, std::string service, Checks ready) {
  auto& up = m.gauge("relais_up", "1 while the service runs", {"service"}).with({service});
  up.set(1);
  auto& uptime = m.gauge("relais_uptime_seconds", "Seconds since the process started").with();
  m.on_collect([&uptime] {
    uptime.set(std::chrono::duration<double>(std::chrono::steady_clock::now() - g_started).count());
  });
  r.add(http::verb::get, "/metrics", [&m](http::Request&) -> boost::asio::awaitable<http::Response> {
    http::Response resp;
    resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
    resp.body = m.render();
    co_return resp;
  });
  r.add(http::verb::get, "/healthz", [service](http::Request&) -> boost::asio::awaitable<http::Response> {
    http::Response resp;
    resp.body = boost::json::serialize(boost::json::object{{"status", "ok"}, {"service", service}});
    co_return resp;
  });
  r.add(http::verb::get, "/readyz", [ready](http::Request&) -> boost::asio::awaitable<http::Response> {
    auto checks = ready();
    bool all = true;
    boost::json::object o;
    for (const auto& c : checks) {
      all = all && c.ok;
      o[c.name] = boost::json::object{{"ok", c.ok}, {"detail", c.detail}};
    }
    http::Response resp;
    resp.status = all ? 200 : 503;
    resp.body = boost::json::serialize(boost::json::object{{"ready", all}, {"checks", std::move(o)}});
    co_return resp;
  });
}

void route_protobuf_logs() {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel level, const char* file, int line,
                                     const std::string& message) {
    static const log::Logger pb{"protobuf"};
    if (level >= google::protobuf::LOGLEVEL_ERROR)
      pb.warn(message, {{"at", std::string(file) + ":" + std::to_string(line)}});
    else
      pb.debug(message);
  });
}

void run_until_signal(boost::asio::io_context& ioc, http::Server& server, int threads,
                      std::chrono::milliseconds grace, const std::function<void()>& on_signal,
                      const std::function<void()>& on_stop) {
  boost::asio::signal_set signals(ioc, SIGTERM, SIGINT);
  std::promise<void> stopped;
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    logger.info("signal received, draining", {{"signal", sig}, {"grace_ms", grace.count()}});
    if (on_signal) on_signal();
    server.stop(grace, [&stopped] { stopped.set_value(); });
  });
  auto work = boost::asio::make_work_guard(ioc);
  std::vector<std::thread> pool;
  for (int i = 0; i < std::max(1, threads); ++i) pool.emplace_back([&ioc] { ioc.run(); });
  stopped.get_future().wait();
  if (on_stop) on_stop();
  work.reset();
  ioc.stop();
  for (auto& t : pool) t.join();
  logger.info("stopped");
}

}  // namespace relais::service
