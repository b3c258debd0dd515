#include "relais/service/readiness.hpp"

#include <exception>
#include <string>

namespace relais::service {

std::vector<Check> cached_view(const std::optional<std::vector<Check>>& last,
                               std::chrono::steady_clock::duration age,
                               std::chrono::milliseconds stale_after) {
  const auto age_s = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(age).count());
  if (!last) {
    return {{"startup", false, "readiness checks not completed yet (" + age_s + " s since start)"}};
  }
  std::vector<Check> out = *last;
  if (age > stale_after) {
    out.push_back(
        {"readiness", false,
         "last completed check run " + age_s + " s ago: a check is hanging on a slow dependency"});
  }
  return out;
}

ReadinessProbe::ReadinessProbe(Checks checks, ReadinessOptions options)
    : checks_(std::move(checks)), options_(options), started_at_(std::chrono::steady_clock::now()) {
  thread_ = std::thread([this] { loop(); });
}

ReadinessProbe::~ReadinessProbe() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::vector<Check> ReadinessProbe::current() const {
  std::lock_guard lock(mu_);
  const auto since = last_ ? completed_at_ : started_at_;
  return cached_view(last_, std::chrono::steady_clock::now() - since, options_.stale_after);
}

void ReadinessProbe::loop() {
  for (;;) {
    std::vector<Check> result;
    try {
      result = checks_();
    } catch (const std::exception& e) {
      result = {{"readiness", false, std::string("check failed: ") + e.what()}};
    }
    std::unique_lock lock(mu_);
    last_ = std::move(result);
    completed_at_ = std::chrono::steady_clock::now();
    if (cv_.wait_for(lock, options_.interval, [this] { return stop_; })) return;
  }
}

}  // namespace relais::service
