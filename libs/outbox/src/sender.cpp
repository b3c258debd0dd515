#include "relais/outbox/sender.hpp"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <future>
#include <map>

#include "relais/common/log.hpp"
#include "relais/http/client.hpp"
#include "relais/pg/pg.hpp"
#include "relais/v1/records.pb.h"
#include "relais/validation/text.hpp"

namespace relais::outbox {
namespace {
const log::Logger logger{"outbox"};

// An error text for PostgreSQL (last_error, reaction_attempts.error): whatever bytes a transport
// error carries, storable text cut on a character boundary (validation/text.hpp).
std::string truncate(const std::string& s, std::size_t n = 500) {
  return validation::sanitize_text(s, n);
}
}  // namespace

Attempt classify_status(int status) {
  Attempt a;
  a.http_status = status;
  if (status >= 200 && status < 300) {
    a.delivered = true;
    a.outcome = "sent";
  } else if (status == 409) {
    a.delivered = true;  // SPP IS already received this idempotency key: delivered, not an error
    a.outcome = "duplicate";
  } else if (status == 429 || status == 408) {
    a.outcome = status == 429 ? "http_429" : "timeout";
    a.breaker_failure = true;
  } else if (status >= 500) {
    a.outcome = "http_5xx";
    a.breaker_failure = true;
  } else {
    a.outcome = "http_4xx";  // refused: FAILED, never retried blindly; the upstream itself is up
    a.refused = true;
  }
  if (!a.delivered) a.error = "upstream answered " + std::to_string(status);
  return a;
}

Attempt classify_error(const http::ClientError& e) {
  Attempt a;
  a.breaker_failure = true;
  a.error = truncate(e.what());
  a.outcome = std::string(http::to_string(http::failure_kind(e)));
  return a;
}

Sender::Sender(SenderOptions o, metrics::Registry& m)
    : o_(std::move(o)),
      breaker_(o_.breaker_failures, o_.breaker_open),
      attempts_(m.counter("relais_outbox_attempts_total",
                          "Reaction delivery attempts by destination and outcome",
                          {"destination", "outcome"})),
      delivered_(m.counter("relais_outbox_delivered_total", "Reactions delivered, by destination",
                           {"destination"})),
      duration_(m.histogram("relais_outbox_attempt_duration_seconds",
                            "Duration of one delivery attempt", {"destination"},
                            metrics::latency_buckets())),
      depth_(m.gauge("relais_outbox_depth", "Outbox rows not yet delivered, by destination",
                     {"destination"})),
      oldest_(m.gauge("relais_outbox_oldest_pending_seconds",
                      "Age of the oldest undelivered outbox row", {"destination"})),
      breaker_gauge_(m.gauge("relais_upstream_breaker_state",
                             "PCSAAAlertReaction circuit breaker: 0 closed, 1 open, 2 half-open")),
      alerts_open_(
          m.gauge("relais_alerts_open", "Alerts without a reaction (OPEN), by CPAS", {"cpas"})),
      alerts_overdue_(
          m.gauge("relais_alerts_overdue", "OPEN alerts past their due date, by CPAS", {"cpas"})),
      reactions_failing_(
          m.gauge("relais_reactions_failing", "Reactions whose delivery is failing (retried)")
              .with()),
      reactions_failed_(m.gauge("relais_reactions_failed",
                                "Reactions refused by the upstream (FAILED): retried only by an "
                                "operator")
                            .with()),
      db_errors_(m.counter("relais_outbox_db_errors_total",
                           "PostgreSQL errors in the outbox sender (retried)")
                     .with()),
      kafka_stats_(std::make_shared<kafka::StatsExporter>(m, "outbox")) {
  m.on_collect(
      [this] { breaker_gauge_.with().set(static_cast<double>(breaker_.state(Clock::now()))); });
}

Sender::~Sender() {
  stop();
}

std::chrono::milliseconds Sender::lease() const {
  // A claimed row is delivered once: the HTTP call is bounded by 4 timeouts
  // (connect, TLS handshake, write, read), the Kafka one by kafka_timeout; plus a margin.
  return std::max(o_.timeout * 4, o_.kafka_timeout) + std::chrono::milliseconds(10000);
}

std::optional<std::string> Sender::start() {
  std::string err;
  auto u = http::parse_http_url(o_.upstream_url, err);
  if (!u) return "upstream.url: " + err;
  url_ = *u;
  if (url_.https) {
    tls_ = http::make_client_tls(o_.tls, err);
    if (!tls_) return "upstream.tls: " + err;
  } else if (!o_.tls.ca_file.empty() || !o_.tls.cert_file.empty()) {
    return "upstream.tls is set but upstream.url is not https://";
  }
  if (o_.concurrency < 1 || o_.concurrency > 256)
    return "upstream.concurrency must be between 1 and 256";
  kafka::Settings ks = o_.kafka;
  ks["message.timeout.ms"] = std::to_string(o_.kafka_timeout.count());
  ks.emplace("linger.ms", "5");
  ks.emplace("statistics.interval.ms", kafka::kStatsIntervalMs);
  producer_ = kafka::Producer::create(ks, err, o_.reloads);
  if (!producer_) return "reaction producer: " + err;
  producer_->on_stats([s = kafka_stats_](const std::string& json) { s->update(json); });
  stop_.store(false);
  for (int i = 0; i < o_.concurrency; ++i) workers_.emplace_back([this, i] { work(i); });
  gauges_ = std::thread([this] {
    while (!stop_.load()) {
      refresh_gauges();
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, o_.gauges_every, [this] { return stop_.load(); });
    }
  });
  logger.info(
      "outbox sender started",
      {{"upstream", o_.upstream_url}, {"workers", o_.concurrency}, {"lease_ms", lease().count()}});
  return std::nullopt;
}

