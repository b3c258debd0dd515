// `relaisctl status`: readiness and key figures of the three services, from /readyz and /metrics.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "relais/ctl/queries.hpp"
#include "relais/ctl/settings.hpp"

namespace relais::ctl {

// Sum of every sample of each metric name (labels ignored) in a Prometheus text exposition.
std::map<std::string, double> sum_metrics(const std::string& text);

struct ServiceStatus {
  std::string name, url;
  bool reachable = false, ready = false;
  std::string error;
  std::map<std::string, double> metrics;
};
std::vector<ServiceStatus> collect_status(const Settings& s);
Rows status_rows(const std::vector<ServiceStatus>& st);

// `relaisctl status --cpas`: relais-api's table of every CPAS (GET /v1/ops/cpas, operator token
// from RELAIS_API_TOKEN), the same as its page /ops/cpas. The document, or an error message.
std::string fetch_cpas_table(const Settings& s, std::string& error);
// The document as rows, worst first: severity, cbe, name, persons, routed_1h, routed_24h,
// last_delivery, applications ("app: waiting / retention left", one per application),
// dead_letters_24h, open_alerts. Throws std::invalid_argument on a document of another shape.
Rows cpas_status_rows(const std::string& document);
// Duration text of the page: "3d 4h", "2h 5m", "4m 10s", "9s".
std::string duration_text(double seconds);

}  // namespace relais::ctl
