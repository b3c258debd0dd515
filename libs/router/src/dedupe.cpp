#include "relais/router/dedupe.hpp"

namespace relais::router {

std::optional<TicketId> parse_ticket(std::string_view s) {
  if (s.size() != 36) return std::nullopt;
  TicketId t;
  int nibbles = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return std::nullopt;
      continue;
    }
    std::uint64_t v;
    if (c >= '0' && c <= '9') v = static_cast<std::uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f') v = static_cast<std::uint64_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v = static_cast<std::uint64_t>(c - 'A' + 10);
    else return std::nullopt;
    if (nibbles < 16) t.hi = (t.hi << 4) | v;
    else t.lo = (t.lo << 4) | v;
    ++nibbles;
  }
  return t;
}

bool DedupeSet::insert(std::int32_t partition, TicketId t, std::int64_t at_us) {
  return parts_[partition].emplace(t, at_us).second;
}

bool DedupeSet::contains(std::int32_t partition, TicketId t) const {
  auto it = parts_.find(partition);
  return it != parts_.end() && it->second.contains(t);
}

void DedupeSet::erase(std::int32_t partition, TicketId t) {
  if (auto it = parts_.find(partition); it != parts_.end()) it->second.erase(t);
}

std::size_t DedupeSet::prune(std::int64_t now_us) {
  std::size_t n = 0;
  for (auto& [p, m] : parts_) n += std::erase_if(m, [&](const auto& kv) { return now_us - kv.second > window_us_; });
  return n;
}

std::size_t DedupeSet::size() const {
  std::size_t n = 0;
  for (const auto& [p, m] : parts_) n += m.size();
  return n;
}

}  // namespace relais::router
