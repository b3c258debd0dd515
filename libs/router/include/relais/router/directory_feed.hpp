// Keeps the router's in-memory directory current: loads it at start, then
// polls PostgreSQL for changes on its own thread and hands them over; the
// routing thread applies them between batches (it owns the Directory).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "relais/directory/pg_source.hpp"

namespace relais::router {

class DirectoryFeed {
 public:
  DirectoryFeed(std::string dsn, std::chrono::milliseconds interval)
      : dsn_(std::move(dsn)), interval_(interval) {}
  ~DirectoryFeed() { stop(); }

  // Loads the whole directory (blocking, retried by the caller on failure).
  void initial_load(directory::Directory& d);
  void start();
  void stop();
  // Applies the changes fetched so far; returns how many.
  std::size_t apply_pending(directory::Directory& d);
  // Seconds since the last successful poll of PostgreSQL.
  double age_seconds() const;
  bool healthy() const { return age_seconds() < 10.0; }
  std::int64_t last_seq() const { return last_seq_.load(); }

 private:
  void run();
  std::string dsn_;
  std::chrono::milliseconds interval_;
  std::atomic<std::int64_t> last_seq_{0};
  std::atomic<std::int64_t> last_ok_us_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<directory::Change> pending_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

}  // namespace relais::router
