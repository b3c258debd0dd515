#include "relais/outbox/policy.hpp"

#include <algorithm>

namespace relais::outbox {

std::chrono::milliseconds BackoffPolicy::ceiling(int attempt) const {
  if (attempt < 1) attempt = 1;
  auto c = base;
  for (int i = 1; i < attempt && c < cap; ++i) c *= 2;
  return std::min(c, cap);
}

std::chrono::milliseconds BackoffPolicy::delay(int attempt, std::mt19937_64& rng) const {
  auto hi = ceiling(attempt).count();
  auto lo = hi / 10;
  if (hi <= lo) return std::chrono::milliseconds(hi);
  std::uniform_int_distribution<long long> d(lo, hi);
  return std::chrono::milliseconds(d(rng));
}

CircuitBreaker::Permit CircuitBreaker::acquire(Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (state_ == State::open && now - opened_at_ >= open_for_) state_ = State::half_open;
  switch (state_) {
    case State::closed:
      return Permit::call;
    case State::open:
      return Permit::refused;
    case State::half_open:
      if (trial_in_flight_) return Permit::refused;
      trial_in_flight_ = true;
      return Permit::trial;
  }
  return Permit::refused;
}

void CircuitBreaker::on_success(Clock::time_point) {
  std::lock_guard lock(mu_);
  failures_ = 0;
  trial_in_flight_ = false;
  state_ = State::closed;
}

void CircuitBreaker::on_failure(Clock::time_point now) {
  std::lock_guard lock(mu_);
  ++failures_;
  if (state_ == State::half_open) {
    trial_in_flight_ = false;
    state_ = State::open;
    opened_at_ = now;
  } else if (state_ == State::closed && failures_ >= threshold_) {
    state_ = State::open;
    opened_at_ = now;
  }
  // Failures reported while already open (calls started before it opened) change nothing.
}

void CircuitBreaker::release_trial() {
  std::lock_guard lock(mu_);
  trial_in_flight_ = false;
}

CircuitBreaker::State CircuitBreaker::state(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  if (state_ == State::open && now - opened_at_ >= open_for_) return State::half_open;
  return state_;
}

Clock::time_point CircuitBreaker::retry_at(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  if (state_ != State::open) return now;
  return std::max(now, opened_at_ + open_for_);
}

int CircuitBreaker::consecutive_failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

std::string_view state_name(CircuitBreaker::State s) {
  switch (s) {
    case CircuitBreaker::State::closed:
      return "closed";
    case CircuitBreaker::State::open:
      return "open";
    case CircuitBreaker::State::half_open:
      return "half_open";
  }
  return "";
}

}  // namespace relais::outbox
