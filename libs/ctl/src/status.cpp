#include "relais/ctl/status.hpp"

#include <boost/beast/http/verb.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "relais/http/client.hpp"

namespace relais::ctl {

std::map<std::string, double> sum_metrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto name_end = line.find_first_of("{ ");
    if (name_end == std::string::npos) continue;
    auto value_start = line.find(' ', line[name_end] == '{' ? line.find('}', name_end) : name_end);
    if (value_start == std::string::npos) continue;
    const char* b = line.c_str() + value_start + 1;
    char* e = nullptr;
    double v = std::strtod(b, &e);
    if (e == b) continue;
    out[line.substr(0, name_end)] += v;
  }
  return out;
}

std::vector<ServiceStatus> collect_status(const Settings& s) {
  std::vector<ServiceStatus> out;
  for (auto [name, url] : {std::pair<std::string, std::string>{"relais-ingest", s.ingest_url},
                           {"relais-router", s.router_url},
                           {"relais-api", s.api_url}}) {
    ServiceStatus st;
    st.name = name;
    st.url = url;
    auto u = parse_url(url);
    if (!u) {
      st.error = "not an http://host:port URL";
      out.push_back(st);
      continue;
    }
    try {
      http::Client c(u->host, u->port, std::chrono::milliseconds(std::min(s.timeout_ms, 5000)));
      auto r = c.request(boost::beast::http::verb::get, u->base_path + "/readyz");
      st.reachable = true;
      st.ready = r.status == 200;
      if (!st.ready) st.error = "readyz " + std::to_string(r.status) + ": " + r.body.substr(0, 200);
      auto m = c.request(boost::beast::http::verb::get, u->base_path + "/metrics");
      if (m.status == 200) st.metrics = sum_metrics(m.body);
    } catch (const std::exception& e) {
      st.error = e.what();
    }
    out.push_back(st);
  }
  return out;
}

Rows status_rows(const std::vector<ServiceStatus>& st) {
  Rows r;
  r.columns = {"service", "url", "ready", "accepted", "routed",
               "dropped", "dlq", "lag",   "outbox",   "error"};
  auto fig = [](const ServiceStatus& s, const char* name) -> std::optional<std::string> {
    auto it = s.metrics.find(name);
    if (it == s.metrics.end()) return std::nullopt;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", it->second);
    return std::string(buf);
  };
  for (const auto& s : st) {
    r.rows.push_back({s.name, s.url,
                      std::string(!s.reachable ? "DOWN"
                                  : s.ready    ? "yes"
                                               : "NO"),
                      fig(s, "relais_ingest_accepted_total"), fig(s, "relais_router_routed_total"),
                      fig(s, "relais_router_dropped_total"), fig(s, "relais_router_dlq_total"),
                      fig(s, "relais_router_consumer_lag"), fig(s, "relais_outbox_depth"),
                      s.error.empty() ? std::nullopt : std::optional<std::string>(s.error)});
  }
  return r;
}

std::string fetch_cpas_table(const Settings& s, std::string& error) {
  auto u = parse_url(s.api_url);
  if (!u) {
    error = "api.url: not an http://host:port URL";
    return {};
  }
  std::vector<std::pair<std::string, std::string>> headers;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, single-threaded command.
  if (const char* t = std::getenv("RELAIS_API_TOKEN"); t && *t)
    headers.emplace_back("Authorization", std::string("Bearer ") + t);
  try {
    http::Client c(u->host, u->port, std::chrono::milliseconds(s.timeout_ms));
    auto r =
        c.request(boost::beast::http::verb::get, u->base_path + "/v1/ops/cpas", {}, {}, headers);
    if (r.status != 200) {
      error = "relais-api answered " + std::to_string(r.status) +
              (r.status == 401 || r.status == 403 ? " (RELAIS_API_TOKEN: an operator token)" : "") +
              ": " + r.body.substr(0, 300);
      return {};
    }
    return r.body;
  } catch (const std::exception& e) {
    error = e.what();
    return {};
  }
}

std::string duration_text(double seconds) {
  const bool neg = seconds < 0;
  auto s = static_cast<long long>(std::llround(std::fabs(seconds)));
  long long d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
  std::string out = neg ? "-" : "";
  if (d) return out + std::to_string(d) + "d " + std::to_string(h) + "h";
  if (h) return out + std::to_string(h) + "h " + std::to_string(m) + "m";
  if (m) return out + std::to_string(m) + "m " + std::to_string(s % 60) + "s";
  return out + std::to_string(s) + "s";
}

Rows cpas_status_rows(const std::string& document) {
  namespace json = boost::json;
  boost::system::error_code ec;
  auto doc = json::parse(document, ec);
  if (ec || !doc.is_object() || !doc.as_object().contains("cpas") || !doc.at("cpas").is_array())
    throw std::invalid_argument("relais-api's /v1/ops/cpas: not the expected document");
  Rows r;
  r.columns = {"severity",   "cbe",           "name",         "persons",          "routed_1h",
               "routed_24h", "last_delivery", "applications", "dead_letters_24h", "open_alerts"};
  auto num = [](const json::value& v) -> std::optional<std::string> {
    if (v.is_null()) return std::nullopt;
    return std::to_string(static_cast<long long>(std::llround(v.to_number<double>())));
  };
  for (const auto& cv : doc.at("cpas").as_array()) {
    const auto& c = cv.as_object();
    std::string apps;
    for (const auto& av : c.at("applications").as_array()) {
      const auto& a = av.as_object();
      if (!apps.empty()) apps += ", ";
      apps += std::string(a.at("application").as_string()) + ": " + *num(a.at("lag_records"));
      if (!a.at("retention_left_s").is_null())
        apps += " / " + duration_text(a.at("retention_left_s").to_number<double>());
      if (!a.at("has_members").as_bool()) apps += " (no member)";
    }
    std::optional<std::string> last;
    if (!c.at("last_delivery_age_s").is_null())
      last = duration_text(c.at("last_delivery_age_s").to_number<double>()) + " ago";
    r.rows.push_back({std::string(c.at("severity").as_string()),
                      std::string(c.at("cbe").as_string()), std::string(c.at("name").as_string()),
                      num(c.at("persons")), num(c.at("routed_1h")), num(c.at("routed_24h")), last,
                      apps.empty() ? std::nullopt : std::optional<std::string>(apps),
                      num(c.at("dead_letters_24h")), num(c.at("open_alerts"))});
  }
  return r;
}

}  // namespace relais::ctl