void Sender::stop() {
  {
    std::lock_guard lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
  if (gauges_.joinable()) gauges_.join();
  if (producer_) {
    producer_->flush(std::chrono::milliseconds(5000));
    producer_.reset();
  }
}

void Sender::wake() {
  {
    std::lock_guard lock(mu_);
    ++wakes_;
  }
  cv_.notify_one();
}

void Sender::work(int index) {
  std::unique_ptr<pg::Connection> conn;
  std::mt19937_64 rng{std::random_device{}() ^ static_cast<std::uint64_t>(index)};
  auto db_backoff = std::chrono::milliseconds(200);
  while (!stop_.load()) {
    std::vector<Claimed> rows;
    try {
      if (!conn || !conn->ok())
        conn = std::make_unique<pg::Connection>(o_.dsn + " connect_timeout=5");
      // Upstream rows only while the breaker lets calls through; one row for a half-open trial.
      auto st = breaker_.state(Clock::now());
      std::vector<std::string> dests{"kafka"};
      if (st != CircuitBreaker::State::open) dests.insert(dests.begin(), "upstream");
      // One row per claim: the lease then only has to cover one delivery.
      rows = claim(*conn, dests, 1, lease());
      db_backoff = std::chrono::milliseconds(200);
    } catch (const std::exception& e) {
      db_errors_.inc();
      logger.warn("outbox claim failed, retrying", {{"error", e.what()}, {"worker", index}});
      conn.reset();
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, db_backoff, [this] { return stop_.load(); });
      db_backoff = std::min(db_backoff * 2, std::chrono::milliseconds(5000));
      continue;
    }
    if (rows.empty()) {
      std::unique_lock lock(mu_);
      auto seen = wakes_;
      cv_.wait_for(lock, o_.poll, [&] { return stop_.load() || wakes_ != seen; });
      continue;
    }
    for (const auto& row : rows) {
      auto t0 = std::chrono::steady_clock::now();
      Attempt a = row.destination == "upstream" ? deliver_upstream(row) : deliver_kafka(row);
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - t0);
      duration_.with({row.destination}).observe(static_cast<double>(ms.count()) / 1000.0);
      attempts_.with({row.destination, a.outcome}).inc();
      std::chrono::milliseconds delay{0};
      if (!a.delivered) {
        if (a.outcome == "breaker_open") {
          delay = std::chrono::duration_cast<std::chrono::milliseconds>(
                      breaker_.retry_at(Clock::now()) - Clock::now()) +
                  o_.backoff.delay(1, rng);
        } else if (a.refused) {
          delay = std::chrono::milliseconds(0);  // the row fails: no retry is scheduled
        } else {
          delay = o_.backoff.delay(row.attempt, rng);
        }
      }
      // Record the result; PostgreSQL errors are retried here (the lease covers us), then left to
      // the lease. At least one try even while stopping: a delivered row left unrecorded would be
      // resent.
      for (int tries = 0; tries < 5 && (tries == 0 || !stop_.load()); ++tries) {
        try {
          if (!conn || !conn->ok())
            conn = std::make_unique<pg::Connection>(o_.dsn + " connect_timeout=5");
          record_attempt(*conn, row, a, ms, delay, o_.instance);
          break;
        } catch (const std::exception& e) {
          db_errors_.inc();
          logger.warn("outbox result not recorded, retrying",
                      {{"error", e.what()}, {"outbox_id", row.id}});
          conn.reset();
          std::this_thread::sleep_for(std::chrono::milliseconds(200 << tries));
        }
      }
      if (a.delivered) delivered_.with({row.destination}).inc();
      if (a.refused)
        logger.warn("reaction refused by the upstream: FAILED, not retried",
                    {{"reaction_id", row.reaction_id},
                     {"destination", row.destination},
                     {"http_status", a.http_status},
                     {"error", a.error}});
      else if (!a.delivered)
        logger.info("reaction delivery failed, will retry", {{"reaction_id", row.reaction_id},
                                                             {"destination", row.destination},
                                                             {"outcome", a.outcome},
                                                             {"attempt", row.attempt},
                                                             {"retry_in_ms", delay.count()},
                                                             {"error", a.error}});
      else
        logger.debug("reaction delivered", {{"reaction_id", row.reaction_id},
                                            {"destination", row.destination},
                                            {"attempt", row.attempt}});
    }
  }
}

