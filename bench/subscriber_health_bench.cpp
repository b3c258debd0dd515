// One subscriber health pass of relais-api (libs/api/subscriber_health.hpp) against a real broker,
// timed: `subscriber_health_bench <passes>` with the RELAIS_KAFKA_* settings of the environment
// (brokers, SASL). Prints one JSON object per pass: seconds, Kafka requests, first records fetched,
// applications, CPAS, waiting records. Driven by bench/health_part.py (make bench).
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "relais/api/subscriber_health.hpp"
#include "relais/common/metrics.hpp"

namespace {
std::string env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): single-threaded start
  return v && *v ? v : fallback;
}
}  // namespace

int main(int argc, char** argv) {
  const int passes = argc > 1 ? std::atoi(argv[1]) : 2;
  relais::api::SubscriberHealthOptions o;
  o.kafka["bootstrap.servers"] = env("RELAIS_KAFKA_BROKERS", "127.0.0.1:9092");
  if (auto proto = env("RELAIS_KAFKA_SECURITY_PROTOCOL", ""); !proto.empty()) {
    o.kafka["security.protocol"] = proto;
    o.kafka["sasl.mechanism"] = env("RELAIS_KAFKA_SASL_MECHANISM", "PLAIN");
    o.kafka["sasl.username"] = env("RELAIS_KAFKA_SASL_USERNAME", "");
    std::string pw;
    if (FILE* f = std::fopen(env("RELAIS_KAFKA_SASL_PASSWORD_FILE", "").c_str(), "r")) {
      char buf[512];
      std::size_t n = std::fread(buf, 1, sizeof buf, f);
      std::fclose(f);
      pw.assign(buf, n);
      while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
    }
    o.kafka["sasl.password"] = pw;
  }
  o.timeout = std::chrono::milliseconds(30000);
  boost::asio::io_context ioc;  // not run: passes are run on this thread
  relais::metrics::Registry registry;
  relais::api::SubscriberHealth health(o, ioc.get_executor(), registry);
  if (auto e = health.start_client()) {
    std::fprintf(stderr, "subscriber_health_bench: %s\n", e->c_str());
    return 2;
  }
  for (int i = 0; i < passes; ++i) {
    auto p = health.run_pass();
    std::set<std::string> cpas;
    long long lag = 0;
    for (const auto& a : p.apps) {
      cpas.insert(a.cpas);
      lag += a.lag_records;
    }
    std::printf(
        "{\"pass\": %d, \"seconds\": %.4f, \"requests\": %llu, \"fetched\": %zu, \"applications\": "
        "%zu, \"cpas\": %zu, \"waiting\": %lld, \"error\": \"%s\"}\n",
        i + 1, p.seconds, static_cast<unsigned long long>(p.requests), p.fetched, p.apps.size(),
        cpas.size(), lag, p.error.empty() ? "" : "see stderr");
    if (!p.error.empty()) std::fprintf(stderr, "pass %d: %s\n", i + 1, p.error.c_str());
    std::fflush(stdout);
  }
  return 0;
}
