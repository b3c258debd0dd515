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
#include <string>

#include "relais/alerts/rules.hpp"
#include "relais/common/metrics.hpp"
#include "relais/directory/directory.hpp"
#include "relais/kafka/client.hpp"
#include "relais/router/dedupe.hpp"
#include "relais/router/directory_feed.hpp"

namespace relais::router {

struct EngineOptions {
  kafka::Settings kafka;  // bootstrap.servers and extras
  std::string group_id = "relais-router";
  std::string transactional_id = "relais-router-0";  // stable per instance
  std::string inbound_topic = "relais.inbound.v1";
  std::string dlq_topic = "relais.dlq.v1";
  std::string journal_topic = "relais.journal.v1";
  std::string dedupe_topic = "relais.dedupe.v1";
  int cpas_topic_partitions = 1;
  int replication_factor = 1;
  std::size_t batch_max = 1000;
  // Catch-up: after a transaction that filled up while at least this many records wait (the
  // consumer lag), the next may take twice as many, up to this; otherwise the cap is batch_max.
  // Bigger transactions cost the broker less per record (a backlog drains faster) and never
  // apply when the router keeps up (latency unchanged). batch_max or less disables it.
  std::size_t catchup_batch_max = 5000;
  std::chrono::milliseconds batch_linger{20};
  std::chrono::milliseconds transaction_timeout{15000};
  std::int64_t dedupe_window_us = 7LL * 24 * 3600 * 1000000;
  // Clignotant rules evaluated for every forwarding; alerts go to cpas.<cbe>.alerts.v1.
  std::shared_ptr<const alerts::Ruleset> rules;
};

class Engine {
 public:
  Engine(EngineOptions opts, DirectoryFeed& feed, metrics::Registry& metrics);
  ~Engine();
  // Creates the clients and loads the directory. Returns an error message on failure.
  std::optional<std::string> start();
  // Runs until stop() is called or a fatal error happens; returns 0 or an exit code.
  int run();
  void stop() { running_.store(false); }
  bool ready() const { return ready_.load(); }
  std::int64_t total_lag() const { return lag_.load(); }
  const directory::Directory& directory() const { return dir_; }
  // For the initial load only, before run().
  directory::Directory& directory_for_load() { return dir_; }

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  directory::Directory dir_;
  std::atomic<bool> running_{true};
  std::atomic<bool> ready_{false};
  std::atomic<std::int64_t> lag_{0};
};

}  // namespace relais::router
