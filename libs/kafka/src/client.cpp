#include "relais/kafka/client.hpp"

#include <librdkafka/rdkafka.h>

#include <mutex>
#include <set>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

#include "internal.hpp"
#include "relais/common/log.hpp"

namespace relais::kafka {
namespace {
const log::Logger logger{"kafka"};

struct Opaque {
  DeliveryCallback cb;
};

// A record's Opaque goes from the producing thread, through librdkafka's queues, to the thread
// that polls the producer and gets its delivery report. ThreadSanitizer cannot see that order:
// the queues lock with C11 mtx_* that glibc implements without the pthread calls TSan
// intercepts (docs/fuzzing.md, "ThreadSanitizer"). A TSan build states that
// handoff (release where the Opaque enters librdkafka, acquire where its delivery report hands it
// back), so that a real race in the callback's state is still reported; other builds pay nothing.
void handoff_release([[maybe_unused]] Opaque* op) {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(op);
#endif
}
void handoff_acquire([[maybe_unused]] Opaque* op) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(op);
#endif
}
}  // namespace

bool parse_extra(const std::string& text, Settings& out, std::string& error) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      error = "expected key=value, got \"" + item + "\"";
      return false;
    }
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return true;
}

namespace detail {
std::unique_ptr<RdKafka::Conf> make_conf(const Settings& settings, std::string& error) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  for (const auto& [k, v] : settings) {
    std::string err;
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      // NOLINTNEXTLINE(performance-inefficient-string-concatenation): an error message
      error = "kafka setting " + k + ": " + err;
      return nullptr;
    }
  }
  return conf;
}

void StatsEvents::event_cb(RdKafka::Event& e) {
  switch (e.type()) {
    case RdKafka::Event::EVENT_STATS:
      s_.on_statistics(e.str());
      break;
    case RdKafka::Event::EVENT_ERROR:
      s_.on_error(RdKafka::err2str(e.err()), e.str());
      break;
    case RdKafka::Event::EVENT_LOG:
      if (e.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) s_.on_log(e.fac(), e.str());
      break;
    default:
      break;
  }
}

bool set_event_cb(RdKafka::Conf& conf, RdKafka::EventCb* cb, std::string& error) {
  return conf.set("event_cb", cb, error) == RdKafka::Conf::CONF_OK;
}

Error take_error(RdKafka::Error* raw) {
  std::unique_ptr<RdKafka::Error> e(raw);
  if (!e) return {};
  return make_error(ErrorFacts{static_cast<int>(e->code()), e->is_fatal(), e->is_retriable(),
                               e->txn_requires_abort()},
                    e->str());
}

std::vector<RdKafka::TopicPartition*> to_rd(const TopicPartitions& parts) {
  std::vector<RdKafka::TopicPartition*> out;
  out.reserve(parts.size());
  for (const auto& tp : parts)
    out.push_back(RdKafka::TopicPartition::create(tp.topic, tp.partition, tp.offset));
  return out;
}

TopicPartitions from_rd(const std::vector<RdKafka::TopicPartition*>& parts) {
  TopicPartitions out;
  out.reserve(parts.size());
  for (const auto* tp : parts) out.push_back({tp->topic(), tp->partition(), tp->offset()});
  return out;
}
}  // namespace detail

using detail::make_conf;

class Producer::Callbacks : public RdKafka::DeliveryReportCb, public RdKafka::EventCb {
 public:
  explicit Callbacks(Producer* p) : p_(p) {}
  void dr_cb(RdKafka::Message& m) override {
    std::unique_ptr<Opaque> op(static_cast<Opaque*>(m.msg_opaque()));
    if (op) handoff_acquire(op.get());
    DeliveryResult r;
    r.error = detail::error_of(m.err());
    r.partition = m.partition();
    r.offset = m.offset();
    if (!r.ok()) {
      r.error.message = m.errstr();
      r.possibly_persisted = m.status() == RdKafka::Message::MSG_STATUS_POSSIBLY_PERSISTED;
    } else {
      p_->brokers_down_.store(false);
    }
    if (op && op->cb) op->cb(r);
  }
  void event_cb(RdKafka::Event& e) override {
    switch (e.type()) {
      case RdKafka::Event::EVENT_ERROR:
        if (e.err() == RdKafka::ERR__ALL_BROKERS_DOWN) p_->brokers_down_.store(true);
        if (e.fatal()) {
          p_->fatal_.store(true);
          logger.error("producer fatal error",
                       {{"error", RdKafka::err2str(e.err())}, {"detail", e.str()}});
          break;
        }
        logger.warn("producer error", {{"error", RdKafka::err2str(e.err())}, {"detail", e.str()}});
        break;
      case RdKafka::Event::EVENT_STATS: {
        std::lock_guard lock(mu_);
        stats_ = e.str();
        if (on_stats_) on_stats_(stats_);
        break;
      }
      case RdKafka::Event::EVENT_LOG:
        if (e.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING)
          logger.warn("librdkafka", {{"facility", e.fac()}, {"detail", e.str()}});
        break;
      default:
        break;
    }
  }
  std::string stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }
  void set_on_stats(std::function<void(const std::string&)> fn) {
    std::lock_guard lock(mu_);
    on_stats_ = std::move(fn);
  }

 private:
  Producer* p_;
  mutable std::mutex mu_;
  std::string stats_;
  std::function<void(const std::string&)> on_stats_;
};

