#include "relais/ctl/status.hpp"

#include <boost/beast/http/verb.hpp>
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

}  // namespace relais::ctl
