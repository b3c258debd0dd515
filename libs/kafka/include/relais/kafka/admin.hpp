// Read-only cluster inspection for the operator's view of the CPAS applications (relais-api's
// subscriber health): topics and consumer groups of a name prefix, committed offsets, the log
// start and end offsets, topic retention, and the timestamp of the first record at an offset.
// One long-lived client; every call is synchronous (run it on an admin thread, never on an event
// loop) and batched: one request per kind and pass, except the committed offsets, which
// librdkafka 2.0.2 lists one group per request (sent together, answered together).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relais/kafka/error.hpp"
#include "relais/kafka/record.hpp"

namespace relais::kafka {

struct GroupListing {
  std::string group;
  std::string state;  // Kafka's group state: Stable, Empty, PreparingRebalance, Dead, Unknown…
  // True while the group has members (any state but Empty, Dead and Unknown).
  bool has_members = false;
};

struct PartitionWatermarks {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t log_start = -1;  // first offset still in the log (after retention)
  std::int64_t end = -1;        // the next offset to be written
};

// The first readable (read_committed) record at or after `from`.
struct FirstRecord {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t from = -1;
  std::int64_t offset = -1;        // the record's offset, -1 when none
  std::int64_t timestamp_ms = -1;  // its timestamp (ms since the epoch), -1 when none
  bool at_end = false;             // no record between `from` and the end of the partition
};

class Admin {
 public:
  // `settings` as for any client (bootstrap, credentials); `group_id` is the group the record
  // fetch uses for its assignment (nothing is ever committed in it).
  static std::unique_ptr<Admin> create(const Settings& settings, const std::string& group_id,
                                       std::string& error);
  ~Admin();
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // Topics whose name starts with `prefix` and their partition counts (one Metadata request).
  Error topics(std::string_view prefix, std::map<std::string, int>& out,
               std::chrono::milliseconds timeout);
  // Consumer groups whose id starts with `prefix`, with their state (one ListGroups request per
  // broker).
  Error groups(std::string_view prefix, std::vector<GroupListing>& out,
               std::chrono::milliseconds timeout);
  // The committed offsets of every partition of each group (one OffsetFetch per group, all in
  // flight together). A group whose request failed is missing from `out`.
  Error committed(const std::vector<std::string>& groups,
                  std::map<std::string, TopicPartitions>& out, std::chrono::milliseconds timeout);
  // Log start and end offsets of `parts` (two ListOffsets requests per partition leader).
  Error watermarks(const TopicPartitions& parts, std::vector<PartitionWatermarks>& out,
                   std::chrono::milliseconds timeout);
  // retention.ms of each topic (one DescribeConfigs request); -1 means "kept forever".
  Error retention_ms(const std::vector<std::string>& topics,
                     std::map<std::string, std::int64_t>& out, std::chrono::milliseconds timeout);
  // The first readable record at or after each part's offset (one assignment, fetched together,
  // each partition's first record only; a partition asked at several offsets takes one round per
  // offset; at most `timeout` in all). A part that did not answer in time is missing from `out`.
  Error first_records(const TopicPartitions& from, std::vector<FirstRecord>& out,
                      std::chrono::milliseconds timeout);

  // Requests sent to the cluster since creation (ListOffsets and DescribeConfigs count once per
  // call; librdkafka splits them per partition leader).
  std::uint64_t requests() const { return requests_; }

 private:
  Admin() = default;
  Error fetch_round(const TopicPartitions& from, std::vector<FirstRecord>& out,
                    std::chrono::steady_clock::time_point deadline);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint64_t requests_ = 0;
};

}  // namespace relais::kafka
