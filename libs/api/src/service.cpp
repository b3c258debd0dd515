#include "relais/api/service.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>

#include "handlers.hpp"
#include "relais/codec/ndjson.hpp"
#include "relais/common/log.hpp"
#include "relais/directory/pg_source.hpp"
#include "relais/validation/date.hpp"
#include "relais/validation/error.hpp"
#include "relais/validation/ids.hpp"

namespace relais::api {
namespace asio = boost::asio;
namespace json = boost::json;
namespace {
const log::Logger logger{"api"};

using detail::bad;
using detail::check_cbe;
using detail::cpas_not_found;
using detail::reply;

bool is_sector17(int q) {
  switch (q) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7:
    case 8:
    case 9:
    case 11:
    case 12:
    case 20:
    case 21:
    case 40:
      return true;
    default:
      return false;
  }
}

// One integration line to register, validated.
struct Line {
  std::string ssin;
  int quality = 0;
  std::string start, end;  // end empty = open
  std::string replaces_ssin;
};

std::optional<validation::Error> check_line(Line& l) {
  using validation::Error;
  if (auto e = validation::validate_ssin(l.ssin, "ssin")) return e;
  if (l.quality == validation::kQualitySsinReplaced) {
    if (l.replaces_ssin.empty())
      return Error{"MISSING_FIELD", "quality code 999 (SSIN replaced) needs replaces_ssin",
                   "replaces_ssin"};
    if (auto e = validation::validate_ssin(l.replaces_ssin, "replaces_ssin")) return e;
    if (l.replaces_ssin == l.ssin)
      return Error{"INCONSISTENT", "replaces_ssin equals ssin", "replaces_ssin"};
    return std::nullopt;
  }
  if (!is_sector17(l.quality))
    return Error{"INVALID_QUALITY_CODE", "not a quality code of sector 17 (CPAS)", "quality_code"};
  auto s = validation::parse_iso_date(l.start);
  if (!s) return Error{"INVALID_DATE", "expected YYYY-MM-DD", "start_date"};
  if (!l.end.empty()) {
    auto e = validation::parse_iso_date(l.end);
    if (!e) return Error{"INVALID_DATE", "expected YYYY-MM-DD", "end_date"};
    if (e->days < s->days - 1)
      return Error{"DATE_ORDER",
                   "end_date is before start_date (the day before start cancels the line)",
                   "end_date"};
  }
  return std::nullopt;
}

std::optional<validation::Error> line_from_json(const json::value& v, Line& l) {
  using validation::Error;
  if (!v.is_object()) return Error{"WRONG_TYPE", "expected a JSON object", ""};
  const auto& o = v.as_object();
  for (const auto& kv : o) {
    auto k = kv.key();
    if (k != "ssin" && k != "quality_code" && k != "start_date" && k != "end_date" &&
        k != "replaces_ssin")
      return Error{"UNKNOWN_FIELD", "unknown field", std::string(k)};
  }
  auto str = [&](std::string_view k, std::string& out, bool required) -> std::optional<Error> {
    auto* p = o.if_contains(k);
    if (!p || p->is_null()) {
      if (required) return Error{"MISSING_FIELD", "required", std::string(k)};
      return std::nullopt;
    }
    if (!p->is_string()) return Error{"WRONG_TYPE", "expected a string", std::string(k)};
    if (p->as_string().size() > 64) return Error{"FIELD_TOO_LONG", "too long", std::string(k)};
    out = p->as_string();
    return std::nullopt;
  };
  if (auto e = str("ssin", l.ssin, true)) return e;
  auto* q = o.if_contains("quality_code");
  if (!q) return Error{"MISSING_FIELD", "required", "quality_code"};
  // Clamped, not truncated: 4294967298 must not become quality code 2.
  if (q->is_int64())
    l.quality = static_cast<int>(std::clamp<std::int64_t>(q->as_int64(), -1, 100000));
  else if (q->is_uint64())
    l.quality = static_cast<int>(std::min<std::uint64_t>(q->as_uint64(), 100000));
  else
    return Error{"WRONG_TYPE", "expected an integer", "quality_code"};
  if (auto e = str("replaces_ssin", l.replaces_ssin, false)) return e;
  if (auto e = str("start_date", l.start, l.quality != validation::kQualitySsinReplaced)) return e;
  if (auto e = str("end_date", l.end, false)) return e;
  return check_line(l);
}

std::optional<validation::Error> line_from_csv(std::string_view text, Line& l) {
  using validation::Error;
  std::vector<std::string_view> f;
  std::size_t pos = 0;
  while (true) {
    auto c = text.find(',', pos);
    f.push_back(text.substr(pos, c == std::string_view::npos ? std::string_view::npos : c - pos));
    if (c == std::string_view::npos) break;
    pos = c + 1;
  }
  if (f.size() < 3 || f.size() > 4)
    return Error{"WRONG_TYPE", "expected ssin,quality_code,start_date[,end_date]", ""};
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '"')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '"')) s.remove_suffix(1);
    return s;
  };
  l.ssin = trim(f[0]);
  auto q = trim(f[1]);
  auto [p, ec] = std::from_chars(q.data(), q.data() + q.size(), l.quality);
  if (ec != std::errc{} || p != q.data() + q.size())
    return Error{"WRONG_TYPE", "expected an integer", "quality_code"};
  if (l.quality == validation::kQualitySsinReplaced)
    return Error{"INVALID_QUALITY_CODE",
                 "SSIN replacements are registered one by one, not imported", "quality_code"};
  l.start = trim(f[2]);
  if (f.size() == 4) l.end = trim(f[3]);
  return check_line(l);
}

