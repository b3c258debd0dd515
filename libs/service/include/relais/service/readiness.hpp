// Readiness checks that never block a service: the checks (a PostgreSQL "SELECT 1", a Kafka
// metadata call with a 2 s timeout...) run on their own thread every `interval`; /readyz and the
// status page read the last result. A check that hangs makes the result stale, and a stale result
// is reported as not ready, instead of freezing the event loop that also serves /metrics.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "relais/service/runtime.hpp"

namespace relais::service {

struct ReadinessOptions {
  std::chrono::milliseconds interval{1000};  // between the end of one run and the start of the next
  std::chrono::milliseconds stale_after{10000};  // a result older than this is not trusted
};

// What /readyz shows for a cached result (pure): the checks as they were, or one failed
// `startup` check before the first run, plus a failed `readiness` check when the last completed
// run is older than `stale_after` (a check is hanging: the dependency it calls is slow).
std::vector<Check> cached_view(const std::optional<std::vector<Check>>& last,
                               std::chrono::steady_clock::duration age,
                               std::chrono::milliseconds stale_after);

class ReadinessProbe {
 public:
  // Starts the thread; the first run starts at once. `checks` must stay valid until the
  // probe is destroyed (declare the probe after what its checks read).
  ReadinessProbe(Checks checks, ReadinessOptions options = {});
  ~ReadinessProbe();
  ReadinessProbe(const ReadinessProbe&) = delete;
  ReadinessProbe& operator=(const ReadinessProbe&) = delete;

  // The last result, as cached_view shows it; never blocks on a check.
  std::vector<Check> current() const;
  // A Checks for add_ops_routes / add_status_routes that reads current(). The probe must
  // outlive the routes' use of it.
  Checks cached() const {
    return [this] { return current(); };
  }

 private:
  void loop();

  Checks checks_;
  ReadinessOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::optional<std::vector<Check>> last_;
  std::chrono::steady_clock::time_point completed_at_;
  std::chrono::steady_clock::time_point started_at_;
  std::thread thread_;
};

}  // namespace relais::service
