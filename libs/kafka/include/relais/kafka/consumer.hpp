// A Kafka consumer: in a group (subscribe, rebalance callbacks, static membership through
// group.instance.id) or on partitions it assigns itself; polls owned kafka::Records; commits,
// seeks and reads positions, committed offsets and watermarks. Its group metadata feeds a
// transactional session (transaction.hpp) for exactly-once consume-transform-produce.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "relais/kafka/error.hpp"
#include "relais/kafka/record.hpp"

namespace RdKafka {
class KafkaConsumer;
}

namespace relais::kafka {

class StatsExporter;

// One poll's outcome: a record, or an error (errc::timed_out when nothing came in time;
// errc::partition_eof with the partition in `eof_partition`).
struct Polled {
  std::optional<Record> record;
  Error error;
  std::int32_t eof_partition = -1;
};

class Consumer;
enum class Rebalance { assign, revoke };
// Called on the polling thread during a rebalance. The handler decides: it calls assign()
// (or incremental_assign()) for Rebalance::assign, and unassign() for Rebalance::revoke;
// not assigning leaves the partitions unread.
using RebalanceHandler = std::function<void(Consumer&, Rebalance, const TopicPartitions&)>;

struct ConsumerOptions {
  Settings settings;               // group.id, isolation.level… as librdkafka names them
  RebalanceHandler on_rebalance;   // empty: librdkafka assigns and revokes by itself
  StatsExporter* stats = nullptr;  // statistics and error events (must outlive the consumer)
};

class Consumer {
 public:
  static std::unique_ptr<Consumer> create(ConsumerOptions o, std::string& error);
  ~Consumer();

  Error subscribe(const std::vector<std::string>& topics);
  Error assign(const TopicPartitions& parts);
  Error unassign();
  Error incremental_assign(const TopicPartitions& parts);
  Error incremental_unassign(const TopicPartitions& parts);

  Polled poll(std::chrono::milliseconds timeout);
  // Commits `offsets` (the next offset to read, per partition) and waits for the answer.
  Error commit_sync(const TopicPartitions& offsets);
  Error seek(const TopicPartition& to, std::chrono::milliseconds timeout);
  // The assigned partitions with their current positions (kOffsetInvalid before the first fetch).
  std::optional<TopicPartitions> positions(Error* error = nullptr);
  // The group's committed offsets of `parts`.
  std::optional<TopicPartitions> committed(const TopicPartitions& parts,
                                           std::chrono::milliseconds timeout,
                                           Error* error = nullptr);
  // Low and high watermarks: cached from the last fetch (no request) or asked of the broker.
  Error cached_watermarks(const std::string& topic, std::int32_t partition, std::int64_t& low,
                          std::int64_t& high);
  Error query_watermarks(const std::string& topic, std::int32_t partition,
                         std::chrono::milliseconds timeout, std::int64_t& low, std::int64_t& high);
  // Number of partitions of a topic, or -1.
  int partition_count(const std::string& topic, std::chrono::milliseconds timeout);
  // Leaves the group (revoking through the handler); idempotent.
  void close();

 private:
  friend class TransactionalProducer;
  class Callbacks;
  Consumer() = default;
  std::unique_ptr<Callbacks> callbacks_;
  std::unique_ptr<RdKafka::KafkaConsumer> c_;
  bool closed_ = false;
};

// Reads whole partitions from the beginning up to their end (read_committed: up to the last
// stable offset), calling `fn` for each record. Returns an error message on failure.
std::optional<std::string> read_partitions(const Settings& settings, const std::string& topic,
                                           const std::vector<std::int32_t>& partitions,
                                           std::chrono::milliseconds timeout,
                                           const std::function<void(const Record&)>& fn);

}  // namespace relais::kafka
