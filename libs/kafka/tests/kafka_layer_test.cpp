// libs/kafka's own tests: the error classification (pure), and the consumer, the
// transactional session and the producer against librdkafka's mock cluster (an in-process
// Kafka: no broker needed). Inside the layer, so it may use librdkafka's mock API directly.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <numeric>
#include <set>
#include <thread>

#include "relais/kafka/admin.hpp"
#include "relais/kafka/client.hpp"
#include "relais/kafka/consumer.hpp"
#include "relais/kafka/error.hpp"
#include "relais/kafka/reload.hpp"
#include "relais/kafka/transaction.hpp"

namespace relais::kafka {
// For gtest's messages.
void PrintTo(const TopicPartition& tp, std::ostream* os);
void PrintTo(const TopicPartition& tp, std::ostream* os) {
  *os << tp.topic << "/" << tp.partition << "@" << tp.offset;
}

namespace {
using namespace std::chrono_literals;

// Kafka protocol API keys (librdkafka's rdkafka_proto.h is not installed).
constexpr int16_t kApiProduce = 0;
constexpr int16_t kApiEndTxn = 26;

TEST(KafkaErrc, ClassifiesPlainCodes) {
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR_NO_ERROR}), errc::none);
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR__TIMED_OUT}), errc::timed_out);
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR__PARTITION_EOF}), errc::partition_eof);
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR__QUEUE_FULL}), errc::queue_full);
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART}), errc::unknown_topic);
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC}), errc::unknown_topic);
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN}), errc::brokers_down);
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR__TRANSPORT}), errc::transport);
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR__FATAL}), errc::fatal);
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR__INVALID_ARG}), errc::invalid_argument);
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE}), errc::other);
}

TEST(KafkaErrc, FencingFirstThenFatalAbortableRetriable) {
  // librdkafka's own fencing error is fenced whatever the flags say.
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR__FENCED}), errc::fenced);
  // The broker's fencing codes are fenced when librdkafka made them fatal…
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR_PRODUCER_FENCED, true}), errc::fenced);
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, true}), errc::fenced);
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, true}), errc::fenced);
  // … and otherwise follow the flags (librdkafka may make an epoch error abortable).
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, false, false, true}),
            errc::abortable);
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR_PRODUCER_FENCED}), errc::other);
  // Fatal wins over abortable and retriable; abortable over retriable.
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR__STATE, true, true, true}), errc::fatal);
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, false, true, true}),
            errc::abortable);
  // A transactional call that timed out is retriable (call it again), not a plain timeout.
  EXPECT_EQ(classify({RD_KAFKA_RESP_ERR__TIMED_OUT, false, true}), errc::retriable);
}

