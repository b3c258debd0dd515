// The parts of relais-router's engine that are neither the plan (plan.hpp) nor the transaction
// loop (engine.cpp): its metrics, and the restore of the dedupe state from relais.dedupe.v1.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "relais/common/metrics.hpp"
#include "relais/directory/directory.hpp"
#include "relais/kafka/client.hpp"
#include "relais/kafka/consumer.hpp"
#include "relais/kafka/transaction.hpp"
#include "relais/router/dedupe.hpp"
#include "relais/router/engine.hpp"
#include "relais/router/plan.hpp"

namespace relais::router::detail {

// The clients' settings: the transactional producer (idempotent, acks=all, this replica's
// transactional.id) and the group consumer (read_committed, manual offsets, static membership).
kafka::Settings producer_settings(const EngineOptions& o);
kafka::Settings consumer_settings(const EngineOptions& o);

// The engine's metrics: names and help texts in one place, handles looked up once.
struct EngineMetrics {
  explicit EngineMetrics(metrics::Registry& m);
  // Counts of a committed transaction. `end_to_end_seconds` are accepted -> planned (the plan's);
  // `commit_seconds`, planned -> committed, is added to each: the histogram is accepted by ingest
  // -> committed by the router, what a read_committed consumer can see.
  void apply(const Counts& c, const std::vector<double>& end_to_end_seconds, double commit_seconds);
  void directory_sizes(const directory::Directory& dir);

  metrics::Counter& consumed;
  metrics::Family<metrics::Counter>& routed;
  metrics::Family<metrics::Counter>& dropped;
  metrics::Family<metrics::Counter>& dlq;
  metrics::Counter& dupes;
  metrics::Counter& committed;
  metrics::Counter& aborted;
  metrics::Histogram& txn_seconds;
  metrics::Histogram& e2e_seconds;
  metrics::Family<metrics::Gauge>& lag;
  metrics::Family<metrics::Gauge>& dir_size;
  metrics::Gauge& dir_age;
  metrics::Gauge& dedupe_size;
  metrics::Family<metrics::Counter>& alerts;
  metrics::Counter& client_restarts;
  metrics::Counter& client_renewals;
  metrics::Gauge& batch_cap;
  metrics::Counter& stalls;
};

// Creates the CPAS topics among `topics` not in `known` (then added to it). False on failure.
bool ensure_topics_once(const EngineOptions& o, const std::set<std::string>& topics,
                        std::set<std::string>& known);

// Executes `plan` in the open transaction: produces its records (their headers moved out, through
// `scratch`), adds its offsets for `consumer`'s group, commits; a retriable error of those two
// steps is retried up to 5 times. The first error, or none (committed).
kafka::Error execute(kafka::TransactionalProducer& producer, kafka::Consumer& consumer, Plan& plan,
                     const std::string& inbound_topic, std::vector<kafka::Header>& scratch);

// Seeks each partition of `batch` back to its first record in it (after an abort: the records
// are read and planned again). A failed seek is logged: the partition then restarts from its
// committed offset, which is also correct.
void rewind(kafka::Consumer& consumer, const std::vector<kafka::Record>& batch,
            const std::string& topic);

// The consumer's lag, in total (nullopt when its positions are unknown) and per partition in
// the relais_router_consumer_lag gauge.
std::optional<std::int64_t> consumer_lag(kafka::Consumer& consumer, EngineMetrics& m);

// Rebuilds the processed-notification sets of inbound partitions `ps` from the dedupe topic
// (dedupe partition p holds the tickets of inbound partition p), retrying until it succeeds or
// `running` turns false (then false: the partitions must not be consumed, routing without
// their state could duplicate).
bool restore_dedupe(const kafka::Settings& settings, const std::string& topic,
                    const std::vector<std::int32_t>& ps, DedupeSet& set, std::int64_t now_us,
                    const std::atomic<bool>& running);

}  // namespace relais::router::detail