json::object integration_json(const pg::Result& r, int i) {
  json::object o{{"id", r.integer(i, 0)},
                 {"ssin", r.str(i, 1)},
                 {"cbe", r.str(i, 2)},
                 {"quality_code", r.integer(i, 3)},
                 {"start_date", r.str(i, 4)},
                 {"end_date", r.is_null(i, 5) ? json::value(nullptr) : json::value(r.str(i, 5))},
                 {"updated_by", r.str(i, 6)},
                 {"updated_at", r.str(i, 7)}};
  return o;
}

const char* kCols =
    "id, ssin, cbe, quality_code, start_date::text, end_date::text, updated_by, updated_at::text";

bool cpas_exists(pg::Connection& c, const std::string& cbe) {
  return c.exec("SELECT 1 FROM cpas WHERE cbe = $1", {cbe}).rows() == 1;
}

}  // namespace

Reply write_integration(pg::Connection& c, const std::string& cbe, const IntegrationLine& l,
                        const std::string& actor) {
  return pg::transaction(c, [&]() -> Reply {
    if (!cpas_exists(c, cbe)) return cpas_not_found();
    auto ins = c.exec(
        std::string(
            "INSERT INTO integrations (ssin, cbe, quality_code, start_date, end_date, created_by, "
            "updated_by) VALUES ($1, $2, $3, $4, $5, $6, $6) "
            "ON CONFLICT (cbe, ssin, quality_code, start_date) DO UPDATE SET "
            "end_date = EXCLUDED.end_date, updated_by = EXCLUDED.updated_by "
            "RETURNING ") +
            kCols + ", (xmax = 0)",
        {l.ssin, cbe, std::to_string(l.quality), l.start,
         l.end.empty() ? pg::Param{} : pg::Param{l.end}, actor});
    bool created = ins.get(0, 8) == "t";
    auto overl = c.exec(
        std::string("SELECT ") + kCols +
            " FROM integrations WHERE cbe = $1 AND ssin = $2 AND id <> $3 AND "
            // Plain comparisons, not daterange(): a cancelled line (end = start - 1)
            // is an empty period that overlaps nothing, and daterange() would throw on it.
            "start_date <= COALESCE($5::date, 'infinity') AND $4::date <= COALESCE(end_date, "
            "'infinity') "
            "AND COALESCE(end_date, 'infinity') >= start_date AND COALESCE($5::date, 'infinity') "
            ">= $4::date "
            "ORDER BY start_date",
        {cbe, l.ssin, ins.str(0, 0), l.start, l.end.empty() ? pg::Param{} : pg::Param{l.end}});
    json::array ov;
    for (int i = 0; i < overl.rows(); ++i) ov.push_back(integration_json(overl, i));
    return reply(created ? 201 : 200, json::object{{"integration", integration_json(ins, 0)},
                                                   {"overlapping", std::move(ov)}});
  });
}

