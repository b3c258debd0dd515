// The router's in-memory directory at scale (default 10 million integrations
// over 50 CPAS, ~20% closed periods, 5 lines for 4 persons): bulk build time
// and memory, routing::decide() cost for a hit and a miss, upsert cost with
// the overlay compaction amortised. RELAIS_BENCH_DIR_N overrides the size.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "bench_data.hpp"
#include "relais/routing/route.hpp"

namespace {
namespace dir = relais::directory;
namespace rb = relais::bench;

std::uint64_t size_n() {
  const char* e = std::getenv("RELAIS_BENCH_DIR_N");
  return e ? std::strtoull(e, nullptr, 10) : 10'000'000ull;
}

struct Built {
  std::unique_ptr<dir::Directory> d;
  std::uint64_t n = 0;
  double build_s = 0;
  std::size_t rss_delta = 0;
};

Built build(std::uint64_t n) {
  Built b;
  b.n = n;
  auto rss0 = rb::rss_bytes();
  auto t0 = std::chrono::steady_clock::now();
  b.d = std::make_unique<dir::Directory>();
  std::uint16_t idx[rb::kCpas];
  for (unsigned c = 0; c < rb::kCpas; ++c) {
    auto cbe = rb::cbe_of_cpas(c);
    b.d->upsert_cpas(cbe, "CPAS " + std::to_string(c), {"21004"});
    idx[c] = b.d->cpas_index(cbe);
  }
  for (std::uint64_t i = 0; i < n; ++i) {
    auto l = rb::line_of(i);
    b.d->bulk_add(dir::Entry{rb::ssin_of_person(l.person), static_cast<std::uint32_t>(i + 1),
                             idx[l.cpas], l.quality, l.start, l.end});
  }
  b.d->finish_bulk();
  b.build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto rss1 = rb::rss_bytes();
  b.rss_delta = rss1 > rss0 ? rss1 - rss0 : 0;
  return b;
}

Built& the_directory() {
  static Built b = build(size_n());
  return b;
}

void BM_DirectoryBuild(benchmark::State& st) {
  for (auto _ : st) {
    auto& b = the_directory();
    st.SetIterationTime(b.build_s);
  }
  auto& b = the_directory();
  auto n = static_cast<double>(b.n);
  st.counters["integrations"] = n;
  st.counters["build_s"] = b.build_s;
  st.counters["memory_bytes"] = static_cast<double>(b.d->memory_bytes());
  st.counters["bytes_per_integration"] = static_cast<double>(b.d->memory_bytes()) / n;
  st.counters["rss_delta_bytes"] = static_cast<double>(b.rss_delta);
  st.counters["rss_bytes_per_integration"] = static_cast<double>(b.rss_delta) / n;
  st.counters["persons"] = static_cast<double>(rb::persons_for(b.n));
}

// Random keys, so that the binary search goes to memory as in production.
std::vector<std::uint64_t> keys(std::uint64_t from, std::uint64_t to, std::size_t count,
                                unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::uint64_t> dist(from, to - 1);
  std::vector<std::uint64_t> out(count);
  for (auto& k : out) k = rb::ssin_of_person(dist(rng));
  return out;
}

void run_decide(benchmark::State& st, const std::vector<std::uint64_t>& ks) {
  auto& b = the_directory();
  relais::routing::Decision out;
  std::size_t i = 0, routed = 0, targets = 0;
  for (auto _ : st) {
    relais::routing::decide(ks[i], std::nullopt, rb::kEffectiveDay, *b.d, out);
    routed += out.targets.empty() ? 0 : 1;
    targets += out.targets.size();
    if (++i == ks.size()) i = 0;
    benchmark::DoNotOptimize(out);
  }
  st.SetItemsProcessed(st.iterations());
  st.counters["routed_fraction"] =
      static_cast<double>(routed) / static_cast<double>(st.iterations());
  st.counters["targets_per_decision"] =
      static_cast<double>(targets) / static_cast<double>(st.iterations());
  st.counters["integrations"] = static_cast<double>(b.n);
}

// A person present in the directory (most have an open line, some only a line
// closed before the effective date: those are "outside_period" drops).
void BM_DecideHit(benchmark::State& st) {
  auto& b = the_directory();
  run_decide(st, keys(0, rb::persons_for(b.n), 1 << 20, 1));
}

// A valid SSIN nobody integrated.
void BM_DecideMiss(benchmark::State& st) {
  auto& b = the_directory();
  auto p = rb::persons_for(b.n);
  run_decide(st, keys(p + 1000, p + 1000 + 4'000'000, 1 << 20, 2));
}

// The same on a 100,000-integration directory (2.4 MB, cache resident): the
// cost of decide() itself, without the cache and TLB misses of a 240 MB search.
Built& small_directory() {
  static Built b = build(100'000);
  return b;
}
void BM_DecideHitSmall(benchmark::State& st) {
  auto& b = small_directory();
  auto ks = keys(0, rb::persons_for(b.n), 1 << 16, 4);
  relais::routing::Decision out;
  std::size_t i = 0;
  for (auto _ : st) {
    relais::routing::decide(ks[i], std::nullopt, rb::kEffectiveDay, *b.d, out);
    if (++i == ks.size()) i = 0;
    benchmark::DoNotOptimize(out);
  }
  st.SetItemsProcessed(st.iterations());
  st.counters["integrations"] = static_cast<double>(b.n);
}
void BM_DecideMissSmall(benchmark::State& st) {
  auto& b = small_directory();
  auto p = rb::persons_for(b.n);
  auto ks = keys(p + 1000, p + 1'000'000, 1 << 16, 5);
  relais::routing::Decision out;
  std::size_t i = 0;
  for (auto _ : st) {
    relais::routing::decide(ks[i], std::nullopt, rb::kEffectiveDay, *b.d, out);
    if (++i == ks.size()) i = 0;
    benchmark::DoNotOptimize(out);
  }
  st.SetItemsProcessed(st.iterations());
  st.counters["integrations"] = static_cast<double>(b.n);
}

// Upserts of the routing thread (DirectoryFeed::apply_pending): 80% new lines
// for existing persons, 20% closing an existing line. Enough iterations that
// the overlay is folded into the base (compaction) at least once at 10M; the
// ns/op is therefore the amortised cost; max_op_ms is the longest single
// upsert (the compaction pause). One clock read per op is included.
void BM_Upsert(benchmark::State& st) {
  auto& b = the_directory();
  std::mt19937_64 rng(3);
  auto persons = rb::persons_for(b.n);
  std::uniform_int_distribution<std::uint64_t> pdist(0, persons - 1), idist(0, b.n - 1);
  std::uint32_t next_id = static_cast<std::uint32_t>(b.n + 1 + 10'000'000);
  std::size_t compactions = 0;
  double max_ns = 0;
  auto before = b.d->overlay_size();
  auto t = std::chrono::steady_clock::now();
  for (auto _ : st) {
    dir::Entry e;
    if (rng() % 5 == 0) {
      auto i = idist(rng);
      auto l = rb::line_of(i);
      e = dir::Entry{rb::ssin_of_person(l.person),
                     static_cast<std::uint32_t>(i + 1),
                     static_cast<std::uint16_t>(l.cpas),
                     l.quality,
                     l.start,
                     rb::kEffectiveDay - 1};
    } else {
      auto p = pdist(rng);
      e = dir::Entry{
          rb::ssin_of_person(p), next_id++,    static_cast<std::uint16_t>(p % rb::kCpas), 1,
          rb::kEffectiveDay,     dir::kOpenEnd};
    }
    b.d->upsert(e);
    auto now = std::chrono::steady_clock::now();
    max_ns = std::max(max_ns, std::chrono::duration<double, std::nano>(now - t).count());
    t = now;
    auto after = b.d->overlay_size();
    if (after < before) ++compactions;
    before = after;
  }
  st.SetItemsProcessed(st.iterations());
  st.counters["compactions"] = static_cast<double>(compactions);
  st.counters["max_op_ms"] = max_ns / 1e6;
  st.counters["integrations_after"] = static_cast<double>(b.d->size());
  st.counters["bytes_per_integration_after"] =
      static_cast<double>(b.d->memory_bytes()) / static_cast<double>(b.d->size());
}

BENCHMARK(BM_DirectoryBuild)
    ->Iterations(1)
    ->Repetitions(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecideHit)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_DecideMiss)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_DecideHitSmall)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_DecideMissSmall)->Unit(benchmark::kNanosecond);
// 3M upserts: more than the 1.25M overlay entries that trigger a compaction at 10M.
BENCHMARK(BM_Upsert)->Iterations(3'000'000)->Repetitions(1)->Unit(benchmark::kNanosecond);

}  // namespace

BENCHMARK_MAIN();
