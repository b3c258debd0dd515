// bench/raw_producer: the physical limit Relais is compared with. A minimal librdkafka
// producer with relais-ingest's settings (acks=all, enable.idempotence=true, linger.ms=2, no
// compression) writing N records of S bytes, keyed by an 11-digit SSIN-like key like ingest, as
// fast as the local queue allows. Prints one JSON object on stdout.
//
//   raw_producer --brokers 127.0.0.1:59992 --topic bench.raw --records 100000 --size 400
//                [--linger-ms 2] [--set key=value ...]
// Credentials as every Relais client gets them from the local stack (deploy/local/stack.sh env):
// RELAIS_KAFKA_SECURITY_PROTOCOL, RELAIS_KAFKA_SASL_MECHANISM, RELAIS_KAFKA_SASL_USERNAME and
// RELAIS_KAFKA_SASL_PASSWORD_FILE (the password is read from the file).
#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

struct Counter : RdKafka::DeliveryReportCb {
  std::atomic<std::int64_t> ok{0};
  std::atomic<std::int64_t> failed{0};
  std::string first_error;
  void dr_cb(RdKafka::Message& m) override {
    if (m.err() == RdKafka::ERR_NO_ERROR) {
      ok.fetch_add(1, std::memory_order_relaxed);
    } else {
      if (failed.fetch_add(1) == 0) first_error = m.errstr();
    }
  }
};

int usage() {
  std::fprintf(stderr,
               "usage: raw_producer --brokers HOST:PORT --topic T --records N --size BYTES "
               "[--linger-ms MS] [--set key=value ...]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string brokers = "127.0.0.1:59092";
  std::string topic = "bench.raw";
  std::int64_t records = 100000;
  std::size_t size = 400;
  std::string linger = "2";
  std::vector<std::pair<std::string, std::string>> extra;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    std::string v = argv[++i];
    if (a == "--brokers") {
      brokers = v;
    } else if (a == "--topic") {
      topic = v;
    } else if (a == "--records") {
      records = std::stoll(v);
    } else if (a == "--size") {
      size = static_cast<std::size_t>(std::stoul(v));
    } else if (a == "--linger-ms") {
      linger = v;
    } else if (a == "--set") {
      auto eq = v.find('=');
      if (eq == std::string::npos) return usage();
      extra.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else {
      return usage();
    }
  }

  Counter counter;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::vector<std::pair<std::string, std::string>> settings = {
      {"bootstrap.servers", brokers},
      {"acks", "all"},
      {"enable.idempotence", "true"},
      {"linger.ms", linger},
      {"queue.buffering.max.messages", "1000000"},
      {"message.timeout.ms", "30000"},
  };
  if (const char* proto = std::getenv("RELAIS_KAFKA_SECURITY_PROTOCOL");
      proto && std::strncmp(proto, "SASL", 4) == 0) {
    const char* mech = std::getenv("RELAIS_KAFKA_SASL_MECHANISM");
    const char* user = std::getenv("RELAIS_KAFKA_SASL_USERNAME");
    const char* file = std::getenv("RELAIS_KAFKA_SASL_PASSWORD_FILE");
    std::string password;
    if (file) std::getline(std::ifstream(file), password);
    if (!user || password.empty()) {
      std::fprintf(
          stderr,
          "RELAIS_KAFKA_SASL_USERNAME and a readable RELAIS_KAFKA_SASL_PASSWORD_FILE are needed\n");
      return 2;
    }
    settings.insert(settings.end(), {{"security.protocol", proto},
                                     {"sasl.mechanism", mech ? mech : "SCRAM-SHA-512"},
                                     {"sasl.username", user},
                                     {"sasl.password", password}});
  }
  settings.insert(settings.end(), extra.begin(), extra.end());
  std::string err;
  for (const auto& [k, v] : settings) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      std::fprintf(stderr, "setting %s: %s\n", k.c_str(), err.c_str());
      return 2;
    }
  }
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&counter), err) !=
      RdKafka::Conf::CONF_OK) {
    std::fprintf(stderr, "dr_cb: %s\n", err.c_str());
    return 2;
  }
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), err));
  if (!producer) {
    std::fprintf(stderr, "cannot create producer: %s\n", err.c_str());
    return 1;
  }

  // Payloads: random bytes (incompressible, though compression is off as in ingest).
  std::mt19937_64 rng(42);
  std::string payload(size, '\0');
  for (auto& c : payload) c = static_cast<char>(rng() & 0xff);
  char key[12];

  // Warm-up: metadata and producer id, not counted.
  producer->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                    payload.data(), payload.size(), "warmup", 6, 0, nullptr);
  producer->flush(30000);
  counter.ok = 0;
  counter.failed = 0;

  auto t0 = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < records;) {
    std::snprintf(key, sizeof key, "%011llu",
                  static_cast<unsigned long long>(rng() % 100000000000ULL));
    auto rc = producer->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                payload.data(), payload.size(), key, 11, 0, nullptr);
    if (rc == RdKafka::ERR__QUEUE_FULL) {
      producer->poll(10);
      continue;
    }
    if (rc != RdKafka::ERR_NO_ERROR) {
      std::fprintf(stderr, "produce: %s\n", RdKafka::err2str(rc).c_str());
      return 1;
    }
    ++i;
    if ((i & 1023) == 0) producer->poll(0);
  }
  auto t_enqueued = std::chrono::steady_clock::now();
  while (producer->outq_len() > 0) producer->poll(50);
  auto t1 = std::chrono::steady_clock::now();

  double secs = std::chrono::duration<double>(t1 - t0).count();
  double enq = std::chrono::duration<double>(t_enqueued - t0).count();
  std::int64_t ok = counter.ok.load();
  std::printf(
      "{\"records\": %lld, \"record_size\": %zu, \"acked\": %lld, \"failed\": %lld, \"seconds\": "
      "%.3f, "
      "\"enqueue_seconds\": %.3f, \"records_per_s\": %.1f, \"mb_per_s\": %.2f, \"linger_ms\": %s, "
      "\"first_error\": \"%s\"}\n",
      static_cast<long long>(records), size, static_cast<long long>(ok),
      static_cast<long long>(counter.failed.load()), secs, enq, static_cast<double>(ok) / secs,
      static_cast<double>(ok) * static_cast<double>(size) / secs / 1e6, linger.c_str(),
      counter.first_error.c_str());
  return counter.failed.load() == 0 ? 0 : 1;
}
