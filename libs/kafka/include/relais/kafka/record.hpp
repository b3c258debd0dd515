// A record read from Kafka, owned by the caller. It holds librdkafka's message itself (no copy
// of key, value or headers: the accessors are views into it), so a batch of records costs what
// the consumer already fetched.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace RdKafka {
class Message;
}

namespace relais::kafka {

using Settings = std::map<std::string, std::string>;

// Partition number that lets the partitioner choose (librdkafka's RD_KAFKA_PARTITION_UA).
inline constexpr std::int32_t kAnyPartition = -1;
// Logical offsets (librdkafka's RD_KAFKA_OFFSET_*).
inline constexpr std::int64_t kOffsetBeginning = -2;
inline constexpr std::int64_t kOffsetEnd = -1;
inline constexpr std::int64_t kOffsetInvalid = -1001;

struct Header {
  std::string key;
  std::string value;
  bool operator==(const Header&) const = default;
};

// A topic partition and an offset (a position, a commit, a start).
struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = kOffsetInvalid;
  bool operator==(const TopicPartition&) const = default;
};
using TopicPartitions = std::vector<TopicPartition>;

class Record {
 public:
  Record(Record&&) noexcept;
  Record& operator=(Record&&) noexcept;
  ~Record();

  std::string topic() const;
  std::int32_t partition() const;
  std::int64_t offset() const;
  // nullptr when the record has no key.
  const std::string* key() const;
  std::string_view value() const;
  // The last value of header `name`, or empty.
  std::string header(std::string_view name) const;
  // Views into the record (valid as long as it lives): the topic's name, and the last value of
  // header `name` (empty when absent), without a copy.
  std::string_view topic_view() const;
  std::string_view header_view(const char* name) const;
  // Every header, in the record's order (copies: an archive keeps the record as it was).
  std::vector<Header> headers() const;
  // The record's timestamp in Unix milliseconds (-1 when none).
  std::int64_t timestamp_ms() const;

 private:
  friend class Consumer;
  struct Deleter {
    void operator()(RdKafka::Message* m) const;
  };
  explicit Record(RdKafka::Message* m);
  std::unique_ptr<RdKafka::Message, Deleter> m_;
};

}  // namespace relais::kafka
