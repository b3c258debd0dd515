#include "relais/kafka/stats.hpp"

#include <boost/json.hpp>
#include <chrono>

#include "relais/common/log.hpp"

namespace relais::kafka {
namespace {
const log::Logger logger{"kafka"};
namespace json = boost::json;

double num(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  if (v->is_double()) return v->as_double();
  return 0;
}

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string{};
}
}  // namespace

StatsExporter::StatsExporter(metrics::Registry& m, std::string client)
    : client_(std::move(client)),
      broker_up_(m.gauge("relais_kafka_broker_up",
                         "1 when the client's connection to the broker is UP",
                         {"client", "broker"})),
      rtt_avg_(m.gauge("relais_kafka_broker_rtt_avg_seconds",
                       "Average broker round-trip time (last window)", {"client", "broker"})),
      rtt_p99_(m.gauge("relais_kafka_broker_rtt_p99_seconds",
                       "99th percentile broker round-trip time (last window)",
                       {"client", "broker"})),
      outbuf_(m.gauge("relais_kafka_broker_outbuf_requests",
                      "Requests waiting to be sent to the broker", {"client", "broker"})),
      waitresp_(m.gauge("relais_kafka_broker_waitresp_requests",
                        "Requests sent, waiting for the broker's response", {"client", "broker"})),
      tx_errors_(m.counter("relais_kafka_broker_tx_errors_total",
                           "Transmission errors towards the broker", {"client", "broker"})),
      rx_errors_(m.counter("relais_kafka_broker_rx_errors_total",
                           "Errors receiving from the broker", {"client", "broker"})),
      timeouts_(m.counter("relais_kafka_broker_request_timeouts_total",
                          "Requests to the broker that timed out", {"client", "broker"})),
      queue_messages_(m.gauge("relais_kafka_queue_messages",
                              "Messages in the client's producer queues", {"client"})
                          .with({client_})),
      queue_bytes_(m.gauge("relais_kafka_queue_bytes",
                           "Size of the messages in the client's producer queues", {"client"})
                       .with({client_})),
      sent_(m.counter("relais_kafka_messages_sent_total", "Messages transmitted to brokers",
                      {"client"})
                .with({client_})),
      received_(m.counter("relais_kafka_messages_received_total", "Messages received from brokers",
                          {"client"})
                    .with({client_})),
      consumer_lag_(m.gauge("relais_kafka_consumer_lag_messages",
                            "Consumer lag per assigned partition as seen by librdkafka",
                            {"client", "topic", "partition"})),
      last_update_(m.gauge("relais_kafka_stats_timestamp_seconds",
                           "Unix time of the last statistics document", {"client"})
                       .with({client_})) {}

void StatsExporter::add_to(metrics::Counter& c, double value) {
  auto [it, fresh] = seen_.emplace(&c, 0.0);
  double delta = value - it->second;
  if (delta < 0) delta = value;  // the client restarted its counters
  it->second = value;
  if (delta > 0) c.inc(delta);
}

bool StatsExporter::update(std::string_view text) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec || !doc.is_object()) return false;
  const auto& root = doc.as_object();
  std::lock_guard lock(mu_);
  queue_messages_.set(num(root, "msg_cnt"));
  queue_bytes_.set(num(root, "msg_size"));
  add_to(sent_, num(root, "txmsgs"));
  add_to(received_, num(root, "rxmsgs"));
  if (const auto* brokers = root.if_contains("brokers"); brokers && brokers->is_object()) {
    for (const auto& [key, bv] : brokers->as_object()) {
      if (!bv.is_object()) continue;
      const auto& b = bv.as_object();
      // Bootstrap and logical (coordinator) entries duplicate the real brokers.
      if (num(b, "nodeid") < 0) continue;
      std::string name = str(b, "name");
      if (name.empty()) name = std::string(key);
      std::vector<std::string> lv{client_, name};
      broker_up_.with(lv).set(str(b, "state") == "UP" ? 1 : 0);
      if (const auto* rtt = b.if_contains("rtt"); rtt && rtt->is_object()) {
        rtt_avg_.with(lv).set(num(rtt->as_object(), "avg") / 1e6);
        rtt_p99_.with(lv).set(num(rtt->as_object(), "p99") / 1e6);
      }
      outbuf_.with(lv).set(num(b, "outbuf_cnt"));
      waitresp_.with(lv).set(num(b, "waitresp_cnt"));
      add_to(tx_errors_.with(lv), num(b, "txerrs"));
      add_to(rx_errors_.with(lv), num(b, "rxerrs"));
      add_to(timeouts_.with(lv), num(b, "req_timeouts"));
    }
  }
  if (const auto* topics = root.if_contains("topics"); topics && topics->is_object()) {
    for (const auto& [tname, tv] : topics->as_object()) {
      if (!tv.is_object()) continue;
      const auto* parts = tv.as_object().if_contains("partitions");
      if (!parts || !parts->is_object()) continue;
      for (const auto& [pkey, pv] : parts->as_object()) {
        if (!pv.is_object()) continue;
        const auto& p = pv.as_object();
        double partition = num(p, "partition");
        if (partition < 0) continue;  // the internal UA partition
        const auto* lag = p.if_contains("consumer_lag");
        if (!lag || !lag->is_number()) continue;
        double v = num(p, "consumer_lag");
        if (v < 0) continue;  // not consumed by this client, or unknown yet
        consumer_lag_.with({client_, std::string(tname), std::string(pkey)}).set(v);
      }
    }
  }
  last_update_.set(static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count()) /
                   1000.0);
  return true;
}

void StatsExporter::on_statistics(std::string_view json) {
  if (!update(json)) logger.warn("unparsable librdkafka statistics", {{"client", client_}});
}

void StatsExporter::on_error(const std::string& error, const std::string& detail) {
  logger.warn("kafka client error", {{"client", client_}, {"error", error}, {"detail", detail}});
}

void StatsExporter::on_log(const std::string& facility, const std::string& detail) {
  logger.warn("librdkafka", {{"client", client_}, {"facility", facility}, {"detail", detail}});
}

}  // namespace relais::kafka
