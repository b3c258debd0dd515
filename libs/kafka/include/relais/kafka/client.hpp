// librdkafka wrapped once: RAII handles, configuration from key/value maps,
// delivery reports turned into callbacks, a transactional producer and a
// consumer. Keeps librdkafka's semantics (poll continuously, flush on
// shutdown, POSSIBLY_PERSISTED means "may be there") and hides its style.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace relais::kafka {

using Settings = std::map<std::string, std::string>;

struct Header {
  std::string key;
  std::string value;
};

struct DeliveryResult {
  RdKafka::ErrorCode error = RdKafka::ERR_NO_ERROR;
  std::string message;
  int32_t partition = -1;
  int64_t offset = -1;
  bool ok() const { return error == RdKafka::ERR_NO_ERROR; }
  // True when the broker may hold the record even though the report failed.
  bool possibly_persisted = false;
};

using DeliveryCallback = std::function<void(const DeliveryResult&)>;

// Parses "k=v,k=v" extra settings (kafka.extra in configs) into `out`.
bool parse_extra(const std::string& text, Settings& out, std::string& error);

// Returns nullptr and sets error when a setting is refused.
std::unique_ptr<RdKafka::Conf> make_conf(const Settings& settings, std::string& error);

// An idempotent, acks=all producer with a poll thread that runs delivery
// callbacks. Used by relais-ingest.
class Producer {
 public:
  static std::unique_ptr<Producer> create(const Settings& settings, std::string& error);
  ~Producer();

  // Enqueues a record; `cb` runs on the poll thread once delivered or failed.
  // Returns ERR_NO_ERROR or the enqueue error (e.g. ERR__QUEUE_FULL): then cb is not called.
  RdKafka::ErrorCode produce(const std::string& topic, int32_t partition, std::string_view key,
                             std::string_view value, const std::vector<Header>& headers, DeliveryCallback cb);
  // Records waiting for delivery.
  int outq_len() const { return producer_->outq_len(); }
  // Flushes with a deadline; returns records still not delivered.
  int flush(std::chrono::milliseconds timeout);
  // True after an "all brokers down" error until a delivery succeeds again.
  bool brokers_down() const { return brokers_down_.load(); }
  RdKafka::Producer& raw() { return *producer_; }
  std::string last_stats() const;
  // Also hands each statistics document (see statistics.interval.ms) to `fn`, on the
  // poll thread; `fn` must stay valid until the producer is destroyed.
  void on_stats(std::function<void(const std::string&)> fn);

 private:
  Producer() = default;
  class Callbacks;
  std::unique_ptr<Callbacks> callbacks_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::thread poller_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> brokers_down_{false};
};

// Creates topics that do not exist yet (already existing is success).
// Returns an error message on failure.
std::optional<std::string> ensure_topics(const Settings& settings, const std::vector<std::string>& topics,
                                         int partitions, int replication_factor, std::chrono::milliseconds timeout,
                                         const std::map<std::string, std::string>& topic_config = {});

// Number of partitions of a topic, or -1.
int partition_count(RdKafka::Handle& handle, const std::string& topic, std::chrono::milliseconds timeout);

// Reads whole partitions from the beginning up to their end (read_committed:
// up to the last stable offset). Calls `fn` for each record. Returns an error
// message on failure.
std::optional<std::string> read_partitions(const Settings& settings, const std::string& topic,
                                           const std::vector<int32_t>& partitions, std::chrono::milliseconds timeout,
                                           const std::function<void(const RdKafka::Message&)>& fn);

std::string header_value(const RdKafka::Message& m, const std::string& key);

}  // namespace relais::kafka
