// Inside libs/kafka only: the librdkafka pieces the layer's sources share.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "relais/kafka/error.hpp"
#include "relais/kafka/record.hpp"
#include "relais/kafka/stats.hpp"

namespace relais::kafka::detail {

// Returns nullptr and sets error when a setting is refused.
std::unique_ptr<RdKafka::Conf> make_conf(const Settings& settings, std::string& error);

// librdkafka's events for a StatsExporter: statistics exported, errors and warnings logged.
class StatsEvents : public RdKafka::EventCb {
 public:
  explicit StatsEvents(StatsExporter& s) : s_(s) {}
  void event_cb(RdKafka::Event& e) override;

 private:
  StatsExporter& s_;
};

// Sets "event_cb" on `conf`; false (and `error`) when refused.
bool set_event_cb(RdKafka::Conf& conf, RdKafka::EventCb* cb, std::string& error);

int partition_count(RdKafka::Handle& handle, const std::string& topic,
                    std::chrono::milliseconds timeout);

inline Error error_of(RdKafka::ErrorCode code) {
  return make_error(static_cast<int>(code));
}
// Takes ownership of a librdkafka error object (null: success).
Error take_error(RdKafka::Error* e);

std::vector<RdKafka::TopicPartition*> to_rd(const TopicPartitions& parts);
TopicPartitions from_rd(const std::vector<RdKafka::TopicPartition*>& parts);

inline int ms(std::chrono::milliseconds t) {
  return static_cast<int>(t.count());
}

}  // namespace relais::kafka::detail
