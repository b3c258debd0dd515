// Per-notification CPU of the ingest side, for each of the six flows:
// decode + validate (JSON and binary protobuf), encode (the Notification
// serialized as relais-ingest writes it to relais.inbound.v1), and the whole
// per-line work of a POST of an NDJSON batch (split, decode, validate,
// in-batch dedupe, record building). No I/O.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>
#include <unordered_set>
#include <vector>

#include "bench_data.hpp"
#include "relais/codec/decode.hpp"
#include "relais/codec/flow.hpp"
#include "relais/codec/ndjson.hpp"
#include "relais/codec/samples.hpp"
#include "relais/ingest/service.hpp"
#include "relais/ingest/soap.hpp"
#include "relais/validation/notification.hpp"

namespace {
using relais::v1::Flow;
namespace codec = relais::codec;

Flow flow_arg(const benchmark::State& st) {
  return codec::kAllFlows[static_cast<std::size_t>(st.range(0))];
}
std::string ssin(int i) {
  return relais::directory::ssin_string(
      relais::bench::ssin_of_person(static_cast<std::uint64_t>(i)));
}

void label(benchmark::State& st, std::size_t bytes) {
  st.SetLabel(std::string(codec::flow_id(flow_arg(st))));
  st.SetItemsProcessed(st.iterations());
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * bytes));
  st.counters["body_bytes"] = static_cast<double>(bytes);
}

void BM_DecodeValidateJson(benchmark::State& st) {
  auto flow = flow_arg(st);
  auto body = codec::sample_json(flow, relais::bench::uuid_of(1), ssin(1), "2026-01-15");
  for (auto _ : st) {
    relais::v1::Notification n;  // fresh per notification, as in relais-ingest
    auto err = codec::decode_and_validate_json(flow, body, n);
    if (err) {
      st.SkipWithError(("invalid sample: " + err->code + " " + err->field).c_str());
      break;
    }
    benchmark::DoNotOptimize(n);
  }
  label(st, body.size());
}

void BM_DecodeValidateProtobuf(benchmark::State& st) {
  auto flow = flow_arg(st);
  auto body = codec::sample_protobuf(flow, relais::bench::uuid_of(1), ssin(1), "2026-01-15");
  for (auto _ : st) {
    relais::v1::Notification n;
    auto err = codec::decode_and_validate_protobuf(flow, body, n);
    if (err) {
      st.SkipWithError(("invalid sample: " + err->code + " " + err->field).c_str());
      break;
    }
    benchmark::DoNotOptimize(n);
  }
  label(st, body.size());
}

// The two halves apart, to see what bounds decode + validate.
void BM_DecodeOnlyJson(benchmark::State& st) {
  auto flow = flow_arg(st);
  auto body = codec::sample_json(flow, relais::bench::uuid_of(1), ssin(1), "2026-01-15");
  for (auto _ : st) {
    relais::v1::Notification n;
    auto err = codec::decode_json(flow, body, n);
    benchmark::DoNotOptimize(err);
    benchmark::DoNotOptimize(n);
  }
  label(st, body.size());
}

void BM_DecodeOnlyProtobuf(benchmark::State& st) {
  auto flow = flow_arg(st);
  auto body = codec::sample_protobuf(flow, relais::bench::uuid_of(1), ssin(1), "2026-01-15");
  for (auto _ : st) {
    relais::v1::Notification n;
    auto err = codec::decode_protobuf(flow, body, n);
    benchmark::DoNotOptimize(err);
    benchmark::DoNotOptimize(n);
  }
  label(st, body.size());
}

void BM_ValidateOnly(benchmark::State& st) {
  auto flow = flow_arg(st);
  auto n = codec::sample_notification(flow, relais::bench::uuid_of(1), ssin(1), "2026-01-15");
  for (auto _ : st) {
    auto err = relais::validation::validate(n);
    benchmark::DoNotOptimize(err);
  }
  label(st, n.ByteSizeLong());
}

using relais::ingest::make_record;  // the real ingest path, not a copy
using relais::ingest::Record;

void BM_Encode(benchmark::State& st) {
  auto flow = flow_arg(st);
  relais::v1::Notification n;
  auto body = codec::sample_json(flow, relais::bench::uuid_of(1), ssin(1), "2026-01-15");
  if (codec::decode_and_validate_json(flow, body, n)) {
    st.SkipWithError("invalid sample");
    return;
  }
  std::size_t bytes = 0;
  for (auto _ : st) {
    auto r = make_record(n, codec::flow_id(flow), "application/json");
    bytes = r.value.size();
    benchmark::DoNotOptimize(r);
  }
  label(st, bytes);
}