Reply close_integrations(pg::Connection& c, const std::string& cbe, const std::string& ssin,
                         const std::optional<std::string>& quality, const std::string& end,
                         const std::string& actor) {
  if (!cpas_exists(c, cbe)) return Reply(cpas_not_found());
  // Close every line of this person at this CPAS (of that quality) still active after `end`;
  // a line starting after `end` is cancelled (end = start - 1).
  auto r = c.exec(
      std::string(
          "UPDATE integrations SET end_date = GREATEST($3::date, start_date - 1), updated_by = $5 "
          "WHERE cbe = $1 AND ssin = $2 AND ($4::int IS NULL OR quality_code = $4::int) "
          "AND (end_date IS NULL OR end_date > $3::date) RETURNING ") +
          kCols,
      {cbe, ssin, end, quality, actor});
  if (r.rows() == 0)
    return Reply(problem(errc::not_found, "INTEGRATION_NOT_FOUND",
                         "no active integration of this person to close", "ssin"));
  json::array a;
  for (int i = 0; i < r.rows(); ++i) a.push_back(integration_json(r, i));
  return Reply(reply(200, json::object{{"closed", std::move(a)}}));
}

Reply person_integrations(pg::Connection& c, const std::string& cbe, const std::string& ssin) {
  if (!cpas_exists(c, cbe)) return Reply(cpas_not_found());
  auto r = c.exec(std::string("SELECT ") + kCols +
                      " FROM integrations WHERE cbe = $1 AND ssin = $2 ORDER BY start_date, id",
                  {cbe, ssin});
  json::array a;
  for (int i = 0; i < r.rows(); ++i) a.push_back(integration_json(r, i));
  return Reply(reply(200, json::object{{"integrations", std::move(a)}}));
}

ImportCheck check_import(bool csv, const std::vector<codec::Line>& lines) {
  ImportCheck out;
  std::string& copy = out.copy;
  copy.reserve(lines.size() * 40);
  json::array& errors = out.errors;
  std::size_t& ok = out.valid;
  bool header_skipped = false;
  for (const auto& line : lines) {
    if (csv && !header_skipped) {
      header_skipped = true;
      if (line.text.starts_with("ssin")) continue;
    }
    Line l;
    std::optional<validation::Error> e;
    if (csv) {
      e = line_from_csv(line.text, l);
    } else {
      boost::system::error_code ec;
      auto v = json::parse(line.text, ec);
      e = ec ? validation::Error{"MALFORMED_JSON", "the line is not valid JSON", ""}
             : line_from_json(v, l);
      if (!e && l.quality == validation::kQualitySsinReplaced)
        e = validation::Error{"INVALID_QUALITY_CODE",
                              "SSIN replacements are registered one by one, not imported",
                              "quality_code"};
    }
    if (e) {
      if (errors.size() < 1000)
        errors.push_back(json::object{{"line", line.number},
                                      {"code", e->code},
                                      {"message", e->message},
                                      {"field", e->field}});
      else if (errors.size() == 1000)
        errors.push_back(json::object{{"line", line.number},
                                      {"code", "TOO_MANY_ERRORS"},
                                      {"message", "further errors not listed"}});
      continue;
    }
    ++ok;
    copy += l.ssin;
    copy += '\t';
    copy += std::to_string(l.quality);
    copy += '\t';
    copy += l.start;
    copy += '\t';
    copy += l.end.empty() ? "\\N" : l.end;
    copy += '\n';
  }
  return out;
}

Service::Service(Options o, pg::Pool& pool, metrics::Registry& m)
    : o_(std::move(o)),
      pool_(pool),
      admin_(o_.kafka, o_.cpas_topic_partitions, o_.replication_factor),
      changes_(
          m.counter("relais_api_directory_changes_total", "Directory writes by kind", {"kind"})),
      import_lines_(
          m.counter("relais_api_import_lines_total", "Bulk import lines by result", {"result"})) {}

std::size_t Service::body_limit(const http::Request& req) const {
  return req.path.ends_with(":import") ? o_.max_import_bytes : o_.max_body_bytes;
}

