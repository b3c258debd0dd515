// One lane of the engine (engine_lane.hpp): the transaction loop.
#include <algorithm>
#include <mutex>
#include <thread>

#include "engine_lane.hpp"
#include "relais/common/log.hpp"

namespace relais::router {
namespace {
const log::Logger logger{"router"};

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Sleeps `d`, or less when `running` turns false.
void wait_while(const std::atomic<bool>& running, std::chrono::milliseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (running.load() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}
}  // namespace

using namespace std::chrono_literals;
using kafka::errc;

Engine::Impl::Impl(Engine& e, EngineOptions o, int lane, DirectoryFeed& feed, metrics::Registry& m)
    : e_(e),
      o_(std::move(o)),
      lane_(lane),
      feed_(feed),
      dedupe_(o_.dedupe_window_us),
      producer_stats_(m, "router-producer" + lane_suffix(lane)),
      consumer_stats_(m, "router-consumer" + lane_suffix(lane)),
      m_(m),
      cap_(std::max<std::size_t>(1, o_.batch_max)) {
  o_.transactional_id += lane_suffix(lane);
}

// Lane 0 keeps the replica's transactional id (and static member id); lane k adds "-l<k>".
std::string Engine::Impl::lane_suffix(int lane) {
  return lane == 0 ? std::string() : "-l" + std::to_string(lane);
}

std::optional<std::string> Engine::Impl::start() {
  std::string err;
  producer_ =
      kafka::TransactionalProducer::create(detail::producer_settings(o_), &producer_stats_, err);
  if (!producer_) return err;
  if (auto kerr = producer_->init(30s)) return "init_transactions: " + kerr.message;
  kafka::ConsumerOptions co;
  co.stats = &consumer_stats_;
  co.on_rebalance = [this](kafka::Consumer& c, kafka::Rebalance r,
                           const kafka::TopicPartitions& parts) { rebalance(c, r, parts); };
  co.settings = detail::consumer_settings(o_);
  consumer_ = kafka::Consumer::create(std::move(co), err);
  if (!consumer_) return err;
  if (auto e = kafka::ensure_topics(o_.kafka, {o_.dlq_topic}, 3, o_.replication_factor,
                                    std::chrono::seconds(15)))
    return *e;
  int inbound = producer_->partition_count(o_.inbound_topic, 10s);
  int dedupe = producer_->partition_count(o_.dedupe_topic, 10s);
  if (inbound <= 0) return "topic " + o_.inbound_topic + " not found";
  if (dedupe < inbound)
    return "topic " + o_.dedupe_topic + " must have at least as many partitions as " +
           o_.inbound_topic + " (" + std::to_string(dedupe) + " < " + std::to_string(inbound) + ")";
  if (auto sub = consumer_->subscribe({o_.inbound_topic})) return "subscribe: " + sub.message;
  return std::nullopt;
}

// Rebalance: rebuild the dedupe state of assigned partitions before reading them.
void Engine::Impl::rebalance(kafka::Consumer& c, kafka::Rebalance r,
                             const kafka::TopicPartitions& parts) {
  if (r == kafka::Rebalance::assign) {
    std::vector<std::int32_t> ps;
    for (const auto& tp : parts) ps.push_back(tp.partition);
    if (!detail::restore_dedupe(o_.kafka, o_.dedupe_topic, ps, dedupe_, now_us(), e_.running_)) {
      logger.warn("stopping before the dedupe state was restored; partitions not consumed",
                  {{"count", parts.size()}});
      return;
    }
    c.assign(parts);
    assigned_.store(parts.size());
    stall_.progress();
    ready_.store(true);  // once the group gave this lane its share (possibly none)
    logger.info("partitions assigned", {{"count", parts.size()}, {"lane", lane_}});
    return;
  }
  for (const auto& tp : parts) {
    dedupe_.drop_partition(tp.partition);
    // Records of a revoked partition collected for the next transaction are dropped: their
    // offsets were not committed, the next owner reads them.
    std::erase_if(batch_,
                  [p = tp.partition](const kafka::Record& o) { return o.partition() == p; });
  }
  c.unassign();
  assigned_.store(0);
  logger.info("partitions revoked", {{"count", parts.size()}, {"lane", lane_}});
}

int Engine::Impl::run() {
  batch_.reserve(std::max(o_.batch_max, o_.catchup_batch_max));  // the largest a batch gets
  if (lane_ == 0) m_.directory_sizes(e_.dir_);
  auto last_prune = std::chrono::steady_clock::now();
  auto last_lag = last_prune;
  while (e_.running_.load()) {
    // A transaction boundary: nothing consumed is uncommitted, nothing produced is pending.
    if (reload_.due() && !restart_clients("TLS files reloaded", true)) return 3;
    if (lane_ == 0) apply_directory_changes();
    if (!fill_batch() && !restart_clients("consumer: fatal error")) return 3;
    if (!batch_.empty()) {
      int rc = transact();
      stall_.progress();  // quiet time is time spent polling, not in a transaction
      if (rc != 0 && !restart_clients("transaction: fatal error")) return rc;
    }
    auto now = std::chrono::steady_clock::now();
    if (now - last_prune > std::chrono::minutes(10)) {
      dedupe_.prune(now_us());
      last_prune = now;
    }
    if (auto why = stalled(); why && !restart_clients(*why)) return 3;
    if (now - last_lag > std::chrono::seconds(2)) {
      producer_->poll(0ms);  // serves the producer's statistics events
      update_lag();
      last_lag = now;
    }
  }
  return 0;
}

// Leaves the group and flushes; safe to call more than once.
void Engine::Impl::shutdown() {
  if (closed_) return;
  closed_ = true;
  if (consumer_) consumer_->close();
  if (producer_) producer_->flush(5s);
}

// Lane 0 applies the directory's pending changes, under the exclusive lock: no lane plans
// meanwhile. Lanes only read the directory, under the shared lock, while they plan.
void Engine::Impl::apply_directory_changes() {
  std::size_t changed = 0;
  {
    std::unique_lock lock(e_.dir_mu_);
    changed = feed_.apply_pending(e_.dir_);
  }
  if (changed > 0) m_.directory_sizes(e_.dir_);  // the only writer: no lock to read
  m_.dir_age.set(feed_.age_seconds());
}

// Reads up to the cap, until batch_linger after the fill began: a backlog's records fill the batch
// at once; a record that comes to an idle router (after a 100 ms poll's wait) is taken with what
// was fetched with it, without waiting for more (docs/performance.md, "Latency against the
// offered rate"). Group commit: a batch
// that filled up (more records came during the last transaction than the cap) lets the next one
// be twice as large, up to catchup_batch_max; one that did not brings the cap back to batch_max.
// A transaction's time is mostly per partition touched, not per record (docs/performance.md), so
// taking what waits in one transaction is what keeps a router whose commits are slow from falling
// behind. False on a fatal consumer error.
bool Engine::Impl::fill_batch() {
  batch_.clear();
  auto deadline = std::chrono::steady_clock::now() + o_.batch_linger;
  const std::size_t cap = cap_;
  while (batch_.size() < cap) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto m = consumer_->poll(batch_.empty() ? 100ms : std::max(0ms, left));
    if (m.error.kind == errc::timed_out) break;
    if (m.error.kind == errc::partition_eof) continue;
    if (m.error) {
      logger.warn("consumer error", {{"error", m.error.message}});
      if (m.error.fatal()) return false;
      break;
    }
    batch_.push_back(std::move(*m.record));
  }
  if (!batch_.empty()) stall_.progress();
  const std::size_t catchup = std::max(o_.batch_max, o_.catchup_batch_max);
  cap_ = batch_.size() >= cap ? std::min(cap * 2, catchup) : o_.batch_max;
  m_.batch_cap.set(static_cast<double>(cap_));
  return true;
}

// Plans batch_ and runs its transaction. On failure the transaction is aborted and the consumer
// rewound to the batch's first offsets, so the records are read and planned again. Returns 0,
// or an exit code on a fatal error.
int Engine::Impl::transact() {
  auto t0 = std::chrono::steady_clock::now();
  inbound_.clear();
  for (const auto& r : batch_)
    inbound_.push_back({r.topic_view(), r.partition(), r.offset(), r.key(), r.value(),
                        r.header_view("raw"), r.header_view("source-content-type")});
  planned_at_us_ = now_us();
  {
    std::shared_lock lock(e_.dir_mu_);
    plan(inbound_, PlanContext{e_.dir_, dedupe_, o_.rules.get(), topics_, planned_at_us_}, plan_);
  }
  kafka::Error err = producer_->begin();
  if (err) {
    logger.error("begin_transaction failed", {{"error", err.message}});
    return 4;
  }
  // Topic creation failing is a produce failure: the transaction aborts (err stays empty).
  bool ok = detail::ensure_topics_once(o_, plan_.cpas_topics, known_topics_);
  if (ok) ok = !(err = detail::execute(*producer_, *consumer_, plan_, o_.inbound_topic, headers_));
  if (ok) return committed(t0);
  if (err.fatal()) {
    logger.error("fatal transaction error (fenced or invalid state); exiting for a clean restart",
                 {{"error", err.message}, {"kind", std::string(kafka::errc_name(err.kind))}});
    return 5;
  }
  m_.aborted.inc();
  logger.warn(
      "transaction failed; aborting, rewinding and retrying",
      {{"error", err ? err.message : std::string("produce failed")}, {"records", batch_.size()}});
  if (auto aerr = producer_->abort(60s); aerr.fatal()) {
    logger.error("fatal error while aborting", {{"error", aerr.message}});
    return 5;
  }
  detail::rewind(*consumer_, batch_, o_.inbound_topic);
  ++failures_in_a_row_;
  wait_while(e_.running_,
             std::chrono::milliseconds(std::min(5000, 100 << std::min(failures_in_a_row_, 6))));
  return 0;
}

int Engine::Impl::committed(std::chrono::steady_clock::time_point t0) {
  for (const auto& [p, mark] : plan_.marks) dedupe_.insert(p, mark, planned_at_us_);
  // The plan measured accepted -> planned; the histogram is accepted -> committed.
  const double commit_s =
      static_cast<double>(std::max<std::int64_t>(0, now_us() - planned_at_us_)) / 1e6;
  m_.apply(plan_.counts, plan_.end_to_end_seconds, commit_s);
  m_.committed.inc();
  m_.txn_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  for (const auto& note : plan_.dead_letter_notes)
    logger.warn("record sent to the dead-letter topic", {{"record", note}});
  failures_in_a_row_ = 0;
  return 0;
}

void Engine::Impl::update_lag() {
  if (auto total = detail::consumer_lag(*consumer_, m_)) lag_.store(*total);
  dedupe_size_.store(dedupe_.size());
  if (lane_ == 0) m_.dedupe_size.set(static_cast<double>(e_.dedupe_size()));
}

// The stall watch (libs/kafka/include/relais/kafka/stall.hpp), for a lane with partitions.
std::optional<std::string> Engine::Impl::stalled() {
  if (assigned_.load() == 0) return std::nullopt;
  std::string err;
  auto why = stall_.check(*consumer_, err);
  if (!err.empty()) logger.warn("stall watch: no answer from the broker", {{"error", err}});
  if (why) m_.stalls.inc();
  return why;
}

// A fatal Kafka error (usually this replica fenced by its own static membership after a broker
// restart) makes the clients unusable, not the process: do in place what a restart would
// (libs/router/README.md, "Fatal Kafka errors"). Returns false only when the engine stops.
// A reload (`planned`, between two transactions) does the same at once: the new clients read
// their TLS files again; static membership gives the lane its partitions back.
bool Engine::Impl::restart_clients(const std::string& why, bool planned) {
  (planned ? m_.client_renewals : m_.client_restarts).inc();
  ready_.store(false);
  batch_.clear();
  for (int attempt = 0; e_.running_.load(); ++attempt) {
    if (std::chrono::steady_clock::now() - last_restart_ > std::chrono::minutes(5))
      restarts_in_a_row_ = 0;
    auto wait = std::chrono::seconds(std::min(30, 1 << std::min(restarts_in_a_row_, 5)));
    if (planned && attempt == 0) {
      wait = std::chrono::seconds(0);
      logger.info("creating the Kafka clients again", {{"why", why}, {"lane", lane_}});
    } else {
      ++restarts_in_a_row_;
      logger.error("fatal Kafka error; creating the Kafka clients again, as a restart would",
                   {{"error", why},
                    {"attempt", attempt},
                    {"lane", lane_},
                    {"wait_ms", std::chrono::milliseconds(wait).count()}});
    }
    if (producer_) producer_->purge();
    if (consumer_) consumer_->close();
    consumer_.reset();
    producer_.reset();
    wait_while(e_.running_, wait);
    if (!e_.running_.load()) break;
    last_restart_ = std::chrono::steady_clock::now();
    auto err = start();
    if (!err) {
      logger.info("Kafka clients created again; waiting for partitions");
      return true;
    }
    logger.warn("creating the Kafka clients failed; retrying", {{"error", *err}});
  }
  return false;
}

}  // namespace relais::router
