#include "relais/directory/directory.hpp"

#include <algorithm>

namespace relais::directory {

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

void Directory::upsert_cpas(std::string_view cbe, std::string name, std::vector<std::string> municipalities) {
  auto idx = cpas_index(cbe);
  cpas_[idx].name = std::move(name);
  cpas_[idx].municipalities = std::move(municipalities);
}

namespace {
bool by_key(const Entry& a, const Entry& b) { return a.ssin != b.ssin ? a.ssin < b.ssin : a.id < b.id; }
}  // namespace

void Directory::count(const Entry& e, int delta) {
  if (e.cpas >= per_cpas_.size()) per_cpas_.resize(e.cpas + 1u, 0);
  per_cpas_[e.cpas] = static_cast<std::size_t>(static_cast<long long>(per_cpas_[e.cpas]) + delta);
  size_ = static_cast<std::size_t>(static_cast<long long>(size_) + delta);
}

void Directory::finish_bulk() {
  std::sort(base_.begin(), base_.end(), by_key);
  // Keep the last occurrence of an id (bulk loads are by id, so this only guards misuse).
  base_.erase(std::unique(base_.begin(), base_.end(),
                          [](const Entry& a, const Entry& b) { return a.ssin == b.ssin && a.id == b.id; }),
              base_.end());
  base_.shrink_to_fit();
  size_ = 0;
  std::fill(per_cpas_.begin(), per_cpas_.end(), 0);
  for (const auto& e : base_) count(e, 1);
  for (const auto& [k, v] : overlay_)
    for (const auto& e : v) count(e, 1);
  // Entries in the overlay replace their SSIN's base entries.
  for (const auto& [k, v] : overlay_) {
    auto [lo, hi] = base_range(k);
    for (auto p = lo; p != hi; ++p) count(*p, -1);
  }
}

std::pair<std::vector<Entry>::const_iterator, std::vector<Entry>::const_iterator> Directory::base_range(
    std::uint64_t ssin) const {
  auto lo = std::lower_bound(base_.begin(), base_.end(), ssin,
                             [](const Entry& e, std::uint64_t s) { return e.ssin < s; });
  auto hi = lo;
  while (hi != base_.end() && hi->ssin == ssin) ++hi;
  return {lo, hi};
}

void Directory::upsert(const Entry& e) {
  auto it = overlay_.find(e.ssin);
  if (it == overlay_.end()) {
    std::vector<Entry> list;
    auto [lo, hi] = base_range(e.ssin);
    list.assign(lo, hi);
    overlay_entries_ += list.size();
    it = overlay_.emplace(e.ssin, std::move(list)).first;
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
  std::vector<Entry> merged;
  merged.reserve(base_.size() + overlay_entries_);
  for (const auto& e : base_)
    if (!overlay_.contains(e.ssin)) merged.push_back(e);
  for (const auto& [k, v] : overlay_) merged.insert(merged.end(), v.begin(), v.end());
  std::sort(merged.begin(), merged.end(), by_key);
  base_ = std::move(merged);
  overlay_.clear();
  overlay_entries_ = 0;
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
}

void Directory::related(std::uint64_t ssin, std::vector<std::uint64_t>& out) const {
  out.clear();
  out.push_back(ssin);
  if (replaced_by_.empty()) return;
  // Breadth-first over both directions, at most 16 numbers for one person.
  for (std::size_t i = 0; i < out.size() && out.size() < 16; ++i) {
    auto add = [&](std::uint64_t s) {
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
    };
    if (auto it = replaced_by_.find(out[i]); it != replaced_by_.end()) add(it->second);
    if (auto it = replaces_.find(out[i]); it != replaces_.end())
      for (auto s : it->second) add(s);
  }
}

std::size_t Directory::memory_bytes() const {
  std::size_t n = base_.capacity() * sizeof(Entry);
  n += overlay_.size() * (sizeof(std::uint64_t) + sizeof(std::vector<Entry>) + 16) + overlay_entries_ * sizeof(Entry);
  n += replaced_by_.size() * 48 + replaces_.size() * 64;
  return n;
}

}  // namespace relais::directory
