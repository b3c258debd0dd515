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
    std::uint64_t v = 0;
    if (c >= '0' && c <= '9')
      v = static_cast<std::uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      v = static_cast<std::uint64_t>(c - 'a') + 10;
    else if (c >= 'A' && c <= 'F')
      v = static_cast<std::uint64_t>(c - 'A') + 10;
    else
      return std::nullopt;
    if (nibbles < 16)
      t.hi = (t.hi << 4) | v;
    else
      t.lo = (t.lo << 4) | v;
    ++nibbles;
  }
  return t;
}

TicketId identity(const Mark& m) {
  // splitmix64's finalizer: a bijection of 64-bit integers.
  std::uint64_t x = m.ssin + 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return TicketId{m.ticket.hi, m.ticket.lo ^ x};
}

Seen DedupeSet::check(std::int32_t partition, const Mark& m) const {
  auto p = parts_.find(partition);
  if (p == parts_.end()) return Seen::kNew;
  if (auto it = p->second.seen.find(identity(m)); it != p->second.seen.end())
    return it->second.content == m.content ? Seen::kDuplicate : Seen::kTicketReused;
  if (!p->second.legacy.empty() && p->second.legacy.contains(m.ticket)) return Seen::kDuplicate;
  return Seen::kNew;
}

Seen DedupeSet::insert(std::int32_t partition, const Mark& m, std::int64_t at_us) {
  auto& p = parts_[partition];
  auto [it, added] = p.seen.try_emplace(identity(m), Entry{at_us, m.content});
  if (!added) return it->second.content == m.content ? Seen::kDuplicate : Seen::kTicketReused;
  if (!p.legacy.empty() && p.legacy.contains(m.ticket)) {
    p.seen.erase(it);
    return Seen::kDuplicate;
  }
  return Seen::kNew;
}

void DedupeSet::insert_legacy(std::int32_t partition, TicketId t, std::int64_t at_us) {
  parts_[partition].legacy.try_emplace(t, at_us);
}

void DedupeSet::erase(std::int32_t partition, const Mark& m) {
  if (auto it = parts_.find(partition); it != parts_.end()) it->second.seen.erase(identity(m));
}

std::size_t DedupeSet::prune(std::int64_t now_us) {
  std::size_t n = 0;
  for (auto& [p, part] : parts_) {
    n += std::erase_if(part.seen,
                       [&](const auto& kv) { return now_us - kv.second.at_us > window_us_; });
    n +=
        std::erase_if(part.legacy, [&](const auto& kv) { return now_us - kv.second > window_us_; });
  }
  return n;
}

std::size_t DedupeSet::size() const {
  std::size_t n = 0;
  for (const auto& [p, part] : parts_) n += part.seen.size() + part.legacy.size();
  return n;
}

}  // namespace relais::router
