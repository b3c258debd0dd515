// Copies relais.journal.v1 (read_committed) into the PostgreSQL journal table
// in batches: COPY straight into journal_rows, the partitions' next offsets
// moved in journal_sink_offsets (migration 0020) in the same transaction,
// commit, then commit the Kafka offsets. A crash between the two commits only
// re-reads records below their partition's mark, which are skipped, so the
// journal is exactly the committed Kafka journal. SSIN replacements seen in
// accepted notifications are recorded in the directory in the same
// PostgreSQL transaction.
#pragma once

#include <chrono>
#include <string>

#include "relais/common/metrics.hpp"
#include "relais/kafka/client.hpp"
#include "relais/sink/kafka_to_pg.hpp"

namespace relais::router {

struct JournalSinkOptions {
  kafka::Settings kafka;
  const kafka::Reloads* reloads = nullptr;  // the consumer made again on a reload (sink::Options)
  std::string dsn;
  std::string topic = "relais.journal.v1";
  std::string group_id = "relais-journal";
  // Static membership (group.instance.id), stable per router replica: a replica restarted right
  // after it stopped, or after a kill -9, takes its partitions back at once. Without it the
  // consumer was a dynamic member with librdkafka's defaults (45 s session, 300 s rebalance
  // timeout): a member that did not get its LeaveGroup through (killed, or stopped while its
  // JoinGroup was still in flight: the LeaveGroup queues behind it and times out) stayed in the
  // group, and the next replica's JoinGroup waited up to 300 s for it (issue 21: a second
  // `make run` waited five minutes for its journal). Empty: dynamic membership.
  std::string instance_id;
  std::size_t batch_max = 5000;
  std::chrono::milliseconds linger{200};
};

class JournalSink {
 public:
  JournalSink(const JournalSinkOptions& o, metrics::Registry& m);
  std::optional<std::string> start() { return sink_.start(); }
  void stop() { sink_.stop(); }
  double age_seconds() const {
    return sink_.age_seconds();
  }  // since the last successful write (or idle poll)

 private:
  void write(pg::Connection& conn, const sink::Batch& batch);
  void record_replacement(pg::Connection& conn, const std::string& old_ssin,
                          const std::string& new_ssin, const std::string& ticket);

  std::string topic_;  // the marks' topic in journal_sink_offsets
  metrics::Counter& written_;
  metrics::Histogram& batch_seconds_;
  metrics::Counter& skipped_;
  metrics::Family<metrics::Counter>& replacements_;
  sink::KafkaToPg sink_;
};

}  // namespace relais::router
