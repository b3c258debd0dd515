#include "relais/service/runtime.hpp"

#include <google/protobuf/stubs/logging.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <future>
#include <thread>

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
      {"http.listen", Type::string, std::move(default_listen),
       "address:port the HTTP server listens on"},
      {"http.threads", Type::integer, "2", "threads running the HTTP event loop"},
      {"http.max_header_bytes", Type::integer, "16384",
       "request line and header fields, in bytes (over: 431)"},
      {"http.max_header_count", Type::integer, "100", "header fields per request (over: 431)"},
      {"http.header_timeout_ms", Type::integer, "10000",
       "from a new connection (or a request's first byte) to its complete header; TLS handshake "
       "included"},
      {"http.body_timeout_ms", Type::integer, "60000",
       "reading a request body; also each response write"},
      {"http.request_timeout_ms", Type::integer, "120000",
       "a whole request, first byte to end of body"},
      {"http.idle_timeout_ms", Type::integer, "30000",
       "an idle keep-alive connection is closed after this"},
      {"http.max_connections", Type::integer, "1024", "open connections (over: 503 + Retry-After)"},
      {"http.max_connections_per_client", Type::integer, "256",
       "open connections per client IP address (over: 429 + Retry-After), 0 = no limit"},
      {"http.rate_limit_per_client", Type::number, "1000",
       "requests per second per client IP address (over: 429 + Retry-After), 0 = no limit"},
      {"http.rate_limit_burst", Type::number, "2000",
       "requests a client may send at once above its rate"},
      {"http.tls.cert_file", Type::string, "",
       "TLS: server certificate chain (PEM); empty = plain HTTP"},
      {"http.tls.key_file", Type::string, "", "TLS: the server certificate's private key (PEM)"},
      {"http.tls.client_ca_file", Type::string, "",
       "TLS: CA certificates (PEM) client certificates must chain to"},
      {"http.tls.require_client_cert", Type::boolean, "false",
       "TLS: refuse the handshake without a client certificate from client_ca_file"},
      {"http.tls.allowed_client_names", Type::string, "",
       "TLS: comma-separated client certificate names (subject CN or DNS SAN) accepted; empty = "
       "any"},
      {"shutdown.grace_ms", Type::integer, "10000",
       "on SIGTERM, how long in-flight requests may take to finish"},
  };
}

