// A transactional producer session (exactly-once consume-transform-produce): init once, then
// per batch begin, send records, send the consumed offsets with the consumer's group metadata,
// commit, or abort. Every error comes back classified (kafka::errc): retriable (call again),
// abortable (abort, then go on), fenced or fatal (create the session again).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "relais/kafka/consumer.hpp"
#include "relais/kafka/error.hpp"
#include "relais/kafka/record.hpp"

namespace RdKafka {
class Producer;
}

namespace relais::kafka {
namespace detail {
class StatsEvents;
}

class TransactionalProducer {
 public:
  // `settings` carry transactional.id and the producer settings; `stats` (may be null) must
  // outlive the producer.
  static std::unique_ptr<TransactionalProducer> create(const Settings& settings,
                                                       StatsExporter* stats, std::string& error);
  ~TransactionalProducer();

  Error init(std::chrono::milliseconds timeout);
  Error begin();
  // Enqueues a copy of the record in the open transaction. While the local queue is full it
  // serves the producer and tries again (up to about 10 s); then errc::queue_full.
  Error send(const std::string& topic, std::int32_t partition, std::string_view key,
             std::string_view value, const std::vector<Header>& headers);
  // Adds the consumed `offsets` (next offsets to read) to the transaction, for `consumer`'s group.
  Error send_offsets(const TopicPartitions& offsets, Consumer& consumer,
                     std::chrono::milliseconds timeout);
  Error commit(std::chrono::milliseconds timeout);
  Error abort(std::chrono::milliseconds timeout);
  // Serves delivery reports and statistics events.
  void poll(std::chrono::milliseconds timeout);
  // Drops every queued and in-flight record (before the session is destroyed after a fatal error).
  void purge();
  // Waits for the queued records; returns how many are still queued.
  int flush(std::chrono::milliseconds timeout);
  int partition_count(const std::string& topic, std::chrono::milliseconds timeout);

 private:
  TransactionalProducer();
  std::unique_ptr<detail::StatsEvents> events_;  // before p_: outlives it
  std::unique_ptr<RdKafka::Producer> p_;
};

}  // namespace relais::kafka
