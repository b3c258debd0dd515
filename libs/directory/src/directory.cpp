#include "relais/directory/directory.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <new>
#include <stdexcept>

namespace relais::directory {

namespace detail {
void* big_alloc(std::size_t bytes) {
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  if (bytes < 2 * kHuge) {
    if (void* p = std::malloc(bytes ? bytes : 1)) return p;
    throw std::bad_alloc();
  }
  const std::size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
  if (!p) throw std::bad_alloc();
  ::madvise(p, rounded, MADV_HUGEPAGE);  // advice only: no error if the kernel has THP off
  return p;
}
void big_free(void* p) noexcept {
  std::free(p);
}
}  // namespace detail

std::optional<std::uint64_t> ssin_key(std::string_view ssin) {
  if (ssin.size() != 11) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : ssin) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

std::string ssin_string(std::uint64_t key) {
  std::string s(11, '0');
  for (int i = 10; i >= 0; --i) {
    s[static_cast<std::size_t>(i)] = static_cast<char>('0' + key % 10);
    key /= 10;
  }
  return s;
}

std::uint16_t Directory::cpas_index(std::string_view cbe) {
  std::string k(cbe);
  if (auto it = cpas_by_cbe_.find(k); it != cpas_by_cbe_.end()) return it->second;
  auto idx = static_cast<std::uint16_t>(cpas_.size());
  cpas_.push_back(Cpas{k, {}, {}});
  cpas_by_cbe_.emplace(std::move(k), idx);
  per_cpas_.push_back(0);
  return idx;
}

std::optional<std::uint16_t> Directory::find_cpas(std::string_view cbe) const {
  auto it = cpas_by_cbe_.find(std::string(cbe));
  if (it == cpas_by_cbe_.end()) return std::nullopt;
  return it->second;
}

void Directory::upsert_cpas(std::string_view cbe, std::string name,
                            std::vector<std::string> municipalities) {
  auto idx = cpas_index(cbe);
  cpas_[idx].name = std::move(name);
  cpas_[idx].municipalities = std::move(municipalities);
}

namespace {
bool by_key(const Entry& a, const Entry& b) {
  return a.ssin != b.ssin ? a.ssin < b.ssin : a.id < b.id;
}

// murmur3's 64-bit finaliser: every input bit moves every output bit, so the
// low bits (slot) and the high 32 bits (fingerprint) are both well mixed.
std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

constexpr double kLoadAfterBuild = 0.7;  // the index is sized so that at most 70% of slots are used
constexpr double kMaxLoad = 0.8;         // new SSINs upserted past this rebuild it larger
}  // namespace

std::uint64_t Directory::key_hash(std::uint64_t ssin) const {
  return hash_ ? hash_(ssin) : mix64(ssin);
}
std::uint64_t Directory::repl_hash(std::uint64_t ssin) {
  return mix64(ssin ^ 0x9e3779b97f4a7c15ULL);
}

void Directory::count(const Entry& e, int delta) {
  if (e.cpas >= per_cpas_.size()) per_cpas_.resize(e.cpas + 1u, 0);
  per_cpas_[e.cpas] = static_cast<std::size_t>(static_cast<long long>(per_cpas_[e.cpas]) + delta);
  size_ = static_cast<std::size_t>(static_cast<long long>(size_) + delta);
}

void Directory::finish_bulk() {
  std::sort(base_.begin(), base_.end(), by_key);
  // Keep the last occurrence of an id (bulk loads are by id, so this only guards misuse).
  base_.erase(
      std::unique(base_.begin(), base_.end(),
                  [](const Entry& a, const Entry& b) { return a.ssin == b.ssin && a.id == b.id; }),
      base_.end());
  // Copied to fit only when a tenth or more would be wasted (a load without reserve_bulk()).
  if (base_.capacity() - base_.size() > base_.size() / 10) base_.shrink_to_fit();
  size_ = 0;
  std::fill(per_cpas_.begin(), per_cpas_.end(), 0);
  for (const auto& e : base_) count(e, 1);
  for (const auto& [k, v] : overlay_)
    for (const auto& e : v) count(e, 1);
  // Entries in the overlay replace their SSIN's base entries.
  for (const auto& [k, v] : overlay_) {
    auto [lo, hi] = base_search(k);
    for (auto p = lo; p != hi; ++p) count(*p, -1);
  }
  build_index();
}

std::pair<const Entry*, const Entry*> Directory::base_search(std::uint64_t ssin) const {
  auto lo = std::lower_bound(base_.begin(), base_.end(), ssin,
                             [](const Entry& e, std::uint64_t s) { return e.ssin < s; });
  auto hi = lo;
  while (hi != base_.end() && hi->ssin == ssin) ++hi;
  return {base_.data() + (lo - base_.begin()), base_.data() + (hi - base_.begin())};
}

std::pair<const Entry*, const Entry*> Directory::base_run(std::size_t first) const {
  const Entry* lo = base_.data() + first;
  const Entry* end = base_.data() + base_.size();
  const Entry* hi = lo + 1;
  while (hi != end && hi->ssin == lo->ssin) ++hi;
  return {lo, hi};
}

std::pair<const Entry*, const Entry*> Directory::lines(std::uint64_t ssin) const {
  if (slots_.empty()) return {nullptr, nullptr};
  const auto h = key_hash(ssin);
  const auto fp = static_cast<std::uint32_t>(h >> 32);
  const std::size_t mask = slots_.size() - 1;
  // At most 80% of the slots are used, so the probe always reaches an empty slot.
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot s = slots_[i];
    if (s.ref == 0) return {nullptr, nullptr};
    if (s.fp != fp) continue;
    if (s.ref == kInOverlay) {
      if (auto it = overlay_.find(ssin); it != overlay_.end())
        return {it->second.data(), it->second.data() + it->second.size()};
      continue;  // another SSIN with the same fingerprint
    }
    if (base_[s.ref - 1].ssin == ssin) return base_run(s.ref - 1);
  }
}

