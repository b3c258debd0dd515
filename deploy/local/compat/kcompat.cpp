// librdkafka <-> Kafka broker compatibility check for what Relais needs.
// Build+run: deploy/local/compat/run.sh [BROKERS] [debug-contexts]
// (g++ -std=c++17 -O0 kcompat.cpp -o kcompat -lrdkafka++ -lrdkafka)
// usage: kcompat BROKERS [debug]
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

static std::string g_brokers, g_debug;
static int g_fail = 0;

#define CHECK(cond, ...)                              \
  do {                                                \
    if (!(cond)) {                                    \
      std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);              \
      std::fprintf(stderr, "\n");                     \
      g_fail++;                                       \
    }                                                 \
  } while (0)

static void die(const char *what, const std::string &err) {
  std::fprintf(stderr, "FATAL %s: %s\n", what, err.c_str());
  std::exit(2);
}

struct Logger : RdKafka::EventCb {
  void event_cb(RdKafka::Event &e) override {
    switch (e.type()) {
      case RdKafka::Event::EVENT_ERROR:
        std::fprintf(stderr, "  [event error] %s: %s\n", RdKafka::err2str(e.err()).c_str(), e.str().c_str());
        break;
      case RdKafka::Event::EVENT_LOG:
        std::fprintf(stderr, "  [log %d %s] %s\n", e.severity(), e.fac().c_str(), e.str().c_str());
        break;
      default:
        break;
    }
  }
};
static Logger g_logger;

struct Dr : RdKafka::DeliveryReportCb {
  int ok = 0, bad = 0;
  std::string last_err;
  void dr_cb(RdKafka::Message &m) override {
    if (m.err()) {
      bad++;
      last_err = m.errstr();
    } else {
      ok++;
    }
  }
};

static std::unique_ptr<RdKafka::Conf> base_conf() {
  std::string err;
  std::unique_ptr<RdKafka::Conf> c(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  if (c->set("bootstrap.servers", g_brokers, err) != RdKafka::Conf::CONF_OK) die("conf", err);
  if (c->set("event_cb", static_cast<RdKafka::EventCb *>(&g_logger), err) != RdKafka::Conf::CONF_OK) die("conf", err);
  if (!g_debug.empty() && c->set("debug", g_debug, err) != RdKafka::Conf::CONF_OK) die("conf", err);
  return c;
}

static void set(RdKafka::Conf *c, const char *k, const std::string &v) {
  std::string err;
  if (c->set(k, v, err) != RdKafka::Conf::CONF_OK) die(k, err);
}

static void ck(RdKafka::Error *e, const char *what) {
  if (e) {
    std::fprintf(stderr, "FAIL %s: %s (%s) retriable=%d abortable=%d fatal=%d\n", what, e->str().c_str(),
                 e->name().c_str(), e->is_retriable(), e->txn_requires_abort(), e->is_fatal());
    delete e;
    std::exit(3);
  }
  std::printf("  ok: %s\n", what);
}

// ---------------------------------------------------------------- (e) admin
static void create_topics(const std::vector<std::string> &names, int partitions) {
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", g_brokers.c_str(), errstr, sizeof errstr);
  if (!g_debug.empty()) rd_kafka_conf_set(conf, "debug", g_debug.c_str(), errstr, sizeof errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) die("rd_kafka_new", errstr);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  std::vector<rd_kafka_NewTopic_t *> nts;
  for (auto &n : names) {
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(n.c_str(), partitions, 1, errstr, sizeof errstr);
    if (!nt) die("NewTopic", errstr);
    rd_kafka_NewTopic_set_config(nt, "retention.ms", "3600000");
    nts.push_back(nt);
  }
  rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, 10000, errstr, sizeof errstr);
  rd_kafka_AdminOptions_set_request_timeout(opts, 15000, errstr, sizeof errstr);
  rd_kafka_CreateTopics(rk, nts.data(), nts.size(), opts, q);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
  if (!ev) die("CreateTopics", "timeout");
  if (rd_kafka_event_error(ev)) die("CreateTopics", rd_kafka_event_error_string(ev));
  const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
  size_t cnt;
  const rd_kafka_topic_result_t **trs = rd_kafka_CreateTopics_result_topics(res, &cnt);
  for (size_t i = 0; i < cnt; i++) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(trs[i]);
    CHECK(e == RD_KAFKA_RESP_ERR_NO_ERROR, "CreateTopics %s: %s %s", rd_kafka_topic_result_name(trs[i]),
          rd_kafka_err2name(e), rd_kafka_topic_result_error_string(trs[i]) ? rd_kafka_topic_result_error_string(trs[i]) : "");
    if (!e) std::printf("  ok: CreateTopics %s\n", rd_kafka_topic_result_name(trs[i]));
  }
  rd_kafka_event_destroy(ev);
  // creating again must report TOPIC_ALREADY_EXISTS per topic (what Relais' bootstrap relies on)
  rd_kafka_CreateTopics(rk, nts.data(), 1, opts, q);
  ev = rd_kafka_queue_poll(q, 20000);
  if (!ev) die("CreateTopics#2", "timeout");
  res = rd_kafka_event_CreateTopics_result(ev);
  trs = rd_kafka_CreateTopics_result_topics(res, &cnt);
  CHECK(cnt == 1 && rd_kafka_topic_result_error(trs[0]) == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS,
        "second CreateTopics: expected TOPIC_ALREADY_EXISTS got %s", cnt ? rd_kafka_err2name(rd_kafka_topic_result_error(trs[0])) : "none");
  if (cnt == 1 && rd_kafka_topic_result_error(trs[0]) == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
    std::printf("  ok: CreateTopics again -> TOPIC_ALREADY_EXISTS\n");
  rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  for (auto *nt : nts) rd_kafka_NewTopic_destroy(nt);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // metadata propagation
}