// One NDJSON batch of 1000 distinct lines of a flow, processed as the batch
// endpoint does per line; items/s and ns per line.
void BM_IngestNdjsonLine(benchmark::State& st) {
  auto flow = flow_arg(st);
  constexpr int kLines = 1000;
  std::string batch;
  for (int i = 0; i < kLines; ++i) {
    batch += codec::sample_json(flow, relais::bench::uuid_of(static_cast<std::uint64_t>(i)),
                                ssin(i), "2026-01-15");
    batch += '\n';
  }
  auto fid = codec::flow_id(flow);
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    std::vector<codec::Line> lines;
    if (codec::split_lines(batch, 100000, lines)) {
      st.SkipWithError("split");
      break;
    }
    std::vector<Record> records;
    records.reserve(lines.size());
    std::unordered_set<std::string> seen;
    for (const auto& line : lines) {
      relais::v1::Notification n;
      if (auto err = codec::decode_and_validate_json(flow, line.text, n)) {
        st.SkipWithError(("invalid line: " + err->code).c_str());
        break;
      }
      std::string lower = n.envelope().ticket();
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (seen.insert(lower).second) records.push_back(make_record(n, fid, "application/x-ndjson"));
    }
    benchmark::DoNotOptimize(records);
  }
  st.SetLabel(std::string(fid));
  st.SetItemsProcessed(st.iterations() * kLines);
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * batch.size()));
  auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  st.counters["ns_per_line"] = ns / static_cast<double>(st.iterations() * kLines);
}

// The SOAP boundary, per notification (issue 15, target <= 20 us median): a SOAP 1.1 request
// of a notify-person NAME_CHANGE, as relais-ingest's POST /v1/soap decodes it: hostile-XML
// parse, envelope, XSD validation of the body (public BCSS Common types + Relais's own XSD),
// declarative mapping, then the JSON decode + validation of any post. Each call is timed on its
// own: counters p50_us and p99_us (Google Benchmark's own figures are means).
void BM_SoapDecodeValidateMap(benchmark::State& st) {
  const std::string repo = RELAIS_SOURCE_DIR;
  relais::ingest::SoapConfig c;
  c.xsd_files = {repo + "/var/bcss/cbss/XSD/SSDN/Common/NamespaceRoot.xsd",
                 repo + "/deploy/xsd/relais/notifications.xsd"};
  c.xsd_roots = {repo + "/var/bcss/cbss/XSD", repo + "/deploy/xsd/relais"};
  c.mappings_dir = repo + "/deploy/mappings";
  std::string err;
  auto g = relais::ingest::SoapGateway::create(c, err);
  if (!g) {
    st.SkipWithError(("SOAP gateway: " + err + " (scripts/fetch-bcss-xsd.sh)").c_str());
    return;
  }
  const std::string body =
      R"(<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>)"
      R"(<NotifyPerson xmlns="urn:be:relais:bcss:notifications:v1"><Context><Ticket>)" +
      relais::bench::uuid_of(1) +
      "</Ticket><SentAt>2026-11-02T10:00:00Z</SentAt></Context><Person><SSIN>" + ssin(1) +
      "</SSIN></Person><EffectiveDate>2026-11-01</EffectiveDate><Event>NAME_CHANGE</Event>"
      "<LastName>Janssens</LastName><FirstNames>Marie "
      "Louise</FirstNames></NotifyPerson></s:Body></s:Envelope>";
  std::vector<double> us;
  us.reserve(1 << 20);
  for (auto _ : st) {
    const auto t0 = std::chrono::steady_clock::now();
    auto d = g->decode(body, codec::Limits{});
    const auto t1 = std::chrono::steady_clock::now();
    if (!d.ok) {
      st.SkipWithError(("refused: " + d.code).c_str());
      break;
    }
    benchmark::DoNotOptimize(d);
    if (us.size() < us.capacity())
      us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  st.SetItemsProcessed(st.iterations());
  st.counters["body_bytes"] = static_cast<double>(body.size());
  if (!us.empty()) {
    std::sort(us.begin(), us.end());
    st.counters["p50_us"] = us[us.size() / 2];
    st.counters["p99_us"] = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  }
}
BENCHMARK(BM_SoapDecodeValidateMap);

void flows(benchmark::internal::Benchmark* b) {
  b->ArgName("flow");
  for (int i = 0; i < static_cast<int>(codec::kAllFlows.size()); ++i) b->Arg(i);
}

BENCHMARK(BM_DecodeValidateJson)->Apply(flows);
BENCHMARK(BM_DecodeValidateProtobuf)->Apply(flows);
BENCHMARK(BM_DecodeOnlyJson)->Apply(flows);
BENCHMARK(BM_DecodeOnlyProtobuf)->Apply(flows);
BENCHMARK(BM_ValidateOnly)->Apply(flows);
BENCHMARK(BM_Encode)->Apply(flows);
BENCHMARK(BM_IngestNdjsonLine)->Apply(flows);

}  // namespace

BENCHMARK_MAIN();
