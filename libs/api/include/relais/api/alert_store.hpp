// The alert store of relais-api: a consumer (its own thread) of every
// cpas.<cbe>.alerts.v1 topic (regex subscription, so a new CPAS's topic is
// picked up within topic.metadata.refresh.interval.ms), read_committed, that
// copies the alerts into PostgreSQL in batches with
// INSERT ... ON CONFLICT (alert_id) DO NOTHING and commits the Kafka offsets
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

struct AlertStoreOptions {
  kafka::Settings kafka;
  std::string dsn;
  std::string topic_regex = "^cpas\\..*\\.alerts\\.v1$";
  std::string group_id = "relais-api-alerts";
  int metadata_refresh_ms = 2000;
  std::size_t batch_max = 1000;
  std::chrono::milliseconds linger{200};
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
  sink::KafkaToPg sink_;
};

}  // namespace relais::api
