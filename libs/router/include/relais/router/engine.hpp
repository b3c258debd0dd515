// relais-router's consume-transform-produce loop: reads relais.inbound.v1 in a
// consumer group and, per batch, in ONE Kafka transaction: routes each
// notification to cpas.<cbe>.notifications.v1, records its ticket in
// relais.dedupe.v1, writes journal entries to relais.journal.v1, sends
// undecodable records to relais.dlq.v1, raises clignotants to
// cpas.<cbe>.alerts.v1, and commits the consumed offsets.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "relais/alerts/rules.hpp"
#include "relais/common/metrics.hpp"
#include "relais/directory/directory.hpp"
#include "relais/kafka/client.hpp"
#include "relais/kafka/reload.hpp"
#include "relais/router/dedupe.hpp"
#include "relais/router/directory_feed.hpp"

namespace relais::router {

struct EngineOptions {
  kafka::Settings kafka;  // bootstrap.servers and extras
  // Reload requests (SIGHUP: TLS files read again): each lane makes its consumer and
  // transactional producer again between two transactions. Must outlive the engine; none: never.
  const kafka::Reloads* reloads = nullptr;
  std::string group_id = "relais-router";
  std::string transactional_id = "relais-router-0";  // stable per instance
  std::string inbound_topic = "relais.inbound.v1";
  std::string dlq_topic = "relais.dlq.v1";
  std::string journal_topic = "relais.journal.v1";
  std::string dedupe_topic = "relais.dedupe.v1";
  int cpas_topic_partitions = 1;
  int replication_factor = 1;
  std::size_t batch_max = 1000;
  // Group commit: after a transaction that filled up (more records came while the last one
  // committed than it could take), the next may take twice as many, up to this; after one that
  // did not, the cap is batch_max again. Bigger transactions cost the broker less per record (a
  // backlog drains faster) and never apply while batches do not fill (a router that keeps up
  // within one transaction). batch_max or less disables it.
  // 20,000: the broker's CPU is per partition per transaction (docs/performance.md,
  // "Transactions or not at 565 CPAS"); at 565 CPAS such a transaction takes about 2.4 s, well
  // within transaction_timeout.
  std::size_t catchup_batch_max = 20000;
  std::chrono::milliseconds batch_linger{20};
  // The transactional producer's linger.ms (see engine_parts.cpp, producer_settings).
  std::chrono::milliseconds producer_linger{5};
  std::chrono::milliseconds transaction_timeout{15000};
  // Stall watch: when a lane has partitions assigned and no record came for this long, it asks
  // the broker whether records wait on them; if so, the consumer is stalled (librdkafka can
  // leave an assignment without fetchers after a broker restart) and the lane creates its Kafka
  // clients again, as after a fatal error. Zero: off.
  std::chrono::milliseconds stall_timeout{30000};
  std::int64_t dedupe_window_us = 7LL * 24 * 3600 * 1000000;
  // Lanes: this many consume-plan-transact loops in the process, each its own member of the
  // consumer group (its share of the inbound partitions) with its own transactional producer
  // (`transactional_id`, then `transactional_id`-l1, -l2 ...), sharing the directory. One lane's
  // transaction commits while another plans and produces (libs/router/README.md, "Lanes").
  int lanes = 1;
  // Clignotant rules evaluated for every forwarding; alerts go to cpas.<cbe>.alerts.v1.
  std::shared_ptr<const alerts::Ruleset> rules;
};

class Engine {
 public:
  Engine(const EngineOptions& opts, DirectoryFeed& feed, metrics::Registry& metrics);
  ~Engine();
  // Creates the clients and loads the directory. Returns an error message on failure.
  std::optional<std::string> start();
  // Runs until stop() is called or a fatal error happens; returns 0 or an exit code.
  int run();
  void stop() { running_.store(false); }
  // Every lane has had its share of the inbound partitions assigned (possibly none).
  bool ready() const;
  // Records behind the end of the inbound partitions, over every lane.
  std::int64_t total_lag() const;
  // Notifications remembered for deduplication, over every lane.
  std::size_t dedupe_size() const;
  // Inbound partitions assigned to each lane now.
  std::vector<std::size_t> lane_partitions() const;
  // For the initial load only, before run().
  directory::Directory& directory_for_load() { return dir_; }

 private:
  class Impl;
  std::vector<std::unique_ptr<Impl>> lanes_;
  directory::Directory dir_;
  // Lanes plan under a shared lock; lane 0 applies the directory's changes under the exclusive one.
  std::shared_mutex dir_mu_;
  std::atomic<bool> running_{true};
};

}  // namespace relais::router
