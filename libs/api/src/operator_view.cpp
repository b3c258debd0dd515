#include "relais/api/operator_view.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>

#include "handlers.hpp"

namespace relais::api {
namespace json = boost::json;
namespace asio = boost::asio;

Severity severity_of(const AppHealth& a, const SeverityRules& rules) {
  if (a.lag_records > 0 && a.retention_left_s && *a.retention_left_s < rules.expiring_s)
    return Severity::critical;
  if (a.lost_records > 0) return Severity::critical;
  if (a.lag_records > 0 && a.last_commit_age_s > rules.not_committing_s) return Severity::warning;
  return Severity::ok;
}

std::vector<CpasRow> cpas_rows(std::vector<CpasFigures> cpas, const std::vector<AppHealth>& apps,
                               const SeverityRules& rules) {
  std::map<std::string, CpasRow> by_cbe;
  for (auto& f : cpas) {
    auto cbe = f.cbe;
    by_cbe[cbe].figures = std::move(f);
  }
  for (const auto& a : apps) {
    auto& row = by_cbe[a.cpas];
    row.figures.cbe = a.cpas;
    row.apps.push_back(a);
    row.severity = std::max(row.severity, severity_of(a, rules));
    row.lag_records += a.lag_records;
    row.lost_records += a.lost_records;
    if (a.retention_left_s)
      row.retention_left_s =
          std::min(row.retention_left_s.value_or(*a.retention_left_s), *a.retention_left_s);
    if (a.oldest_unread_age_s)
      row.oldest_unread_age_s =
          std::max(row.oldest_unread_age_s.value_or(0.0), *a.oldest_unread_age_s);
  }
  std::vector<CpasRow> out;
  out.reserve(by_cbe.size());
  for (auto& [_, row] : by_cbe) out.push_back(std::move(row));
  constexpr double inf = std::numeric_limits<double>::infinity();
  std::sort(out.begin(), out.end(), [&](const CpasRow& x, const CpasRow& y) {
    auto key = [&](const CpasRow& r) {
      return std::tuple(-static_cast<int>(r.severity), r.retention_left_s.value_or(inf),
                        -r.lag_records, -r.figures.open_alerts);
    };
    auto kx = key(x), ky = key(y);
    if (kx != ky) return kx < ky;
    return x.figures.cbe < y.figures.cbe;
  });
  return out;
}

namespace {

const char* severity_name(Severity s) {
  switch (s) {
    case Severity::critical:
      return "critical";
    case Severity::warning:
      return "warning";
    default:
      return "ok";
  }
}

json::value opt(const std::optional<double>& v) {
  if (!v) return nullptr;
  return std::round(*v);
}

}  // namespace

json::object cpas_table_json(const std::vector<CpasRow>& rows, const HealthPass& pass,
                             std::int64_t now_ms) {
  json::array cpas;
  std::size_t critical = 0, warning = 0;
  for (const auto& r : rows) {
    critical += r.severity == Severity::critical;
    warning += r.severity == Severity::warning;
    json::array apps;
    for (const auto& a : r.apps)
      apps.push_back(json::object{{"application", a.application},
                                  {"severity", severity_name(severity_of(a))},
                                  {"state", a.state},
                                  {"has_members", a.has_members},
                                  {"lag_records", a.lag_records},
                                  {"lost_records", a.lost_records},
                                  {"oldest_unread_age_s", opt(a.oldest_unread_age_s)},
                                  {"retention_left_s", opt(a.retention_left_s)},
                                  {"last_commit_age_s", std::round(a.last_commit_age_s)},
                                  {"incomplete", a.incomplete}});
    const auto& f = r.figures;
    json::value last = nullptr;
    if (f.last_routed_ms)
      last = std::round(static_cast<double>(now_ms - *f.last_routed_ms) / 1000.0);
    cpas.push_back(json::object{{"cbe", f.cbe},
                                {"name", f.name},
                                {"severity", severity_name(r.severity)},
                                {"persons", f.persons},
                                {"routed_1h", f.routed_1h},
                                {"routed_24h", f.routed_24h},
                                {"last_delivery_age_s", last},
                                {"dead_letters_24h", f.dead_letters_24h},
                                {"open_alerts", f.open_alerts},
                                {"lag_records", r.lag_records},
                                {"lost_records", r.lost_records},
                                {"oldest_unread_age_s", opt(r.oldest_unread_age_s)},
                                {"retention_left_s", opt(r.retention_left_s)},
                                {"applications", std::move(apps)}});
  }
  json::object health{{"finished_age_s", nullptr},
                      {"seconds", pass.seconds},
                      {"requests", pass.requests},
                      {"fetched", pass.fetched},
                      {"error", pass.error}};
  if (pass.finished_ms > 0)
    health["finished_age_s"] = std::round(static_cast<double>(now_ms - pass.finished_ms) / 1000.0);
  return json::object{
      {"generated_at_ms", now_ms},
      {"summary",
       json::object{{"cpas", rows.size()}, {"critical", critical}, {"warning", warning}}},
      {"subscriber_health", std::move(health)},
      {"cpas", std::move(cpas)}};
}

void OperatorView::add_routes(RouteTable& t) {
  t.add({http::verb::get, "/v1/ops/cpas", Policy::operator_only},
        [this](http::Request& q, const Caller& c) { return table(q, c); });
  t.add_open(http::verb::get, "/ops/cpas", [](http::Request&) -> asio::awaitable<http::Response> {
    http::Response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(cpas_page());
    r.headers.emplace_back("Cache-Control", "no-store");
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; script-src 'unsafe-inline'; style-src "
                           "'unsafe-inline'; connect-src 'self'; img-src 'self' data:");
    co_return r;
  });
}