Attempt Sender::deliver_upstream(const Claimed& r) {
  auto now = Clock::now();
  auto permit = breaker_.acquire(now);
  if (permit == CircuitBreaker::Permit::refused) {
    Attempt a;
    a.outcome = "breaker_open";
    a.error = "circuit breaker open: upstream not called";
    return a;
  }
  Attempt a;
  try {
    http::ClientHeaders headers{{"Idempotency-Key", r.key},
                                {"X-Relais-Reaction-Id", r.reaction_id}};
    const auto post = boost::beast::http::verb::post;
    auto resp = tls_ ? http::request(*tls_, url_.host, url_.port, post, url_.target, r.payload,
                                     "application/json", std::move(headers), o_.timeout)
                     : http::request(url_.host, url_.port, post, url_.target, r.payload,
                                     "application/json", std::move(headers), o_.timeout);
    a = classify_status(static_cast<int>(resp.status));
    if (!a.delivered && !resp.body.empty()) a.error += ": " + truncate(resp.body, 300);
  } catch (const http::ClientError& e) {
    a = classify_error(e);
  } catch (const std::exception& e) {
    a.breaker_failure = true;
    a.outcome = "io_error";
    a.error = truncate(e.what());
  }
  if (a.breaker_failure)
    breaker_.on_failure(Clock::now());
  else
    breaker_.on_success(Clock::now());
  return a;
}

bool Sender::ensure_topic(const std::string& topic, std::string& error) {
  {
    std::lock_guard lock(topics_mu_);
    if (topics_ok_.count(topic)) return true;
  }
  auto e = kafka::ensure_topics(o_.kafka, {topic}, o_.topic_partitions, o_.replication_factor,
                                o_.kafka_timeout);
  if (e) {
    error = *e;
    return false;
  }
  std::lock_guard lock(topics_mu_);
  topics_ok_.insert(topic);
  return true;
}

