#include <gtest/gtest.h>

#include <random>

#include "relais/directory/directory.hpp"
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

TEST(PgSource, ParseTextArray) {
  EXPECT_EQ(parse_text_array("{}"), std::vector<std::string>{});
  EXPECT_EQ(parse_text_array("{21004,21015}"), (std::vector<std::string>{"21004", "21015"}));
  EXPECT_EQ(parse_text_array("{\"a b\"}"), (std::vector<std::string>{"a b"}));
}
