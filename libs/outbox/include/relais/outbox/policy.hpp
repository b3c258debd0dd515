// The pure parts of the outbox sender: retry delays (exponential backoff with
// full jitter, capped) and a circuit breaker driven by an injected clock.
// No I/O, no threads of their own: unit-tested with a fake clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <string_view>

namespace relais::outbox {

using Clock = std::chrono::steady_clock;

struct BackoffPolicy {
  std::chrono::milliseconds base{200};
  std::chrono::milliseconds cap{30000};
  // The ceiling of the delay after `attempt` failures (1-based): min(cap, base * 2^(attempt-1)).
  std::chrono::milliseconds ceiling(int attempt) const;
  // "Full jitter": a uniform draw in [ceiling/10, ceiling] (a floor of a tenth so
  // that a failing row never spins; AWS's full jitter draws from 0).
  std::chrono::milliseconds delay(int attempt, std::mt19937_64& rng) const;
};

// Closed → (K consecutive failures) → open for T → half-open: one trial call
// at a time; its success closes the breaker, its failure reopens it for T.
class CircuitBreaker {
 public:
  enum class State { closed = 0, open = 1, half_open = 2 };
  enum class Permit { call, trial, refused };

  CircuitBreaker(int failure_threshold, std::chrono::milliseconds open_for)
      : threshold_(failure_threshold < 1 ? 1 : failure_threshold), open_for_(open_for) {}

  // Asks to make one call at `now`. `trial` means this caller is the single
  // half-open probe and must report its result. Thread-safe.
  Permit acquire(Clock::time_point now);
  void on_success(Clock::time_point now);
  void on_failure(Clock::time_point now);
  // A trial that was granted but not made (nothing to send): lets another caller probe.
  void release_trial();

  State state(Clock::time_point now) const;
  // When an open breaker lets the next trial through (now if not open).
  Clock::time_point retry_at(Clock::time_point now) const;
  int consecutive_failures() const;

 private:
  mutable std::mutex mu_;
  const int threshold_;
  const std::chrono::milliseconds open_for_;
  State state_ = State::closed;
  int failures_ = 0;
  Clock::time_point opened_at_{};
  bool trial_in_flight_ = false;
};

std::string_view state_name(CircuitBreaker::State s);

}  // namespace relais::outbox
