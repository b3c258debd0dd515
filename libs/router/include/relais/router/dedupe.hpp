// Tickets already processed, per inbound partition. The state is kept in
// memory and backed by relais.dedupe.v1 (written in the same Kafka transaction
// as the outputs), from which a partition's set is rebuilt when the partition
// is assigned. A re-posted ticket carries the same SSIN, hence the same key
// and the same inbound partition, so per-partition sets are enough.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace relais::router {

struct TicketId {
  std::uint64_t hi = 0, lo = 0;
  bool operator==(const TicketId&) const = default;
};
struct TicketHash {
  std::size_t operator()(const TicketId& t) const { return std::hash<std::uint64_t>{}(t.hi * 0x9E3779B97F4A7C15ULL ^ t.lo); }
};

// Parses a canonical UUID (any case); nullopt when malformed.
std::optional<TicketId> parse_ticket(std::string_view uuid);

class DedupeSet {
 public:
  explicit DedupeSet(std::int64_t window_us) : window_us_(window_us) {}
  // True if newly inserted.
  bool insert(std::int32_t partition, TicketId t, std::int64_t at_us);
  bool contains(std::int32_t partition, TicketId t) const;
  void erase(std::int32_t partition, TicketId t);
  void drop_partition(std::int32_t partition) { parts_.erase(partition); }
  void clear_partition(std::int32_t partition) { parts_[partition].clear(); }
  // Forgets tickets older than the window.
  std::size_t prune(std::int64_t now_us);
  std::size_t size() const;
  std::int64_t window_us() const { return window_us_; }

 private:
  std::int64_t window_us_;
  std::unordered_map<std::int32_t, std::unordered_map<TicketId, std::int64_t, TicketHash>> parts_;
};

}  // namespace relais::router
