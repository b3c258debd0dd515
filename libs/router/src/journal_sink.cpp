#include "relais/router/journal_sink.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "relais/codec/flow.hpp"
#include "relais/common/log.hpp"
#include "relais/directory/replacements.hpp"
#include "relais/pg/copy_binary.hpp"
#include "relais/router/journal_rows.hpp"
#include "relais/v1/records.pb.h"

namespace relais::router {
namespace {
const log::Logger logger{"journal"};

std::string_view kind_name(v1::JournalEntry::Kind k) {
  switch (k) {
    case v1::JournalEntry::ACCEPTED:
      return "accepted";
    case v1::JournalEntry::ROUTED:
      return "routed";
    case v1::JournalEntry::DROPPED:
      return "dropped";
    case v1::JournalEntry::DUPLICATE:
      return "duplicate";
    case v1::JournalEntry::DEAD_LETTER:
      return "dead_letter";
    case v1::JournalEntry::ALERT:
      return "alert";
    default:
      return "";
  }
}

// The sink's columns of journal_rows, in COPY order. The rows go in COPY's binary format
// (copy_row): each field is sent as its column's type (timestamptz, text, char(n), integer,
// boolean, text[]), with no conversion by the server; a migration that changes one of these
// columns' types changes copy_row with it (JournalSinkTest fails until it does).
constexpr std::string_view kColumns =
    "at, kind, ticket, ssin, flow, event, effective_date, cpas_cbe, quality_code, reason, "
    "accepted_at, source, alert_id, accepted, alert_ids, alert_types";

// The rows compared with the table before they are written (through the temporary table): a lone
// acceptance or alert that an outcome row already carries adds nothing (the same entry in another
// framing); and a record of a partition without a mark yet (the first batch after migration
// 0020) adds no row the table holds already, entry for entry, as the unique key it replaced did.
// Both look through the hash index on the ticket.
constexpr std::string_view kNotHeld =
    "WHERE NOT EXISTS (SELECT 1 FROM journal_rows j WHERE j.ticket = i.ticket "
    "AND j.kind = i.kind AND j.source = i.source AND j.cpas_cbe IS NOT DISTINCT FROM i.cpas_cbe "
    "AND j.alert_id IS NOT DISTINCT FROM i.alert_id) "
    "AND (i.kind NOT IN ('accepted', 'alert') OR NOT EXISTS (SELECT 1 FROM journal_rows j "
    "WHERE j.ticket = i.ticket AND j.kind IN ('routed', 'dropped') AND j.source = i.source "
    "AND CASE WHEN i.kind = 'accepted' THEN j.accepted "
    "ELSE j.cpas_cbe = i.cpas_cbe AND i.alert_id = ANY (j.alert_ids) END))";

// "{1,2,3}": an integer array parameter.
template <typename Ints>
std::string int_array(const Ints& v) {
  std::string out = "{";
  for (auto x : v) {
    if (out.size() > 1) out.push_back(',');
    out += std::to_string(x);
  }
  return out + '}';
}

// One row of journal_rows in COPY's binary format (kColumns' order; 16 fields). As the text
// format did: an empty string, a time <= 0 and a quality code 0 are NULL, and so is an empty list
// of alerts. `ids`, `types`: scratch.
constexpr std::int16_t kFields = 16;
void copy_row(pg::CopyBinary& rows, const JournalRow& row, std::vector<std::string_view>& ids,
              std::vector<std::string_view>& types) {
  const v1::JournalEntry& j = *row.entry;
  const std::string_view kind = kind_name(j.kind());
  if (kind.empty()) return;
  auto text = [&](std::string_view v) { v.empty() ? rows.null() : rows.text(v); };
  auto time = [&](std::int64_t us) { us <= 0 ? rows.null() : rows.timestamptz(us); };
  auto array = [&](const std::vector<std::string_view>& v) {
    v.empty() ? rows.null() : rows.text_array(v);
  };
  rows.row(kFields);
  time(j.at_us());
  rows.text(kind);
  text(j.ticket());
  text(j.ssin());
  text(j.flow() == v1::FLOW_UNSPECIFIED ? std::string_view{} : codec::flow_id(j.flow()));
  text(j.event());
  text(j.effective_date());
  text(j.cpas_cbe());
  j.quality_code() ? rows.int4(j.quality_code()) : rows.null();
  text(j.reason());
  time(j.accepted_at_us());
  text(j.source());
  text(j.alert_id());
  rows.boolean(row.accepted);
  ids.clear();
  types.clear();
  for (const auto* a : row.alerts) {
    ids.push_back(a->alert_id());
    types.push_back(a->reason());
  }
  array(ids);
  array(types);
}

sink::Options sink_options(const JournalSinkOptions& o, metrics::Registry& m) {
  sink::Options s;
  s.name = "journal";
  s.dead_letters = &sink::dead_letter_counter(m, s.name);
  s.stalls = &sink::stall_counter(m, s.name);
  s.kafka = o.kafka;
  s.reloads = o.reloads;
  if (!o.instance_id.empty()) s.kafka["group.instance.id"] = o.instance_id;
  // A replica gone for good hands its partitions over within 10 s, as the engine's consumer.
  // (max.poll.interval.ms stays at librdkafka's 300 s: the sink stops polling while it retries
  // a full batch during a PostgreSQL outage, and should keep its partitions meanwhile.)
  s.kafka.emplace("session.timeout.ms", "10000");
  s.dsn = o.dsn;
  s.topics = {o.topic};
  s.group_id = o.group_id;
  s.batch_max = o.batch_max;
  s.linger = o.linger;
  // A batched record holds up to ~1,000 entries: weigh it by its size (an
  // entry is ~100-200 bytes) so that batch_max bounds entries, not records.
  s.weight = [](const kafka::Record& m) {
    return std::max<std::size_t>(1, m.value().size() / 128);
  };
  return s;
}
}  // namespace

JournalSink::JournalSink(const JournalSinkOptions& o, metrics::Registry& m)
    : topic_(o.topic),
      written_(
          m.counter("relais_journal_rows_written_total",
                    "Journal rows copied to PostgreSQL (one per routing outcome, migration 0019)")
              .with()),
      batch_seconds_(m.histogram("relais_journal_batch_duration_seconds",
                                 "Time to write one journal batch", {}, metrics::latency_buckets())
                         .with()),
      skipped_(m.counter("relais_journal_records_skipped_total",
                         "Journal records not written again: PostgreSQL already held them (below "
                         "their partition's mark in journal_sink_offsets, migration 0020)")
                   .with()),
      replacements_(m.counter("relais_journal_ssin_replacements_total",
                              "SSIN_REPLACED notifications applied to the directory, by outcome "
                              "(record, unchanged, conflict, cycle, error)",
                              {"outcome"})),
      sink_(
          sink_options(o, m), [this](pg::Connection& c, const sink::Batch& b) { write(c, b); },
          m.counter("relais_journal_write_failures_total", "Failed journal batch writes (retried)")
              .with()) {}

void JournalSink::write(pg::Connection& conn, const sink::Batch& batch) {
  auto t0 = std::chrono::steady_clock::now();
  struct Replacement {
    std::string old_ssin, new_ssin, ticket;
  };
  std::vector<Replacement> replacements;
  // The bookkeeping first (migration 0020): each partition's mark, locked until the commit, so
  // that a replica that lost its partitions, or a replay, writes nothing twice.
  // (The sink reads one topic; a record of another, never subscribed, would be compared.)
  std::map<std::int32_t, std::int64_t> recorded;
  std::vector<MarkedRecord> marked;
  marked.reserve(batch.size());
  std::set<std::int32_t> partitions;
  for (const auto& m : batch)
    if (m.topic() == topic_) {
      marked.push_back({m.partition(), m.offset()});
      partitions.insert(m.partition());
    }
  const std::string parts = int_array(partitions);
  conn.exec(
      "INSERT INTO journal_sink_offsets (topic, partition, next_offset) SELECT $1, p, -1 "
      "FROM unnest($2::integer[]) p ON CONFLICT DO NOTHING",
      {topic_, parts});
  auto locked = conn.exec(
      "SELECT partition, next_offset FROM journal_sink_offsets WHERE topic = $1 "
      "AND partition = ANY ($2::integer[]) ORDER BY partition FOR UPDATE",
      {topic_, parts});
  for (int i = 0; i < locked.rows(); ++i)
    recorded[std::stoi(locked.str(i, 0))] = std::stoll(locked.str(i, 1));
  auto marks = mark_journal(marked, recorded);
  std::vector<RecordFate> fate;  // per record of the batch
  fate.reserve(batch.size());
  for (std::size_t i = 0, k = 0; i < batch.size(); ++i)
    fate.push_back(batch[i].topic() == topic_ ? marks.fate[k++] : RecordFate::unchecked);
  if (marks.skipped) {
    skipped_.inc(static_cast<double>(marks.skipped));
    logger.info("journal records already in PostgreSQL skipped (below their partition's mark)",
                {{"records", marks.skipped}, {"batch", batch.size()}});
  }

  // One row per routing outcome (migration 0019): each record's entries folded alone. Rows of
  // fresh records go straight into the table; the others are compared first (kNotHeld).
  std::vector<v1::JournalBatch> batches;
  std::vector<v1::JournalEntry> singles;
  batches.reserve(batch.size());  // reserved: the rows point into them, never moved
  singles.reserve(batch.size());
  std::vector<JournalRow> folded;
  std::vector<bool> compared;                    // per row of `folded`
  std::vector<const v1::JournalEntry*> entries;  // of the records written (the replacements)
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (fate[i] == RecordFate::skip) continue;
    const auto& m = batch[i];
    const std::size_t first = folded.size();
    if (m.key() && m.key()->starts_with("batch/")) {
      v1::JournalBatch& b = batches.emplace_back();
      if (!b.ParseFromArray(m.value().data(), static_cast<int>(m.value().size()))) {
        batches.pop_back();
        continue;
      }
      fold_journal(b.entries(), folded);
      for (const auto& j : b.entries()) entries.push_back(&j);
    } else {
      v1::JournalEntry& j = singles.emplace_back();  // one entry per record (before batches)
      if (!j.ParseFromArray(m.value().data(), static_cast<int>(m.value().size()))) {
        singles.pop_back();
        continue;
      }
      folded.push_back({&j, false, {}});
      entries.push_back(&j);
    }
    for (auto k = first; k < folded.size(); ++k) {
      const auto kind = folded[k].entry->kind();
      compared.push_back(fate[i] == RecordFate::unchecked ||
                         (!folded[k].accepted &&
                          (kind == v1::JournalEntry::ACCEPTED || kind == v1::JournalEntry::ALERT)));
    }
  }
  pg::CopyBinary rows, held;
  std::vector<std::string_view> ids, types;
  for (std::size_t k : copy_order(folded))
    copy_row(compared[k] ? held : rows, folded[k], ids, types);
  for (const auto* j : entries)
    if (j->kind() == v1::JournalEntry::ACCEPTED && j->flow() == v1::FLOW_NOTIFY_PERSON &&
        !j->replaces_ssin().empty() && j->event() == "SSIN_REPLACED")
      replacements.push_back({j->replaces_ssin(), j->ssin(), j->ticket()});
  auto copy = [&](const std::string& table, pg::CopyBinary& data) {
    conn.copy_in("COPY " + table + " (" + std::string(kColumns) + ") FROM STDIN (FORMAT binary)",
                 data.finish());
  };
  long long written = 0;
  if (rows.rows() > 0) {
    written += static_cast<long long>(rows.rows());
    copy("journal_rows", rows);
  }
  if (held.rows() > 0) {
    // The columns only: no default (no nextval) evaluated per row in the temporary table.
    conn.exec("CREATE TEMP TABLE IF NOT EXISTS journal_rows_in ON COMMIT DELETE ROWS AS SELECT " +
              std::string(kColumns) + " FROM journal_rows WITH NO DATA");
    copy("journal_rows_in", held);
    written += conn.exec("INSERT INTO journal_rows (" + std::string(kColumns) + ") SELECT " +
                         std::string(kColumns) + " FROM journal_rows_in i " + std::string(kNotHeld))
                   .affected();
  }
  std::vector<std::int32_t> mark_parts;
  std::vector<std::int64_t> mark_next;
  for (const auto& [p, next] : marks.next) {
    mark_parts.push_back(p);
    mark_next.push_back(next);
  }
  conn.exec(
      "UPDATE journal_sink_offsets o SET next_offset = v.next, updated_at = now() "
      "FROM unnest($2::integer[], $3::bigint[]) AS v(partition, next) "
      "WHERE o.topic = $1 AND o.partition = v.partition AND o.next_offset < v.next",
      {topic_, int_array(mark_parts), int_array(mark_next)});
  // SSIN replacements announced by the National Register (notify-person SSIN_REPLACED) join
  // the directory, in the same transaction as the journal rows.
  // One that cannot be recorded (a database error other than an outage) must not stop the
  // journal: it is rolled back alone, counted and logged, and the batch goes on.
  for (const auto& r : replacements) {
    conn.exec("SAVEPOINT replacement");
    try {
      record_replacement(conn, r.old_ssin, r.new_ssin, r.ticket);
      conn.exec("RELEASE SAVEPOINT replacement");
    } catch (const pg::Error& e) {
      if (e.retryable() || !conn.ok()) throw;
      conn.exec("ROLLBACK TO SAVEPOINT replacement");
      replacements_.with({"error"}).inc();
      logger.error("SSIN_REPLACED not recorded in the directory",
                   {{"ticket", r.ticket}, {"error", e.what()}});
    }
  }
  written_.inc(static_cast<double>(written));
  batch_seconds_.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

// The register's word is authoritative, but it never silently overwrites a recorded
// replacement: a conflict flags the recorded row for review (relaisctl directory
// audit-replacements) and a loop is refused; both are journaled in directory_journal.
void JournalSink::record_replacement(pg::Connection& conn, const std::string& old_ssin,
                                     const std::string& new_ssin, const std::string& ticket) {
  using directory::ReplacementVerdict;
  const std::string who = "notify-person:" + ticket;
  auto state = directory::load_replacement_state(conn, old_ssin, new_ssin);
  auto verdict = directory::judge_replacement(old_ssin, new_ssin, state, false);
  replacements_.with({std::string(directory::verdict_name(verdict))}).inc();
  switch (verdict) {
    case ReplacementVerdict::record:
    case ReplacementVerdict::correct:  // not reached: the register never corrects
      directory::write_replacement(conn, {old_ssin, new_ssin, "register", who, std::nullopt});
      return;
    case ReplacementVerdict::unchanged:
      return;
    case ReplacementVerdict::conflict:
      logger.warn(
          "SSIN_REPLACED conflicts with the recorded replacement: not applied, flagged for review",
          {{"ticket", ticket}});
      directory::flag_replacement_conflict(conn, old_ssin, new_ssin, who);
      return;
    case ReplacementVerdict::cycle:
      logger.warn("SSIN_REPLACED would close a loop of replacements: not applied",
                  {{"ticket", ticket}});
      conn.exec(
          "INSERT INTO directory_journal (actor, action, ssin, detail) VALUES ($1, "
          "'replacement-refused', $2::text, "
          "jsonb_build_object('old_ssin', $2::text, 'new_ssin', $3::text, 'reason', 'cycle'))",
          {who, old_ssin, new_ssin});
      return;
  }
}

}  // namespace relais::router
