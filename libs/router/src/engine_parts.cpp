#include "engine_parts.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "relais/common/log.hpp"
#include "relais/kafka/consumer.hpp"
#include "relais/kafka/stats.hpp"
#include "relais/v1/records.pb.h"

namespace relais::router::detail {
namespace {
const log::Logger logger{"router"};

// One DedupeBatch into the dedupe state. Records of routers before content fingerprints (no
// ssin/content_fp) give legacy entries: duplicates whatever their SSIN and content, as those
// routers decided.
void restore_batch(DedupeSet& set, std::int32_t partition, const v1::DedupeBatch& b) {
  const int n = b.ticket_hi_size();
  const bool full = b.ssin_size() == n && b.content_fp_size() == n;
  for (int i = 0; i < n; ++i) {
    TicketId t{b.ticket_hi(i), b.ticket_lo(i)};
    if (full)
      set.insert(partition, Mark{t, b.ssin(i), b.content_fp(i)}, b.processed_at_us());
    else
      set.insert_legacy(partition, t, b.processed_at_us());
  }
}
}  // namespace

kafka::Settings producer_settings(const EngineOptions& o) {
  kafka::Settings pc = o.kafka;
  pc["transactional.id"] = o.transactional_id;
  pc["enable.idempotence"] = "true";
  pc["acks"] = "all";
  pc["transaction.timeout.ms"] = std::to_string(o.transaction_timeout.count());
  // Inside a transaction a partition's records wait up to linger.ms to be sent; the commit
  // flushes whatever waits at once (librdkafka's flush ignores linger.ms). A linger longer than
  // the time a batch takes to produce sends each partition's records of a transaction in one
  // request instead of a trickle of small ones (docs/performance.md, "Routing to 565 CPAS").
  pc.emplace("linger.ms", std::to_string(o.producer_linger.count()));
  // Compressed batches (the SOAP sender's raw XML travels in a header to every CPAS it reaches);
  // lz4 for its low CPU cost.
  pc.emplace("compression.type", "lz4");
  pc.emplace("queue.buffering.max.messages", "1000000");
  pc.emplace("statistics.interval.ms", kafka::kStatsIntervalMs);
  return pc;
}

kafka::Settings consumer_settings(const EngineOptions& o) {
  kafka::Settings cc = o.kafka;
  cc["group.id"] = o.group_id;
  cc["enable.auto.commit"] = "false";
  cc["isolation.level"] = "read_committed";
  cc["auto.offset.reset"] = "earliest";
  cc.emplace("max.poll.interval.ms", "60000");
  cc.emplace("session.timeout.ms", "10000");
  // Static membership: a replica restarted with the same instance id takes its partitions back
  // at once instead of waiting for a rebalance.
  cc.emplace("group.instance.id", o.transactional_id);
  // Bounded prefetch: librdkafka's defaults keep up to 100,000 records per partition and 64 MiB
  // queued, most of the router's memory beyond its directory while it catches up. A batch of
  // `catchup_batch_max` per partition (however the records spread over the partitions, the
  // largest batch is queued when a commit ends; the queue refills while a transaction commits)
  // and 16 MiB at most (docs/performance.md, "The router's memory").
  cc.emplace("queued.min.messages",
             std::to_string(std::max<std::size_t>({1000, o.batch_max, o.catchup_batch_max})));
  cc.emplace("queued.max.messages.kbytes", "16384");
  cc.emplace("statistics.interval.ms", kafka::kStatsIntervalMs);
  return cc;
}

EngineMetrics::EngineMetrics(metrics::Registry& m)
    : consumed(
          m.counter("relais_router_records_consumed_total", "Records read from the inbound topic")
              .with()),
      routed(m.counter("relais_router_routed_total", "Notifications forwarded to a CPAS topic",
                       {"flow", "cpas"})),
      dropped(m.counter("relais_router_dropped_total",
                        "Notifications forwarded to no CPAS, by reason", {"flow", "reason"})),
      dlq(m.counter("relais_router_dlq_total", "Records sent to the dead-letter topic, by reason",
                    {"reason"})),
      dupes(m.counter("relais_router_duplicates_total",
                      "Notifications whose ticket was already processed")
                .with()),
      committed(
          m.counter("relais_router_transactions_total", "Kafka transactions, by result", {"result"})
              .with({"committed"})),
      aborted(
          m.counter("relais_router_transactions_total", "Kafka transactions, by result", {"result"})
              .with({"aborted"})),
      txn_seconds(m.histogram("relais_router_transaction_duration_seconds",
                              "Time to commit one batch transaction", {},
                              metrics::latency_buckets())
                      .with()),
      e2e_seconds(m.histogram("relais_router_end_to_end_seconds",
                              "Accepted by ingest to committed by the router", {},
                              metrics::latency_buckets())
                      .with()),
      lag(m.gauge("relais_router_consumer_lag", "Records behind the end of the inbound partitions",
                  {"partition"})),
      dir_size(m.gauge("relais_directory_integrations", "Integration lines held in memory, by CPAS",
                       {"cpas"})),
      dir_age(m.gauge("relais_directory_refresh_age_seconds",
                      "Seconds since the directory was last refreshed")
                  .with()),
      dedupe_size(
          m.gauge("relais_router_dedupe_tickets", "Tickets remembered for deduplication").with()),
      alerts(m.counter("relais_router_alerts_raised_total", "Clignotants raised, by type and CPAS",
                       {"type", "cpas"})),
      client_restarts(m.counter("relais_router_client_restarts_total",
                                "Kafka clients created again after a fatal Kafka error (fenced)")
                          .with()),
      client_renewals(m.counter("relais_router_client_renewals_total",
                                "Kafka clients of a lane created again between two transactions "
                                "for a TLS file reload (SIGHUP)")
                          .with()),
      batch_cap(m.gauge("relais_router_batch_cap",
                        "Records the next transaction may take (router.batch_max, up to "
                        "router.catchup_batch_max after batches that filled up)")
                    .with()),
      stalls(m.counter("relais_router_consumer_stalls_total",
                       "Times a lane had records waiting on its partitions but received none "
                       "for router.stall_timeout_s, and created its Kafka clients again")
                 .with()) {}

void EngineMetrics::apply(const Counts& c, const std::vector<double>& end_to_end_seconds,
                          double commit_seconds) {
  consumed.inc(static_cast<double>(c.consumed));
  if (c.duplicates) dupes.inc(static_cast<double>(c.duplicates));
  for (const auto& [k, n] : c.routed) routed.with({k.first, k.second}).inc(static_cast<double>(n));
  for (const auto& [k, n] : c.dropped)
    dropped.with({k.first, k.second}).inc(static_cast<double>(n));
  for (const auto& [k, n] : c.dead_letters) dlq.with({k}).inc(static_cast<double>(n));
  for (const auto& [k, n] : c.alerts) alerts.with({k.first, k.second}).inc(static_cast<double>(n));
  for (double s : end_to_end_seconds) e2e_seconds.observe(s + commit_seconds);
}

void EngineMetrics::directory_sizes(const directory::Directory& dir) {
  for (std::size_t i = 0; i < dir.cpas_count(); ++i) {
    const auto idx = static_cast<std::uint16_t>(i);  // the CPAS table is indexed by 16 bits
    dir_size.with({dir.cpas(idx).cbe}).set(static_cast<double>(dir.size_for_cpas(idx)));
  }
}

bool ensure_topics_once(const EngineOptions& o, const std::set<std::string>& topics,
                        std::set<std::string>& known) {
  // One CreateTopics request (and one admin client) for every topic not seen yet: at 565 CPAS
  // a router's first batches name hundreds of topics, and one client per topic cost 20-50 ms each.
  std::vector<std::string> missing;
  for (const auto& topic : topics)
    if (!known.contains(topic)) missing.push_back(topic);
  if (missing.empty()) return true;
  if (auto e = kafka::ensure_topics(o.kafka, missing, o.cpas_topic_partitions, o.replication_factor,
                                    std::chrono::seconds(15))) {
    logger.error("cannot create CPAS topics",
                 {{"topics", missing.size()}, {"first", missing.front()}, {"error", *e}});
    return false;
  }
  known.insert(missing.begin(), missing.end());
  return true;
}

kafka::Error execute(kafka::TransactionalProducer& producer, kafka::Consumer& consumer, Plan& plan,
                     const std::string& inbound_topic, std::vector<kafka::Header>& scratch) {
  using namespace std::chrono_literals;
  for (auto& r : plan.records) {
    scratch.clear();
    for (auto& h : r.headers) scratch.push_back({std::move(h.key), std::move(h.value)});
    if (auto err = producer.send(r.topic, r.partition, r.key, r.value, scratch)) {
      logger.error("produce failed", {{"topic", r.topic}, {"error", err.message}});
      return err;
    }
  }
  kafka::TopicPartitions offsets;
  for (auto [p, off] : plan.next_offsets) offsets.push_back({inbound_topic, p, off});
  kafka::Error err;
  for (int i = 0; i < 5; ++i)
    if ((err = producer.send_offsets(offsets, consumer, 30s)).kind != kafka::errc::retriable) break;
  for (int i = 0; !err && i < 5; ++i)
    if ((err = producer.commit(60s)).kind != kafka::errc::retriable) break;
  return err;
}

void rewind(kafka::Consumer& consumer, const std::vector<kafka::Record>& batch,
            const std::string& topic) {
  std::map<std::int32_t, std::int64_t> first;
  for (const auto& r : batch) first.try_emplace(r.partition(), r.offset());
  for (auto [p, off] : first)
    if (auto err = consumer.seek({topic, p, off}, std::chrono::seconds(5)))
      logger.warn("rewind failed; the partition restarts from its committed offset",
                  {{"partition", p}, {"error", err.message}});
}

std::optional<std::int64_t> consumer_lag(kafka::Consumer& consumer, EngineMetrics& m) {
  auto parts = consumer.positions();
  if (!parts) return std::nullopt;
  std::int64_t total = 0;
  for (const auto& tp : *parts) {
    std::int64_t lo = 0, hi = 0;
    if (!consumer.cached_watermarks(tp.topic, tp.partition, lo, hi) && tp.offset >= 0) {
      auto lag = std::max<std::int64_t>(0, hi - tp.offset);
      m.lag.with({std::to_string(tp.partition)}).set(static_cast<double>(lag));
      total += lag;
    }
  }
  return total;
}

bool restore_dedupe(const kafka::Settings& settings, const std::string& topic,
                    const std::vector<std::int32_t>& ps, DedupeSet& set, std::int64_t now_us,
                    const std::atomic<bool>& running) {
  const auto cutoff = now_us - set.window_us();
  for (int attempt = 0;; ++attempt) {
    for (auto p : ps) set.clear_partition(p);
    std::size_t n = 0;
    auto t0 = std::chrono::steady_clock::now();
    auto e = kafka::read_partitions(
        settings, topic, ps, std::chrono::seconds(120), [&](const kafka::Record& m) {
          if (!m.key()) return;
          if (m.key()->starts_with(kBatchKeyPrefix)) {
            v1::DedupeBatch b;
            if (!b.ParseFromArray(m.value().data(), static_cast<int>(m.value().size())) ||
                b.processed_at_us() < cutoff || b.ticket_hi_size() != b.ticket_lo_size())
              return;
            restore_batch(set, m.partition(), b);
            n += static_cast<std::size_t>(b.ticket_hi_size());
            return;
          }
          // One DedupeMark per ticket (the format before batches).
          auto t = parse_ticket(*m.key());
          v1::DedupeMark mark;
          if (!t || !mark.ParseFromArray(m.value().data(), static_cast<int>(m.value().size())))
            return;
          if (mark.processed_at_us() < cutoff) return;
          set.insert_legacy(m.partition(), *t, mark.processed_at_us());
          ++n;
        });
    if (!e) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - t0)
                    .count();
      logger.info("dedupe state restored", {{"partitions", ps.size()}, {"tickets", n}, {"ms", ms}});
      return true;
    }
    logger.warn("restoring dedupe state failed, retrying", {{"error", *e}, {"attempt", attempt}});
    // Waits before the next attempt, but a stop request (SIGTERM) ends it at once.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(std::min(attempt + 1, 10));
    while (running.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!running.load()) return false;
  }
}

}  // namespace relais::router::detail