asio::awaitable<Reply> OperatorView::table(http::Request&, const Caller&) {
  // A named job: GCC 12 mishandles temporaries inside co_await expressions. One statement, one
  // row per CPAS; the journal is read through its (cpas_cbe, at) index for the last day only.
  auto job = [](pg::Connection& c) {
    auto r = c.exec(
        "WITH persons AS (SELECT cbe, count(DISTINCT ssin) n FROM integrations "
        "  WHERE start_date <= current_date AND (end_date IS NULL OR end_date >= current_date) "
        "  GROUP BY cbe), "
        "day AS (SELECT cpas_cbe cbe, "
        "  count(*) FILTER (WHERE kind = 'routed' AND at > now() - interval '1 hour') h, "
        "  count(*) FILTER (WHERE kind = 'routed') d, "
        "  count(*) FILTER (WHERE kind = 'dead_letter') dl "
        "  FROM journal WHERE at > now() - interval '1 day' AND cpas_cbe IS NOT NULL "
        "  GROUP BY cpas_cbe), "
        "open AS (SELECT cpas_cbe cbe, count(*) n FROM alerts WHERE status = 'OPEN' "
        "  GROUP BY cpas_cbe) "
        "SELECT c.cbe, c.name, coalesce(p.n, 0), coalesce(d.h, 0), coalesce(d.d, 0), "
        "  coalesce(d.dl, 0), coalesce(o.n, 0), "
        "  (SELECT (extract(epoch FROM max(j.at)) * 1000)::bigint FROM journal j "
        "     WHERE j.cpas_cbe = c.cbe AND j.kind = 'routed') "
        "FROM cpas c LEFT JOIN persons p ON p.cbe = c.cbe LEFT JOIN day d ON d.cbe = c.cbe "
        "LEFT JOIN open o ON o.cbe = c.cbe");
    std::vector<CpasFigures> out;
    out.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) {
      CpasFigures f{r.str(i, 0),     r.str(i, 1),     r.integer(i, 2), r.integer(i, 3),
                    r.integer(i, 4), r.integer(i, 5), r.integer(i, 6)};
      if (!r.is_null(i, 7)) f.last_routed_ms = r.integer(i, 7);
      out.push_back(std::move(f));
    }
    return out;
  };
  auto figures = co_await pool_.run<std::vector<CpasFigures>>(std::move(job));
  auto pass = health_.last();
  const HealthPass empty;
  const HealthPass& p = pass ? *pass : empty;
  auto rows = cpas_rows(std::move(figures), p.apps);
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  co_return detail::reply(200, cpas_table_json(rows, p, now_ms));
}

}  // namespace relais::api
