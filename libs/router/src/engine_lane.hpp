// One lane of relais-router's engine (libs/router/README.md, "Lanes"): a consumer-group member
// and a transactional producer running the transaction loop. Private to the engine: engine.cpp
// implements the loop, lanes.cpp the Engine that runs one or more lanes.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine_parts.hpp"
#include "relais/kafka/stall.hpp"
#include "relais/kafka/stats.hpp"
#include "relais/kafka/transaction.hpp"
#include "relais/router/engine.hpp"
#include "relais/router/plan.hpp"

namespace relais::router {

// The transaction loop: read a batch, plan it (plan.hpp, pure), execute the plan in one Kafka
// transaction with the consumed offsets, and only once it committed apply its dedupe marks and
// counts. An aborted attempt leaves the dedupe state as it was and rewinds the consumer.
class Engine::Impl {
 public:
  Impl(Engine& e, EngineOptions o, int lane, DirectoryFeed& feed, metrics::Registry& m);
  // Creates the clients and subscribes; an error message on failure.
  std::optional<std::string> start();
  // Runs until the engine stops or a fatal error happens; returns 0 or an exit code.
  int run();
  // Leaves the group and flushes; safe to call more than once.
  void shutdown();

  bool ready() const { return ready_.load(); }
  std::int64_t lag() const { return lag_.load(); }
  std::size_t dedupe_size() const { return dedupe_size_.load(); }
  std::size_t assigned() const { return assigned_.load(); }

 private:
  // Lane 0 keeps the replica's transactional id (and static member id); lane k adds "-l<k>".
  static std::string lane_suffix(int lane);
  void rebalance(kafka::Consumer& c, kafka::Rebalance r, const kafka::TopicPartitions& parts);
  void apply_directory_changes();
  bool fill_batch();
  int transact();
  int committed(std::chrono::steady_clock::time_point t0);
  void update_lag();
  // The stall watch (EngineOptions::stall_timeout): why the consumer is stalled, or nullopt.
  std::optional<std::string> stalled();
  // A fatal error: after a backoff, logged as an error. A reload (`planned`): at once.
  bool restart_clients(const std::string& why, bool planned = false);

  Engine& e_;
  EngineOptions o_;
  const int lane_;
  DirectoryFeed& feed_;
  std::atomic<bool> ready_{false};
  std::atomic<std::int64_t> lag_{0};
  DedupeSet dedupe_;                     // what committed transactions processed
  kafka::StatsExporter producer_stats_;  // before the clients: outlive them
  kafka::StatsExporter consumer_stats_;
  detail::EngineMetrics m_;
  std::unique_ptr<kafka::TransactionalProducer> producer_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::vector<kafka::Record> batch_;    // the records of the transaction being built
  std::vector<InboundRecord> inbound_;  // views of batch_ for plan()
  Plan plan_;
  std::int64_t planned_at_us_ = 0;
  PlanTopics topics_{o_.journal_topic, o_.dedupe_topic, o_.dlq_topic};
  std::vector<kafka::Header> headers_;
  std::set<std::string> known_topics_;
  int failures_in_a_row_ = 0;
  int restarts_in_a_row_ = 0;
  std::size_t cap_;  // records the next transaction may take (batch_max, more while catching up)
  std::chrono::steady_clock::time_point last_restart_{};
  bool closed_ = false;
  kafka::ReloadWatch reload_{o_.reloads};  // used by the lane's thread only
  kafka::StallWatch stall_{o_.stall_timeout};

  std::atomic<std::size_t> dedupe_size_{0};  // read by other lanes' threads
  std::atomic<std::size_t> assigned_{0};
};

}  // namespace relais::router
