#include "relais/directory/directory.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "relais/directory/pg_source.hpp"

using namespace relais::directory;

namespace {
std::vector<Entry> entries_of(const Directory& d, std::uint64_t ssin) {
  std::vector<Entry> out;
  d.for_each(ssin, [&](const Entry& e) { out.push_back(e); });
  return out;
}
}  // namespace

TEST(SsinKey, RoundTrip) {
  auto k = ssin_key("02040500244");
  ASSERT_TRUE(k);
  EXPECT_EQ(*k, 2040500244ULL);
  EXPECT_EQ(ssin_string(*k), "02040500244");
  EXPECT_FALSE(ssin_key("0204050024"));
  EXPECT_FALSE(ssin_key("0204050024x"));
}

TEST(Directory, BulkLoadThenLookup) {
  Directory d;
  auto a = d.cpas_index("0212344876");
  auto b = d.cpas_index("0207350189");
  d.bulk_add({100, 2, a, 2, 10, kOpenEnd});
  d.bulk_add({50, 1, b, 5, 0, 20});
  d.bulk_add({100, 3, b, 3, 5, 6});
  d.finish_bulk();
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(entries_of(d, 100).size(), 2u);
  EXPECT_EQ(entries_of(d, 50).size(), 1u);
  EXPECT_TRUE(entries_of(d, 51).empty());
  EXPECT_EQ(d.size_for_cpas(a), 1u);
  EXPECT_EQ(d.size_for_cpas(b), 2u);
}

TEST(Directory, ReservedBulkLoadIsMadeOnceAtItsSize) {
  // reserve_bulk() with the exact count: the base array is never grown nor copied to fit, so
  // the entries take exactly their size; without it the array keeps no more than a tenth spare.
  constexpr std::size_t kLines = 10'000;
  auto load = [&](Directory& d, bool reserve) {
    auto a = d.cpas_index("0212344876");
    if (reserve) d.reserve_bulk(kLines);
    for (std::uint32_t i = 0; i < kLines; ++i)
      d.bulk_add({1000 + (i * 7919u) % 5000u, i + 1, a, 2, 10, kOpenEnd});
    d.finish_bulk();
  };
  Directory reserved, grown;
  load(reserved, true);
  load(grown, false);
  EXPECT_EQ(reserved.size(), kLines);
  EXPECT_EQ(grown.size(), kLines);
  const std::size_t index = reserved.index_slots() * 8;
  EXPECT_EQ(reserved.memory_bytes(), kLines * sizeof(Entry) + index);
  EXPECT_LE(grown.memory_bytes(), kLines * sizeof(Entry) * 11 / 10 + index);
  for (std::uint64_t s : {1000ull, 3499ull, 5999ull})
    EXPECT_EQ(entries_of(reserved, s).size(), entries_of(grown, s).size()) << s;
  EXPECT_EQ(entries_of(reserved, 1000).size(), 2u);
}

TEST(Directory, UpsertReplacesById) {
  Directory d;
  auto a = d.cpas_index("0212344876");
  d.bulk_add({100, 2, a, 2, 10, kOpenEnd});
  d.finish_bulk();
  d.upsert({100, 2, a, 2, 10, 15});  // closed
  auto e = entries_of(d, 100);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].end, 15);
  EXPECT_EQ(d.size(), 1u);
  d.upsert({100, 7, a, 5, 16, kOpenEnd});  // new line, same person
  EXPECT_EQ(entries_of(d, 100).size(), 2u);
  EXPECT_EQ(d.size(), 2u);
}

