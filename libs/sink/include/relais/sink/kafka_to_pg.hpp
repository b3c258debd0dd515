// Copies Kafka records into PostgreSQL, exactly as committed in Kafka: a
// consumer (its own thread, read_committed, manual offsets) collects batches,
// a Writer stores each batch in one PostgreSQL transaction (idempotently:
// ON CONFLICT DO NOTHING on a natural key, or the journal sink's offset marks
// moved in the same transaction), and only then are the offsets committed. A
// crash between the two commits re-reads records PostgreSQL already holds. If the Writer throws a
// retryable error (PostgreSQL down...), the same batch is retried with backoff; nothing is skipped.
// If PostgreSQL refuses the data (not retryable), the batch is written record by record and a
// record it still refuses is set aside in sink_dead_letters with the reason (no poison pill:
// docs/reliability.md), counted, and the sink goes on. Used by the router's journal sink and the
// API's alert store.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "relais/common/log.hpp"
#include "relais/common/metrics.hpp"
#include "relais/kafka/consumer.hpp"
#include "relais/kafka/reload.hpp"
#include "relais/kafka/stall.hpp"
#include "relais/pg/pg.hpp"

namespace relais::sink {

struct Options {
  std::string name;  // for logs, e.g. "journal"
  kafka::Settings kafka;
  std::string dsn;
  std::vector<std::string> topics;  // names, or one regex starting with '^'
  std::string group_id;
  std::size_t batch_max = 1000;  // total weight of a batch at most (records, unless `weight`)
  std::function<std::size_t(const kafka::Record&)> weight;  // a record's weight (default 1)
  std::chrono::milliseconds linger{200};
  int metadata_refresh_ms = 0;  // > 0: topic.metadata.refresh.interval.ms (regex subscriptions)
  metrics::Counter* dead_letters = nullptr;  // records set aside in sink_dead_letters
  // Reload requests (TLS files read again): the consumer is made again between two batches
  // (none: never). Must outlive the sink.
  const kafka::Reloads* reloads = nullptr;
  // Assigned partitions with records waiting at the broker but none received for this long:
  // the consumer is stalled and is made again (relais/kafka/stall.hpp). Zero: never.
  std::chrono::milliseconds stall_timeout{30000};
  metrics::Counter* stalls = nullptr;  // counts those
};

using Batch = std::vector<kafka::Record>;
// Stores a batch (or, after a data error, one record of it); called inside a
// PostgreSQL transaction that commits when it returns. Throws to have the
// batch retried (pg::Error not retryable: the record-by-record fallback).
using Writer = std::function<void(pg::Connection&, const Batch&)>;

class KafkaToPg {
 public:
  KafkaToPg(Options o, Writer w, metrics::Counter& failures);
  ~KafkaToPg();
  std::optional<std::string> start();
  void stop();
  // Seconds since the last successful batch (or idle poll).
  double age_seconds() const;

 private:
  void run();
  std::unique_ptr<kafka::Consumer> make_consumer(std::string& err) const;
  void renew_consumer(const log::Logger& logger, const std::string& why);
  Options o_;
  Writer write_;
  metrics::Counter& failures_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> last_ok_us_{0};
};

// relais_sink_dead_letters_total{sink}: the counter of Options::dead_letters.
metrics::Counter& dead_letter_counter(metrics::Registry& m, const std::string& sink);
// relais_sink_consumer_stalls_total{sink}: the counter of Options::stalls.
metrics::Counter& stall_counter(metrics::Registry& m, const std::string& sink);

// The settings of a sink subscribed to the topics matching a regex (relais-api's alert store and
// notification archive): new topics are seen every `metadata_refresh_ms`.
struct RegexSinkSettings {
  kafka::Settings kafka;
  std::string dsn;
  std::string topic_regex;  // starting with '^'
  std::string group_id;
  int metadata_refresh_ms = 2000;
  std::size_t batch_max = 1000;
  std::chrono::milliseconds linger{200};
  const kafka::Reloads* reloads = nullptr;  // Options::reloads
  // The Options of sink `name`, its dead letters counted in `m`.
  Options options(std::string name, metrics::Registry& m) const;
};

// COPY text-format fields: the value escaped (empty = NULL), then '\t' or '\n'.
void copy_field(std::string& out, std::string_view value, bool last = false);
// A timestamptz from Unix microseconds (<= 0 = NULL).
void copy_timestamp_us(std::string& out, std::int64_t us, bool last = false);
// "topic/partition/offset" of a record.
std::string source_of(const kafka::Record& m);

}  // namespace relais::sink
