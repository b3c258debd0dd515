#include "relais/api/alert_store.hpp"

#include <ctime>
#include <map>
#include <regex>
#include <vector>

#include "relais/codec/encode.hpp"
#include "relais/codec/flow.hpp"
#include "relais/common/log.hpp"
#include "relais/pg/pg.hpp"
#include "relais/refdata/refdata.hpp"
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
constexpr std::string_view kEarlyKind = "EARLY_SIGNAL";
constexpr std::string_view kSppisKind = "SPPIS_CLIGNOTANT";

// The day SPP IS issued a clignotant, from the notification embedded in its alert.
std::string issued_date(const v1::Alert& a) {
  if (!a.has_notification() || !a.notification().notification().has_sppis_clignotant()) return {};
  const auto& d = a.notification().notification().sppis_clignotant().issued_date();
  return std::regex_match(d, kDate) ? d : std::string{};
}

// Links a newly stored SPP IS clignotant to the early signal that announced the same fact
// (docs/clignotants.md, "Matching"): same CPAS, same SSIN, an early-signal type that the
// clignotant's type maps to (data/refdata/sppis_clignotant_types.csv), the early signal's
// effective date within the clignotant's period widened by `window` days, not linked yet; the
// earliest raised wins. Both rows get the link; the clignotant gets lead_days (its issued day
// minus the early signal's raised day, UTC) and the early signal's notes, follow-up and proposed
// reaction code when it has none of its own.
// Returns lead_days when linked.
std::optional<long long> link(pg::Connection& conn, const std::string& alert_id,
                              const std::string& type, int window) {
  const auto t = refdata::sppis_clignotant_type(type);
  if (!t || t->early_signal_types.empty()) return std::nullopt;
  std::string types = "{";
  for (std::size_t i = 0; i < t->early_signal_types.size(); ++i) {
    if (i) types.push_back(',');
    types.append(t->early_signal_types[i]);
  }
  types.push_back('}');
  // An early signal's effective date may be incomplete ("2024-05-00", "2024-00-00": migration
  // 0010): it stands for the days it may designate, and overlaps when any of them does.
  auto r = conn.exec(
      "WITH c AS (SELECT alert_id, cpas_cbe, ssin, effective_date::date AS first_day, "
      "coalesce(period_end, effective_date::date) AS last_day FROM alerts "
      "WHERE alert_id = $1::uuid AND linked_alert_id IS NULL), "
      "e AS (SELECT a.alert_id, a.raised_at, a.notes, a.follow_up, a.proposed_code "
      "FROM alerts a, c "
      "WHERE a.kind = 'EARLY_SIGNAL' AND a.linked_alert_id IS NULL AND a.cpas_cbe = c.cpas_cbe "
      "AND a.ssin = c.ssin AND a.type = ANY($2::text[]) "
      "AND CASE WHEN substr(a.effective_date, 6, 2) = '00' "
      "  THEN (substr(a.effective_date, 1, 4) || '-01-01')::date "
      "  WHEN substr(a.effective_date, 9, 2) = '00' THEN (substr(a.effective_date, 1, 7) || "
      "'-01')::date "
      "  ELSE a.effective_date::date END <= c.last_day + $3::int "
      "AND CASE WHEN substr(a.effective_date, 6, 2) = '00' "
      "  THEN (substr(a.effective_date, 1, 4) || '-12-31')::date "
      "  WHEN substr(a.effective_date, 9, 2) = '00' "
      "  THEN ((substr(a.effective_date, 1, 7) || '-01')::date + interval '1 month' - interval '1 "
      "day')::date "
      "  ELSE a.effective_date::date END >= c.first_day - $3::int "
      "ORDER BY a.raised_at, a.seq LIMIT 1 FOR UPDATE OF a), "
      "l AS (UPDATE alerts a SET linked_alert_id = $1::uuid, updated_at = now() FROM e "
      "WHERE a.alert_id = e.alert_id "
      "RETURNING a.alert_id, e.raised_at, e.notes, e.follow_up, e.proposed_code) "
      "UPDATE alerts x SET linked_alert_id = l.alert_id, "
      "lead_days = coalesce(x.issued_date, (x.raised_at AT TIME ZONE 'UTC')::date) "
      "- (l.raised_at AT TIME ZONE 'UTC')::date, notes = coalesce(x.notes, l.notes), "
      "follow_up = CASE WHEN x.follow_up = 'NONE' THEN l.follow_up ELSE x.follow_up END, "
      "proposed_code = coalesce(x.proposed_code, l.proposed_code), "
      "updated_at = now() FROM l WHERE x.alert_id = $1::uuid RETURNING x.lead_days",
      {alert_id, types, std::to_string(window)});
  if (r.rows() == 0 || r.is_null(0, 0)) return std::nullopt;
  return r.integer(0, 0);
}