void Service::add_routes(RouteTable& t) {
  using http::verb;
  using P = Policy;
  using S = SsinFrom;
  auto h = [this](auto fn) {
    return [this, fn](http::Request& q, const Caller& c) { return (this->*fn)(q, c); };
  };
  t.add({verb::put, "/v1/cpas/{cbe}", P::operator_only}, h(&Service::put_cpas));
  t.add({verb::get, "/v1/cpas", P::operator_only}, h(&Service::list_cpas));
  // Quality code 999 would record an SSIN replacement, which is global: the register's or the
  // operator's act, never a CPAS's (docs/security.md §7).
  t.add({verb::put, "/v1/cpas/{cbe}/integrations", P::cpas, S::request_body,
         OperatorOnlyWhen::records_ssin_replacement},
        h(&Service::register_integration));
  t.add({verb::get, "/v1/cpas/{cbe}/integrations", P::cpas, S::query},
        h(&Service::list_integrations));
  t.add({verb::delete_, "/v1/cpas/{cbe}/integrations/{ssin}", P::cpas, S::path},
        h(&Service::unregister_integration));
  t.add({verb::post, "/v1/cpas/{cbe}/integrations:import", P::cpas},
        h(&Service::import_integrations));
  t.add({verb::put, "/v1/ssin-replacements/{old_ssin}", P::operator_only, S::path},
        h(&Service::put_replacement));
  t.add({verb::get, "/v1/ssin-replacements/{old_ssin}", P::operator_only, S::path},
        h(&Service::get_replacement));
  // A CPAS's identity (NIS codes, BCSS sector/institution) is the operator's data; the CPAS may
  // read its own.
  t.add({verb::put, "/v1/cpas/{cbe}/identity", P::operator_only}, h(&Service::put_identity));
  t.add({verb::get, "/v1/cpas/{cbe}/identity", P::cpas}, h(&Service::get_identity));
  t.add({verb::get, "/v1/cpas-identities", P::operator_only}, h(&Service::list_identities));
}

asio::awaitable<Reply> Service::put_cpas(http::Request& req, const Caller& caller) {
  if (auto e = check_cbe(req)) co_return *e;
  if (req.content_type() != "application/json")
    co_return detail::unsupported_media_type("application/json");
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  if (ec || !v.is_object()) co_return bad("MALFORMED_JSON", "expected a JSON object", "");
  const auto& o = v.as_object();
  for (const auto& kv : o)
    if (kv.key() != "name" && kv.key() != "municipalities")
      co_return bad("UNKNOWN_FIELD", "unknown field", kv.key());
  auto* name = o.if_contains("name");
  if (!name || !name->is_string() || name->as_string().empty())
    co_return bad("MISSING_FIELD", "name is required", "name");
  if (name->as_string().size() > 200) co_return bad("FIELD_TOO_LONG", "at most 200 bytes", "name");
  std::string nis = "{";
  if (auto* m = o.if_contains("municipalities")) {
    if (!m->is_array())
      co_return bad("WRONG_TYPE", "expected an array of NIS codes", "municipalities");
    if (m->as_array().size() > 100)
      co_return bad("TOO_MANY_ITEMS", "at most 100 municipalities", "municipalities");
    std::size_t i = 0;
    for (const auto& x : m->as_array()) {
      std::string field = "municipalities[" + std::to_string(i++) + "]";
      if (!x.is_string() || !validation::is_valid_nis_code(x.as_string()))
        co_return bad("INVALID_NIS_CODE", "expected a 5-digit NIS code", field);
      if (nis.size() > 1) nis.push_back(',');
      nis += x.as_string();
    }
  }
  nis.push_back('}');
  std::string cbe = req.params["cbe"], n(name->as_string()), actor = caller.actor;
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job1 = [cbe, n, nis, actor](pg::Connection& c) {
    auto r = c.exec(
        "INSERT INTO cpas (cbe, name, municipalities, updated_by) VALUES ($1, $2, $3::text[], $4) "
        "ON CONFLICT (cbe) DO UPDATE SET name = EXCLUDED.name, municipalities = "
        "EXCLUDED.municipalities, "
        "updated_by = EXCLUDED.updated_by RETURNING (xmax = 0)",
        {cbe, n, nis, actor});
    return r.get(0, 0) == "t";
  };
  auto created = co_await pool_.run<bool>(std::move(job1));
  // The CPAS topic exists before the first notification is routed to it (on the admin thread).
  auto topic_error = co_await admin_.ensure_cpas_topic(cbe);
  if (topic_error)
    logger.warn("CPAS topic not created yet (the router will retry)", {{"error", *topic_error}});
  changes_.with({created ? "cpas-create" : "cpas-update"}).inc();
  json::object out{
      {"cbe", cbe},
      {"name", n},
      {"municipalities", o.contains("municipalities") ? o.at("municipalities") : json::array{}},
      {"created", created}};
  co_return reply(created ? 201 : 200, out);
}

