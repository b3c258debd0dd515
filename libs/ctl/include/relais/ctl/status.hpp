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

}  // namespace relais::ctl