TEST(KafkaErrc, ErrorCarriesCodeAndText) {
  auto e = make_error(RD_KAFKA_RESP_ERR__QUEUE_FULL);
  EXPECT_TRUE(static_cast<bool>(e));
  EXPECT_EQ(e.kind, errc::queue_full);
  EXPECT_EQ(e.code, RD_KAFKA_RESP_ERR__QUEUE_FULL);
  EXPECT_EQ(e.message, rd_kafka_err2str(RD_KAFKA_RESP_ERR__QUEUE_FULL));
  EXPECT_FALSE(e.fatal());
  EXPECT_TRUE(make_error(ErrorFacts{RD_KAFKA_RESP_ERR__FENCED, true}).fatal());
  EXPECT_TRUE(make_error(ErrorFacts{RD_KAFKA_RESP_ERR__STATE, true}, "boom").fatal());
  EXPECT_EQ(make_error(ErrorFacts{RD_KAFKA_RESP_ERR__STATE, true}, "boom").message, "boom");
  auto ok = make_error(RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_TRUE(ok.ok());
  EXPECT_TRUE(ok.message.empty());
  EXPECT_EQ(errc_name(errc::abortable), "abortable");
}

// One in-process cluster per test, with its own topics.
class KafkaMockCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    ASSERT_NE(rk_, nullptr) << errstr;
    mc_ = rd_kafka_mock_cluster_new(rk_, 1);
    ASSERT_NE(mc_, nullptr);
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(mc_);
  }
  void TearDown() override {
    if (mc_) rd_kafka_mock_cluster_destroy(mc_);
    if (rk_) rd_kafka_destroy(rk_);
  }
  Settings settings() const {
    return {{"bootstrap.servers", bootstraps_},
            {"log_level", "0"},
            {"topic.metadata.refresh.interval.ms", "500"}};
  }
  void topic(const std::string& name, int partitions) {
    ASSERT_EQ(rd_kafka_mock_topic_create(mc_, name.c_str(), partitions, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  std::unique_ptr<TransactionalProducer> session(const std::string& id,
                                                 const Settings& extra = {}) {
    auto s = settings();
    for (const auto& [k, v] : extra) s[k] = v;
    s["transactional.id"] = id;
    s["enable.idempotence"] = "true";
    s["acks"] = "all";
    std::string err;
    auto p = TransactionalProducer::create(s, nullptr, err);
    EXPECT_TRUE(p) << err;
    if (p) {
      auto e = p->init(10s);
      EXPECT_FALSE(e) << "init: " << e.message;
    }
    return p;
  }
  // Committed records of `t` (read_committed), as "key=value".
  std::vector<std::string> read_all(const std::string& t, int partitions) {
    std::vector<int32_t> ps(static_cast<std::size_t>(partitions));
    std::iota(ps.begin(), ps.end(), 0);
    std::vector<std::string> out;
    auto e = read_partitions(settings(), t, ps, 20s, [&](const Record& r) {
      out.push_back((r.key() ? *r.key() : std::string("-")) + "=" + std::string(r.value()));
    });
    EXPECT_FALSE(e.has_value()) << *e;
    return out;
  }

  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* mc_ = nullptr;
  std::string bootstraps_;
};

TEST_F(KafkaMockCluster, ProducerDeliversAndRecordsCarryKeyValueHeaders) {
  topic("in", 2);
  std::string err;
  auto p = Producer::create(settings(), err);
  ASSERT_TRUE(p) << err;
  EXPECT_EQ(p->partition_count("in", 5s), 2);
  std::promise<DeliveryResult> done;
  auto f = done.get_future();
  ASSERT_FALSE(p->produce("in", 1, "k1", "v1", {{"ticket", "t-1"}, {"flow", "notify-person"}},
                          [&](const DeliveryResult& d) { done.set_value(d); }));
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  auto d = f.get();
  EXPECT_TRUE(d.ok()) << d.error.message;
  EXPECT_EQ(d.partition, 1);
  EXPECT_EQ(d.offset, 0);

  std::vector<std::string> seen;
  auto e = read_partitions(settings(), "in", {0, 1}, 20s, [&](const Record& r) {
    EXPECT_EQ(r.topic(), "in");
    EXPECT_EQ(r.partition(), 1);
    EXPECT_EQ(r.offset(), 0);
    EXPECT_GT(r.timestamp_ms(), 0);
    EXPECT_EQ(r.header("ticket"), "t-1");
    EXPECT_EQ(r.header("flow"), "notify-person");
    EXPECT_EQ(r.header("absent"), "");
    seen.push_back(*r.key() + "=" + std::string(r.value()));
  });
  EXPECT_FALSE(e.has_value()) << *e;
  EXPECT_EQ(seen, std::vector<std::string>{"k1=v1"});
}

// After a fatal error of the idempotent producer the client refuses every record for good:
// the producer replaces it, and records are delivered again without restarting the service.
TEST_F(KafkaMockCluster, ProducerReplacesItsClientAfterAFatalError) {
  topic("in", 1);
  std::string err;
  auto p = Producer::create(settings(), err);
  ASSERT_TRUE(p) << err;
  auto deliver = [&](const std::string& value) {
    auto done = std::make_shared<std::promise<DeliveryResult>>();
    auto f = done->get_future();
    if (auto e = p->produce("in", 0, "k", value, {},
                            [done](const DeliveryResult& d) { done->set_value(d); })) {
      DeliveryResult r;
      r.error = e;
      return r;
    }
    EXPECT_EQ(f.wait_for(15s), std::future_status::ready);
    return f.get();
  };
  auto d = deliver("before");
  ASSERT_TRUE(d.ok()) << d.error.message;
  EXPECT_EQ(p->recreations(), 0);

  p->raise_fatal_for_testing("test: out-of-order sequence");
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (p->recreations() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_EQ(p->recreations(), 1) << "the client was not replaced";
  d = deliver("after");
  EXPECT_TRUE(d.ok()) << d.error.message;
  EXPECT_EQ(read_all("in", 1), (std::vector<std::string>{"k=before", "k=after"}));
}

// A reload request (TLS files read again) makes the producer's client again: what the old client
// still held (lingering, not sent yet) is delivered, not lost and not sent twice, and the records
// produced meanwhile go through the new client. A producer that follows no Reloads is left alone.
TEST_F(KafkaMockCluster, ProducerMakesItsClientAgainOnAReloadWithoutLosingRecords) {
  topic("in", 1);
  Reloads reloads;
  auto s = settings();
  s["linger.ms"] = "300";  // the old client still holds the first records when the reload comes
  std::string err;
  auto p = Producer::create(s, err, &reloads);
  ASSERT_TRUE(p) << err;
  auto bystander = Producer::create(settings(), err);
  ASSERT_TRUE(bystander) << err;
  std::atomic<int> ok{0}, failed{0};
  auto produce = [&](int i) {
    ASSERT_FALSE(p->produce("in", 0, "k", std::to_string(i), {},
                            [&](const DeliveryResult& d) { (d.ok() ? ok : failed).fetch_add(1); }));
  };
  for (int i = 0; i < 50; ++i) produce(i);
  reloads.request();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (p->renewals() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(p->renewals(), 1) << "the client was not made again";
  for (int i = 50; i < 100; ++i) produce(i);
  EXPECT_EQ(p->flush(10s), 0);
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(failed.load(), 0);
  auto seen = read_all("in", 1);
  std::set<std::string> distinct(seen.begin(), seen.end());
  EXPECT_EQ(seen.size(), 100U) << "records lost or sent twice";
  EXPECT_EQ(distinct.size(), 100U);
  EXPECT_EQ(bystander->renewals(), 0);
  EXPECT_EQ(p->recreations(), 0);
}

TEST_F(KafkaMockCluster, SessionCommitsAndAborts) {
  topic("out", 1);
  auto s = session("relais-test-txn");
  ASSERT_TRUE(s);
  ASSERT_FALSE(s->begin());
  ASSERT_FALSE(s->send("out", kAnyPartition, "a", "1", {}));
  ASSERT_FALSE(s->commit(10s));
  ASSERT_FALSE(s->begin());
  ASSERT_FALSE(s->send("out", kAnyPartition, "b", "2", {}));
  ASSERT_EQ(s->flush(10s), 0);
  ASSERT_FALSE(s->abort(10s));
  ASSERT_FALSE(s->begin());
  ASSERT_FALSE(s->send("out", 0, "c", "3", {{"content-type", "x"}}));
  ASSERT_FALSE(s->commit(10s));
  // The mock cluster does not hide aborted records from read_committed readers (the real broker
  // does: tests/integration journal_sink_test and alerts_test check it); all three were sent.
  EXPECT_EQ(read_all("out", 1), (std::vector<std::string>{"a=1", "b=2", "c=3"}));
}

// The router's producer may linger far longer than a transaction lasts (router.producer_linger_ms):
// the commit's flush must send what waits at once, not after linger.ms (librdkafka >= 1.9). With
// a linger of 50 s (below message.timeout.ms, which a transactional producer takes from
// transaction.timeout.ms: 60 s), a commit given 20 s succeeds only if it does not wait for it.
TEST_F(KafkaMockCluster, SessionCommitSendsWhatLingersWithoutWaitingForTheLinger) {
  topic("out", 3);
  auto p = session("relais-test-linger", {{"linger.ms", "50000"}});
  ASSERT_TRUE(p);
  for (int round = 0; round < 2; ++round) {
    ASSERT_FALSE(p->begin());
    for (int part = 0; part < 3; ++part)
      ASSERT_FALSE(p->send("out", part, std::to_string(round), std::to_string(part), {}));
    auto e = p->commit(20s);
    ASSERT_FALSE(e) << errc_name(e.kind) << " " << e.message;
  }
  auto got = read_all("out", 3);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"0=0", "0=1", "0=2", "1=0", "1=1", "1=2"}));
}

TEST_F(KafkaMockCluster, SessionClassifiesAbortableThenRecovers) {
  topic("refused",
        1);  // librdkafka remembers the refusal for this topic until its metadata is refreshed
  topic("out", 1);
  auto s = session("relais-test-abortable");
  ASSERT_TRUE(s);
  // The broker refuses the produce request: the transaction must be aborted.
  rd_kafka_mock_push_request_errors(mc_, kApiProduce, 1,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  ASSERT_FALSE(s->begin());
  ASSERT_FALSE(s->send("refused", 0, "x", "lost", {}));
  auto e = s->commit(10s);
  EXPECT_EQ(e.kind, errc::abortable) << errc_name(e.kind) << " " << e.message;
  EXPECT_FALSE(e.fatal());
  ASSERT_FALSE(s->abort(10s));
  ASSERT_FALSE(s->begin());
  ASSERT_FALSE(s->send("out", 0, "y", "kept", {}));
  ASSERT_FALSE(s->commit(10s));
  EXPECT_EQ(read_all("out", 1), std::vector<std::string>{"y=kept"});
}

TEST_F(KafkaMockCluster, SessionClassifiesFencing) {
  topic("out", 1);
  auto s = session("relais-test-fenced");
  ASSERT_TRUE(s);
  rd_kafka_mock_push_request_errors(mc_, kApiEndTxn, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
  ASSERT_FALSE(s->begin());
  ASSERT_FALSE(s->send("out", 0, "x", "1", {}));
  auto e = s->commit(10s);
  EXPECT_EQ(e.kind, errc::fenced) << errc_name(e.kind) << " " << e.message;
  EXPECT_TRUE(e.fatal());
  // A fenced session stays unusable.
  EXPECT_TRUE(s->begin().fatal());
}

TEST_F(KafkaMockCluster, GroupConsumerRebalancesAndCommitsOffsetsInTheTransaction) {
  topic("in", 2);
  topic("out", 1);
  {
    std::string err;
    auto p = Producer::create(settings(), err);
    ASSERT_TRUE(p) << err;
    std::atomic<int> ok{0};
    for (int i = 0; i < 4; ++i)
      ASSERT_FALSE(p->produce("in", i % 2, "k" + std::to_string(i), "v" + std::to_string(i), {},
                              [&](const DeliveryResult& d) { ok += d.ok() ? 1 : 0; }));
    ASSERT_EQ(p->flush(10s), 0);
    ASSERT_EQ(ok.load(), 4);
  }
  std::vector<std::pair<Rebalance, TopicPartitions>> events;
  ConsumerOptions co;
  co.settings = settings();
  co.settings["group.id"] = "relais-test-group";
  co.settings["enable.auto.commit"] = "false";
  co.settings["auto.offset.reset"] = "earliest";
  co.settings["isolation.level"] = "read_committed";
  co.on_rebalance = [&](Consumer& c, Rebalance r, const TopicPartitions& parts) {
    events.emplace_back(r, parts);
    if (r == Rebalance::assign)
      EXPECT_FALSE(c.assign(parts));
    else
      EXPECT_FALSE(c.unassign());
  };
  std::string err;
  auto c = Consumer::create(co, err);
  ASSERT_TRUE(c) << err;
  ASSERT_FALSE(c->subscribe({"in"}));
  std::vector<Record> got;
  // The mock cluster's group join took over 30 s on the 2-core machine under a full test run
  // (3 in 25 runs): the deadline bounds a hang, it does not time the join.
  auto deadline = std::chrono::steady_clock::now() + 90s;
  while (got.size() < 4 && std::chrono::steady_clock::now() < deadline) {
    auto m = c->poll(200ms);
    if (m.record)
      got.push_back(std::move(*m.record));
    else
      EXPECT_TRUE(m.error.kind == errc::timed_out || m.error.kind == errc::partition_eof)
          << m.error.message;
  }
  ASSERT_EQ(got.size(), 4u);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().first, Rebalance::assign);
  EXPECT_EQ(events.front().second.size(), 2u);
  auto pos = c->positions();
  ASSERT_TRUE(pos.has_value());
  EXPECT_EQ(pos->size(), 2u);

  // Consume-transform-produce: the records out and the offsets in, in one transaction.
  auto s = session("relais-test-ctp");
  ASSERT_TRUE(s);
  ASSERT_FALSE(s->begin());
  std::map<int32_t, int64_t> next;
  for (const auto& r : got) {
    ASSERT_FALSE(s->send("out", 0, *r.key(), std::string(r.value()) + "!", {}));
    next[r.partition()] = r.offset() + 1;
  }
  TopicPartitions offsets;
  for (auto [p, o] : next) offsets.push_back({"in", p, o});
  ASSERT_FALSE(s->send_offsets(offsets, *c, 10s));
  ASSERT_FALSE(s->commit(10s));
  EXPECT_EQ(read_all("out", 1).size(), 4u);
  // The mock cluster accepts the transaction's offsets without storing them for the group (the
  // real broker does: tests/integration engine_test): the group's own commit is checked here.
  ASSERT_FALSE(c->commit_sync(offsets));
  auto committed = c->committed({{"in", 0}, {"in", 1}}, 10s);
  ASSERT_TRUE(committed.has_value());
  EXPECT_EQ(*committed, (TopicPartitions{{"in", 0, 2}, {"in", 1, 2}}));

  int64_t lo = -1, hi = -1;
  EXPECT_FALSE(c->query_watermarks("in", 0, 5s, lo, hi));
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 2);
  c->close();
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back().first, Rebalance::revoke);
}

