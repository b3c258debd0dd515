// Copies relais.journal.v1 (read_committed) into the PostgreSQL journal table
// in batches: COPY into a temporary table, INSERT ... ON CONFLICT DO NOTHING,
// commit, then commit the Kafka offsets. A crash between the two commits only
// re-inserts rows the unique key already holds, so the journal is exactly the
// committed Kafka journal. SSIN replacements seen in accepted notifications
// are recorded in the directory in the same PostgreSQL transaction.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "relais/common/metrics.hpp"
#include "relais/kafka/client.hpp"

namespace relais::router {

struct JournalSinkOptions {
  kafka::Settings kafka;
  std::string dsn;
  std::string topic = "relais.journal.v1";
  std::string group_id = "relais-journal";
  std::size_t batch_max = 5000;
  std::chrono::milliseconds linger{200};
};

class JournalSink {
 public:
  JournalSink(JournalSinkOptions o, metrics::Registry& m);
  ~JournalSink();
  std::optional<std::string> start();
  void stop();
  double age_seconds() const;  // since the last successful write (or idle poll)

 private:
  void run();
  JournalSinkOptions o_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> last_ok_us_{0};
  metrics::Counter& written_;
  metrics::Counter& failures_;
  metrics::Histogram& batch_seconds_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
};

}  // namespace relais::router