std::vector<config::Option> kafka_options() {
  using config::Type;
  std::vector<config::Option> v{
      {"kafka.brokers", Type::string, "127.0.0.1:59092",
       "Kafka bootstrap servers (comma-separated host:port)"},
      {"kafka.extra", Type::string, "",
       "extra librdkafka settings, k=v,k=v (never credentials: see kafka.sasl_*)"},
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
  if (o.address.size() > 2 && o.address.front() == '[')
    o.address = o.address.substr(1, o.address.size() - 2);
  o.port = static_cast<unsigned short>(port);
  return o;
}

std::optional<http::ServerOptions> server_options(const config::Config& c, std::string& error) {
  auto o = listen_options(c.str("http.listen"));
  if (!o) {
    error = "http.listen must be host:port";
    return std::nullopt;
  }
  auto positive = [&](std::string_view key, bool zero_ok = false) -> std::optional<std::int64_t> {
    const auto v = c.integer(key);
    if (v < 0 || (v == 0 && !zero_ok)) {
      error = std::string(key) + (zero_ok ? " must be 0 or more" : " must be more than 0");
      return std::nullopt;
    }
    return v;
  };
  const auto header_bytes = positive("http.max_header_bytes");
  const auto header_count = positive("http.max_header_count");
  const auto header_ms = positive("http.header_timeout_ms");
  const auto body_ms = positive("http.body_timeout_ms");
  const auto request_ms = positive("http.request_timeout_ms");
  const auto idle_ms = positive("http.idle_timeout_ms");
  const auto conns = positive("http.max_connections");
  const auto per_client = positive("http.max_connections_per_client", true);
  if (!header_bytes || !header_count || !header_ms || !body_ms || !request_ms || !idle_ms ||
      !conns || !per_client)
    return std::nullopt;
  o->max_header_bytes = static_cast<std::size_t>(*header_bytes);
  o->max_header_count = static_cast<std::size_t>(*header_count);
  o->header_timeout = std::chrono::milliseconds(*header_ms);
  o->body_timeout = std::chrono::milliseconds(*body_ms);
  o->request_timeout = std::chrono::milliseconds(*request_ms);
  o->idle_timeout = std::chrono::milliseconds(*idle_ms);
  o->max_connections = static_cast<std::size_t>(*conns);
  o->max_connections_per_client = static_cast<std::size_t>(*per_client);
  o->rate_limit_per_client = c.number("http.rate_limit_per_client");
  o->rate_limit_burst = c.number("http.rate_limit_burst");
  if (!(o->rate_limit_per_client >= 0) || !(o->rate_limit_burst >= 0)) {
    error = "http.rate_limit_per_client and http.rate_limit_burst must be 0 or more";
    return std::nullopt;
  }
  const auto& cert = c.str("http.tls.cert_file");
  const auto& key = c.str("http.tls.key_file");
  const auto& ca = c.str("http.tls.client_ca_file");
  const bool require = c.boolean("http.tls.require_client_cert");
  const auto& names = c.str("http.tls.allowed_client_names");
  if (cert.empty() && key.empty()) {
    if (!ca.empty() || require || !names.empty()) {
      error =
          "http.tls.client_ca_file, require_client_cert and allowed_client_names need "
          "http.tls.cert_file and "
          "http.tls.key_file";
      return std::nullopt;
    }
    return o;
  }
  if (cert.empty() || key.empty()) {
    error = "http.tls.cert_file and http.tls.key_file go together";
    return std::nullopt;
  }
  if (require && ca.empty()) {
    error = "http.tls.require_client_cert needs http.tls.client_ca_file";
    return std::nullopt;
  }
  http::TlsOptions t{cert, key, ca, require, {}};
  for (std::size_t pos = 0; pos <= names.size();) {
    auto comma = names.find(',', pos);
    if (comma == std::string::npos) comma = names.size();
    auto name = std::string_view(names).substr(pos, comma - pos);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (!name.empty()) t.allowed_client_names.emplace_back(name);
    pos = comma + 1;
  }
  if (!t.allowed_client_names.empty() && ca.empty()) {
    error = "http.tls.allowed_client_names needs http.tls.client_ca_file";
    return std::nullopt;
  }
  o->tls = std::move(t);
  return o;
}

std::optional<std::string> require_authenticated_clients(const http::ServerOptions& o) {
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(o.address, ec);
  if (!ec && addr.is_loopback()) return std::nullopt;
  if (o.tls && o.tls->require_client_cert) return std::nullopt;
  return "http.listen " + o.address +
         " is not a loopback address: set http.tls.cert_file, http.tls.key_file, "
         "http.tls.client_ca_file and http.tls.require_client_cert=true (plain HTTP, or TLS "
         "without client "
         "certificates, is only for a loopback listener in development)";
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

void add_ops_routes(http::Router& r, metrics::Registry& m, std::string service,
                    const Checks& ready) {
  auto& up = m.gauge("relais_up", "1 while the service runs", {"service"}).with({service});
  up.set(1);
  auto& uptime = m.gauge("relais_uptime_seconds", "Seconds since the process started").with();
  m.on_collect([&uptime] {
    uptime.set(std::chrono::duration<double>(std::chrono::steady_clock::now() - g_started).count());
  });
  r.add(http::verb::get, "/metrics",
        [&m](http::Request&) -> boost::asio::awaitable<http::Response> {
          http::Response resp;
          resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
          resp.body = m.render();
          co_return resp;
        });
  r.add(http::verb::get, "/healthz",
        [service](http::Request&) -> boost::asio::awaitable<http::Response> {
          http::Response resp;
          resp.body =
              boost::json::serialize(boost::json::object{{"status", "ok"}, {"service", service}});
          co_return resp;
        });
  r.add(http::verb::get, "/readyz",
        [ready](http::Request&) -> boost::asio::awaitable<http::Response> {
          auto checks = ready();
          bool all = true;
          boost::json::object o;
          for (const auto& c : checks) {
            all = all && c.ok;
            o[c.name] = boost::json::object{{"ok", c.ok}, {"detail", c.detail}};
          }
          http::Response resp;
          resp.status = all ? 200 : 503;
          resp.body =
              boost::json::serialize(boost::json::object{{"ready", all}, {"checks", std::move(o)}});
          co_return resp;
        });
}

void route_protobuf_logs() {
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
        static const log::Logger pb{"protobuf"};
        if (level >= google::protobuf::LOGLEVEL_ERROR)
          pb.warn(message, {{"at", std::string(file) + ":" + std::to_string(line)}});
        else
          pb.debug(message);
      });
}