// kafka::Admin (relais-api's subscriber health): watermarks, and the first record at several
// offsets of one partition (one round per offset), "nothing there" at the end.
TEST_F(KafkaMockCluster, AdminReadsWatermarksAndFirstRecordsAtSeveralOffsetsOfOnePartition) {
  topic("cpas.0212344876.notifications.v1", 1);
  std::string err;
  auto p = Producer::create(settings(), err);
  ASSERT_TRUE(p) << err;
  for (int i = 0; i < 10; ++i)
    ASSERT_FALSE(p->produce("cpas.0212344876.notifications.v1", 0, "k", "v" + std::to_string(i), {},
                            nullptr));
  ASSERT_EQ(p->flush(10s), 0);
  auto admin = Admin::create(settings(), "health-test", err);
  ASSERT_TRUE(admin) << err;
  std::map<std::string, int> topics;
  ASSERT_FALSE(admin->topics("cpas.", topics, 10s));
  EXPECT_EQ(topics, (std::map<std::string, int>{{"cpas.0212344876.notifications.v1", 1}}));
  std::vector<PartitionWatermarks> wm;
  ASSERT_FALSE(admin->watermarks({{"cpas.0212344876.notifications.v1", 0}}, wm, 10s));
  ASSERT_EQ(wm.size(), 1u);
  EXPECT_EQ(wm[0].log_start, 0);
  EXPECT_EQ(wm[0].end, 10);
  std::vector<FirstRecord> first;
  const std::string t = "cpas.0212344876.notifications.v1";
  auto e = admin->first_records({{t, 0, 2}, {t, 0, 7}, {t, 0, 10}, {t, 0, 2}}, first, 20s);
  EXPECT_FALSE(e) << e.message;
  std::map<std::int64_t, FirstRecord> by_from;
  for (const auto& f : first) by_from[f.from] = f;
  ASSERT_EQ(by_from.size(), 3u);
  EXPECT_EQ(by_from[2].offset, 2);
  EXPECT_GT(by_from[2].timestamp_ms, 0);
  EXPECT_EQ(by_from[7].offset, 7);
  EXPECT_TRUE(by_from[10].at_end);
  EXPECT_EQ(by_from[10].offset, -1);
  EXPECT_GE(admin->requests(), 5u);  // metadata, 2 ListOffsets, 2 rounds at least
}

}  // namespace
}  // namespace relais::kafka