TEST(Directory, CompactionKeepsEverything) {
  Directory d;
  auto a = d.cpas_index("0212344876");
  std::mt19937_64 rng(42);
  std::map<std::uint32_t, Entry> truth;
  for (std::uint32_t id = 1; id <= 1000; ++id) {
    Entry e{rng() % 500 + 1, id, a, 2, static_cast<std::int32_t>(id), kOpenEnd};
    d.bulk_add(e);
    truth[id] = e;
  }
  d.finish_bulk();
  // Enough updates to trigger compaction several times.
  for (std::uint32_t i = 0; i < 200000; ++i) {
    std::uint32_t id = static_cast<std::uint32_t>(rng() % 1500 + 1);
    std::uint64_t ssin = truth.contains(id) ? truth[id].ssin : rng() % 500 + 1;
    Entry e{ssin, id, a, 2, static_cast<std::int32_t>(i), static_cast<std::int32_t>(i + 10)};
    d.upsert(e);
    truth[id] = e;
  }
  EXPECT_EQ(d.size(), truth.size());
  for (const auto& [id, e] : truth) {
    auto list = entries_of(d, e.ssin);
    auto it = std::find_if(list.begin(), list.end(), [&](const Entry& x) { return x.id == id; });
    ASSERT_NE(it, list.end()) << id;
    EXPECT_EQ(it->start, e.start);
  }
}

TEST(Directory, RelatedFollowsReplacementsBothWays) {
  Directory d;
  d.add_replacement(1, 2);
  d.add_replacement(2, 3);
  std::vector<std::uint64_t> r;
  d.related(3, r);
  EXPECT_EQ(r.size(), 3u);
  d.related(1, r);
  EXPECT_EQ(r.size(), 3u);
  d.related(9, r);
  EXPECT_EQ(r, std::vector<std::uint64_t>{9});
}

// --- The hash index in front of the sorted array --------------------------