asio::awaitable<Reply> Service::list_cpas(http::Request&, const Caller&) {
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job3 = [](pg::Connection& c) {
    auto r = c.exec(
        "SELECT c.cbe, c.name, array_to_json(c.municipalities)::text, "
        "(SELECT count(*) FROM integrations i WHERE i.cbe = c.cbe AND (i.end_date IS NULL OR "
        "i.end_date >= current_date)) "
        "FROM cpas c ORDER BY c.cbe");
    json::array a;
    for (int i = 0; i < r.rows(); ++i)
      a.push_back(json::object{{"cbe", r.str(i, 0)},
                               {"name", r.str(i, 1)},
                               {"municipalities", json::parse(r.str(i, 2))},
                               {"active_integrations", r.integer(i, 3)}});
    return json::serialize(json::object{{"cpas", std::move(a)}});
  };
  auto body = co_await pool_.run<std::string>(std::move(job3));
  co_return reply(200, std::move(body));
}

asio::awaitable<Reply> Service::register_integration(http::Request& req, const Caller& caller) {
  if (auto e = check_cbe(req)) co_return *e;
  if (req.content_type() != "application/json")
    co_return detail::unsupported_media_type("application/json");
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  if (ec) co_return bad("MALFORMED_JSON", "the body is not valid JSON", "");
  Line l;
  if (auto e = line_from_json(v, l)) co_return bad(e->code, e->message, e->field);
  // A replacement is global, never a line of one CPAS: AccessControl refuses it to a CPAS
  // credential (403 REPLACEMENT_OPERATOR_ONLY); the operator has its own route.
  if (l.quality == validation::kQualitySsinReplaced)
    co_return bad("USE_REPLACEMENT_ROUTE",
                  "quality code 999 (SSIN replaced) is not an integration: record it with "
                  "PUT /v1/ssin-replacements/{old_ssin} and a reason",
                  "quality_code");
  std::string cbe = req.params["cbe"], actor = caller.actor;
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job4 = [cbe, l, actor](pg::Connection& c) {
    return write_integration(c, cbe, IntegrationLine{l.ssin, l.quality, l.start, l.end}, actor);
  };
  auto result = co_await pool_.run<Reply>(std::move(job4));
  if (result) changes_.with({"register"}).inc();
  co_return result;
}

asio::awaitable<Reply> Service::unregister_integration(http::Request& req, const Caller& caller) {
  if (auto e = check_cbe(req)) co_return *e;
  std::string ssin = req.params["ssin"];
  if (auto e = validation::validate_ssin(ssin, "ssin"))
    co_return bad(e->code, e->message, e->field);
  std::optional<std::string> quality;
  if (auto q = req.query_param("quality_code")) {
    int qv = 0;
    auto [p, ec] = std::from_chars(q->data(), q->data() + q->size(), qv);
    if (ec != std::errc{} || p != q->data() + q->size() || !is_sector17(qv))
      co_return bad("INVALID_QUALITY_CODE", "not a quality code of sector 17 (CPAS)",
                    "quality_code");
    quality = std::to_string(qv);
  }
  std::string end = validation::to_string(validation::today_utc());
  if (auto e = req.query_param("end_date")) {
    if (!validation::parse_iso_date(*e))
      co_return bad("INVALID_DATE", "expected YYYY-MM-DD", "end_date");
    end = std::string(*e);
  }
  std::string cbe = req.params["cbe"], actor = caller.actor;
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job5 = [cbe, ssin, quality, end, actor](pg::Connection& c) {
    return close_integrations(c, cbe, ssin, quality, end, actor);
  };
  auto result = co_await pool_.run<Reply>(std::move(job5));
  if (result) changes_.with({"unregister"}).inc();
  co_return result;
}