Attempt Sender::deliver_kafka(const Claimed& r) {
  Attempt a;
  a.outcome = "kafka_error";
  v1::AlertReaction msg;
  auto st = google::protobuf::util::JsonStringToMessage(r.payload, &msg);
  if (!st.ok()) {
    a.error = "payload is not an AlertReaction: " + truncate(std::string(st.message()));
    return a;
  }
  std::string topic = "cpas." + r.cbe + ".alert-reactions.v1";
  std::string err;
  if (!ensure_topic(topic, err)) {
    a.error = "topic " + topic + ": " + err;
    return a;
  }
  std::string value;
  msg.SerializeToString(&value);
  auto done = std::make_shared<std::promise<kafka::DeliveryResult>>();
  auto fut = done->get_future();
  auto rc = producer_->produce(topic, kafka::kAnyPartition, r.ssin, value,
                               {{"content-type", "application/x-protobuf"},
                                {"alert-id", r.alert_id},
                                {"reaction-id", r.reaction_id},
                                {"idempotency-key", r.key}},
                               [done](const kafka::DeliveryResult& d) { done->set_value(d); });
  if (rc) {
    a.error = "produce: " + rc.message;
    return a;
  }
  if (fut.wait_for(o_.kafka_timeout + std::chrono::seconds(5)) != std::future_status::ready) {
    a.error = "no delivery report in time";
    return a;
  }
  auto d = fut.get();
  if (!d.ok()) {
    a.error = d.error.message;
    return a;
  }
  a.delivered = true;
  a.outcome = "sent";
  return a;
}

void Sender::refresh_gauges() {
  static thread_local std::unique_ptr<pg::Connection> conn;
  static thread_local std::set<std::string> seen_cbes;
  try {
    if (!conn || !conn->ok())
      conn = std::make_unique<pg::Connection>(o_.dsn + " connect_timeout=5");
    auto r = conn->exec(
        "SELECT d.destination, count(o.id), COALESCE(EXTRACT(EPOCH FROM now() - "
        "min(o.created_at)), 0) "
        "FROM (VALUES ('upstream'), ('kafka')) d(destination) "
        "LEFT JOIN outbox o ON o.destination = d.destination AND o.status = 'pending' GROUP BY "
        "d.destination");
    for (int i = 0; i < r.rows(); ++i) {
      depth_.with({r.str(i, 0)}).set(static_cast<double>(r.integer(i, 1)));
      oldest_.with({r.str(i, 0)}).set(std::strtod(r.str(i, 2).c_str(), nullptr));
    }
    auto a = conn->exec(
        "SELECT cpas_cbe, count(*), count(*) FILTER (WHERE due_date < current_date) FROM alerts "
        "WHERE status = 'OPEN' GROUP BY cpas_cbe");
    std::set<std::string> now_seen;
    for (int i = 0; i < a.rows(); ++i) {
      auto cbe = a.str(i, 0);
      now_seen.insert(cbe);
      alerts_open_.with({cbe}).set(static_cast<double>(a.integer(i, 1)));
      alerts_overdue_.with({cbe}).set(static_cast<double>(a.integer(i, 2)));
    }
    for (const auto& cbe : seen_cbes)
      if (!now_seen.count(cbe)) {
        alerts_open_.with({cbe}).set(0);
        alerts_overdue_.with({cbe}).set(0);
      }
    seen_cbes.insert(now_seen.begin(), now_seen.end());
    auto f = conn->exec(
        "SELECT count(*) FILTER (WHERE delivery_status = 'FAILING'), count(*) FILTER (WHERE "
        "delivery_status = 'FAILED') FROM reactions WHERE delivery_status <> 'SENT'");
    reactions_failing_.set(static_cast<double>(f.integer(0, 0)));
    reactions_failed_.set(static_cast<double>(f.integer(0, 1)));
  } catch (const std::exception& e) {
    db_errors_.inc();
    conn.reset();
    logger.warn("outbox gauges not refreshed", {{"error", e.what()}});
  }
}

}  // namespace relais::outbox
