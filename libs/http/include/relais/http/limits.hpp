// Per-client admission for the HTTP server: open connections per client address and a token
// bucket of requests per second per client address. Bookkeeping only (no I/O), with the clock
// passed in so that tests need no sleeps.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace relais::http {

// `rate` tokens per second, at most `burst` kept; starts full.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket(double rate, double burst, Clock::time_point now);
  // Takes one token: std::nullopt when one was there, otherwise the wait until one will be
  // (at least 1 ms). A refused call takes nothing.
  std::optional<std::chrono::milliseconds> take(Clock::time_point now);
  // No token was taken that has not been refilled since.
  bool full(Clock::time_point now) const;

 private:
  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

struct ClientLimits {
  std::size_t max_connections = 0;  // per client address; 0 = no limit
  double rate = 0;                  // requests per second per client address; 0 = no limit
  double burst = 0;                 // bucket size; below 1 → max(1, rate)
};

// Thread-safe. A client's entry lives while it has connections, and afterwards until its bucket
// is full again (so reconnecting does not refill it); forgotten entries are swept as clients come.
class ClientTable {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ClientTable(ClientLimits limits);

  // A new connection from `client`; false when it already has max_connections (nothing counted).
  bool open(const std::string& client, Clock::time_point now = Clock::now());
  // The end of a connection that open() accepted.
  void close(const std::string& client, Clock::time_point now = Clock::now());
  // One request of `client` (which has an open connection): std::nullopt when admitted, otherwise
  // how long to wait (Retry-After).
  std::optional<std::chrono::milliseconds> admit(const std::string& client,
                                                 Clock::time_point now = Clock::now());
  // Clients tracked right now (for tests).
  std::size_t tracked() const;

 private:
  struct Entry {
    std::size_t connections = 0;
    std::optional<TokenBucket> bucket;
  };
  void sweep(Clock::time_point now);

  const ClientLimits limits_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> clients_;
  std::size_t opens_since_sweep_ = 0;
};

}  // namespace relais::http
