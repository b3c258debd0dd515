// The in-memory directory the router routes against: every integration line
// (SSIN, CPAS, quality code, period), the CPAS table and the SSIN
// replacements. Compact: a sorted base array of 24-byte entries, plus a small
// overlay holding the full current list of every SSIN changed since the base
// was built; the overlay is folded into the base when it grows. An SSIN is
// found through a hash index (open addressing, linear probing, 8-byte slots =
// 32-bit fingerprint of the SSIN's hash + where its lines are: the first base
// entry, or "in the overlay"), so a lookup is one slot probe plus the
// contiguous entries (about two cache misses) and most misses end at the slot.
// Single-writer, single-reader: the router thread owns it.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace relais::directory {

inline constexpr std::int32_t kOpenEnd = std::numeric_limits<std::int32_t>::max();

// SSIN digits as an integer (11 digits fit in 64 bits); nullopt if not 11 digits.
std::optional<std::uint64_t> ssin_key(std::string_view ssin);
std::string ssin_string(std::uint64_t key);

struct Entry {
  std::uint64_t ssin;
  std::uint32_t id;       // integrations.id (row identity for updates)
  std::uint16_t cpas;     // index into the CPAS table
  std::uint16_t quality;  // quality code
  std::int32_t start;     // days since 1970-01-01, inclusive
  std::int32_t end;       // inclusive; kOpenEnd when open
  bool covers(std::int32_t day) const { return start <= day && day <= end; }
};
static_assert(sizeof(Entry) == 24);

namespace detail {
// Memory for the two large arrays (entries, index): blocks of 4 MiB and more are
// 2 MiB-aligned and advised for transparent huge pages, so that a random
// lookup does not also pay a page walk (TLB miss) per cache miss.
void* big_alloc(std::size_t bytes);
void big_free(void* p) noexcept;
template <typename T>
struct BigAllocator {
  using value_type = T;
  BigAllocator() = default;
  template <typename U>
  BigAllocator(const BigAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(big_alloc(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { big_free(p); }
  template <typename U>
  bool operator==(const BigAllocator<U>&) const noexcept {
    return true;
  }
};
}  // namespace detail

struct Cpas {
  std::string cbe;
  std::string name;
  std::vector<std::string> municipalities;  // NIS codes
};

class Directory {
 public:
  // Hash of an SSIN for the index (tests inject a poor one to force collisions).
  using KeyHash = std::uint64_t (*)(std::uint64_t);
  explicit Directory(KeyHash hash = nullptr) : hash_(hash) {}

  // CPAS table: index for a CBE (created on first sight).
  std::uint16_t cpas_index(std::string_view cbe);
  std::optional<std::uint16_t> find_cpas(std::string_view cbe) const;
  const Cpas& cpas(std::uint16_t idx) const { return cpas_[idx]; }
  std::size_t cpas_count() const { return cpas_.size(); }
  void upsert_cpas(std::string_view cbe, std::string name, std::vector<std::string> municipalities);

  // Bulk load: append without ordering, then call finish_bulk() once. reserve_bulk() first
  // with the number of entries to come, when known, makes the base array once at its final
  // size: without it the array doubles while it grows and is copied once more to fit, so the
  // load's peak is up to twice the directory (docs/performance.md, "The router's memory").
  void reserve_bulk(std::size_t entries) { base_.reserve(base_.size() + entries); }
  void bulk_add(const Entry& e) { base_.push_back(e); }
  void finish_bulk();

  // Inserts or replaces the entry with the same id.
  void upsert(const Entry& e);

  // SSIN replacement: old -> new (replaces a previous replacement of old).
  void add_replacement(std::uint64_t old_ssin, std::uint64_t new_ssin);
  // Forgets the replacement of old (an operator dropped it).
  void remove_replacement(std::uint64_t old_ssin);

  // Calls fn(const Entry&) for each entry of `ssin` (exactly that number).
  template <typename F>
  void for_each(std::uint64_t ssin, F&& fn) const {
    auto [lo, hi] = lines(ssin);
    for (auto p = lo; p != hi; ++p) fn(*p);
  }

  // The current lines of `ssin` (overlay or base), contiguous; empty if none.
  std::pair<const Entry*, const Entry*> lines(std::uint64_t ssin) const;

  // The numbers that designate the same person as `ssin` through replacements,
  // `ssin` first (both directions, bounded depth).
  void related(std::uint64_t ssin, std::vector<std::uint64_t>& out) const;

  // False when no recorded replacement involves `ssin` (then related() is just
  // {ssin}); true when one may (a small Bloom filter: false positives possible).
  bool may_have_replacement(std::uint64_t ssin) const {
    if (repl_bits_.empty()) return false;
    auto h = repl_hash(ssin);
    auto m = repl_mask(h);
    return (repl_bits_[h & (repl_bits_.size() - 1)] & m) == m;
  }

  std::size_t size() const { return size_; }
  std::size_t overlay_size() const { return overlay_.size(); }
  std::size_t size_for_cpas(std::uint16_t idx) const {
    return idx < per_cpas_.size() ? per_cpas_[idx] : 0;
  }
  std::size_t memory_bytes() const;
  std::size_t index_slots() const { return slots_.size(); }
  std::size_t index_used() const { return index_used_; }

 private:
  // Index slot: `ref` 0 = empty, kInOverlay = the SSIN's lines are in overlay_,
  // else base_[ref - 1] is the SSIN's first entry.
  struct Slot {
    std::uint32_t fp;
    std::uint32_t ref;
  };
  static_assert(sizeof(Slot) == 8);
  static constexpr std::uint32_t kInOverlay = 0xFFFFFFFFu;

  std::uint64_t key_hash(std::uint64_t ssin) const;
  static std::uint64_t repl_hash(std::uint64_t ssin);
  static std::uint64_t repl_mask(std::uint64_t h) {
    return (1ull << ((h >> 32) & 63)) | (1ull << ((h >> 40) & 63));
  }
  std::pair<const Entry*, const Entry*> base_run(std::size_t first) const;
  std::pair<const Entry*, const Entry*> base_search(std::uint64_t ssin) const;  // binary search
  void build_index();
  void mark_in_overlay(std::uint64_t ssin, bool may_grow);
  void repl_filter_add(std::uint64_t ssin);
  void compact();
  void count(const Entry& e, int delta);

  KeyHash hash_ = nullptr;
  using Entries = std::vector<Entry, detail::BigAllocator<Entry>>;
  Entries base_;  // sorted by (ssin, id)
  std::vector<Slot, detail::BigAllocator<Slot>>
      slots_;  // power of two; every SSIN of base_ and overlay_
  std::size_t index_used_ = 0;
  std::vector<std::uint64_t> repl_bits_;  // filter over the numbers of both replacement maps
  std::size_t repl_numbers_ = 0;          // numbers added to the filter since it was sized
  std::unordered_map<std::uint64_t, std::vector<Entry>> overlay_;
  std::size_t overlay_entries_ = 0;
  std::size_t size_ = 0;
  std::vector<std::size_t> per_cpas_;
  std::vector<Cpas> cpas_;
  std::unordered_map<std::string, std::uint16_t> cpas_by_cbe_;
  std::unordered_map<std::uint64_t, std::uint64_t> replaced_by_;            // old -> new
  std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> replaces_;  // new -> olds
};

}  // namespace relais::directory