static RdKafka::Headers *hdrs(const std::string &id) {
  RdKafka::Headers *h = RdKafka::Headers::create();
  h->add("relais-msg-id", id);
  h->add("content-type", "application/xml");
  return h;
}

static void produce(RdKafka::Producer *p, const std::string &topic, int partition, const std::string &key,
                    const std::string &val) {
  for (;;) {
    RdKafka::Headers *h = hdrs(key);
    RdKafka::ErrorCode e = p->produce(topic, partition, RdKafka::Producer::RK_MSG_COPY, const_cast<char *>(val.data()),
                                      val.size(), key.data(), key.size(), 0, h, nullptr);
    if (e == RdKafka::ERR__QUEUE_FULL) {
      delete h;
      p->poll(100);
      continue;
    }
    if (e) {
      delete h;
      die("produce", RdKafka::err2str(e));
    }
    return;  // headers owned by librdkafka now
  }
}

// ------------------------------------------------- (a) idempotent producer
static void test_idempotent() {
  std::printf("(a) idempotent producer acks=all -> relais.inbound.v1 with headers\n");
  auto c = base_conf();
  Dr dr;
  std::string err;
  set(c.get(), "enable.idempotence", "true");
  set(c.get(), "acks", "all");
  set(c.get(), "compression.type", "lz4");
  c->set("dr_cb", &dr, err);
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(c.get(), err));
  if (!p) die("producer", err);
  for (int i = 0; i < 50; i++) produce(p.get(), "relais.inbound.v1", RdKafka::Topic::PARTITION_UA, "k" + std::to_string(i), "payload-" + std::to_string(i));
  p->flush(15000);
  CHECK(dr.ok == 50 && dr.bad == 0, "idempotent delivery reports ok=%d bad=%d last=%s", dr.ok, dr.bad, dr.last_err.c_str());
  if (dr.ok == 50) std::printf("  ok: 50/50 delivery reports (idempotent, acks=all, lz4, headers)\n");
}

