#include "relais/ctl/queries.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>

#include "relais/outbox/store.hpp"
#include "relais/validation/date.hpp"
#include "relais/validation/ids.hpp"

namespace relais::ctl {
namespace json = boost::json;

bool is_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

bool is_timestamp(const std::string& s) {
  return validation::is_valid_rfc3339(s) ||
         (s.size() == 10 && validation::parse_iso_date(s).has_value());
}

std::string render_table(const Rows& r) {
  std::vector<std::size_t> w(r.columns.size());
  for (std::size_t c = 0; c < r.columns.size(); ++c) w[c] = r.columns[c].size();
  for (const auto& row : r.rows)
    for (std::size_t c = 0; c < row.size(); ++c) w[c] = std::max(w[c], row[c] ? row[c]->size() : 0);
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t c = 0; c < cells.size(); ++c) {
      out += cells[c];
      if (c + 1 < cells.size()) out.append(w[c] - cells[c].size() + 2, ' ');
    }
    out += '\n';
  };
  line(r.columns);
  for (const auto& row : r.rows) {
    std::vector<std::string> cells;
    cells.reserve(row.size());
    for (const auto& v : row) cells.push_back(v.value_or(""));
    line(cells);
  }
  return out;
}

std::string render_json(const Rows& r) {
  json::array a;
  for (const auto& row : r.rows) {
    json::object o;
    for (std::size_t c = 0; c < row.size(); ++c)
      o[r.columns[c]] = row[c] ? json::value(*row[c]) : json::value(nullptr);
    a.push_back(std::move(o));
  }
  return json::serialize(a);
}

namespace {

Rows to_rows(const pg::Result& res, std::vector<std::string> columns) {
  Rows r;
  r.columns = std::move(columns);
  for (int i = 0; i < res.rows(); ++i) {
    std::vector<std::optional<std::string>> row;
    row.reserve(static_cast<std::size_t>(res.columns()));
    for (int c = 0; c < res.columns(); ++c)
      row.push_back(res.is_null(i, c) ? std::nullopt : std::optional<std::string>(res.str(i, c)));
    r.rows.push_back(std::move(row));
  }
  return r;
}

pg::Param opt(const std::optional<std::string>& v) {
  return v ? pg::Param(*v) : std::nullopt;
}

}  // namespace

std::optional<std::string> validate(const JournalQuery& q) {
  if (q.ticket && !validation::is_valid_ticket(*q.ticket))
    return "--ticket: not a UUID: " + *q.ticket;
  if (q.ssin)
    if (auto e = validation::validate_ssin(*q.ssin, "ssin")) return "--ssin: " + e->message;
  if (q.cpas)
    if (auto e = validation::validate_cbe(*q.cpas, "cpas")) return "--cpas: " + e->message;
  if (q.since && !is_timestamp(*q.since))
    return "--since: not an RFC 3339 timestamp or YYYY-MM-DD: " + *q.since;
  if (q.until && !is_timestamp(*q.until))
    return "--until: not an RFC 3339 timestamp or YYYY-MM-DD: " + *q.until;
  static const std::vector<std::string> kinds{"accepted",  "routed",      "dropped",
                                              "duplicate", "dead_letter", "alert"};
  if (q.kind && std::find(kinds.begin(), kinds.end(), *q.kind) == kinds.end())
    return "--kind: one of accepted, routed, dropped, duplicate, dead_letter, alert";
  if (q.limit < 1 || q.limit > 100000) return "--limit: between 1 and 100000";
  return std::nullopt;
}

Rows query_journal(pg::Connection& db, const JournalQuery& q) {
  std::optional<std::string> ticket =
      q.ticket ? std::optional(validation::normalize_ticket(*q.ticket)) : std::nullopt;
  auto res = db.exec(
      "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), kind, ticket, "
      "ssin, flow, event, "
      "effective_date::text, cpas_cbe, quality_code::text, reason, source "
      "FROM journal WHERE ($1::text IS NULL OR ticket = $1) AND ($2::text IS NULL OR ssin = $2) "
      "AND ($3::text IS NULL OR cpas_cbe = $3) AND ($4::timestamptz IS NULL OR at >= $4) "
      "AND ($5::timestamptz IS NULL OR at < $5) AND ($6::text IS NULL OR kind = $6) "
      // Newest first; at one time the acceptance last (the journal sink copies a batch's rows
      // by CPAS: the row that carries it may be any of the notification's outcomes), and within
      // one row its alerts before its routing.
      "ORDER BY at DESC, kind = 'accepted', id DESC, "
      "CASE kind WHEN 'accepted' THEN 0 WHEN 'alert' THEN 2 ELSE 1 END DESC LIMIT $7",
      {opt(ticket), opt(q.ssin), opt(q.cpas), opt(q.since), opt(q.until), opt(q.kind),
       std::to_string(q.limit)});
  return to_rows(res, {"at", "kind", "ticket", "ssin", "flow", "event", "effective_date", "cpas",
                       "quality_code", "reason", "source"});
}