// Sized for every SSIN of base_ and overlay_ at <= 70% load; base SSINs point
// at their first entry, overlay SSINs are marked kInOverlay.
void Directory::build_index() {
  if (base_.size() >= kInOverlay - 1)
    throw std::length_error("directory: too many entries for the index");
  std::size_t keys = overlay_.size();
  for (std::size_t i = 0; i < base_.size(); ++i)
    if (i == 0 || base_[i].ssin != base_[i - 1].ssin) ++keys;
  std::size_t cap = 16;
  while (static_cast<double>(cap) * kLoadAfterBuild < static_cast<double>(keys)) cap *= 2;
  decltype(slots_)(cap, Slot{0, 0}).swap(slots_);
  index_used_ = 0;
  const std::size_t mask = cap - 1;
  // Base SSINs are distinct (base_ is sorted): each goes to the first empty
  // slot of its probe. The slot is prefetched a few SSINs ahead, since the
  // table is far larger than the caches.
  struct Pending {
    std::uint64_t h;
    std::uint32_t ref;
  };
  constexpr std::size_t kAhead = 16;
  Pending ring[kAhead];
  std::size_t queued = 0;
  auto place = [&](const Pending& p) {
    std::size_t i = p.h & mask;
    while (slots_[i].ref != 0) i = (i + 1) & mask;
    slots_[i] = Slot{static_cast<std::uint32_t>(p.h >> 32), p.ref};
    ++index_used_;
  };
  for (std::size_t i = 0; i < base_.size(); ++i) {
    if (i != 0 && base_[i].ssin == base_[i - 1].ssin) continue;
    const auto h = key_hash(base_[i].ssin);
    __builtin_prefetch(&slots_[h & mask], 1);
    auto& r = ring[queued % kAhead];
    if (queued >= kAhead) place(r);
    r = Pending{h, static_cast<std::uint32_t>(i + 1)};
    ++queued;
  }
  for (std::size_t k = queued > kAhead ? queued - kAhead : 0; k < queued; ++k)
    place(ring[k % kAhead]);
  for (const auto& [k, v] : overlay_) mark_in_overlay(k, false);
}

// `ssin` is in overlay_: its slot says so (a new slot if the SSIN has no base
// entries; when that would pass kMaxLoad and `may_grow`, the index is rebuilt
// larger instead, which marks every overlay SSIN).
void Directory::mark_in_overlay(std::uint64_t ssin, bool may_grow) {
  if (slots_.empty()) return build_index();
  const auto h = key_hash(ssin);
  const auto fp = static_cast<std::uint32_t>(h >> 32);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    auto& s = slots_[i];
    if (s.ref == 0) {
      if (may_grow &&
          static_cast<double>(index_used_ + 1) > kMaxLoad * static_cast<double>(slots_.size()))
        return build_index();
      s = Slot{fp, kInOverlay};
      ++index_used_;
      return;
    }
    if (s.fp == fp && s.ref != kInOverlay && base_[s.ref - 1].ssin == ssin) {
      s.ref = kInOverlay;
      return;
    }
  }
}