static std::vector<std::string> consume_all(const std::string &topic, const std::string &isolation, int partitions,
                                            int idle_ms = 3000) {
  auto c = base_conf();
  std::string err;
  set(c.get(), "group.id", "kcompat-reader-" + std::to_string(std::rand()));
  set(c.get(), "isolation.level", isolation);
  set(c.get(), "enable.auto.commit", "false");
  set(c.get(), "auto.offset.reset", "earliest");
  std::unique_ptr<RdKafka::KafkaConsumer> k(RdKafka::KafkaConsumer::create(c.get(), err));
  if (!k) die("consumer", err);
  std::vector<RdKafka::TopicPartition *> tps;
  for (int i = 0; i < partitions; i++) tps.push_back(RdKafka::TopicPartition::create(topic, i, RdKafka::Topic::OFFSET_BEGINNING));
  k->assign(tps);
  std::vector<std::string> out;
  auto last = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - last < std::chrono::milliseconds(idle_ms)) {
    std::unique_ptr<RdKafka::Message> m(k->consume(200));
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      out.emplace_back(static_cast<const char *>(m->payload()), m->len());
      last = std::chrono::steady_clock::now();
    } else if (m->err() != RdKafka::ERR__TIMED_OUT && m->err() != RdKafka::ERR__PARTITION_EOF) {
      std::fprintf(stderr, "  consume error: %s\n", m->errstr().c_str());
    }
  }
  if (!out.empty()) {
    RdKafka::ErrorCode ce = k->commitSync();  // plain (non-transactional) OffsetCommit
    CHECK(!ce, "commitSync: %s", RdKafka::err2str(ce).c_str());
  }
  RdKafka::TopicPartition::destroy(tps);
  k->close();
  return out;
}

