// The in-memory directory the router routes against: every integration line
// (SSIN, CPAS, quality code, period), the CPAS table and the SSIN
// replacements. Compact: a sorted base array of 24-byte entries searched by
// binary search, plus a small overlay holding the full current list of every
// SSIN changed since the base was built; the overlay is folded into the base
// when it grows. Single-writer, single-reader: the router thread owns it.
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

struct Cpas {
  std::string cbe;
  std::string name;
  std::vector<std::string> municipalities;  // NIS codes
};

class Directory {
 public:
  // CPAS table: index for a CBE (created on first sight).
  std::uint16_t cpas_index(std::string_view cbe);
  std::optional<std::uint16_t> find_cpas(std::string_view cbe) const;
  const Cpas& cpas(std::uint16_t idx) const { return cpas_[idx]; }
  std::size_t cpas_count() const { return cpas_.size(); }
  void upsert_cpas(std::string_view cbe, std::string name, std::vector<std::string> municipalities);

  // Bulk load: append without ordering, then call finish_bulk() once.
  void bulk_add(const Entry& e) { base_.push_back(e); }
  void finish_bulk();

  // Inserts or replaces the entry with the same id.
  void upsert(const Entry& e);

  // SSIN replacement: old -> new.
  void add_replacement(std::uint64_t old_ssin, std::uint64_t new_ssin);

  // Calls fn(const Entry&) for each entry of `ssin` (exactly that number).
  template <typename F>
  void for_each(std::uint64_t ssin, F&& fn) const {
    if (auto it = overlay_.find(ssin); it != overlay_.end()) {
      for (const auto& e : it->second) fn(e);
      return;
    }
    auto [lo, hi] = base_range(ssin);
    for (auto p = lo; p != hi; ++p) fn(*p);
  }

  // The numbers that designate the same person as `ssin` through replacements,
  // `ssin` first (both directions, bounded depth).
  void related(std::uint64_t ssin, std::vector<std::uint64_t>& out) const;

  std::size_t size() const { return size_; }
  std::size_t overlay_size() const { return overlay_.size(); }
  std::size_t size_for_cpas(std::uint16_t idx) const { return idx < per_cpas_.size() ? per_cpas_[idx] : 0; }
  std::size_t memory_bytes() const;

 private:
  std::pair<std::vector<Entry>::const_iterator, std::vector<Entry>::const_iterator> base_range(
      std::uint64_t ssin) const;
  void compact();
  void count(const Entry& e, int delta);

  std::vector<Entry> base_;  // sorted by (ssin, id)
  std::unordered_map<std::uint64_t, std::vector<Entry>> overlay_;
  std::size_t overlay_entries_ = 0;
  std::size_t size_ = 0;
  std::vector<std::size_t> per_cpas_;
  std::vector<Cpas> cpas_;
  std::unordered_map<std::string, std::uint16_t> cpas_by_cbe_;
  std::unordered_map<std::uint64_t, std::uint64_t> replaced_by_;           // old -> new
  std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> replaces_;  // new -> olds
};

}  // namespace relais::directory
