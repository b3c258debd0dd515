#include <gtest/gtest.h>

#include "relais/kafka/stats.hpp"

using relais::kafka::StatsExporter;
using relais::metrics::Registry;

namespace {
// Trimmed from a real librdkafka 2.x statistics document.
std::string doc(int txmsgs, int txerrs, int lag) {
  return R"({"name":"rdkafka#consumer-1","type":"consumer","msg_cnt":7,"msg_size":1234,"txmsgs":)" +
         std::to_string(txmsgs) + R"(,"rxmsgs":50,
    "brokers":{
      "127.0.0.1:9092/bootstrap":{"name":"127.0.0.1:9092/bootstrap","nodeid":-1,"state":"INIT"},
      "GroupCoordinator":{"name":"GroupCoordinator","nodeid":-1,"state":"UP"},
      "127.0.0.1:9092/1":{"name":"127.0.0.1:9092/1","nodeid":1,"state":"UP","outbuf_cnt":2,"waitresp_cnt":3,
        "txerrs":)" +
         std::to_string(txerrs) + R"(,"rxerrs":0,"req_timeouts":1,
        "rtt":{"min":100,"max":9000,"avg":2500,"p99":8000}}},
    "topics":{"relais.inbound.v1":{"topic":"relais.inbound.v1","partitions":{
      "0":{"partition":0,"consumer_lag":)" +
         std::to_string(lag) + R"(},
      "1":{"partition":1,"consumer_lag":-1},
      "-1":{"partition":-1,"consumer_lag":-1}}}}})";
}
}  // namespace

TEST(KafkaStats, ExportsBrokerClientAndLagFigures) {
  Registry r;
  StatsExporter s(r, "router-consumer");
  ASSERT_TRUE(s.update(doc(10, 1, 42)));
  ASSERT_TRUE(s.update(doc(25, 3, 40)));
  auto t = r.render();
  const std::string lb = R"({client="router-consumer",broker="127.0.0.1:9092/1"})";
  EXPECT_NE(t.find("relais_kafka_broker_up" + lb + " 1\n"), std::string::npos) << t;
  EXPECT_EQ(t.find("bootstrap"), std::string::npos);
  EXPECT_EQ(t.find("GroupCoordinator"), std::string::npos);
  EXPECT_NE(t.find("relais_kafka_broker_rtt_avg_seconds" + lb + " 0.0025\n"), std::string::npos);
  EXPECT_NE(t.find("relais_kafka_broker_rtt_p99_seconds" + lb + " 0.008\n"), std::string::npos);
  EXPECT_NE(t.find("relais_kafka_broker_outbuf_requests" + lb + " 2\n"), std::string::npos);
  EXPECT_NE(t.find("relais_kafka_broker_waitresp_requests" + lb + " 3\n"), std::string::npos);
  EXPECT_NE(t.find("relais_kafka_broker_tx_errors_total" + lb + " 3\n"), std::string::npos);
  EXPECT_NE(t.find("relais_kafka_broker_request_timeouts_total" + lb + " 1\n"), std::string::npos);
  EXPECT_NE(t.find("relais_kafka_queue_messages{client=\"router-consumer\"} 7\n"),
            std::string::npos);
  EXPECT_NE(t.find("relais_kafka_queue_bytes{client=\"router-consumer\"} 1234\n"),
            std::string::npos);
  // Absolute figures from librdkafka become counters that never go down.
  EXPECT_NE(t.find("relais_kafka_messages_sent_total{client=\"router-consumer\"} 25\n"),
            std::string::npos);
  EXPECT_NE(t.find("relais_kafka_consumer_lag_messages{client=\"router-consumer\",topic=\"relais."
                   "inbound.v1\","
                   "partition=\"0\"} 40\n"),
            std::string::npos);
  EXPECT_EQ(t.find("partition=\"1\""), std::string::npos);
  EXPECT_EQ(t.find("partition=\"-1\""), std::string::npos);
}

TEST(KafkaStats, CounterResetKeepsCounting) {
  Registry r;
  StatsExporter s(r, "ingest");
  ASSERT_TRUE(s.update(doc(100, 0, 0)));
  ASSERT_TRUE(s.update(doc(5, 0, 0)));  // client recreated
  EXPECT_NE(r.render().find("relais_kafka_messages_sent_total{client=\"ingest\"} 105\n"),
            std::string::npos);
}

TEST(KafkaStats, TwoClientsShareFamiliesAndBadJsonIsIgnored) {
  Registry r;
  StatsExporter a(r, "router-producer");
  StatsExporter b(r, "router-consumer");
  EXPECT_FALSE(a.update("{not json"));
  ASSERT_TRUE(a.update(doc(1, 0, 0)));
  ASSERT_TRUE(b.update(doc(2, 0, 0)));
  auto t = r.render();
  std::size_t n = 0;
  for (auto p = t.find("# HELP relais_kafka_broker_up "); p != std::string::npos;
       p = t.find("# HELP relais_kafka_broker_up ", p + 1))
    ++n;
  EXPECT_EQ(n, 1u);
  EXPECT_NE(t.find("relais_kafka_messages_sent_total{client=\"router-producer\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("relais_kafka_messages_sent_total{client=\"router-consumer\"} 2\n"),
            std::string::npos);
}