asio::awaitable<Reply> Service::list_integrations(http::Request& req, const Caller& /*caller*/) {
  if (auto e = check_cbe(req)) co_return *e;
  std::optional<std::string> ssin;
  if (auto s = req.query_param("ssin")) {
    if (auto e = validation::validate_ssin(*s, "ssin"))
      co_return bad(e->code, e->message, e->field);
    ssin = std::string(*s);
  }
  std::size_t limit = 1000;
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
      co_return bad("INVALID_CURSOR", "after must be an id", "after");
    after = std::to_string(v);
  }
  std::string cbe = req.params["cbe"];
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job6 = [cbe, ssin, limit, after](pg::Connection& c) {
    if (!cpas_exists(c, cbe)) return Reply(cpas_not_found());
    auto r = c.exec(std::string("SELECT ") + kCols +
                        " FROM integrations WHERE cbe = $1 AND ($2::text IS NULL OR ssin = $2) AND "
                        "id > $3::bigint "
                        "ORDER BY id LIMIT $4",
                    {cbe, ssin, after, std::to_string(limit)});
    json::array a;
    for (int i = 0; i < r.rows(); ++i) a.push_back(integration_json(r, i));
    json::object o{{"integrations", std::move(a)}};
    if (static_cast<std::size_t>(r.rows()) == limit) o["next_after"] = r.integer(r.rows() - 1, 0);
    return Reply(reply(200, o));
  };
  co_return co_await pool_.run<Reply>(std::move(job6));
}

asio::awaitable<Reply> Service::import_integrations(http::Request& req, const Caller& caller) {
  if (auto e = check_cbe(req)) co_return *e;
  auto ct = req.content_type();
  bool csv = ct == "text/csv";
  if (!csv && ct != "application/x-ndjson")
    co_return detail::unsupported_media_type("text/csv or application/x-ndjson");
  std::vector<codec::Line> lines;
  if (auto e = codec::split_lines(req.body, o_.max_import_lines + 1, lines))
    co_return problem(*e, errc::too_large);
  // Validate every line first: the import is all or nothing.
  auto checked = check_import(csv, lines);
  std::size_t ok = checked.valid;
  std::string copy = std::move(checked.copy);
  json::array errors = std::move(checked.errors);
  if (ok > o_.max_import_lines)
    co_return problem(errc::too_large, "TOO_MANY_ITEMS",
                      "at most " + std::to_string(o_.max_import_lines) + " lines");
  if (!errors.empty()) {
    import_lines_.with({"rejected"}).inc(static_cast<double>(errors.size()));
    auto p = bad("IMPORT_REJECTED", "nothing was imported: fix the listed lines and re-send", "");
    p.extra = json::object{{"valid_lines", ok}, {"errors", std::move(errors)}};
    co_return p;
  }
  std::string cbe = req.params["cbe"], actor = caller.actor;
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job7 = [cbe, actor, copy = std::move(copy), ok](pg::Connection& c) mutable {
    return pg::transaction(c, [&]() -> Reply {
      if (!cpas_exists(c, cbe)) return cpas_not_found();
      c.exec(
          "CREATE TEMP TABLE import_in (ssin char(11), quality_code int, start_date date, end_date "
          "date) "
          "ON COMMIT DROP");
      std::size_t off = 0;
      c.copy_in("COPY import_in FROM STDIN", [&](std::string& buf) {
        std::size_t n = std::min<std::size_t>(1 << 20, copy.size() - off);
        // cut on a line boundary
        if (off + n < copy.size()) {
          auto nl = copy.rfind('\n', off + n);
          if (nl != std::string::npos && nl >= off) n = nl + 1 - off;
        }
        buf.assign(copy, off, n);
        off += n;
        return off < copy.size();
      });
      auto r = c.exec(
          "INSERT INTO integrations (ssin, cbe, quality_code, start_date, end_date, created_by, "
          "updated_by) "
          "SELECT DISTINCT ON (ssin, quality_code, start_date) ssin, $1, quality_code, start_date, "
          "end_date, $2, $2 "
          "FROM import_in ORDER BY ssin, quality_code, start_date "
          "ON CONFLICT (cbe, ssin, quality_code, start_date) DO UPDATE SET end_date = "
          "EXCLUDED.end_date, "
          "updated_by = EXCLUDED.updated_by WHERE integrations.end_date IS DISTINCT FROM "
          "EXCLUDED.end_date",
          {cbe, actor});
      return reply(200, json::object{{"lines", ok},
                                     {"written", r.affected()},
                                     {"unchanged", static_cast<long long>(ok) - r.affected()}});
    });
  };
  auto result = co_await pool_.run<Reply>(std::move(job7));
  if (result) import_lines_.with({"imported"}).inc(static_cast<double>(ok));
  co_return result;
}

}  // namespace relais::api
