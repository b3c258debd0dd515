// The alert store of relais-api: a consumer (its own thread) of every
// cpas.<cbe>.alerts.v1 topic (regex subscription, so a new CPAS's topic is
// picked up within topic.metadata.refresh.interval.ms), read_committed, that
// copies the alerts into PostgreSQL in batches with
// INSERT ... ON CONFLICT DO NOTHING (alert id, SPP IS identifier), links each new SPP IS
// clignotant to its early signal in the same transaction, and commits the Kafka offsets
// only after the PostgreSQL commit. A replay, a duplicate record or a crash
// between the two commits creates nothing twice.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "relais/common/metrics.hpp"
#include "relais/kafka/client.hpp"
#include "relais/sink/kafka_to_pg.hpp"

namespace relais::api {

struct AlertStoreOptions : sink::RegexSinkSettings {
  AlertStoreOptions() {
    topic_regex = "^cpas\\..*\\.alerts\\.v1$";
    group_id = "relais-api-alerts";
  }
  // The matching rule's window (docs/clignotants.md): an early signal's effective date may lie
  // this many days before or after the SPP IS clignotant's period.
  int match_window_days = 31;
};

class AlertStore {
 public:
  AlertStore(const AlertStoreOptions& o, metrics::Registry& m);
  std::optional<std::string> start() { return sink_.start(); }
  void stop() { sink_.stop(); }
  double age_seconds() const {
    return sink_.age_seconds();
  }  // since the last successful batch or idle poll

 private:
  void write(pg::Connection& conn, const sink::Batch& batch);
  metrics::Family<metrics::Counter>& stored_;
  metrics::Counter& duplicates_;
  metrics::Counter& undecodable_;
  metrics::Histogram& lead_days_;
  int match_window_days_;
  sink::KafkaToPg sink_;
};

}  // namespace relais::api
