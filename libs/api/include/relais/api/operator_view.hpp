// The operator's table of every CPAS (docs/operations.md, "The morning round"): name, integrated
// persons, notifications routed in the last hour and day, last delivery, each application's lag
// and retention left (subscriber_health.hpp), dead letters, open clignotants; worst first.
// CPAS-level figures only: no SSIN, no person, no payload.
//
//   GET /v1/ops/cpas   operator only, JSON (relaisctl status --cpas reads it)
//   GET /ops/cpas      the page (open: it holds no data; its script asks for the operator token
//                      and reads /v1/ops/cpas with it)
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "relais/api/routes.hpp"
#include "relais/api/subscriber_health.hpp"
#include "relais/pg/pool.hpp"

namespace relais::api {

// What PostgreSQL knows of one CPAS.
struct CpasFigures {
  std::string cbe, name;
  std::int64_t persons = 0;  // distinct SSINs with an integration active today
  std::int64_t routed_1h = 0, routed_24h = 0;
  std::int64_t dead_letters_24h = 0;  // journal entries "dead_letter" of this CPAS, last 24 h
  std::int64_t open_alerts = 0;       // clignotants still OPEN
  std::optional<std::int64_t> last_routed_ms;  // the last notification routed to it
};

enum class Severity { ok = 0, warning = 1, critical = 2 };

struct CpasRow {
  CpasFigures figures;
  std::vector<AppHealth> apps;  // its applications, worst first
  Severity severity = Severity::ok;
  std::int64_t lag_records = 0;  // all its applications
  std::int64_t lost_records = 0;
  std::optional<double> retention_left_s;     // the least of its applications
  std::optional<double> oldest_unread_age_s;  // the oldest of its applications
};

// Thresholds of the severity, the same as the alert rules of deploy/prometheus.
struct SeverityRules {
  double expiring_s = 24 * 3600.0;       // critical: records deleted unread within this
  double not_committing_s = 4 * 3600.0;  // warning: records wait, no commit for this long
};

Severity severity_of(const AppHealth& a, const SeverityRules& rules = {});

// One row per CPAS of `cpas` (and one per CPAS seen only in Kafka, with an empty name), with its
// applications; worst first: severity, least retention left, largest lag, most open clignotants,
// then CBE.
std::vector<CpasRow> cpas_rows(std::vector<CpasFigures> cpas, const std::vector<AppHealth>& apps,
                               const SeverityRules& rules = {});

// The JSON of GET /v1/ops/cpas.
boost::json::object cpas_table_json(const std::vector<CpasRow>& rows, const HealthPass& pass,
                                    std::int64_t now_ms);

// The page of GET /ops/cpas (self-contained: inline CSS and script, SVG charts drawn by the
// script).
std::string_view cpas_page();

class OperatorView {
 public:
  OperatorView(pg::Pool& pool, const SubscriberHealth& health) : pool_(pool), health_(health) {}
  void add_routes(RouteTable& table);

 private:
  boost::asio::awaitable<Reply> table(http::Request& req, const Caller& caller);
  pg::Pool& pool_;
  const SubscriberHealth& health_;
};

}  // namespace relais::api