// Checks what PostgreSQL's column types would refuse, so that one bad record
// cannot block the batch (it is counted and skipped, never retried forever).
bool storable(const v1::Alert& a) {
  const bool sppis = a.kind() == kSppisKind;
  if (!(a.kind().empty() || a.kind() == kEarlyKind || sppis)) return false;
  if (sppis != !a.sppis_id().empty()) return false;
  if (!a.period_end().empty() && !std::regex_match(a.period_end(), kDate)) return false;
  return std::regex_match(a.alert_id(), kUuid) && std::regex_match(a.cpas_cbe(), kCbe) &&
         std::regex_match(a.ssin(), kSsin) && !a.type().empty() && !a.rule_id().empty() &&
         !a.ticket().empty() && !codec::flow_id(a.flow()).empty() &&
         (a.effective_date().empty() || std::regex_match(a.effective_date(), kDate)) &&
         (a.due_date().empty() || std::regex_match(a.due_date(), kDate)) && a.raised_at_us() > 0;
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
      // In seconds, Prometheus's base unit (promtool refuses a "_days" name): lead_days x 86400.
      lead_days_(m.histogram("relais_api_clignotant_lead_seconds",
                             "Time by which an early signal preceded the SPP IS clignotant it was "
                             "linked to (whole days, in seconds)",
                             {},
                             {0, 86400, 7 * 86400, 14 * 86400, 30 * 86400, 60 * 86400, 90 * 86400,
                              180 * 86400, 365 * 86400, 730 * 86400})
                     .with({})),
      match_window_days_(o.match_window_days),
      sink_(
          o.options("alert-store", m),
          [this](pg::Connection& c, const sink::Batch& b) { write(c, b); },
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
    copy_field(rows, sink::source_of(m));
    copy_field(rows, a.kind().empty() ? kEarlyKind : a.kind());
    copy_field(rows, a.sppis_id());  // empty: NULL
    copy_field(rows, a.period_end());
    copy_field(rows, issued_date(a), true);
  }
  std::map<std::string, long long> by_type;
  std::vector<double> leads;
  long long inserted = 0;
  if (!rows.empty()) {
    conn.exec(
        "CREATE TEMP TABLE IF NOT EXISTS alerts_in (alert_id uuid, cpas_cbe text, type text, "
        "severity text, rule_id text, ssin text, ticket text, flow text, event text, "
        "effective_date text, "
        "quality_codes int[], deadline_days int, description text, raised_at timestamptz, due_date "
        "date, "
        "notification jsonb, source text, kind text, sppis_id text, period_end date, issued_date "
        "date) ON COMMIT DELETE ROWS");
    conn.copy_in("COPY alerts_in FROM STDIN", std::move(rows));
    // DISTINCT ON: the same alert twice in one batch (a replayed record) is one row.
    auto r = conn.exec(
        "INSERT INTO alerts (alert_id, cpas_cbe, type, severity, rule_id, ssin, ticket, flow, "
        "event, "
        "effective_date, quality_codes, deadline_days, description, raised_at, due_date, "
        "notification, source, kind, sppis_id, period_end, issued_date) "
        "SELECT DISTINCT ON (alert_id) alert_id, cpas_cbe, type, severity, rule_id, ssin, ticket, "
        "flow, event, "
        "effective_date, quality_codes, deadline_days, description, raised_at, due_date, "
        "notification, source, kind, sppis_id, period_end, issued_date "
        "FROM alerts_in ORDER BY alert_id "
        // No conflict target: a repeat of an SPP IS identifier under another alert id (another
        // ticket or CPAS) is dropped by alerts_sppis_id like a repeated alert id.
        "ON CONFLICT DO NOTHING RETURNING type, kind, alert_id::text");
    for (int i = 0; i < r.rows(); ++i) ++by_type[r.str(i, 0)];
    inserted = r.rows();
    // In the same transaction: early signals stored in this batch are there already.
    for (int i = 0; i < r.rows(); ++i) {
      if (r.get(i, 1) != kSppisKind) continue;
      if (auto lead = link(conn, r.str(i, 2), r.str(i, 0), match_window_days_))
        leads.push_back(static_cast<double>(*lead));
    }
  }
  // Counted before the commit: if the commit itself fails, the retry counts the batch again
  // (metrics only; the rows are inserted once).
  for (const auto& [type, n] : by_type) stored_.with({type}).inc(static_cast<double>(n));
  auto good = static_cast<long long>(batch.size() - bad);
  if (good > inserted) duplicates_.inc(static_cast<double>(good - inserted));
  if (bad) undecodable_.inc(static_cast<double>(bad));
  for (double d : leads) lead_days_.observe(d * 86400);
  if (inserted) logger.debug("alerts stored", {{"stored", inserted}, {"records", batch.size()}});
}

}  // namespace relais::api
