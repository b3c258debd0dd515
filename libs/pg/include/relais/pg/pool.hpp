// A fixed set of PostgreSQL connections, each used by one worker thread at a
// time, so that coroutines on an event loop can `co_await pool.run(fn)` without
// ever blocking the loop. Broken connections are re-established on next use.
#pragma once

#include <atomic>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "relais/pg/pg.hpp"

namespace relais::pg {

class Pool {
 public:
  Pool(std::string dsn, std::size_t size);
  ~Pool();

  // Runs fn(Connection&) on a pool thread and resumes the caller on its own executor.
  // Exceptions thrown by fn (pg::Error...) are rethrown in the caller. Not a
  // coroutine itself: `fn` lives in the posted job, never in a coroutine frame.
  template <typename T, typename F>
  boost::asio::awaitable<T> run(F fn) {
    static_assert(std::is_default_constructible_v<T>,
                  "Pool::run needs a default-constructible result");
    return boost::asio::async_initiate<decltype(boost::asio::use_awaitable),
                                       void(std::exception_ptr, T)>(
        [this](auto handler, F f) {
          auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
          boost::asio::post(workers_, [this, f = std::move(f), handler = std::move(handler),
                                       work = std::move(work)]() mutable {
            std::exception_ptr eptr;
            T value{};
            try {
              Lease lease(*this);
              value = f(lease.conn());
            } catch (...) {
              eptr = std::current_exception();
            }
            auto ex = work.get_executor();
            boost::asio::post(
                ex, [handler = std::move(handler), eptr, value = std::move(value)]() mutable {
                  std::move(handler)(eptr, std::move(value));
                });
          });
        },
        boost::asio::use_awaitable, std::move(fn));
  }

  // Blocking use from a non-event-loop thread.
  template <typename F>
  auto with(F&& fn) {
    Lease lease(*this);
    return fn(lease.conn());
  }

  std::size_t size() const { return size_; }
  std::size_t in_use() const { return in_use_.load(); }
  // Checks that a connection can run "SELECT 1" (for /readyz).
  bool healthy();

 private:
  class Lease {
   public:
    explicit Lease(Pool& p);
    ~Lease();
    Connection& conn() { return *conn_; }

   private:
    Pool& pool_;
    std::unique_ptr<Connection> conn_;
  };
  std::unique_ptr<Connection> acquire();
  void release(std::unique_ptr<Connection> c);

  std::string dsn_;
  std::size_t size_;
  boost::asio::thread_pool workers_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::atomic<std::size_t> in_use_{0};
};

}  // namespace relais::pg
