// Notifications already processed, per inbound partition. The state is kept in
// memory and backed by relais.dedupe.v1 (written in the same Kafka transaction
// as the outputs), from which a partition's set is rebuilt when the partition
// is assigned. A re-posted notification carries the same SSIN, hence the same
// key and the same inbound partition, so per-partition sets are enough.
//
// A notification is identified by (ticket, SSIN): the same ticket for another
// person is another notification (it may land on any partition, and is routed
// on its own). For each one the set remembers when it was processed and a
// fingerprint of its content (fingerprint::content), so that the same ticket
// for the same person with other content is told apart from an exact re-post
// and never merged into it.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace relais::router {

struct TicketId {
  std::uint64_t hi = 0, lo = 0;
  bool operator==(const TicketId&) const = default;
};
struct TicketHash {
  std::size_t operator()(const TicketId& t) const {
    return std::hash<std::uint64_t>{}(t.hi * 0x9E3779B97F4A7C15ULL ^ t.lo);
  }
};

// Parses a canonical UUID (any case); nullopt when malformed.
std::optional<TicketId> parse_ticket(std::string_view uuid);

// What deduplication knows of one notification.
struct Mark {
  TicketId ticket;
  std::uint64_t ssin = 0;     // directory::ssin_key of the envelope's SSIN
  std::uint64_t content = 0;  // fingerprint::content of the notification
};

// The 128-bit key of (ticket, SSIN): the ticket's low half XOR a bijective mix
// of the SSIN, so the same ticket for two persons gives two keys, and the set
// stores 16 bytes of key instead of 24. Two different (ticket, SSIN) pairs
// meet only if their tickets share the high 64 bits and their low halves differ
// by exactly the mix of the SSINs (2^-64 for random UUIDs); even then their
// content fingerprints differ (the SSIN is part of the content), so the
// second is refused as a reused ticket, never dropped as a duplicate.
TicketId identity(const Mark& m);

enum class Seen {
  kNew,          // first time: inserted
  kDuplicate,    // same ticket, same SSIN, same content (or content unknown: older format)
  kTicketReused  // same ticket, same SSIN, other content: not inserted, the caller refuses it
};

class DedupeSet {
 public:
  explicit DedupeSet(std::int64_t window_us) : window_us_(window_us) {}
  // Looks `m` up and inserts it when new.
  Seen insert(std::int32_t partition, const Mark& m, std::int64_t at_us);
  // Restore of the formats without SSIN and content (DedupeMark, DedupeBatch
  // before content_fp): the ticket is a duplicate whatever its SSIN and content,
  // as those routers decided; these entries age out with the window.
  void insert_legacy(std::int32_t partition, TicketId t, std::int64_t at_us);
  Seen check(std::int32_t partition, const Mark& m) const;
  void erase(std::int32_t partition, const Mark& m);
  void drop_partition(std::int32_t partition) { parts_.erase(partition); }
  void clear_partition(std::int32_t partition) { parts_[partition] = {}; }
  // Forgets notifications older than the window.
  std::size_t prune(std::int64_t now_us);
  std::size_t size() const;
  std::int64_t window_us() const { return window_us_; }

 private:
  struct Entry {
    std::int64_t at_us;
    std::uint64_t content;
  };
  // A node is 40 bytes (next pointer, key, entry): a 48-byte allocation, the
  // same as before the content was kept, plus 8 bytes of bucket per entry.
  struct Partition {
    std::unordered_map<TicketId, Entry, TicketHash> seen;           // by identity()
    std::unordered_map<TicketId, std::int64_t, TicketHash> legacy;  // by ticket
  };
  std::int64_t window_us_;
  std::unordered_map<std::int32_t, Partition> parts_;
};

}  // namespace relais::router
