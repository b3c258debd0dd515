#include "relais/router/directory_feed.hpp"

#include <memory>

#include "relais/common/log.hpp"

namespace relais::router {
namespace {
const log::Logger logger{"directory"};
std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

void DirectoryFeed::initial_load(directory::Directory& d) {
  pg::Connection conn(dsn_);
  auto t0 = std::chrono::steady_clock::now();
  last_seq_.store(directory::load_all(conn, d));
  last_ok_us_.store(now_us());
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  logger.info("directory loaded", {{"integrations", d.size()},
                                   {"cpas", d.cpas_count()},
                                   {"change_seq", last_seq_.load()},
                                   {"ms", ms},
                                   {"bytes", d.memory_bytes()}});
}

void DirectoryFeed::start() {
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
}

void DirectoryFeed::stop() {
  stop_.store(true);
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

double DirectoryFeed::age_seconds() const {
  auto ok = last_ok_us_.load();
  return ok == 0 ? 1e9 : static_cast<double>(now_us() - ok) / 1e6;
}

std::size_t DirectoryFeed::apply_pending(directory::Directory& d) {
  std::vector<directory::Change> changes;
  {
    std::lock_guard lock(mu_);
    changes.swap(pending_);
  }
  for (const auto& c : changes) directory::apply(d, c);
  return changes.size();
}

void DirectoryFeed::run() {
  std::unique_ptr<pg::Connection> conn;
  auto backoff = interval_;
  while (!stop_.load()) {
    try {
      if (!conn || !conn->ok())
        conn = std::make_unique<pg::Connection>(dsn_ + " connect_timeout=3");
      bool more = true;
      while (more && !stop_.load()) {
        auto changes = directory::changes_since(*conn, last_seq_.load(), 20000);
        more = changes.size() >= 20000;
        if (!changes.empty()) {
          last_seq_.store(changes.back().seq);
          std::lock_guard lock(mu_);
          pending_.insert(pending_.end(), std::make_move_iterator(changes.begin()),
                          std::make_move_iterator(changes.end()));
        }
      }
      last_ok_us_.store(now_us());
      backoff = interval_;
    } catch (const std::exception& e) {
      logger.warn("directory poll failed; routing continues on the last known directory",
                  {{"error", e.what()}, {"retry_ms", backoff.count()}});
      conn.reset();
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, backoff, [this] { return stop_.load(); });
  }
}

}  // namespace relais::router