std::unique_ptr<Producer> Producer::create(const Settings& settings, std::string& error,
                                           const Reloads* reloads) {
  std::unique_ptr<Producer> p(new Producer());
  p->callbacks_ = std::make_unique<Callbacks>(p.get());
  p->settings_ = settings;
  p->settings_.emplace("enable.idempotence", "true");
  p->settings_.emplace("acks", "all");
  if (!p->build(error)) return nullptr;
  p->poller_ = std::thread([raw = p.get(), watch = ReloadWatch(reloads)]() mutable {
    auto last_probe = std::chrono::steady_clock::now();
    while (!raw->stop_.load()) {
      {
        std::shared_lock lock(raw->rk_mu_);
        raw->producer_->poll(50);
        // While the brokers are believed down no record is produced (ingest answers
        // 503), so no delivery report can clear the flag: probe with a metadata request.
        if (raw->brokers_down_.load() &&
            std::chrono::steady_clock::now() - last_probe > std::chrono::seconds(1)) {
          last_probe = std::chrono::steady_clock::now();
          RdKafka::Metadata* md = nullptr;
          if (raw->producer_->metadata(false, nullptr, &md, 1000) == RdKafka::ERR_NO_ERROR) {
            raw->brokers_down_.store(false);
            logger.info("brokers reachable again");
          }
          delete md;
        }
      }
      if (raw->fatal_.load()) raw->recover();
      if (watch.due()) raw->renew();
    }
  });
  return p;
}

bool Producer::build(std::string& error) {
  auto conf = make_conf(settings_, error);
  if (!conf) return false;
  std::string err;
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(callbacks_.get()), err) !=
          RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(callbacks_.get()), err) !=
          RdKafka::Conf::CONF_OK) {
    error = err;
    return false;
  }
  producer_.reset(RdKafka::Producer::create(conf.get(), err));
  if (!producer_) {
    error = "cannot create producer: " + err;
    return false;
  }
  return true;
}

