#include <algorithm>
#include <cmath>
#include <relais/http/limits.hpp>

namespace relais::http {

namespace {
constexpr std::size_t sweep_every = 256;  // opens between two sweeps of forgotten clients
}

TokenBucket::TokenBucket(double rate, double burst, Clock::time_point now)
    : rate_(rate), burst_(std::max(1.0, burst)), tokens_(burst_), last_(now) {}

std::optional<std::chrono::milliseconds> TokenBucket::take(Clock::time_point now) {
  if (now > last_) {
    tokens_ =
        std::min(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
    last_ = now;
  }
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return std::nullopt;
  }
  const double wait_ms = std::ceil((1.0 - tokens_) / rate_ * 1000.0);
  return std::chrono::milliseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(wait_ms)));
}

bool TokenBucket::full(Clock::time_point now) const {
  const double refilled = tokens_ + std::chrono::duration<double>(now - last_).count() * rate_;
  return now >= last_ && refilled >= burst_;
}

ClientTable::ClientTable(ClientLimits limits) : limits_(limits) {}

bool ClientTable::open(const std::string& client, Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (++opens_since_sweep_ >= sweep_every) sweep(now);
  auto [it, fresh] = clients_.try_emplace(client);
  Entry& e = it->second;
  if (limits_.max_connections > 0 && e.connections >= limits_.max_connections) return false;
  ++e.connections;
  return true;
}

void ClientTable::close(const std::string& client, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = clients_.find(client);
  if (it == clients_.end()) return;
  Entry& e = it->second;
  if (e.connections > 0) --e.connections;
  if (e.connections == 0 && (!e.bucket || e.bucket->full(now))) clients_.erase(it);
}

std::optional<std::chrono::milliseconds> ClientTable::admit(const std::string& client,
                                                            Clock::time_point now) {
  if (limits_.rate <= 0) return std::nullopt;
  std::lock_guard lock(mu_);
  Entry& e = clients_[client];
  if (!e.bucket)
    e.bucket.emplace(limits_.rate, limits_.burst >= 1 ? limits_.burst : std::max(1.0, limits_.rate),
                     now);
  return e.bucket->take(now);
}

std::size_t ClientTable::tracked() const {
  std::lock_guard lock(mu_);
  return clients_.size();
}

void ClientTable::sweep(Clock::time_point now) {
  opens_since_sweep_ = 0;
  std::erase_if(clients_, [now](const auto& kv) {
    return kv.second.connections == 0 && (!kv.second.bucket || kv.second.bucket->full(now));
  });
}

}  // namespace relais::http
