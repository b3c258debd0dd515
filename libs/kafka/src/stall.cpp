#include "relais/kafka/stall.hpp"

#include <algorithm>

namespace relais::kafka {

TopicPartitions partitions_behind(const std::vector<PartitionProgress>& parts) {
  TopicPartitions out;
  for (const auto& p : parts) {
    std::int64_t from = p.position >= 0 ? p.position : p.committed;
    if (from >= 0 && p.high > from) out.push_back({p.topic, p.partition, from});
  }
  return out;
}

std::vector<PartitionProgress> partition_progress(Consumer& consumer,
                                                  std::chrono::milliseconds timeout,
                                                  std::string& error) {
  Error err;
  auto positions = consumer.positions(&err);
  if (!positions) {
    error = "positions: " + err.message;
    return {};
  }
  if (positions->empty()) return {};  // nothing assigned: nothing to ask
  auto committed = consumer.committed(*positions, timeout, &err);
  if (!committed) {
    error = "committed offsets: " + err.message;
    return {};
  }
  std::vector<PartitionProgress> out;
  for (const auto& tp : *positions) {
    PartitionProgress p{tp.topic, tp.partition, tp.offset, -1, -1};
    auto c = std::find_if(committed->begin(), committed->end(), [&](const TopicPartition& x) {
      return x.topic == tp.topic && x.partition == tp.partition;
    });
    if (c != committed->end()) p.committed = c->offset;
    std::int64_t low = 0;
    if (auto e = consumer.query_watermarks(tp.topic, tp.partition, timeout, low, p.high)) {
      error = "watermarks: " + e.message;
      return {};
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::optional<std::string> StallWatch::check(Consumer& consumer, std::string& error,
                                             Clock::time_point now) {
  if (quiet_.count() <= 0 || now - last_ < quiet_) return std::nullopt;
  last_ = now;  // once per quiet period
  auto behind = partitions_behind(partition_progress(consumer, std::chrono::seconds(5), error));
  if (behind.empty()) return std::nullopt;
  std::string list;
  for (const auto& tp : behind)
    list += (list.empty() ? "" : ", ") + tp.topic + "/" + std::to_string(tp.partition);
  return "consumer stalled: records wait on " + list + ", none received for " +
         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(quiet_).count()) + " s";
}

}  // namespace relais::kafka
