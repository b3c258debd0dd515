// The human side of the operational routes: a self-contained status page at GET / (inline CSS and
// JS, no external asset), the JSON it refreshes from (GET /status.json), and the service's
// interface document (GET /openapi.yaml).
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "relais/common/metrics.hpp"
#include "relais/http/router.hpp"
#include "relais/service/runtime.hpp"

namespace relais::service {

// Per-second rates of monotonically increasing values, from samples taken when asked: the rate is
// (value now − value at the oldest sample still within `window`) / elapsed time. The first call
// for a key compares with `start` (value 0 at process start), so a rate is known at once.
class RateTracker {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateTracker(std::chrono::milliseconds window, Clock::time_point start = Clock::now())
      : window_(window), start_(start) {}
  double rate(const std::string& key, double value, Clock::time_point now = Clock::now());

 private:
  struct Sample {
    Clock::time_point at;
    double value;
  };
  std::chrono::milliseconds window_;
  Clock::time_point start_;
  std::mutex mu_;
  std::map<std::string, std::deque<Sample>> samples_;
};

// One figure on the status page, read from the registry: `rate` shows the per-second rate of a
// counter (summed over the children matching `match`) next to its total; `value` shows a gauge sum.
struct Figure {
  enum class Kind { rate, value };
  std::string label;   // "accepted/s"
  std::string metric;  // "relais_ingest_accepted_total"
  Kind kind = Kind::rate;
  metrics::Labels match = {};
};

// GET / (HTML) and GET /status.json: service name, version, uptime, the `checks` (same as /readyz),
// `figures`, and the last warn/error log lines. Everything shown is HTML-escaped; nothing secret is
// read (configuration is never shown).
void add_status_routes(http::Router& r, metrics::Registry& m, std::string service, Checks checks,
                       std::vector<Figure> figures);

// GET /openapi.yaml → `document` (served as application/yaml).
void add_openapi_route(http::Router& r, std::string_view document);

// GET /docs/events → the event contract as HTML (`html`, text/html) and GET
// /docs/events/relais.yaml → the AsyncAPI document itself (`yaml`, application/yaml).
void add_events_routes(http::Router& r, std::string_view html, std::string_view yaml);

// docs/asyncapi/relais.yaml and its rendering by scripts/asyncapi_html.py, embedded at build time.
std::string_view asyncapi_yaml();
std::string_view asyncapi_html();

// The OpenAPI documents of docs/openapi, embedded at build time.
std::string_view openapi_ingest();
std::string_view openapi_api();

// The script of the live charts (RelaisCharts.push / draw / legend): each page keeps the last 15
// minutes of its series and draws them as inline SVG, without any library (chart.cpp).
std::string_view chart_script();

// HTML text/attribute escaping of & < > " '.
std::string html_escape(std::string_view s);

}  // namespace relais::service