std::optional<std::string> validate(const ReactionQuery& q) {
  if (q.cpas)
    if (auto e = validation::validate_cbe(*q.cpas, "cpas")) return "--cpas: " + e->message;
  if (q.status && *q.status != "PENDING" && *q.status != "FAILING" && *q.status != "FAILED" &&
      *q.status != "SENT")
    return "--status: one of PENDING, FAILING, FAILED, SENT";
  if (q.limit < 1 || q.limit > 100000) return "--limit: between 1 and 100000";
  return std::nullopt;
}

Rows query_reactions(pg::Connection& db, const ReactionQuery& q) {
  auto res = db.exec(
      "SELECT r.id::text, r.cpas_cbe, r.alert_id::text, r.code, r.delivery_status, "
      "r.attempts::text, "
      "to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
      "(SELECT string_agg(o.destination || ':' || o.status || CASE WHEN o.status = 'pending' THEN "
      "   '@' || to_char(o.next_attempt_at AT TIME ZONE 'UTC', 'HH24:MI:SS') ELSE '' END, ' ' "
      "ORDER BY o.destination) "
      " FROM outbox o WHERE o.reaction_id = r.id), "
      "(SELECT a.outcome FROM reaction_attempts a WHERE a.reaction_id = r.id ORDER BY a.at DESC, "
      "a.id DESC LIMIT 1), "
      "r.last_error "
      "FROM reactions r WHERE ($1::text IS NULL OR r.cpas_cbe = $1) AND ($2::text IS NULL OR "
      "r.delivery_status = $2) "
      "ORDER BY r.created_at DESC LIMIT $3",
      {opt(q.cpas), opt(q.status), std::to_string(q.limit)});
  return to_rows(res, {"reaction", "cpas", "alert", "code", "status", "attempts", "created",
                       "outbox", "last_outcome", "last_error"});
}

long long retry_reactions(pg::Connection& db, const std::string& reaction_id) {
  return outbox::retry_now(db, reaction_id);
}

Rows audit_replacements(pg::Connection& db, const ReplacementAudit& q) {
  auto res = db.exec(
      "SELECT r.old_ssin, r.new_ssin, r.source, r.recorded_by, "
      "to_char(r.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
      "r.needs_review::text, "
      "r.conflicting_ssin, "
      "(SELECT string_agg(DISTINCT i.cbe, ',') FROM integrations i WHERE i.ssin = r.old_ssin), "
      "(SELECT string_agg(DISTINCT i.cbe, ',') FROM integrations i WHERE i.ssin = r.new_ssin), "
      "r.reason "
      "FROM ssin_replacements r WHERE r.active AND ($1::bool OR r.needs_review) "
      "ORDER BY r.recorded_at, r.old_ssin LIMIT $2",
      {q.all ? "true" : "false", std::to_string(q.limit)});
  return to_rows(res, {"old_ssin", "new_ssin", "source", "recorded_by", "recorded_at",
                       "needs_review", "register_says", "cpas_old", "cpas_new", "reason"});
}

bool review_replacement(pg::Connection& db, ReviewAction action, const std::string& old_ssin,
                        const std::string& actor, const std::string& reason) {
  auto res =
      action == ReviewAction::confirm
          ? db.exec(
                "UPDATE ssin_replacements SET needs_review = false, conflicting_ssin = NULL, "
                "updated_by = $2, reason = $3 WHERE old_ssin = $1 AND active AND needs_review",
                {old_ssin, actor, reason})
          : db.exec(
                "UPDATE ssin_replacements SET active = false, needs_review = false, updated_by = "
                "$2, "
                "reason = $3 WHERE old_ssin = $1 AND active",
                {old_ssin, actor, reason});
  return res.affected() == 1;
}

}  // namespace relais::ctl
