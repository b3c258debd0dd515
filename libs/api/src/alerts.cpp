#include "relais/api/alerts.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <regex>

#include "handlers.hpp"
#include "relais/alerts/backlog.hpp"
#include "relais/api/backlog.hpp"
#include "relais/api/service.hpp"
#include "relais/codec/encode.hpp"
#include "relais/common/log.hpp"
#include "relais/labels/labels.hpp"
#include "relais/outbox/store.hpp"
#include "relais/v1/records.pb.h"
#include "relais/validation/date.hpp"
#include "relais/validation/ids.hpp"

namespace relais::api {
namespace asio = boost::asio;
namespace json = boost::json;
namespace {
const log::Logger logger{"alerts"};

// NOLINTNEXTLINE(cert-err58-cpp): a constant, valid pattern; the unit tests construct it
const std::regex kType("^[A-Z][A-Z0-9_]{0,63}$");
// NOLINTNEXTLINE(cert-err58-cpp): a constant, valid pattern; the unit tests construct it
const std::regex kUuid(
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");

using detail::bad;
using detail::check_cbe;
using detail::reply;

// The same refusal as outbox::record_reaction's.
Problem alert_not_found() {
  return problem(errc::not_found, "ALERT_NOT_FOUND", "no such alert for this CPAS", "id");
}

#define RELAIS_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

// NOLINTNEXTLINE(cert-err58-cpp): a constant built at start-up, before any request
const std::string kAlertCols =
    "a.alert_id::text, a.seq, a.cpas_cbe, a.type, a.severity, a.rule_id, a.ssin, a.ticket, a.flow, a.event, "
    "a.effective_date::text, array_to_json(a.quality_codes)::text, a.deadline_days, a.description, " RELAIS_TS("a.raised_at")
    ", a.due_date::text, a.status, (a.status = 'OPEN' AND a.due_date < current_date), " RELAIS_TS("a.updated_at")
    ", (SELECT r.delivery_status FROM reactions r WHERE r.alert_id = a.alert_id ORDER BY r.seq DESC LIMIT 1)"
    ", a.kind, a.sppis_id, a.period_end::text, a.issued_date::text, a.linked_alert_id::text, a.lead_days, a.notes";

json::value text_or_null(const pg::Result& r, int i, int c) {
  return r.is_null(i, c) ? json::value(nullptr) : json::value(r.str(i, c));
}

json::object alert_json(const pg::Result& r, int i, labels::Lang lang) {
  return json::object{
      {"type_label", labels::builtin().get("alert_types", r.str(i, 3), lang, r.str(i, 3))},
      {"alert_id", r.str(i, 0)},
      {"cpas_cbe", r.str(i, 2)},
      {"type", r.str(i, 3)},
      {"severity", r.str(i, 4)},
      {"rule_id", r.str(i, 5)},
      {"ssin", r.str(i, 6)},
      {"ticket", r.str(i, 7)},
      {"flow", r.str(i, 8)},
      {"event", text_or_null(r, i, 9)},
      {"effective_date", text_or_null(r, i, 10)},
      {"quality_codes", json::parse(r.str(i, 11))},
      {"deadline_days", r.is_null(i, 12) ? json::value(nullptr) : json::value(r.integer(i, 12))},
      {"description", text_or_null(r, i, 13)},
      {"raised_at", r.str(i, 14)},
      {"due_date", text_or_null(r, i, 15)},
      {"status", r.str(i, 16)},
      {"overdue", r.get(i, 17) == "t"},
      {"updated_at", r.str(i, 18)},
      {"delivery_status", text_or_null(r, i, 19)},
      {"kind", r.str(i, 20)},
      {"sppis_id", text_or_null(r, i, 21)},
      {"period_end", text_or_null(r, i, 22)},
      {"issued_date", text_or_null(r, i, 23)},
      {"linked_alert_id", text_or_null(r, i, 24)},
      {"lead_days", r.is_null(i, 25) ? json::value(nullptr) : json::value(r.integer(i, 25))},
      {"notes", text_or_null(r, i, 26)}};
}

// The column after kAlertCols.
constexpr int kAfterAlertCols = 27;

std::optional<Problem> check_id(const http::Request& req) {
  auto it = req.params.find("id");
  if (it == req.params.end() || !std::regex_match(it->second, kUuid))
    return bad("INVALID_ALERT_ID", "an alert id is a UUID", "id");
  return std::nullopt;
}

// A JSON object body with only `known` keys: the refusals of every JSON route of this file.
std::optional<Problem> json_object_body(const http::Request& req, json::value& v,
                                        std::initializer_list<std::string_view> known,
                                        const char* known_text) {
  boost::system::error_code ec;
  v = json::parse(req.body, ec);
  if (ec || !v.is_object()) return bad("MALFORMED_JSON", "expected a JSON object", "");
  for (const auto& kv : v.as_object())
    if (std::find(known.begin(), known.end(), kv.key()) == known.end())
      return bad("UNKNOWN_FIELD", std::string("unknown field (") + known_text + ")", kv.key());
  return std::nullopt;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

std::optional<Problem> check_reaction_code(const alerts::ReactionCodes& codes,
                                           std::string_view code, std::string_view today) {
  const auto* c = codes.find(code);
  std::string valid;
  for (const auto& k : codes.codes)
    if (k.valid_on(today)) valid += (valid.empty() ? "" : ", ") + k.code;
  if (!c)
    return bad("INVALID_REACTION_CODE", "unknown reaction code; valid codes: " + valid, "code");
  if (!c->valid_on(today))
    return bad("REACTION_CODE_NOT_VALID",
               "reaction code " + c->code + " is " + c->validity_text() + ", not on " +
                   std::string(today) + "; valid codes: " + valid,
               "code");
  return std::nullopt;
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

AlertsService::AlertsService(AlertsOptions o, pg::Pool& pool, metrics::Registry& m,
                             std::function<void()> on_reaction)
    : o_(std::move(o)),
      pool_(pool),
      on_reaction_(std::move(on_reaction)),
      reactions_(
          m.counter("relais_api_reactions_total", "Reaction requests by result", {"result"})) {}

void AlertsService::add_routes(RouteTable& t) {
  using http::verb;
  using P = Policy;
  auto h = [this](auto fn) {
    return [this, fn](http::Request& q, const Caller& c) { return (this->*fn)(q, c); };
  };
  t.add({verb::get, "/v1/cpas/{cbe}/alerts", P::cpas}, h(&AlertsService::list_alerts));
  t.add({verb::get, "/v1/cpas/{cbe}/alerts/{id}", P::cpas, SsinFrom::response_body},
        h(&AlertsService::get_alert));
  t.add({verb::post, "/v1/cpas/{cbe}/alerts/{id}/reaction", P::cpas, SsinFrom::alert},
        h(&AlertsService::post_reaction));
  t.add({verb::put, "/v1/cpas/{cbe}/alerts/{id}/notes", P::cpas, SsinFrom::alert},
        h(&AlertsService::put_notes));
  t.add({verb::get, "/v1/cpas/{cbe}/clignotants/backlog", P::cpas}, h(&AlertsService::backlog));
  t.add({verb::get, "/v1/reaction-codes", P::authenticated}, h(&AlertsService::reaction_codes));
  t.add({verb::get, "/v1/labels", P::authenticated}, h(&AlertsService::labels));
}

asio::awaitable<Reply> AlertsService::labels(http::Request& req, const Caller&) {
  const auto lang = labels::negotiate(req.headers["Accept-Language"]);
  json::object out{{"lang", labels::name(lang)}};
  for (const auto& [section, entries] : labels::builtin().sections) {
    json::object sec;
    for (const auto& [key, texts] : entries) sec[key] = texts[static_cast<int>(lang)];
    out[section] = std::move(sec);
  }
  json::object codes;
  for (const auto& c : o_.codes.codes) codes[c.code] = c.label(labels::name(lang));
  out["reaction_codes"] = std::move(codes);
  http::Response resp;
  resp.body = json::serialize(out);
  co_return resp;
}

// The social worker's notes on an alert (replaced as a whole; null clears them). Carried over
// from an early signal to the SPP IS clignotant it is linked to (alert store).
asio::awaitable<Reply> AlertsService::put_notes(http::Request& req, const Caller& /*caller*/) {
  if (auto e = check_cbe(req)) co_return *e;
  if (auto e = check_id(req)) co_return *e;
  if (req.content_type() != "application/json")
    co_return detail::unsupported_media_type("application/json");
  json::value v;
  if (auto e = json_object_body(req, v, {"notes"}, "notes")) co_return *e;
  const auto& o = v.as_object();
  auto* n = o.if_contains("notes");
  if (!n) co_return bad("MISSING_FIELD", "notes is required (null clears them)", "notes");
  std::optional<std::string> notes;
  if (!n->is_null()) {
    if (!n->is_string()) co_return bad("WRONG_TYPE", "expected a string or null", "notes");
    if (utf8_length(n->as_string()) > o_.notes_max_chars)
      co_return bad("FIELD_TOO_LONG",
                    "at most " + std::to_string(o_.notes_max_chars) + " characters", "notes");
    notes = std::string(n->as_string());
  }
  std::string cbe = req.params["cbe"], id = lower(req.params["id"]);
  const auto lang = labels::negotiate(req.headers["Accept-Language"]);
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job = [cbe, id, notes, lang](pg::Connection& c) {
    auto r = c.exec(
        "UPDATE alerts a SET notes = $3, updated_at = now() WHERE a.alert_id = $1::uuid AND "
        "a.cpas_cbe = $2 RETURNING " +
            kAlertCols,
        {id, cbe, notes});
    if (r.rows() == 0) return Reply(alert_not_found());
    return Reply(reply(200, alert_json(r, 0, lang)));
  };
  co_return co_await pool_.run<Reply>(std::move(job));
}

// GET /v1/cpas/{cbe}/clignotants/backlog?as_of=YYYY-MM-DD[&format=json|csv]: the CPAS's SPP IS
// clignotants without a reaction on that day (alerts::backlog).
asio::awaitable<Reply> AlertsService::backlog(http::Request& req, const Caller& /*caller*/) {
  if (auto e = check_cbe(req)) co_return *e;
  for (const auto& [k, v] : req.query)
    if (k != "as_of" && k != "format")
      co_return bad("UNKNOWN_PARAMETER", "known parameters: as_of, format", k);
  auto as_of_text = req.query_param("as_of");
  if (!as_of_text) co_return bad("MISSING_PARAMETER", "as_of (YYYY-MM-DD) is required", "as_of");
  auto as_of = validation::parse_iso_date(*as_of_text);
  if (!as_of) co_return bad("INVALID_DATE", "as_of is a YYYY-MM-DD date", "as_of");
  bool csv = false;
  if (auto f = req.query_param("format")) {
    if (*f != "json" && *f != "csv")
      co_return bad("INVALID_FORMAT", "format is json or csv", "format");
    csv = *f == "csv";
  }
  std::string cbe = req.params["cbe"];
  const validation::Date day = *as_of;
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job = [cbe, day, csv](pg::Connection& c) {
    if (c.exec("SELECT 1 FROM cpas WHERE cbe = $1", {cbe}).rows() == 0)
      return Reply(detail::cpas_not_found());
    auto rows = load_backlog_rows(c, cbe, day);
    auto b = alerts::backlog(cbe, day, rows);
    http::Response resp;
    if (csv) {
      resp.body = alerts::backlog_csv(b);
      resp.content_type = "text/csv; charset=utf-8";
    } else {
      resp.body = alerts::backlog_json(b);
    }
    return Reply(std::move(resp));
  };
  co_return co_await pool_.run<Reply>(std::move(job));
}

asio::awaitable<Reply> AlertsService::reaction_codes(http::Request& req, const Caller&) {
  const auto lang = labels::negotiate(req.headers["Accept-Language"]);
  json::array a;
  for (const auto& c : o_.codes.codes)
    a.push_back(json::object{
        {"code", c.code},
        {"label", c.label(labels::name(lang))},
        {"description", c.description},
        {"labels", json::object{{"fr", c.label_fr}, {"nl", c.label_nl}, {"de", c.label_de}}},
        {"valid_from", c.valid_from.empty() ? json::value(nullptr) : json::value(c.valid_from)},
        {"valid_to", c.valid_to.empty() ? json::value(nullptr) : json::value(c.valid_to)}});
  http::Response resp;
  resp.body = json::serialize(json::object{{"reaction_codes", std::move(a)}});
  co_return resp;
}

asio::awaitable<Reply> AlertsService::list_alerts(http::Request& req, const Caller& /*caller*/) {
  if (auto e = check_cbe(req)) co_return *e;
  for (const auto& [k, v] : req.query)
    if (k != "status" && k != "type" && k != "overdue" && k != "limit" && k != "after")
      co_return bad("UNKNOWN_PARAMETER", "known parameters: status, type, overdue, limit, after",
                    k);
  std::optional<std::string> status, type, overdue;
  if (auto s = req.query_param("status")) {
    if (*s != "OPEN" && *s != "REACTED" && *s != "SENT")
      co_return bad("INVALID_STATUS", "status is OPEN, REACTED or SENT", "status");
    status = std::string(*s);
  }
  if (auto t = req.query_param("type")) {
    if (!std::regex_match(std::string(*t), kType))
      co_return bad("INVALID_TYPE", "an alert type is upper case letters, digits and _", "type");
    type = std::string(*t);
  }
  if (auto o = req.query_param("overdue")) {
    if (*o != "true" && *o != "false")
      co_return bad("INVALID_OVERDUE", "overdue is true or false", "overdue");
    overdue = std::string(*o);
  }
  std::size_t limit = o_.list_limit_default;
  if (auto l = req.query_param("limit")) {
    auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
    if (ec != std::errc{} || p != l->data() + l->size() || limit == 0 || limit > o_.list_limit_max)
      co_return bad("INVALID_LIMIT",
                    "limit must be between 1 and " + std::to_string(o_.list_limit_max), "limit");
  }
  std::string after = "0";
  if (auto a = req.query_param("after")) {
    long long v = 0;
    auto [p, ec] = std::from_chars(a->data(), a->data() + a->size(), v);
    if (ec != std::errc{} || p != a->data() + a->size() || v < 0)
      co_return bad("INVALID_CURSOR", "after is the next_after of a previous page", "after");
    after = std::to_string(v);
  }
  std::string cbe = req.params["cbe"];
  const auto lang = labels::negotiate(req.headers["Accept-Language"]);
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job = [cbe, status, type, overdue, limit, after, lang](pg::Connection& c) {
    if (c.exec("SELECT 1 FROM cpas WHERE cbe = $1", {cbe}).rows() == 0)
      return Reply(detail::cpas_not_found());
    auto r =
        c.exec("SELECT " + kAlertCols +
                   " FROM alerts a WHERE a.cpas_cbe = $1 AND ($2::text IS NULL OR a.status = $2) "
                   "AND ($3::text IS NULL OR a.type = $3) "
                   "AND ($4::boolean IS NULL OR (a.status = 'OPEN' AND a.due_date < current_date) "
                   "= $4::boolean) "
                   "AND a.seq > $5::bigint ORDER BY a.seq LIMIT $6",
               {cbe, status, type, overdue, after, std::to_string(limit)});
    json::array a;
    for (int i = 0; i < r.rows(); ++i) a.push_back(alert_json(r, i, lang));
    json::object o{{"alerts", std::move(a)}};
    if (static_cast<std::size_t>(r.rows()) == limit) o["next_after"] = r.integer(r.rows() - 1, 1);
    return Reply(reply(200, o));
  };
  co_return co_await pool_.run<Reply>(std::move(job));
}

asio::awaitable<Reply> AlertsService::get_alert(http::Request& req, const Caller& /*caller*/) {
  if (auto e = check_cbe(req)) co_return *e;
  if (auto e = check_id(req)) co_return *e;
  std::string cbe = req.params["cbe"], id = lower(req.params["id"]);
  const auto lang = labels::negotiate(req.headers["Accept-Language"]);
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job = [cbe, id, lang](pg::Connection& c) {
    auto r = c.exec(
        "SELECT " + kAlertCols +
            ", a.notification::text FROM alerts a WHERE a.alert_id = $1::uuid AND a.cpas_cbe = $2",
        {id, cbe});
    if (r.rows() == 0) return Reply(alert_not_found());
    auto o = alert_json(r, 0, lang);
    o["notification"] = r.is_null(0, kAfterAlertCols) ? json::value(nullptr)
                                                      : json::parse(r.str(0, kAfterAlertCols));
    // The alert it is linked to (an early signal's clignotant, a clignotant's early signal).
    if (!r.is_null(0, 24)) {
      auto l = c.exec("SELECT " + kAlertCols + " FROM alerts a WHERE a.alert_id = $1::uuid",
                      {r.str(0, 24)});
      if (l.rows() == 1) o["linked_alert"] = alert_json(l, 0, lang);
    }
    auto rs = c.exec(
        "SELECT r.id::text, r.seq, r.code, r.comment, r.amendment, r.actor, " RELAIS_TS("r.created_at") ", "
        "r.delivery_status, r.attempts, r.last_error, " RELAIS_TS("r.sent_at") ", "
        "(SELECT json_agg(json_build_object('destination', d.destination, 'status', d.status, 'attempts', d.attempts, "
        "  'next_attempt_at', " RELAIS_TS("d.next_attempt_at") ", 'last_error', d.last_error, "
        "  'done_at', " RELAIS_TS("d.done_at") ") ORDER BY d.destination) FROM outbox d WHERE d.reaction_id = r.id)::text "
        "FROM reactions r WHERE r.alert_id = $1::uuid ORDER BY r.seq",
        {id});
    json::array reactions;
    for (int i = 0; i < rs.rows(); ++i)
      reactions.push_back(
          json::object{{"reaction_id", rs.str(i, 0)},
                       {"sequence", rs.integer(i, 1)},
                       {"code", rs.str(i, 2)},
                       {"comment", text_or_null(rs, i, 3)},
                       {"amendment", rs.get(i, 4) == "t"},
                       {"actor", rs.str(i, 5)},
                       {"created_at", rs.str(i, 6)},
                       {"delivery_status", rs.str(i, 7)},
                       {"attempts", rs.integer(i, 8)},
                       {"last_error", text_or_null(rs, i, 9)},
                       {"sent_at", text_or_null(rs, i, 10)},
                       {"idempotency_key", rs.str(i, 0)},
                       {"deliveries", rs.is_null(i, 11) ? json::value(json::array{})
                                                        : json::parse(rs.str(i, 11))}});
    o["reactions"] = std::move(reactions);
    return Reply(reply(200, o));
  };
  co_return co_await pool_.run<Reply>(std::move(job));
}

asio::awaitable<Reply> AlertsService::post_reaction(http::Request& req, const Caller& caller) {
  if (auto e = check_cbe(req)) co_return *e;
  if (auto e = check_id(req)) co_return *e;
  if (req.content_type() != "application/json")
    co_return detail::unsupported_media_type("application/json");
  json::value v;
  if (auto e =
          json_object_body(req, v, {"code", "comment", "amendment"}, "code, comment, amendment")) {
    reactions_.with({"invalid"}).inc();
    co_return *e;
  }
  const auto& o = v.as_object();
  auto* code = o.if_contains("code");
  if (!code || code->is_null()) {
    reactions_.with({"invalid"}).inc();
    co_return bad("MISSING_FIELD", "code is required", "code");
  }
  if (!code->is_string()) {
    reactions_.with({"invalid"}).inc();
    co_return bad("WRONG_TYPE", "expected a string", "code");
  }
  if (auto refused = check_reaction_code(o_.codes, code->as_string(),
                                         validation::to_string(validation::today_utc()))) {
    reactions_.with({"invalid_code"}).inc();
    co_return *refused;
  }
  std::optional<std::string> comment;
  if (auto* c = o.if_contains("comment"); c && !c->is_null()) {
    if (!c->is_string()) {
      reactions_.with({"invalid"}).inc();
      co_return bad("WRONG_TYPE", "expected a string", "comment");
    }
    if (utf8_length(c->as_string()) > o_.comment_max_chars) {
      reactions_.with({"invalid"}).inc();
      co_return bad("FIELD_TOO_LONG",
                    "at most " + std::to_string(o_.comment_max_chars) + " characters", "comment");
    }
    comment = std::string(c->as_string());
  }
  bool amendment = false;
  if (auto* a = o.if_contains("amendment"); a && !a->is_null()) {
    if (!a->is_bool()) {
      reactions_.with({"invalid"}).inc();
      co_return bad("WRONG_TYPE", "expected true or false", "amendment");
    }
    amendment = a->as_bool();
  }
  std::string cbe = req.params["cbe"], id = lower(req.params["id"]), actor = caller.actor,
              cd(code->as_string());
  outbox::NewReaction n{id, cbe, cd, comment, amendment, actor, o_.destinations};
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job = [n](pg::Connection& c) -> Reply {
    // Only SPP IS's clignotants are reacted to: an early signal is Relais's own and SPP IS could
    // not match a reaction to it (docs/clignotants.md, "Reactions only on SPP IS clignotants").
    // The kind never changes, so reading it before record_reaction's transaction is safe.
    auto k = c.exec(
        "SELECT kind, coalesce(sppis_id, ''), linked_alert_id::text FROM alerts "
        "WHERE alert_id = $1::uuid AND cpas_cbe = $2",
        {n.alert_id, n.cbe});
    if (k.rows() == 0) return alert_not_found();
    if (k.get(0, 0) != "SPPIS_CLIGNOTANT") {
      auto p =
          problem(errc::conflict, "EARLY_SIGNAL_NOT_REACTABLE",
                  "this alert is an early signal raised by Relais, unknown to SPP IS: react to "
                  "the SPP IS clignotant it is linked to when that arrives",
                  "id");
      p.extra["kind"] = "EARLY_SIGNAL";
      p.extra["linked_alert_id"] =
          k.is_null(0, 2) ? json::value(nullptr) : json::value(k.str(0, 2));
      return p;
    }
    const std::string sppis_id = k.str(0, 1);
    // The AlertReaction of the outbox rows (PCSAAAlertReaction upstream and the CPAS's topic).
    auto payload = [&n, &sppis_id](const outbox::RecordedReaction& r) {
      v1::AlertReaction m;
      m.set_reaction_id(r.reaction_id);
      m.set_alert_id(n.alert_id);
      m.set_cpas_cbe(n.cbe);
      m.set_alert_type(r.alert_type);
      m.set_ssin(r.ssin);
      m.set_ticket(r.ticket);
      m.set_code(n.code);
      if (n.comment) m.set_comment(*n.comment);
      m.set_amendment(r.sequence > 1);
      m.set_sequence(r.sequence);
      m.set_actor(n.actor);
      m.set_reacted_at_us(r.reacted_at_us);
      m.set_idempotency_key(r.reaction_id);
      m.set_sppis_clignotant_id(sppis_id);
      std::string json = codec::to_json(m);
      if (json.empty()) throw std::runtime_error("reaction not encodable");
      return json;
    };
    auto recorded = outbox::record_reaction(c, n, payload);
    if (!recorded) {
      const auto& e = recorded.error();
      auto p = problem(e.kind, e.code, e.message, e.field);
      if (!e.existing_reaction_id.empty()) p.extra["reaction_id"] = e.existing_reaction_id;
      return p;
    }
    const auto& r = *recorded;
    json::object out{{"reaction_id", r.reaction_id},
                     {"alert_id", n.alert_id},
                     {"sppis_clignotant_id", sppis_id},
                     {"sequence", r.sequence},
                     {"code", n.code},
                     {"comment", n.comment ? json::value(*n.comment) : json::value(nullptr)},
                     {"amendment", r.sequence > 1},
                     {"actor", n.actor},
                     {"created_at", r.created_at},
                     {"delivery_status", "PENDING"},
                     {"idempotency_key", r.reaction_id},
                     {"alert_status", "REACTED"}};
    return reply(201, out);
  };
  auto result = co_await pool_.run<Reply>(std::move(job));
  if (result) {
    reactions_.with({amendment ? "amendment" : "created"}).inc();
    logger.info("reaction recorded",
                {{"cpas", cbe}, {"alert_id", id}, {"code", cd}, {"actor", actor}});
    if (on_reaction_) on_reaction_();
  } else {
    const auto& e = result.error();
    reactions_
        .with({e.kind == errc::not_found                ? "not_found"
               : e.code == "EARLY_SIGNAL_NOT_REACTABLE" ? "early_signal"
                                                        : "conflict"})
        .inc();
  }
  co_return result;
}

}  // namespace relais::api