// A new client is made under the exclusive lock (callers of produce() wait for it, not for the
// old client's drain); then, outside the lock, the old client's records are failed (purged: their
// callbacks run here with the purge error, POSSIBLY_PERSISTED for those in flight, and may
// produce again through the new client) and the old client is destroyed.
void Producer::recover() {
  std::unique_ptr<RdKafka::Producer> old;
  {
    std::unique_lock lock(rk_mu_);
    std::string reason;
    auto code = producer_->fatal_error(reason);
    logger.error(
        "producer client replaced after a fatal error; records not yet delivered fail and "
        "their senders retry",
        {{"error", RdKafka::err2str(code)},
         {"detail", reason},
         {"undelivered", producer_->outq_len()}});
    old = std::move(producer_);
    std::string error;
    while (!build(error)) {
      logger.error("cannot create a new producer client; retrying", {{"error", error}});
      if (stop_.load()) {
        producer_ = std::move(old);  // the destructor flushes what it can
        return;
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  old->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (old->outq_len() > 0 && std::chrono::steady_clock::now() < deadline) old->poll(100);
  old.reset();
  // Cleared only now: the old client reports its fatal error again while it drains.
  fatal_.store(false);
  recreations_.fetch_add(1);
  logger.info("producer client replaced", {{"recreations", recreations_.load()}});
}

// A reload: the new client is made under the exclusive lock (its TLS files read now); the old one,
// outside it, delivers what it holds with the connections it has (its callbacks run here, and the
// new client's are served meanwhile), up to 30 s; what it still holds then is purged (the callbacks
// fail, POSSIBLY_PERSISTED for what was in flight, and their senders retry). A new client that
// cannot be made leaves the old one.
void Producer::renew() {
  std::unique_ptr<RdKafka::Producer> old;
  {
    std::unique_lock lock(rk_mu_);
    old = std::move(producer_);
    std::string error;
    if (!build(error)) {
      producer_ = std::move(old);
      logger.error("reload: cannot create a new producer client; the current one stays in use",
                   {{"error", error}});
      return;
    }
  }
  // The old client's deliveries, and the new one's meanwhile (this thread is the one that polls).
  const int held = old->outq_len();
  const auto drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (old->outq_len() > 0 && std::chrono::steady_clock::now() < drain_deadline) {
    old->poll(50);
    std::shared_lock lock(rk_mu_);
    producer_->poll(0);
  }
  const int left = old->outq_len();
  if (left > 0) {
    old->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (old->outq_len() > 0 && std::chrono::steady_clock::now() < deadline) old->poll(100);
  }
  old.reset();
  renewals_.fetch_add(1);
  logger.info("producer client made again (TLS files read again)",
              {{"drained", held - left}, {"failed", left}, {"renewals", renewals_.load()}});
}

void Producer::raise_fatal_for_testing(const std::string& reason) {
  std::shared_lock lock(rk_mu_);
  rd_kafka_test_fatal_error(producer_->c_ptr(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                            reason.c_str());
}

Producer::~Producer() {
  stop_.store(true);
  if (poller_.joinable()) poller_.join();
  std::unique_lock lock(rk_mu_);
  if (producer_) {
    producer_->flush(5000);
    producer_->poll(0);
  }
}

int Producer::outq_len() const {
  std::shared_lock lock(rk_mu_);
  return producer_->outq_len();
}

int Producer::partition_count(const std::string& topic, std::chrono::milliseconds timeout) {
  std::shared_lock lock(rk_mu_);
  return detail::partition_count(*producer_, topic, timeout);
}

Error Producer::produce(const std::string& topic, int32_t partition, std::string_view key,
                        std::string_view value, const std::vector<Header>& headers,
                        DeliveryCallback cb) {
  RdKafka::Headers* h = RdKafka::Headers::create();
  for (const auto& hd : headers) h->add(hd.key, hd.value.data(), hd.value.size());
  auto* op = new Opaque{std::move(cb)};
  handoff_release(op);
  std::shared_lock lock(rk_mu_);
  auto err = producer_->produce(topic, partition, RdKafka::Producer::RK_MSG_COPY,
                                const_cast<char*>(value.data()), value.size(), key.data(),
                                key.size(), 0, h, op);
  if (err != RdKafka::ERR_NO_ERROR) {
    delete h;  // ownership stays with us on failure
    delete op;
  }
  return detail::error_of(err);
}

int Producer::flush(std::chrono::milliseconds timeout) {
  std::shared_lock lock(rk_mu_);
  producer_->flush(static_cast<int>(timeout.count()));
  return producer_->outq_len();
}

std::string Producer::last_stats() const {
  return callbacks_->stats();
}

void Producer::on_stats(std::function<void(const std::string&)> fn) {
  callbacks_->set_on_stats(std::move(fn));
}

std::optional<std::string> ensure_topics(const Settings& settings,
                                         const std::vector<std::string>& topics, int partitions,
                                         int replication_factor, std::chrono::milliseconds timeout,
                                         const std::map<std::string, std::string>& topic_config) {
  if (topics.empty()) return std::nullopt;
  std::string error;
  auto conf = make_conf(settings, error);
  if (!conf) return error;
  char errstr[512];
  rd_kafka_conf_t* c = rd_kafka_conf_new();
  for (const auto& [k, v] : settings) {
    if (rd_kafka_conf_set(c, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(c);
      return std::string("kafka setting ") + k + ": " + errstr;
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, errstr, sizeof errstr);
  if (!rk) return std::string("cannot create admin client: ") + errstr;
  std::vector<rd_kafka_NewTopic_t*> nts;
  for (const auto& t : topics) {
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(t.c_str(), partitions, replication_factor, errstr, sizeof errstr);
    for (const auto& [k, v] : topic_config) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
    nts.push_back(nt);
  }
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, static_cast<int>(timeout.count()), errstr,
                                              sizeof errstr);
  rd_kafka_AdminOptions_set_request_timeout(opts, static_cast<int>(timeout.count()), errstr,
                                            sizeof errstr);
  rd_kafka_CreateTopics(rk, nts.data(), nts.size(), opts, q);
  std::optional<std::string> result;
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, static_cast<int>(timeout.count()) + 1000);
  if (!ev) {
    result = "timed out creating topics";
  } else if (rd_kafka_event_error(ev)) {
    result = std::string("create topics: ") + rd_kafka_event_error_string(ev);
  } else {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t** trs = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; ++i) {
      auto e = rd_kafka_topic_result_error(trs[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        result =
            std::string("create topic ") + rd_kafka_topic_result_name(trs[i]) + ": " +
            (rd_kafka_topic_result_error_string(trs[i]) ? rd_kafka_topic_result_error_string(trs[i])
                                                        : rd_kafka_err2str(e));
        break;
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy_array(nts.data(), nts.size());
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  return result;
}

int detail::partition_count(RdKafka::Handle& handle, const std::string& topic,
                            std::chrono::milliseconds timeout) {
  std::string err;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(&handle, topic, nullptr, err));
  if (!t) return -1;
  RdKafka::Metadata* md = nullptr;
  if (handle.metadata(false, t.get(), &md, static_cast<int>(timeout.count())) !=
      RdKafka::ERR_NO_ERROR)
    return -1;
  std::unique_ptr<RdKafka::Metadata> holder(md);
  for (const auto* tm : *md->topics()) {
    if (tm->topic() == topic && tm->err() == RdKafka::ERR_NO_ERROR)
      return static_cast<int>(tm->partitions()->size());
  }
  return -1;
}

int partition_count(const Settings& settings, const std::string& topic,
                    std::chrono::milliseconds timeout) {
  std::string err;
  auto conf = make_conf(settings, err);
  if (!conf) return -1;
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  if (!p) return -1;
  return detail::partition_count(*p, topic, timeout);
}

}  // namespace relais::kafka
