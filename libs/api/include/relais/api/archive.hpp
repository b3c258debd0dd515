// The notification archive (migrations/0015): every record Relais published to a CPAS topic,
// kept in PostgreSQL past Kafka's retention so that a CPAS can ask for a replay (replay.hpp).
//
// - `encode_archived` / `decode_archived` (pure): a record exactly as it was routed (key,
//   headers in order, value) framed and deflated into one bytea; decoding gives back the same
//   bytes. Unit-tested in tests/unit/archive_test.cpp.
// - `ArchiveSink`: the consumer (its own thread, read_committed, regex subscription to every
//   cpas.<cbe>.notifications.v1) that copies the records into notification_archive in bulk
//   (COPY into a temporary table, INSERT ... ON CONFLICT DO NOTHING on the primary key, then the
//   Kafka offsets), as the alert store and the journal sink do (libs/sink).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relais/common/metrics.hpp"
#include "relais/kafka/client.hpp"
#include "relais/sink/kafka_to_pg.hpp"

namespace relais::api {

struct ArchivedRecord {
  std::optional<std::string> key;  // nullopt: the record had no key
  std::vector<kafka::Header> headers;
  std::string value;
  bool operator==(const ArchivedRecord&) const = default;
};

// Deflated frame: 'A' '1', the frame's length (varint), then deflate(key flag, key, header
// count, each header's name and value, value), lengths as varints.
std::string encode_archived(const ArchivedRecord& r);
// nullopt when `blob` is not a frame of encode_archived (truncated, corrupt, wrong version).
std::optional<ArchivedRecord> decode_archived(std::string_view blob);

// Where a routed record sits in the archive: routing time (RoutedNotification.routed_at_us),
// then the partition and offset on cpas.<cbe>.notifications.v1. Records are replayed in this
// order (routing order).
struct ArchivePosition {
  std::int64_t routed_at_us = 0;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 sees the 0 of the synthesized comparisons
  auto operator<=>(const ArchivePosition&) const = default;
};
// "<routed_at_us>:<partition>:<offset>", the `replay-position` header of a replayed record.
std::string to_string(const ArchivePosition& p);
std::optional<ArchivePosition> parse_position(std::string_view s);

struct ArchiveSinkOptions : sink::RegexSinkSettings {
  ArchiveSinkOptions() {
    topic_regex = "^cpas\\..*\\.notifications\\.v1$";
    group_id = "relais-api-archive";
    batch_max = 5000;
  }
};

class ArchiveSink {
 public:
  ArchiveSink(const ArchiveSinkOptions& o, metrics::Registry& m);
  std::optional<std::string> start() { return sink_.start(); }
  void stop() { sink_.stop(); }
  double age_seconds() const { return sink_.age_seconds(); }

 private:
  void write(pg::Connection& conn, const sink::Batch& batch);
  metrics::Counter& written_;
  metrics::Counter& bytes_;
  metrics::Counter& undecodable_;
  sink::KafkaToPg sink_;
};

}  // namespace relais::api