namespace {
using Truth = std::map<std::uint64_t, std::map<std::uint32_t, Entry>>;  // ssin -> id -> line

std::vector<std::uint32_t> ids_of(const Directory& d, std::uint64_t ssin) {
  std::vector<std::uint32_t> out;
  d.for_each(ssin, [&](const Entry& e) { out.push_back(e.id); });
  return out;
}

// Every SSIN of the truth gives exactly its lines (same ids, same fields), and
// `misses` give nothing.
void expect_matches(const Directory& d, const Truth& truth,
                    const std::vector<std::uint64_t>& misses) {
  std::size_t total = 0;
  for (const auto& [ssin, lines] : truth) {
    auto got = entries_of(d, ssin);
    ASSERT_EQ(got.size(), lines.size()) << "ssin " << ssin;
    for (const auto& e : got) {
      auto it = lines.find(e.id);
      ASSERT_NE(it, lines.end()) << "ssin " << ssin << " id " << e.id;
      EXPECT_EQ(e.ssin, ssin);
      EXPECT_EQ(e.start, it->second.start);
      EXPECT_EQ(e.end, it->second.end);
      EXPECT_EQ(e.cpas, it->second.cpas);
    }
    total += lines.size();
  }
  EXPECT_EQ(d.size(), total);
  for (auto m : misses) {
    EXPECT_TRUE(entries_of(d, m).empty()) << "miss " << m;
  }
  EXPECT_LE(static_cast<double>(d.index_used()), 0.8 * static_cast<double>(d.index_slots()));
}

// Bulk load, lookups, then upserts (new lines, changed lines, new SSINs) past
// several compactions, checking everything against a plain map as it goes.
void exercise(Directory& d, std::size_t persons, std::size_t upserts, std::uint64_t seed) {
  auto a = d.cpas_index("0212344876");
  std::mt19937_64 rng(seed);
  Truth truth;
  std::map<std::uint32_t, std::uint64_t> ssin_of_id;
  std::uint32_t next_id = 1;
  // SSINs are multiples of 3: k*3+1 are never integrated (misses).
  for (std::size_t p = 0; p < persons; ++p) {
    std::uint64_t ssin = 3 * (rng() % 100'000'000'000ull / 3);
    int n = 1 + static_cast<int>(rng() % 4);  // 1-4 lines
    for (int k = 0; k < n; ++k) {
      Entry e{ssin,
              next_id++,
              a,
              static_cast<std::uint16_t>(k),
              static_cast<std::int32_t>(rng() % 1000),
              kOpenEnd};
      d.bulk_add(e);
      truth[ssin][e.id] = e;
      ssin_of_id[e.id] = ssin;
    }
  }
  d.finish_bulk();
  std::vector<std::uint64_t> misses;
  for (int i = 0; i < 2000; ++i) misses.push_back(3 * (rng() % 30'000'000'000ull) + 1);
  expect_matches(d, truth, misses);
  for (std::size_t i = 0; i < upserts; ++i) {
    Entry e{};
    auto r = rng() % 10;
    if (r < 4 && !ssin_of_id.empty()) {  // change an existing line
      auto it = ssin_of_id.lower_bound(static_cast<std::uint32_t>(rng() % next_id));
      if (it == ssin_of_id.end()) it = ssin_of_id.begin();
      e = truth[it->second][it->first];
      e.end = static_cast<std::int32_t>(rng() % 2000);
    } else if (r < 8 && !truth.empty()) {  // a new line for a known person
      auto it = truth.lower_bound(3 * (rng() % 100'000'000'000ull / 3));
      if (it == truth.end()) it = truth.begin();
      e = Entry{it->first, next_id++, a, 9, static_cast<std::int32_t>(i), kOpenEnd};
    } else {  // a new person
      e = Entry{3 * (rng() % 100'000'000'000ull / 3), next_id++, a, 1,
                static_cast<std::int32_t>(i),         kOpenEnd};
    }
    d.upsert(e);
    truth[e.ssin][e.id] = e;
    ssin_of_id[e.id] = e.ssin;
    if (i % (upserts / 4 + 1) == 0) expect_matches(d, truth, misses);
  }
  expect_matches(d, truth, misses);
}

std::uint64_t same_fingerprint(std::uint64_t x) {
  return (x * 0x9e3779b97f4a7c15ULL) & 0xffffffffULL;
}  // fp = 0
std::uint64_t same_everything(std::uint64_t) {
  return 42;
}
}  // namespace

TEST(DirectoryIndex, HitsMissesUpsertsAndCompactions) {
  Directory d;
  // 30,000 persons (~75,000 lines); 200,000 upserts fold the overlay into the base more than once.
  exercise(d, 30'000, 200'000, 7);
}

TEST(DirectoryIndex, EveryFingerprintCollides) {
  // Slots spread, but every occupied slot met on a probe has the same
  // fingerprint: each must be told apart by the SSIN itself (base or overlay).
  Directory d(&same_fingerprint);
  exercise(d, 20'000, 150'000, 8);
}

TEST(DirectoryIndex, EverySsinInOneProbeChain) {
  Directory d(&same_everything);
  exercise(d, 300, 600, 9);
}

TEST(DirectoryIndex, SeveralLinesOfOneSsinAreContiguous) {
  Directory d;
  auto a = d.cpas_index("0212344876");
  for (std::uint32_t id = 10; id > 0; --id) d.bulk_add({500, id, a, 1, 0, kOpenEnd});
  d.bulk_add({499, 20, a, 1, 0, kOpenEnd});
  d.bulk_add({501, 21, a, 1, 0, kOpenEnd});
  d.finish_bulk();
  auto ids = ids_of(d, 500);
  EXPECT_EQ(ids, (std::vector<std::uint32_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(ids_of(d, 499), std::vector<std::uint32_t>{20});
  EXPECT_EQ(ids_of(d, 501), std::vector<std::uint32_t>{21});
  // Once changed, the SSIN's full list comes from the overlay.
  d.upsert({500, 11, a, 1, 0, kOpenEnd});
  EXPECT_EQ(ids_of(d, 500).size(), 11u);
  EXPECT_EQ(ids_of(d, 499), std::vector<std::uint32_t>{20});
}

TEST(DirectoryIndex, UpsertsWithoutBulkLoadAndGrowth) {
  // No finish_bulk at all, then many new SSINs in the overlay: the index is
  // created and grown by the upserts alone.
  Directory d;
  auto a = d.cpas_index("0212344876");
  EXPECT_TRUE(entries_of(d, 1).empty());
  for (std::uint32_t i = 1; i <= 20'000; ++i) d.upsert({i * 7ull, i, a, 1, 0, kOpenEnd});
  EXPECT_EQ(d.overlay_size(), 20'000u);
  for (std::uint32_t i = 1; i <= 20'000; ++i) {
    ASSERT_EQ(ids_of(d, i * 7ull), std::vector<std::uint32_t>{i});
  }
  EXPECT_TRUE(entries_of(d, 8).empty());
  EXPECT_LE(static_cast<double>(d.index_used()), 0.8 * static_cast<double>(d.index_slots()));
}

TEST(DirectoryIndex, MemoryPerIntegrationAtMost48Bytes) {
  // Worst case for the index: one line per SSIN and a count just past a
  // power-of-two boundary (0.7 * 2^18 + 1 SSINs -> 2^19 slots of 8 bytes).
  Directory d;
  auto a = d.cpas_index("0212344876");
  const std::size_t n = static_cast<std::size_t>(0.7 * (1 << 18)) + 1;
  for (std::size_t i = 0; i < n; ++i)
    d.bulk_add({i * 11 + 3, static_cast<std::uint32_t>(i + 1), a, 1, 0, kOpenEnd});
  d.finish_bulk();
  EXPECT_EQ(d.index_slots(), std::size_t{1} << 19);
  EXPECT_LE(static_cast<double>(d.memory_bytes()) / static_cast<double>(d.size()), 48.0);
  // The benchmark's shape: 5 lines for 4 persons.
  Directory e;
  auto b = e.cpas_index("0212344876");
  for (std::uint32_t i = 0; i < 500'000; ++i)
    e.bulk_add({(i % 400'000) * 13ull + 5, i + 1, b, 1, 0, kOpenEnd});
  e.finish_bulk();
  EXPECT_LE(static_cast<double>(e.memory_bytes()) / static_cast<double>(e.size()), 48.0);
}

TEST(Directory, RelatedMatchesTheReplacementGraph) {
  // Enough replacements to resize the filter several times; related() must
  // give exactly the breadth-first walk over both maps, whatever the filter.
  Directory d;
  std::mt19937_64 rng(11);
  std::map<std::uint64_t, std::uint64_t> by;
  std::map<std::uint64_t, std::vector<std::uint64_t>> olds;
  for (int i = 0; i < 20'000; ++i) {
    std::uint64_t o = rng() % 50'000, n = rng() % 50'000;
    d.add_replacement(o, n);
    if (o == n) continue;
    if (auto it = by.find(o); it != by.end()) {
      if (it->second == n) continue;
      auto& v = olds[it->second];
      v.erase(std::remove(v.begin(), v.end(), o), v.end());
    }
    by[o] = n;
    olds[n].push_back(o);
  }
  std::vector<std::uint64_t> got;
  for (std::uint64_t s = 0; s < 60'000; s += 3) {
    std::vector<std::uint64_t> want{s};
    for (std::size_t i = 0; i < want.size() && want.size() < 16; ++i) {
      auto add = [&](std::uint64_t x) {
        if (std::find(want.begin(), want.end(), x) == want.end()) want.push_back(x);
      };
      if (auto it = by.find(want[i]); it != by.end()) add(it->second);
      if (auto it = olds.find(want[i]); it != olds.end())
        for (auto x : it->second) add(x);
    }
    d.related(s, got);
    ASSERT_EQ(got, want) << s;
    if (want.size() > 1) {
      EXPECT_TRUE(d.may_have_replacement(s));
    }
  }
  // The filter is a filter: most numbers without replacement are rejected.
  int passed = 0;
  for (std::uint64_t s = 1'000'000; s < 1'100'000; ++s) passed += d.may_have_replacement(s) ? 1 : 0;
  EXPECT_LT(passed, 5'000);
}

TEST(PgSource, ParseTextArray) {
  EXPECT_EQ(parse_text_array("{}"), std::vector<std::string>{});
  EXPECT_EQ(parse_text_array("{21004,21015}"), (std::vector<std::string>{"21004", "21015"}));
  EXPECT_EQ(parse_text_array("{\"a b\"}"), (std::vector<std::string>{"a b"}));
}
