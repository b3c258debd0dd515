// relais-router's decision for one batch of inbound records, as a pure function: which records
// the batch's transaction produces (CPAS notifications, clignotants, dead letters, journal and
// dedupe batches), which notifications become "processed" once it commits, which offsets it
// commits, and what the metrics count. No Kafka, no clock, no logging: the engine
// (engine.cpp) executes a Plan in one Kafka transaction and applies its marks and counts once
// that transaction committed.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "relais/alerts/rules.hpp"
#include "relais/directory/directory.hpp"
#include "relais/router/dedupe.hpp"

namespace relais::router {

// One record read from the inbound topic, as plan() sees it.
struct InboundRecord {
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  const std::string* key = nullptr;  // nullptr: no key
  std::string_view value;
  // A notification that came as SOAP carries what its sender sent, byte for byte (relais-ingest's
  // "raw" and "source-content-type" headers); forwarded to every CPAS that receives it.
  std::string_view raw;
  std::string_view raw_content_type;
};

// Partition number that lets the producer's partitioner choose.
inline constexpr std::int32_t kAnyPartition = -1;

struct OutHeader {
  std::string key;
  std::string value;
};

// One record the transaction produces.
struct OutRecord {
  std::string topic;
  std::int32_t partition = kAnyPartition;
  std::string key;
  std::string value;
  std::vector<OutHeader> headers;
};

// What the metrics count for one batch (applied once the transaction committed).
struct Counts {
  std::uint64_t consumed = 0;
  std::uint64_t duplicates = 0;
  std::map<std::pair<std::string, std::string>, std::uint64_t> routed;   // (flow, CPAS CBE)
  std::map<std::pair<std::string, std::string>, std::uint64_t> dropped;  // (flow, reason)
  std::map<std::string, std::uint64_t> dead_letters;                     // reason code
  std::map<std::pair<std::string, std::string>, std::uint64_t> alerts;   // (alert type, CPAS CBE)
};

struct Plan {
  // In production order. For one person (one inbound partition, one CPAS topic key) the
  // notifications keep the inbound order.
  std::vector<OutRecord> records;
  // Notifications processed for the first time, by inbound partition: into the DedupeSet once
  // the transaction committed (never before: an aborted attempt must leave it unchanged).
  std::vector<std::pair<std::int32_t, Mark>> marks;
  // Per inbound partition, the offset the transaction commits (last planned offset + 1).
  std::map<std::int32_t, std::int64_t> next_offsets;
  // The CPAS topics the records go to (the engine creates those it has not seen yet).
  std::set<std::string> cpas_topics;
  // Accepted by relais-ingest to planned, in seconds, for each routed notification.
  std::vector<double> end_to_end_seconds;
  // "source: reason" for each dead letter, for the engine's log.
  std::vector<std::string> dead_letter_notes;
  Counts counts;
  void clear();
};

struct PlanTopics {
  std::string journal = "relais.journal.v1";
  std::string dedupe = "relais.dedupe.v1";
  std::string dlq = "relais.dlq.v1";
};

struct PlanContext {
  const directory::Directory& directory;
  const DedupeSet& processed;              // what committed transactions processed
  const alerts::Ruleset* rules = nullptr;  // clignotant rules; none: no alerts
  PlanTopics topics;
  std::int64_t now_us = 0;  // the time written in records and journal entries
};

// Journal entries and dedupe tickets are written in batches: one record per transaction (and
// inbound partition for the dedupe tickets), split at these sizes to stay far below the broker's
// 1 MB record limit (a journal entry is at most a few hundred bytes; a ticket is 16 bytes).
inline constexpr int kJournalPerRecord = 1024;
inline constexpr int kTicketsPerRecord = 16384;
// Journal and dedupe batch records are keyed "batch/<partition>-<offset of the batch's first
// record>/<j|dP->n": unique for ever, so that compaction of relais.dedupe.v1 never merges two
// transactions' records; a retried transaction reuses its keys, and only the committed attempt
// is visible.
inline constexpr std::string_view kBatchKeyPrefix = "batch/";

// Plans `batch` (records of one consumer poll loop, in the order read; not empty). Every record
// ends as exactly one of: routed to one or more CPAS (journal ACCEPTED, then ROUTED and ALERT per
// CPAS), dropped (ACCEPTED, DROPPED with the routing reason), a duplicate of a processed
// notification (DUPLICATE), or a dead letter (undecodable, invalid, or a ticket reused for other
// content; DEAD_LETTER). A notification repeated inside the batch is a duplicate of its first
// occurrence, as if they had come in two transactions.
void plan(std::span<const InboundRecord> batch, const PlanContext& ctx, Plan& out);
Plan plan(std::span<const InboundRecord> batch, const PlanContext& ctx);

}  // namespace relais::router
