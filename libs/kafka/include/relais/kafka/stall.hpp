// The stall watch of a group consumer (libs/kafka/README.md, "Stall watch"). librdkafka can
// leave a consumer with partitions assigned but no fetcher running (seen after a broker
// restart: one relais-router replica received nothing for minutes, with no error). A long-running
// consumer loop tells the watch when records come; after `quiet` without any, the watch asks
// the broker whether records wait on the assigned partitions, and if they do the loop makes its
// consumer again (what a restart would do).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "relais/kafka/consumer.hpp"

namespace relais::kafka {

// One assigned partition as the watch sees it; an offset < 0 is unknown.
struct PartitionProgress {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t position = -1;   // where the consumer reads next (unknown before its first record)
  std::int64_t committed = -1;  // the group's committed offset
  std::int64_t high = -1;       // the broker's end of the partition
};

// Pure: the partitions with records to read, i.e. whose end is beyond where the consumer reads
// from (its position, else the committed offset). A partition with neither known is left out:
// nothing says where reading would start.
TopicPartitions partitions_behind(const std::vector<PartitionProgress>& parts);

// Asks the broker for the committed offsets and the ends of `consumer`'s assigned partitions.
// Empty with `error` set when the broker does not answer within `timeout`.
std::vector<PartitionProgress> partition_progress(Consumer& consumer,
                                                  std::chrono::milliseconds timeout,
                                                  std::string& error);

class StallWatch {
 public:
  using Clock = std::chrono::steady_clock;
  // `quiet` zero or less: never stalled.
  explicit StallWatch(std::chrono::milliseconds quiet) : quiet_(quiet) {}
  // A record came, partitions were assigned, or the owner has just finished work during which it
  // did not poll (a transaction, a write to PostgreSQL): quiet time is time spent polling, so
  // records that queued meanwhile are not taken for a stall.
  void progress(Clock::time_point now = Clock::now()) { last_ = now; }
  // After `quiet` without progress (then once per `quiet`): asks the broker; why the consumer is
  // stalled ("records wait on t/p, ... none received for N s"), or nullopt. A broker that does
  // not answer is not a stall (`error` says so; checked again later).
  std::optional<std::string> check(Consumer& consumer, std::string& error,
                                   Clock::time_point now = Clock::now());

 private:
  std::chrono::milliseconds quiet_;
  Clock::time_point last_ = Clock::now();
};

}  // namespace relais::kafka