void Directory::upsert(const Entry& e) {
  auto it = overlay_.find(e.ssin);
  if (it == overlay_.end()) {
    auto [lo, hi] = lines(e.ssin);  // its base entries, if any
    std::vector<Entry> list(lo, hi);
    overlay_entries_ += list.size();
    it = overlay_.emplace(e.ssin, std::move(list)).first;
    mark_in_overlay(e.ssin, true);
  }
  auto& list = it->second;
  auto found = std::find_if(list.begin(), list.end(), [&](const Entry& x) { return x.id == e.id; });
  if (found != list.end()) {
    count(*found, -1);
    *found = e;
  } else {
    list.push_back(e);
    ++overlay_entries_;
  }
  count(e, 1);
  if (overlay_entries_ > 65536 && overlay_entries_ > base_.size() / 8) compact();
}

void Directory::compact() {
  Entries merged;
  merged.reserve(base_.size() + overlay_entries_);
  for (const auto& e : base_)
    if (!overlay_.contains(e.ssin)) merged.push_back(e);
  // The kept base entries are sorted already: sort the overlay's apart and merge.
  const auto mid = static_cast<std::ptrdiff_t>(merged.size());
  for (const auto& [k, v] : overlay_) merged.insert(merged.end(), v.begin(), v.end());
  std::sort(merged.begin() + mid, merged.end(), by_key);
  std::inplace_merge(merged.begin(), merged.begin() + mid, merged.end(), by_key);
  base_ = std::move(merged);
  overlay_.clear();
  overlay_entries_ = 0;
  build_index();
}

void Directory::repl_filter_add(std::uint64_t ssin) {
  auto put = [&](std::uint64_t x) {
    auto h = repl_hash(x);
    repl_bits_[h & (repl_bits_.size() - 1)] |= repl_mask(h);
    ++repl_numbers_;
  };
  // About 32 bits per number (two bits set per number, in one 64-bit word):
  // a number without replacement passes with a probability of about 1-2%.
  if (repl_bits_.empty() || (repl_numbers_ + 1) * 16 > repl_bits_.size() * 64) {
    const std::size_t numbers = replaced_by_.size() + replaces_.size() + 1;
    std::size_t words = 64;
    while (words * 64 < numbers * 32) words *= 2;
    std::vector<std::uint64_t>(words, 0).swap(repl_bits_);
    repl_numbers_ = 0;
    for (const auto& [k, v] : replaced_by_) put(k);
    for (const auto& [k, v] : replaces_) put(k);
  }
  put(ssin);
}

void Directory::add_replacement(std::uint64_t old_ssin, std::uint64_t new_ssin) {
  if (old_ssin == new_ssin) return;
  if (auto it = replaced_by_.find(old_ssin); it != replaced_by_.end()) {
    if (it->second == new_ssin) return;
    auto& olds = replaces_[it->second];
    olds.erase(std::remove(olds.begin(), olds.end(), old_ssin), olds.end());
  }
  replaced_by_[old_ssin] = new_ssin;
  replaces_[new_ssin].push_back(old_ssin);
  repl_filter_add(old_ssin);
  repl_filter_add(new_ssin);
}

void Directory::remove_replacement(std::uint64_t old_ssin) {
  auto it = replaced_by_.find(old_ssin);
  if (it == replaced_by_.end()) return;
  if (auto r = replaces_.find(it->second); r != replaces_.end()) {
    auto& olds = r->second;
    olds.erase(std::remove(olds.begin(), olds.end(), old_ssin), olds.end());
    if (olds.empty()) replaces_.erase(r);
  }
  replaced_by_.erase(it);
  // The filter keeps the numbers: a false positive costs a map lookup, never a wrong route.
}

void Directory::related(std::uint64_t ssin, std::vector<std::uint64_t>& out) const {
  out.clear();
  out.push_back(ssin);
  if (!may_have_replacement(ssin)) return;
  // Breadth-first over both directions, at most 16 numbers for one person.
  for (std::size_t i = 0; i < out.size() && out.size() < 16; ++i) {
    if (!may_have_replacement(out[i])) continue;  // in neither map
    auto add = [&](std::uint64_t s) {
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
    };
    if (auto it = replaced_by_.find(out[i]); it != replaced_by_.end()) add(it->second);
    if (auto it = replaces_.find(out[i]); it != replaces_.end())
      for (auto s : it->second) add(s);
  }
}

std::size_t Directory::memory_bytes() const {
  std::size_t n = base_.capacity() * sizeof(Entry) + slots_.capacity() * sizeof(Slot);
  n += overlay_.size() * (sizeof(std::uint64_t) + sizeof(std::vector<Entry>) + 16) +
       overlay_entries_ * sizeof(Entry);
  n += replaced_by_.size() * 48 + replaces_.size() * 64 +
       repl_bits_.capacity() * sizeof(std::uint64_t);
  return n;
}

}  // namespace relais::directory
