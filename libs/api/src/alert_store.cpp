#include "relais/api/alert_store.hpp"

#include <ctime>
#include <map>
#include <regex>
#include <vector>

#include "relais/codec/encode.hpp"
#include "relais/codec/flow.hpp"
#include "relais/common/log.hpp"
#include "relais/pg/pg.hpp"
#include "relais/v1/records.pb.h"

namespace relais::api {
namespace {
const log::Logger logger{"alert-store"};

// NOLINTNEXTLINE(cert-err58-cpp): a constant, valid pattern; the unit tests construct it
const std::regex kUuid("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$");
// NOLINTNEXTLINE(cert-err58-cpp): a constant, valid pattern; the unit tests construct it
const std::regex kCbe("^[01][0-9]{9}$");
// NOLINTNEXTLINE(cert-err58-cpp): a constant, valid pattern; the unit tests construct it
const std::regex kSsin("^[0-9]{11}$");
// NOLINTNEXTLINE(cert-err58-cpp): a constant, valid pattern; the unit tests construct it
const std::regex kDate("^[0-9]{4}-[0-9]{2}-[0-9]{2}$");

// Checks what PostgreSQL's column types would refuse, so that one bad record
// cannot block the batch (it is counted and skipped, never retried forever).
bool storable(const v1::Alert& a) {
  return std::regex_match(a.alert_id(), kUuid) && std::regex_match(a.cpas_cbe(), kCbe) &&
         std::regex_match(a.ssin(), kSsin) && !a.type().empty() && !a.rule_id().empty() &&
         !a.ticket().empty() && !codec::flow_id(a.flow()).empty() &&
         (a.effective_date().empty() || std::regex_match(a.effective_date(), kDate)) &&
         (a.due_date().empty() || std::regex_match(a.due_date(), kDate)) && a.raised_at_us() > 0;
}

sink::Options sink_options(const AlertStoreOptions& o, metrics::Registry& m) {
  sink::Options s;
  s.name = "alert-store";
  s.dead_letters = &sink::dead_letter_counter(m, s.name);
  s.kafka = o.kafka;
  s.dsn = o.dsn;
  s.topics = {o.topic_regex};
  s.group_id = o.group_id;
  s.batch_max = o.batch_max;
  s.linger = o.linger;
  s.metadata_refresh_ms = o.metadata_refresh_ms;
  return s;
}
}  // namespace

AlertStore::AlertStore(const AlertStoreOptions& o, metrics::Registry& m)
    : stored_(m.counter("relais_api_alerts_stored_total",
                        "Alerts copied from the alert topics, by type", {"type"})),
      duplicates_(
          m.counter("relais_api_alerts_duplicates_total", "Alert records already stored (replays)")
              .with()),
      undecodable_(m.counter("relais_api_alerts_undecodable_total",
                             "Alert records that could not be stored (skipped)")
                       .with()),
      sink_(
          sink_options(o, m), [this](pg::Connection& c, const sink::Batch& b) { write(c, b); },
          m.counter("relais_api_alert_store_failures_total", "Failed alert batch writes (retried)")
              .with()) {}

void AlertStore::write(pg::Connection& conn, const sink::Batch& batch) {
  using sink::copy_field;
  std::string rows;
  rows.reserve(batch.size() * 2048);
  std::size_t bad = 0;
  for (const auto& m : batch) {
    v1::Alert a;
    if (!a.ParseFromArray(m.value().data(), static_cast<int>(m.value().size())) || !storable(a)) {
      ++bad;
      logger.warn("alert record skipped: not a storable relais.v1.Alert",
                  {{"topic", m.topic()}, {"partition", m.partition()}, {"offset", m.offset()}});
      continue;
    }
    std::string q = "{";
    for (int i = 0; i < a.quality_codes_size(); ++i) {
      if (i) q.push_back(',');
      q += std::to_string(a.quality_codes(i));
    }
    q.push_back('}');
    copy_field(rows, a.alert_id());
    copy_field(rows, a.cpas_cbe());
    copy_field(rows, a.type());
    copy_field(rows, a.severity().empty() ? "medium" : a.severity());
    copy_field(rows, a.rule_id());
    copy_field(rows, a.ssin());
    copy_field(rows, a.ticket());
    copy_field(rows, codec::flow_id(a.flow()));
    copy_field(rows, a.event());
    copy_field(rows, a.effective_date());
    copy_field(rows, q);
    copy_field(rows, std::to_string(a.deadline_days()));
    copy_field(rows, a.description());
    sink::copy_timestamp_us(rows, a.raised_at_us());
    copy_field(rows, a.due_date());
    copy_field(rows, a.has_notification() ? codec::to_json(a.notification()) : std::string{});
    copy_field(rows, sink::source_of(m), true);
  }
  std::map<std::string, long long> by_type;
  long long inserted = 0;
  if (!rows.empty()) {
    conn.exec(
        "CREATE TEMP TABLE IF NOT EXISTS alerts_in (alert_id uuid, cpas_cbe text, type text, "
        "severity text, rule_id text, ssin text, ticket text, flow text, event text, "
        "effective_date text, "
        "quality_codes int[], deadline_days int, description text, raised_at timestamptz, due_date "
        "date, "
        "notification jsonb, source text) ON COMMIT DELETE ROWS");
    bool sent = false;
    conn.copy_in("COPY alerts_in FROM STDIN", [&](std::string& buf) {
      if (!sent) buf.swap(rows);
      sent = true;
      return false;
    });
    // DISTINCT ON: the same alert twice in one batch (a replayed record) is one row.
    auto r = conn.exec(
        "INSERT INTO alerts (alert_id, cpas_cbe, type, severity, rule_id, ssin, ticket, flow, "
        "event, "
        "effective_date, quality_codes, deadline_days, description, raised_at, due_date, "
        "notification, source) "
        "SELECT DISTINCT ON (alert_id) alert_id, cpas_cbe, type, severity, rule_id, ssin, ticket, "
        "flow, event, "
        "effective_date, quality_codes, deadline_days, description, raised_at, due_date, "
        "notification, source "
        "FROM alerts_in ORDER BY alert_id ON CONFLICT (alert_id) DO NOTHING RETURNING type");
    for (int i = 0; i < r.rows(); ++i) ++by_type[r.str(i, 0)];
    inserted = r.rows();
  }
  // Counted before the commit: if the commit itself fails, the retry counts the batch again
  // (metrics only; the rows are inserted once).
  for (const auto& [type, n] : by_type) stored_.with({type}).inc(static_cast<double>(n));
  auto good = static_cast<long long>(batch.size() - bad);
  if (good > inserted) duplicates_.inc(static_cast<double>(good - inserted));
  if (bad) undecodable_.inc(static_cast<double>(bad));
  if (inserted) logger.debug("alerts stored", {{"stored", inserted}, {"records", batch.size()}});
}

}  // namespace relais::api
