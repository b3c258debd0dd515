// Dead-letter operations: list, show, replay. The DLQ topic (relais.dlq.v1) holds
// relais.v1.DeadLetter values written by the router; a replay re-produces the original bytes
// (or an operator-corrected body) to the inbound topic and records it in `dlq_replays`, so a
// record is replayed once unless forced.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "relais/ctl/settings.hpp"
#include "relais/pg/pg.hpp"
#include "relais/v1/records.pb.h"

namespace relais::ctl {

struct Coord {
  int32_t partition = -1;
  int64_t offset = -1;
  bool operator==(const Coord&) const = default;
};
// "<partition>:<offset>", both non-negative decimal integers.
std::optional<Coord> parse_coord(const std::string& text);

struct DlqRecord {
  Coord at;
  int64_t timestamp_ms = 0;
  relais::v1::DeadLetter letter;
  bool parsed = false;  // false: the DLQ value itself is not a DeadLetter
};

// The newest `limit` records of the DLQ across partitions, oldest first.
std::vector<DlqRecord> dlq_list(const Settings& s, std::size_t limit);
// Every record at offset >= `since` in every partition, in (partition, offset) order.
std::vector<DlqRecord> dlq_since(const Settings& s, int64_t since);
// One record; nullopt when there is none at that offset.
std::optional<DlqRecord> dlq_get(const Settings& s, Coord at);

// {"dlq": "p:o", "reason", "failed_at", "source": {...}, "key", "value_base64", "notification"?,
// "decode_error"?}
std::string dlq_json(const DlqRecord& r);

struct Correction {
  std::string json;                      // the flow message's JSON, as relais-ingest accepts it
  std::optional<relais::v1::Flow> flow;  // default: the original's flow
};

struct ReplayOutcome {
  Coord dlq;
  enum class Status { replayed, already_replayed, failed } status = Status::failed;
  std::string detail;
  int32_t partition = -1;  // where it landed in the inbound topic
  int64_t offset = -1;
};

// Replays each record (fetched from the DLQ) to the inbound topic with acks=all and an
// idempotent producer. A replay and its `dlq_replays` row are made under a transaction-scoped
// advisory lock on the DLQ coordinates, so two operators cannot replay the same record twice.
// With `correction` (one record only) the value is the corrected, validated notification.
std::vector<ReplayOutcome> dlq_replay(const Settings& s, pg::Connection& db,
                                      const std::vector<DlqRecord>& records, bool force,
                                      const std::optional<Correction>& correction);

}  // namespace relais::ctl