// ---------------------------------------- (b) transactions, (c), (d) reads
static void test_transactions(const std::string &src, const std::string &dst) {
  std::printf("(b) transactional consume-transform-produce (%s -> %s + relais.journal.v1)\n", src.c_str(), dst.c_str());
  std::string err;
  // seed the source topic (plain idempotent producer)
  {
    auto c = base_conf();
    set(c.get(), "enable.idempotence", "true");
    std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(c.get(), err));
    for (int i = 0; i < 10; i++) produce(p.get(), src, i % 3, "src" + std::to_string(i), "src-" + std::to_string(i));
    CHECK(p->flush(10000) == RdKafka::ERR_NO_ERROR, "seed flush");
  }
  // subscribe-mode consumer group, read_committed, no auto commit
  auto cc = base_conf();
  std::string group = "kcompat-router-" + src;
  set(cc.get(), "group.id", group);
  set(cc.get(), "isolation.level", "read_committed");
  set(cc.get(), "enable.auto.commit", "false");
  set(cc.get(), "auto.offset.reset", "earliest");
  std::unique_ptr<RdKafka::KafkaConsumer> k(RdKafka::KafkaConsumer::create(cc.get(), err));
  if (!k) die("consumer", err);
  RdKafka::ErrorCode se = k->subscribe({src});
  CHECK(!se, "subscribe %s", RdKafka::err2str(se).c_str());
  std::vector<std::unique_ptr<RdKafka::Message>> in;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (in.size() < 10 && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> m(k->consume(500));
    if (m->err() == RdKafka::ERR_NO_ERROR) in.push_back(std::move(m));
    else if (m->err() != RdKafka::ERR__TIMED_OUT && m->err() != RdKafka::ERR__PARTITION_EOF)
      std::fprintf(stderr, "  consume error: %s\n", m->errstr().c_str());
  }
  CHECK(in.size() == 10, "group consumer got %zu/10 records", in.size());
  std::printf("  ok: subscribe-mode group consumer got %zu records\n", in.size());

  auto pc = base_conf();
  Dr dr;
  pc->set("dr_cb", &dr, err);
  set(pc.get(), "transactional.id", "kcompat-tx-" + src);
  set(pc.get(), "acks", "all");
  set(pc.get(), "enable.idempotence", "true");
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(pc.get(), err));
  if (!p) die("tx producer", err);
  ck(p->init_transactions(15000), "init_transactions");
  ck(p->begin_transaction(), "begin_transaction");
  for (auto &m : in) {
    std::string v = "routed-" + std::string(static_cast<const char *>(m->payload()), m->len());
    produce(p.get(), dst, RdKafka::Topic::PARTITION_UA, *m->key(), v);
    produce(p.get(), "relais.journal.v1", RdKafka::Topic::PARTITION_UA, *m->key(), "journal:" + v);
  }
  // offsets = last consumed + 1 per partition
  std::vector<RdKafka::TopicPartition *> offs;
  {
    std::map<int, int64_t> mx;
    for (auto &m : in) mx[m->partition()] = std::max(mx[m->partition()], m->offset() + 1);
    for (auto &[part, off] : mx) offs.push_back(RdKafka::TopicPartition::create(src, part, off));
  }
  std::unique_ptr<RdKafka::ConsumerGroupMetadata> gm(k->groupMetadata());
  ck(p->send_offsets_to_transaction(offs, gm.get(), 15000), "send_offsets_to_transaction (consumer group metadata)");
  ck(p->commit_transaction(15000), "commit_transaction");
  CHECK(dr.bad == 0 && dr.ok == 20, "tx delivery ok=%d bad=%d %s", dr.ok, dr.bad, dr.last_err.c_str());

  // committed offsets visible to the group
  std::vector<RdKafka::TopicPartition *> q;
  for (auto *t : offs) q.push_back(RdKafka::TopicPartition::create(src, t->partition()));
  RdKafka::ErrorCode ce = k->committed(q, 10000);
  CHECK(!ce, "committed(): %s", RdKafka::err2str(ce).c_str());
  bool all = true;
  for (size_t i = 0; i < q.size(); i++) {
    if (q[i]->offset() != offs[i]->offset()) all = false;
  }
  CHECK(all, "group committed offsets do not match the transaction's offsets");
  if (all) std::printf("  ok: group offsets committed through the transaction\n");
  RdKafka::TopicPartition::destroy(q);
  RdKafka::TopicPartition::destroy(offs);

  std::printf("(d) aborted transaction\n");
  ck(p->begin_transaction(), "begin_transaction #2");
  for (int i = 0; i < 5; i++) produce(p.get(), dst, RdKafka::Topic::PARTITION_UA, "ab" + std::to_string(i), "ABORTED-" + std::to_string(i));
  p->flush(10000);
  ck(p->abort_transaction(15000), "abort_transaction");
  ck(p->begin_transaction(), "begin_transaction #3");
  for (int i = 0; i < 3; i++) produce(p.get(), dst, RdKafka::Topic::PARTITION_UA, "af" + std::to_string(i), "after-" + std::to_string(i));
  ck(p->commit_transaction(15000), "commit_transaction #3");
  k->close();

  std::printf("(c) read_committed consumer reads back\n");
  auto rc = consume_all(dst, "read_committed", 3);
  auto ru = consume_all(dst, "read_uncommitted", 3);
  int routed = 0, aborted = 0, after = 0;
  for (auto &v : rc) {
    if (v.rfind("routed-", 0) == 0) routed++;
    if (v.rfind("ABORTED-", 0) == 0) aborted++;
    if (v.rfind("after-", 0) == 0) after++;
  }
  int aborted_ru = 0;
  for (auto &v : ru)
    if (v.rfind("ABORTED-", 0) == 0) aborted_ru++;
  std::printf("  read_committed: %zu records (routed=%d after=%d aborted=%d); read_uncommitted sees aborted=%d\n",
              rc.size(), routed, after, aborted, aborted_ru);
  CHECK(routed == 10 && after == 3, "read_committed missing committed records");
  CHECK(aborted == 0, "read_committed saw %d aborted records", aborted);
  CHECK(aborted_ru == 5, "read_uncommitted should see the 5 aborted records (got %d)", aborted_ru);
  auto jr = consume_all("relais.journal.v1", "read_committed", 6, 2000);
  int jn = 0;
  for (auto &v : jr)
    if (v.find("journal:routed-src-") == 0) jn++;
  CHECK(jn >= 10, "journal read back %d", jn);
  std::printf("  ok: journal topic has %d committed journal records (>=10)\n", jn);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s BROKERS [debug-contexts]\n", argv[0]);
    return 1;
  }
  g_brokers = argv[1];
  if (argc > 2) g_debug = argv[2];
  std::srand(static_cast<unsigned>(time(nullptr)));
  std::printf("librdkafka %s\n", RdKafka::version_str().c_str());
  std::string run = std::to_string(time(nullptr));
  std::string src = "kcompat." + run + ".src", dst = "kcompat." + run + ".dst";
  std::printf("(e) admin CreateTopics\n");
  create_topics({src, dst}, 3);
  test_idempotent();
  test_transactions(src, dst);
  std::printf(g_fail ? "RESULT: %d FAILURES\n" : "RESULT: ALL OK\n", g_fail);
  return g_fail ? 1 : 0;
}
