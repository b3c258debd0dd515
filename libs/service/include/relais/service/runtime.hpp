// What every Relais service process shares: its HTTP listener settings, the
// operational routes (/metrics, /healthz, /readyz), and a run loop that stops
// cleanly on SIGTERM/SIGINT (stop accepting, drain, then the caller's stop).
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "relais/common/config.hpp"
#include "relais/common/metrics.hpp"
#include "relais/http/router.hpp"
#include "relais/http/server.hpp"
#include "relais/kafka/client.hpp"
#include "relais/kafka/reload.hpp"
#include "relais/kafka/security.hpp"

namespace relais::service {

struct Check {
  std::string name;
  bool ok;
  std::string detail;
};
using Checks = std::function<std::vector<Check>()>;

// Options every service adds to its spec: http.listen, http.threads, the HTTP limits
// (http.max_header_bytes, ..., http.rate_limit_per_client) and TLS (http.tls.*), kafka.* (brokers,
// extra and the credentials of kafka/security.hpp), shutdown.grace_ms.
std::vector<config::Option> http_options(std::string default_listen);
std::vector<config::Option> kafka_options();

// "host:port" → server options (address, port); nullopt if malformed.
std::optional<http::ServerOptions> listen_options(const std::string& listen);
// http.listen, the limits and http.tls.* → server options; nullopt and `error` when invalid (the
// TLS files themselves are read by Server::start()).
std::optional<http::ServerOptions> server_options(const config::Config& c, std::string& error);
// For a listener that must only serve authenticated clients (relais-ingest): an error unless it is
// bound to a loopback address (development) or requires verified client certificates.
std::optional<std::string> require_authenticated_clients(const http::ServerOptions& o);
// librdkafka settings from kafka.brokers, kafka.extra and the kafka.security_protocol /
// kafka.sasl_* / kafka.ssl_ca_file keys (the SASL password is read from its file here);
// `error` is set when they are invalid.
kafka::Settings kafka_settings(const config::Config& c, std::string& error);

// GET /metrics, /healthz (process alive), /readyz (503 unless every check passes).
void add_ops_routes(http::Router& r, metrics::Registry& m, std::string service,
                    const Checks& ready);

// Sends the protobuf library's own messages (e.g. about invalid UTF-8 in
// untrusted input) to our logger at debug level instead of raw stderr.
void route_protobuf_logs();

// SIGHUP's Kafka part: the TLS files of kafka.ssl_* checked again (readable, the key the
// certificate's, the certificate valid now: kafka/reload.hpp) and, when usable, every Kafka client
// that follows `reloads()` made again at its next safe point; unusable files keep the clients in
// use (a warning names the file). Counted in
// relais_kafka_client_reloads_total{result="ok|refused"}. Without TLS files (plaintext, SASL
// without a CA bundle) a SIGHUP leaves the Kafka clients alone.
class KafkaReload {
 public:
  KafkaReload(kafka::Security files, metrics::Registry& m);
  // What the service gives its clients to follow (EngineOptions::reloads, Producer::create...).
  const kafka::Reloads* reloads() const { return &reloads_; }
  // Checks the files and requests the reload; nothing when it was requested, else why not.
  // Any thread (the clients are made again on their own threads).
  std::optional<std::string> operator()();

 private:
  kafka::Security files_;
  kafka::Reloads reloads_;
  metrics::Counter& ok_;
  metrics::Counter& refused_;
};

// Runs `ioc` on `threads` threads until SIGTERM/SIGINT; then stops the server
// with `grace`, calls `on_stop` (on a non-loop thread) and returns. SIGHUP: the listener's TLS
// files are read again (Server::reload_tls), then `on_hup` runs (on a loop thread: it must not
// block), e.g. a KafkaReload.
void run_until_signal(boost::asio::io_context& ioc, http::Server& server, int threads,
                      std::chrono::milliseconds grace, const std::function<void()>& on_signal,
                      const std::function<void()>& on_stop,
                      const std::function<void()>& on_hup = nullptr);

}  // namespace relais::service