namespace {
metrics::Family<metrics::Counter>& client_reloads(metrics::Registry& m) {
  return m.counter("relais_kafka_client_reloads_total",
                   "SIGHUP reloads of the Kafka clients' TLS files, by result (refused: unusable "
                   "files, the clients in use kept)",
                   {"result"});
}
}  // namespace

KafkaReload::KafkaReload(kafka::Security files, metrics::Registry& m)
    : files_(std::move(files)),
      ok_(client_reloads(m).with({"ok"})),
      refused_(client_reloads(m).with({"refused"})) {}

std::optional<std::string> KafkaReload::operator()() {
  if (!kafka::has_client_files(files_)) return "no Kafka TLS files to read again";
  if (auto e = kafka::check_client_files(files_, std::time(nullptr))) {
    refused_.inc();
    logger.warn("SIGHUP: Kafka client TLS files not reloaded; the clients in use are kept",
                {{"error", *e}});
    return e;
  }
  reloads_.request();
  ok_.inc();
  logger.info("SIGHUP: Kafka client TLS files checked; every Kafka client is made again",
              {{"cert_file", files_.ssl_cert_file},
               {"ca_file", files_.ssl_ca_file},
               {"reloads", static_cast<std::int64_t>(ok_.value())}});
  return std::nullopt;
}

void run_until_signal(boost::asio::io_context& ioc, http::Server& server, int threads,
                      std::chrono::milliseconds grace, const std::function<void()>& on_signal,
                      const std::function<void()>& on_stop, const std::function<void()>& on_hup) {
  boost::asio::signal_set signals(ioc, SIGTERM, SIGINT);
  std::promise<void> stopped;
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    logger.info("signal received, draining", {{"signal", sig}, {"grace_ms", grace.count()}});
    if (on_signal) on_signal();
    server.stop(grace, [&stopped] { stopped.set_value(); });
  });
  // SIGHUP: the listener's TLS files are read again (a renewed certificate takes no restart);
  // on an error the files in use stay in use (logged by the server). Then `on_hup` (the Kafka
  // clients' files), whatever became of the listener's.
  boost::asio::signal_set hup(ioc, SIGHUP);
  std::function<void()> await_hup = [&] {
    hup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      if (auto e = server.reload_tls())
        logger.warn("SIGHUP: HTTPS listener not reloaded", {{"error", *e}});
      if (on_hup) on_hup();
      await_hup();
    });
  };
  await_hup();
  auto work = boost::asio::make_work_guard(ioc);
  std::vector<std::thread> pool;
  for (int i = 0; i < std::max(1, threads); ++i) pool.emplace_back([&ioc] { ioc.run(); });
  stopped.get_future().wait();
  if (on_stop) on_stop();
  hup.cancel();
  work.reset();
  ioc.stop();
  for (auto& t : pool) t.join();
  logger.info("stopped");
}

}  // namespace relais::service
