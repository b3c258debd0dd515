#include "relais/router/journal_sink.hpp"

#include <algorithm>
#include <vector>

#include "relais/codec/flow.hpp"
#include "relais/v1/records.pb.h"

namespace relais::router {
namespace {

std::string kind_name(v1::JournalEntry::Kind k) {
  switch (k) {
    case v1::JournalEntry::ACCEPTED: return "accepted";
    case v1::JournalEntry::ROUTED: return "routed";
    case v1::JournalEntry::DROPPED: return "dropped";
    case v1::JournalEntry::DUPLICATE: return "duplicate";
    case v1::JournalEntry::DEAD_LETTER: return "dead_letter";
    case v1::JournalEntry::ALERT: return "alert";
    default: return "";
  }
}

sink::Options sink_options(const JournalSinkOptions& o) {
  sink::Options s;
  s.name = "journal";
  s.kafka = o.kafka;
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
  s.weight = [](const RdKafka::Message& m) { return std::max<std::size_t>(1, m.len() / 128); };
  return s;
}
}  // namespace

JournalSink::JournalSink(JournalSinkOptions o, metrics::Registry& m)
    : written_(m.counter("relais_journal_rows_written_total", "Journal entries copied to PostgreSQL").with()),
      batch_seconds_(m.histogram("relais_journal_batch_duration_seconds", "Time to write one journal batch", {},
                                 metrics::latency_buckets())
                         .with()),
      sink_(sink_options(o), [this](pg::Connection& c, const sink::Batch& b) { write(c, b); },
            m.counter("relais_journal_write_failures_total", "Failed journal batch writes (retried)").with()) {}

void JournalSink::write(pg::Connection& conn, const sink::Batch& batch) {
  using sink::copy_field;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, std::string>> replacements;
  std::string rows;
  rows.reserve(batch.size() * 160);
  auto add = [&](const v1::JournalEntry& j) {
    std::string kind = kind_name(j.kind());
    if (kind.empty()) return;
    sink::copy_timestamp_us(rows, j.at_us());
    copy_field(rows, kind);
    copy_field(rows, j.ticket());
    copy_field(rows, j.ssin());
    copy_field(rows, j.flow() == v1::FLOW_UNSPECIFIED ? std::string_view{} : codec::flow_id(j.flow()));
    copy_field(rows, j.event());
    copy_field(rows, j.effective_date());
    copy_field(rows, j.cpas_cbe());
    copy_field(rows, j.quality_code() ? std::to_string(j.quality_code()) : std::string{});
    copy_field(rows, j.reason());
    sink::copy_timestamp_us(rows, j.accepted_at_us());
    copy_field(rows, j.source());
    copy_field(rows, j.alert_id(), true);
    if (j.kind() == v1::JournalEntry::ACCEPTED && !j.replaces_ssin().empty() && j.event() == "SSIN_REPLACED")
      replacements.emplace_back(j.replaces_ssin(), j.ssin());
  };
  for (const auto& m : batch) {
    if (m->key() && m->key()->starts_with("batch/")) {
      v1::JournalBatch b;
      if (!b.ParseFromArray(m->payload(), static_cast<int>(m->len()))) continue;
      for (const auto& j : b.entries()) add(j);
    } else {
      v1::JournalEntry j;  // one entry per record (the format before batches)
      if (j.ParseFromArray(m->payload(), static_cast<int>(m->len()))) add(j);
    }
  }
  conn.exec("CREATE TEMP TABLE IF NOT EXISTS journal_in (LIKE journal INCLUDING DEFAULTS) ON COMMIT DELETE ROWS");
  bool sent = false;
  conn.copy_in(
      "COPY journal_in (at, kind, ticket, ssin, flow, event, effective_date, cpas_cbe, quality_code, reason, "
      "accepted_at, source, alert_id) FROM STDIN",
      [&](std::string& buf) {
        if (!sent) buf.swap(rows);
        sent = true;
        return false;
      });
  auto r = conn.exec(
      "INSERT INTO journal (at, kind, ticket, ssin, flow, event, effective_date, cpas_cbe, quality_code, reason, "
      "accepted_at, source, alert_id) SELECT at, kind, ticket, ssin, flow, event, effective_date, cpas_cbe, "
      "quality_code, reason, accepted_at, source, alert_id FROM journal_in ON CONFLICT DO NOTHING");
  // SSIN replacements seen in notify-person SSIN_REPLACED notifications join the directory.
  for (const auto& [old_ssin, new_ssin] : replacements) {
    conn.exec(
        "INSERT INTO ssin_replacements (old_ssin, new_ssin, source) VALUES ($1, $2, 'notify-person') "
        "ON CONFLICT (old_ssin) DO UPDATE SET new_ssin = EXCLUDED.new_ssin, source = EXCLUDED.source "
        "WHERE ssin_replacements.new_ssin <> EXCLUDED.new_ssin",
        {old_ssin, new_ssin});
  }
  written_.inc(static_cast<double>(r.affected()));
  batch_seconds_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace relais::router
