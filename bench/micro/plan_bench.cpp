// The router's CPU per record, without Kafka: router::plan over batches of 1,000 inbound records
// (the six flows in turn, each person integrated at one CPAS of 565, with the default clignotant
// rules), against, measured in the same run:
//  - decode + validate only (the floor: every plan must at least read the record), and
//  - the re-encode baseline: what the router did per forwarding before the plan split
//    (a deep copy of the decoded notification into each RoutedNotification, serialized again,
//    the event name found by reflection).
// items_per_second = records planned per second; the per-record figure is 1e9 / that, in ns.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench_data.hpp"
#include "relais/alerts/rules.hpp"
#include "relais/codec/flow.hpp"
#include "relais/codec/samples.hpp"
#include "relais/router/plan.hpp"
#include "relais/v1/records.pb.h"
#include "relais/validation/notification.hpp"

namespace {
namespace rb = relais::bench;
namespace v1 = relais::v1;
using relais::router::InboundRecord;

constexpr unsigned kCpasCount = 565;
constexpr int kBatch = 1000;
constexpr std::int64_t kNow = 1'768'435'200'000'000;  // 2026-01-15

struct Fixture {
  relais::directory::Directory dir;
  relais::alerts::Ruleset rules;
  std::vector<std::string> values;
  std::vector<std::string> keys;
  std::vector<InboundRecord> batch;

  Fixture() {
    std::vector<std::uint16_t> idx;
    for (unsigned c = 0; c < kCpasCount; ++c) {
      auto cbe = rb::cbe_of_cpas(c);
      dir.upsert_cpas(cbe, "CPAS " + std::to_string(c), {"21004"});
      idx.push_back(dir.cpas_index(cbe));
    }
    // 100,000 persons, each integrated at one CPAS since 2000 (quality 1: the social integration
    // income, so the rules evaluate).
    for (std::uint64_t p = 0; p < 100'000; ++p)
      dir.bulk_add(relais::directory::Entry{rb::ssin_of_person(p),
                                            static_cast<std::uint32_t>(p + 1), idx[p % kCpasCount],
                                            1, rb::kDay2000, relais::directory::kOpenEnd});
    dir.finish_bulk();
    auto r = relais::alerts::load_rules(RELAIS_SOURCE_DIR "/deploy/rules/clignotants.yaml");
    if (auto* ok = std::get_if<relais::alerts::Ruleset>(&r)) rules = std::move(*ok);
    for (int i = 0; i < kBatch; ++i) {
      auto flow =
          relais::codec::kAllFlows[static_cast<std::size_t>(i) % relais::codec::kAllFlows.size()];
      auto n = relais::codec::sample_notification(
          flow, rb::uuid_of(static_cast<std::uint64_t>(i) + 1),
          relais::directory::ssin_string(rb::ssin_of_person(i * 97)), "2026-01-15");
      values.push_back(n.SerializeAsString());
      keys.push_back(n.envelope().ssin());
    }
    for (int i = 0; i < kBatch; ++i)
      batch.push_back({"relais.inbound.v1", i % 6, i, &keys[static_cast<std::size_t>(i)],
                       values[static_cast<std::size_t>(i)]});
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

void BM_PlanBatch(benchmark::State& st) {
  const auto& f = fixture();
  const bool with_rules = st.range(0) != 0;
  relais::router::DedupeSet processed(7LL * 24 * 3600 * 1000000);
  relais::router::Plan plan;
  std::size_t produced = 0;
  for (auto _ : st) {
    relais::router::plan(f.batch, {f.dir, processed, with_rules ? &f.rules : nullptr, {}, kNow},
                         plan);
    produced += plan.records.size();
    benchmark::DoNotOptimize(plan.records.data());
  }
  st.SetItemsProcessed(st.iterations() * kBatch);
  st.counters["records_out_per_batch"] =
      static_cast<double>(produced) / static_cast<double>(st.iterations());
  st.SetLabel(with_rules ? "with the default rules" : "no rules");
}
BENCHMARK(BM_PlanBatch)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_DecodeValidateOnly(benchmark::State& st) {
  const auto& f = fixture();
  for (auto _ : st) {
    for (const auto& r : f.batch) {
      v1::Notification n;
      n.ParseFromArray(r.value.data(), static_cast<int>(r.value.size()));
      auto err = relais::validation::validate(n);
      benchmark::DoNotOptimize(err);
    }
  }
  st.SetItemsProcessed(st.iterations() * kBatch);
}
BENCHMARK(BM_DecodeValidateOnly)->Unit(benchmark::kMicrosecond);

// The per-forwarding work the plan's splice replaced: copy, re-serialize, reflection.
void BM_ReencodeBaseline(benchmark::State& st) {
  const auto& f = fixture();
  std::vector<v1::Notification> decoded(f.batch.size());
  for (std::size_t i = 0; i < f.batch.size(); ++i)
    decoded[i].ParseFromString(std::string(f.batch[i].value));
  for (auto _ : st) {
    for (const auto& n : decoded) {
      v1::RoutedNotification r;
      *r.mutable_notification() = n;
      r.set_cpas_cbe("0207000013");
      r.set_routed_at_us(kNow);
      std::string v;
      r.SerializeToString(&v);
      const auto* body_field =
          n.GetDescriptor()->FindFieldByNumber(static_cast<int>(n.body_case()));
      const auto& body = n.GetReflection()->GetMessage(n, body_field);
      const auto* ev = body.GetDescriptor()->FindFieldByName("event");
      benchmark::DoNotOptimize(body.GetReflection()->GetEnum(body, ev)->name());
      benchmark::DoNotOptimize(v);
    }
  }
  st.SetItemsProcessed(st.iterations() * kBatch);
}
BENCHMARK(BM_ReencodeBaseline)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
