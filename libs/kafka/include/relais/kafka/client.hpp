// librdkafka wrapped once: configuration from key/value maps, the asynchronous producer whose
// delivery reports complete callbacks, and the admin helpers. Keeps librdkafka's semantics
// (poll continuously, flush on shutdown, POSSIBLY_PERSISTED means "may be there") and hides its
// style. The consumer is in consumer.hpp, the transactional session in transaction.hpp, the
// error vocabulary in error.hpp.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "relais/kafka/consumer.hpp"
#include "relais/kafka/error.hpp"
#include "relais/kafka/record.hpp"
#include "relais/kafka/reload.hpp"

namespace RdKafka {
class Producer;
}

namespace relais::kafka {

struct DeliveryResult {
  Error error;
  int32_t partition = -1;
  int64_t offset = -1;
  bool ok() const { return error.ok(); }
  // True when the broker may hold the record even though the report failed.
  bool possibly_persisted = false;
};

using DeliveryCallback = std::function<void(const DeliveryResult&)>;

// Parses "k=v,k=v" extra settings (kafka.extra in configs) into `out`.
bool parse_extra(const std::string& text, Settings& out, std::string& error);

// An idempotent, acks=all producer with a poll thread that runs delivery
// callbacks. Used by relais-ingest, relais-api (replay, outbox) and relaisctl.
// A fatal error of the idempotent producer (for example a broker answering an out-of-order
// sequence after a partition leader was killed) leaves a librdkafka client that refuses every
// record for good: the poll thread then fails what the client still holds (each callback gets
// its error, POSSIBLY_PERSISTED for what was in flight, so its sender retries) and replaces the
// client with a new one made from the same settings.
// Following a `Reloads` (reload.hpp), the poll thread also makes a new client when a reload is
// requested (its TLS files read again): new records go to the new client at once, the old one
// delivers what it holds (flush, up to 30 s; what is left then fails as after a fatal error) and
// goes: nothing is lost or sent twice by a reload.
class Producer {
 public:
  static std::unique_ptr<Producer> create(const Settings& settings, std::string& error,
                                          const Reloads* reloads = nullptr);
  ~Producer();

  // Enqueues a record; `cb` runs on the poll thread once delivered or failed.
  // Returns no error or the enqueue error (e.g. errc::queue_full): then cb is not called.
  Error produce(const std::string& topic, int32_t partition, std::string_view key,
                std::string_view value, const std::vector<Header>& headers, DeliveryCallback cb);
  // Records waiting for delivery.
  int outq_len() const;
  // Flushes with a deadline; returns records still not delivered.
  int flush(std::chrono::milliseconds timeout);
  // True after an "all brokers down" error until a delivery succeeds again.
  bool brokers_down() const { return brokers_down_.load(); }
  // Number of partitions of a topic, or -1.
  int partition_count(const std::string& topic, std::chrono::milliseconds timeout);
  std::string last_stats() const;
  // Also hands each statistics document (see statistics.interval.ms) to `fn`, on the
  // poll thread; `fn` must stay valid until the producer is destroyed.
  void on_stats(std::function<void(const std::string&)> fn);
  // Times the client was replaced after a fatal error.
  int recreations() const { return recreations_.load(); }
  // Times the client was made again for a reload (its TLS files read again).
  int renewals() const { return renewals_.load(); }
  // Raises a fatal error in the client as librdkafka's own test hook does (tests only).
  void raise_fatal_for_testing(const std::string& reason);

 private:
  Producer() = default;
  bool build(std::string& error);  // a client from settings_, under rk_mu_
  void recover();                  // on the poll thread, after a fatal error
  void renew();                    // on the poll thread, after a reload request
  class Callbacks;
  std::unique_ptr<Callbacks> callbacks_;
  Settings settings_;
  // Shared by every call that uses the client, exclusive while it is replaced.
  mutable std::shared_mutex rk_mu_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::thread poller_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> brokers_down_{false};
  std::atomic<bool> fatal_{false};
  std::atomic<int> recreations_{0};
  std::atomic<int> renewals_{0};
};

// Creates topics that do not exist yet (already existing is success).
// Returns an error message on failure.
std::optional<std::string> ensure_topics(
    const Settings& settings, const std::vector<std::string>& topics, int partitions,
    int replication_factor, std::chrono::milliseconds timeout,
    const std::map<std::string, std::string>& topic_config = {});

// Number of partitions of a topic, or -1, asked with a short-lived client made from `settings`.
int partition_count(const Settings& settings, const std::string& topic,
                    std::chrono::milliseconds timeout);

}  // namespace relais::kafka
