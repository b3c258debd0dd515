// librdkafka statistics as Prometheus metrics. librdkafka emits a JSON document
// every `statistics.interval.ms` (EVENT_STATS); StatsExporter parses it and
// keeps the useful figures: broker state and round-trip time, request queues,
// transmit/receive errors, the client's message queue, messages sent and
// received, and the consumer lag per partition. One exporter per client,
// told apart by the `client` label; exporters of one process share families.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "relais/common/metrics.hpp"

namespace relais::kafka {

// Milliseconds between two statistics documents, used where clients are created.
inline constexpr const char* kStatsIntervalMs = "5000";

// Given to a client (ConsumerOptions::stats, TransactionalProducer::create, Producer::on_stats),
// which hands it librdkafka's statistics, error and log events.
class StatsExporter {
 public:
  StatsExporter(metrics::Registry& m, std::string client);
  // Parses one statistics document; returns false (and changes nothing) when it is not valid JSON.
  bool update(std::string_view json);
  // A client's statistics document: exported (an unparsable one is logged).
  void on_statistics(std::string_view json);
  // A client's error event and its warning-or-worse log lines: logged with the client's name.
  void on_error(const std::string& error, const std::string& detail);
  void on_log(const std::string& facility, const std::string& detail);

 private:
  void add_to(metrics::Counter& c, double value);

  std::string client_;
  metrics::Family<metrics::Gauge>& broker_up_;
  metrics::Family<metrics::Gauge>& rtt_avg_;
  metrics::Family<metrics::Gauge>& rtt_p99_;
  metrics::Family<metrics::Gauge>& outbuf_;
  metrics::Family<metrics::Gauge>& waitresp_;
  metrics::Family<metrics::Counter>& tx_errors_;
  metrics::Family<metrics::Counter>& rx_errors_;
  metrics::Family<metrics::Counter>& timeouts_;
  metrics::Gauge& queue_messages_;
  metrics::Gauge& queue_bytes_;
  metrics::Counter& sent_;
  metrics::Counter& received_;
  metrics::Family<metrics::Gauge>& consumer_lag_;
  metrics::Gauge& last_update_;
  std::mutex mu_;
  std::map<const metrics::Counter*, double> seen_;  // last absolute value of each counter
};

}  // namespace relais::kafka
