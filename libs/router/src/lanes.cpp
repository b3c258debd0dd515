// relais-router's Engine: one or more lanes (engine_lane.hpp) sharing the directory.
#include <thread>

#include "engine_lane.hpp"

namespace relais::router {

Engine::Engine(const EngineOptions& opts, DirectoryFeed& feed, metrics::Registry& metrics) {
  const int lanes = std::max(1, opts.lanes);
  for (int k = 0; k < lanes; ++k)
    lanes_.push_back(std::make_unique<Impl>(*this, opts, k, feed, metrics));
}

Engine::~Engine() {
  for (auto& lane : lanes_) lane->shutdown();
}

std::optional<std::string> Engine::start() {
  for (auto& lane : lanes_)
    if (auto err = lane->start()) return err;
  return std::nullopt;
}

// Lane 0 runs on the calling thread, the others on their own; the first lane to stop on a fatal
// error stops them all, and its exit code is the engine's.
int Engine::run() {
  std::atomic<int> first_rc{0};
  auto run_lane = [&](Impl& lane) {
    int rc = lane.run();
    lane.shutdown();
    if (rc != 0) {
      int none = 0;
      first_rc.compare_exchange_strong(none, rc);
      running_.store(false);
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t k = 1; k < lanes_.size(); ++k)
    threads.emplace_back([&, k] { run_lane(*lanes_[k]); });
  run_lane(*lanes_[0]);
  running_.store(false);
  for (auto& t : threads) t.join();
  return first_rc.load();
}

bool Engine::ready() const {
  for (const auto& lane : lanes_)
    if (!lane->ready()) return false;
  return true;
}

std::int64_t Engine::total_lag() const {
  std::int64_t total = 0;
  for (const auto& lane : lanes_) total += lane->lag();
  return total;
}

std::size_t Engine::dedupe_size() const {
  std::size_t total = 0;
  for (const auto& lane : lanes_) total += lane->dedupe_size();
  return total;
}

std::vector<std::size_t> Engine::lane_partitions() const {
  std::vector<std::size_t> out;
  for (const auto& lane : lanes_) out.push_back(lane->assigned());
  return out;
}

}  // namespace relais::router
