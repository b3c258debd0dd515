// The outbox sender of relais-api: delivers each reaction written to the
// `outbox` table (in the same transaction as the reaction) to its destination:
// the PCSAAAlertReaction upstream over HTTP, or cpas.<cbe>.alert-reactions.v1.
//
// Several relais-api instances may run: a worker claims due rows with
// `FOR UPDATE SKIP LOCKED` and commits a lease (`lease_until`) before
// delivering, so no row lock is held during the call and the rows of a crashed
// instance come back when their lease expires. Delivery is at least once; the
// upstream drops duplicates by the Idempotency-Key (the reaction id).
// Failures are retried with capped exponential backoff and jitter; a circuit
// breaker stops calling a failing upstream for a while; every attempt is
// journaled in `reaction_attempts`.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "relais/common/metrics.hpp"
#include "relais/http/client.hpp"
#include "relais/http/url.hpp"
#include "relais/kafka/client.hpp"
#include "relais/kafka/reload.hpp"
#include "relais/kafka/stats.hpp"
#include "relais/outbox/policy.hpp"
#include "relais/outbox/store.hpp"

namespace relais::outbox {

// Classifies an upstream HTTP answer: 2xx is delivered; 409 is SPP IS's "already received" (the
// same idempotency key twice), delivered (outcome `duplicate`); 408, 429 and 5xx are transient
// upstream failures (breaker); any other 4xx is a refusal: not delivered and not retried
// (`refused`: the reaction is FAILED until an operator retries it), not a breaker failure (the
// upstream is up).
Attempt classify_status(int status);
// Classifies a transport failure of relais::http::request by its stage and error code (never
// by its message): a timeout, a refused or unresolvable connection, a failed TLS handshake
// (`tls_error`), a connection reset or closed early, or another I/O error. All count against the
// breaker and are retried.
Attempt classify_error(const http::ClientError& e);

struct SenderOptions {
  std::string dsn;
  std::string upstream_url = "http://127.0.0.1:8099/pcsaa/alert-reactions";
  // https:// upstreams: the CAs trusted for the server, the client certificate (mTLS), the name.
  http::ClientTls tls{};
  std::chrono::milliseconds timeout{5000};  // per HTTP phase (connect, TLS handshake, write, read)
  BackoffPolicy backoff{};
  int concurrency = 4;                            // worker threads (deliveries in flight)
  int breaker_failures = 10;                      // consecutive failures that open the breaker
  std::chrono::milliseconds breaker_open{10000};  // how long it stays open before a trial
  std::chrono::milliseconds poll{200};            // idle poll of the outbox
  kafka::Settings kafka;
  const kafka::Reloads* reloads = nullptr;  // the producer made again on a reload (none: never)
  int topic_partitions = 3;
  int replication_factor = 1;
  std::chrono::milliseconds kafka_timeout{10000};
  std::chrono::milliseconds gauges_every{5000};  // refresh of the PostgreSQL-derived gauges
  std::string instance = "relais-api";
};

class Sender {
 public:
  Sender(SenderOptions o, metrics::Registry& m);
  ~Sender();
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  // Validates the options, creates the Kafka producer, starts the workers and
  // the gauge refresher. Returns an error message on failure.
  std::optional<std::string> start();
  // Lets in-flight deliveries finish (bounded by the timeouts) and joins.
  void stop();
  // A new outbox row was committed: wake an idle worker now.
  void wake();

  CircuitBreaker::State breaker_state() const { return breaker_.state(Clock::now()); }
  std::chrono::milliseconds lease() const;

 private:
  void work(int index);
  void refresh_gauges();
  Attempt deliver_upstream(const Claimed& r);
  Attempt deliver_kafka(const Claimed& r);
  bool ensure_topic(const std::string& topic, std::string& error);

  SenderOptions o_;
  http::HttpUrl url_;
  std::shared_ptr<http::ClientTlsContext> tls_;  // https only
  CircuitBreaker breaker_;
  std::unique_ptr<kafka::Producer> producer_;
  std::vector<std::thread> workers_;
  std::thread gauges_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t wakes_ = 0;
  std::mutex topics_mu_;
  std::set<std::string> topics_ok_;

  metrics::Family<metrics::Counter>& attempts_;
  metrics::Family<metrics::Counter>& delivered_;
  metrics::Family<metrics::Histogram>& duration_;
  metrics::Family<metrics::Gauge>& depth_;
  metrics::Family<metrics::Gauge>& oldest_;
  metrics::Family<metrics::Gauge>& breaker_gauge_;
  metrics::Family<metrics::Gauge>& alerts_open_;
  metrics::Family<metrics::Gauge>& alerts_overdue_;
  metrics::Gauge& reactions_failing_;
  metrics::Gauge& reactions_failed_;
  metrics::Counter& db_errors_;
  std::shared_ptr<kafka::StatsExporter> kafka_stats_;  // librdkafka statistics of producer_
};

}  // namespace relais::outbox
