#include "relais/kafka/consumer.hpp"

#include <librdkafka/rdkafka.h>

#include <set>

#include "internal.hpp"

namespace relais::kafka {
using detail::error_of;
using detail::from_rd;
using detail::to_rd;

void Record::Deleter::operator()(RdKafka::Message* m) const {
  delete m;
}
Record::Record(RdKafka::Message* m) : m_(m) {}
Record::Record(Record&&) noexcept = default;
Record& Record::operator=(Record&&) noexcept = default;
Record::~Record() = default;

std::string Record::topic() const {
  return m_->topic_name();
}
std::int32_t Record::partition() const {
  return m_->partition();
}
std::int64_t Record::offset() const {
  return m_->offset();
}
const std::string* Record::key() const {
  return m_->key();
}
std::string_view Record::value() const {
  return {static_cast<const char*>(m_->payload()), m_->len()};
}
std::int64_t Record::timestamp_ms() const {
  auto ts = m_->timestamp();
  return ts.type == RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE ? -1 : ts.timestamp;
}

std::string Record::header(std::string_view name) const {
  return std::string(header_view(std::string(name).c_str()));
}

std::string_view Record::topic_view() const {
  const auto* c = static_cast<const rd_kafka_message_t*>(m_->c_ptr());
  return c->rkt ? std::string_view(rd_kafka_topic_name(c->rkt)) : std::string_view{};
}

std::string_view Record::header_view(const char* name) const {
  auto* c = static_cast<rd_kafka_message_t*>(m_->c_ptr());
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(c, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs) return {};
  const void* value = nullptr;
  std::size_t size = 0;
  if (rd_kafka_header_get_last(hdrs, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR || !value)
    return {};
  return {static_cast<const char*>(value), size};
}

std::vector<Header> Record::headers() const {
  std::vector<Header> out;
  auto* c = static_cast<rd_kafka_message_t*>(m_->c_ptr());
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(c, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs) return out;
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  for (std::size_t i = 0;
       rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
    out.push_back(
        {name, value ? std::string(static_cast<const char*>(value), size) : std::string{}});
  return out;
}

class Consumer::Callbacks : public RdKafka::RebalanceCb {
 public:
  Callbacks(Consumer& c, RebalanceHandler h, StatsExporter* stats) : c_(c), handler_(std::move(h)) {
    if (stats) events_.emplace(*stats);
  }
  void rebalance_cb(RdKafka::KafkaConsumer*, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    handler_(c_, err == RdKafka::ERR__ASSIGN_PARTITIONS ? Rebalance::assign : Rebalance::revoke,
             from_rd(parts));
  }
  bool has_handler() const { return static_cast<bool>(handler_); }
  detail::StatsEvents* events() { return events_ ? &*events_ : nullptr; }

 private:
  Consumer& c_;
  RebalanceHandler handler_;
  std::optional<detail::StatsEvents> events_;
};

std::unique_ptr<Consumer> Consumer::create(ConsumerOptions o, std::string& error) {
  std::unique_ptr<Consumer> c(new Consumer());
  c->callbacks_ = std::make_unique<Callbacks>(*c, std::move(o.on_rebalance), o.stats);
  auto conf = detail::make_conf(o.settings, error);
  if (!conf) return nullptr;
  if (auto* ev = c->callbacks_->events(); ev && !detail::set_event_cb(*conf, ev, error))
    return nullptr;
  if (c->callbacks_->has_handler() &&
      conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(c->callbacks_.get()), error) !=
          RdKafka::Conf::CONF_OK)
    return nullptr;
  c->c_.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!c->c_) {
    error = "cannot create consumer: " + error;
    return nullptr;
  }
  return c;
}

Consumer::~Consumer() {
  close();
  c_.reset();  // before the callbacks it refers to
}

void Consumer::close() {
  if (closed_ || !c_) return;
  closed_ = true;
  c_->close();
}

Error Consumer::subscribe(const std::vector<std::string>& topics) {
  return error_of(c_->subscribe(topics));
}

namespace {
template <class F>
Error with_rd(const TopicPartitions& parts, F&& f) {
  auto rd = to_rd(parts);
  Error e = f(rd);
  RdKafka::TopicPartition::destroy(rd);
  return e;
}
}  // namespace

Error Consumer::assign(const TopicPartitions& parts) {
  return with_rd(parts, [&](auto& rd) { return error_of(c_->assign(rd)); });
}
Error Consumer::unassign() {
  return error_of(c_->unassign());
}
Error Consumer::incremental_assign(const TopicPartitions& parts) {
  return with_rd(parts, [&](auto& rd) { return detail::take_error(c_->incremental_assign(rd)); });
}
Error Consumer::incremental_unassign(const TopicPartitions& parts) {
  return with_rd(parts, [&](auto& rd) { return detail::take_error(c_->incremental_unassign(rd)); });
}
Error Consumer::commit_sync(const TopicPartitions& offsets) {
  auto rd = to_rd(offsets);
  Error e = error_of(c_->commitSync(rd));
  RdKafka::TopicPartition::destroy(rd);
  return e;
}

Polled Consumer::poll(std::chrono::milliseconds timeout) {
  std::unique_ptr<RdKafka::Message> m(c_->consume(detail::ms(timeout)));
  Polled out;
  if (m->err() == RdKafka::ERR_NO_ERROR) {
    out.record.emplace(Record(m.release()));
    return out;
  }
  out.error = make_error(static_cast<int>(m->err()), m->errstr());
  if (m->err() == RdKafka::ERR__PARTITION_EOF) out.eof_partition = m->partition();
  return out;
}

Error Consumer::seek(const TopicPartition& to, std::chrono::milliseconds timeout) {
  std::unique_ptr<RdKafka::TopicPartition> tp(
      RdKafka::TopicPartition::create(to.topic, to.partition, to.offset));
  return error_of(c_->seek(*tp, detail::ms(timeout)));
}

std::optional<TopicPartitions> Consumer::positions(Error* error) {
  std::vector<RdKafka::TopicPartition*> parts;
  Error e = error_of(c_->assignment(parts));
  if (!e) e = error_of(c_->position(parts));
  std::optional<TopicPartitions> out;
  if (!e) out = from_rd(parts);
  RdKafka::TopicPartition::destroy(parts);
  if (error) *error = e;
  return out;
}

std::optional<TopicPartitions> Consumer::committed(const TopicPartitions& parts,
                                                   std::chrono::milliseconds timeout,
                                                   Error* error) {
  auto rd = to_rd(parts);
  Error e = error_of(c_->committed(rd, detail::ms(timeout)));
  std::optional<TopicPartitions> out;
  if (!e) out = from_rd(rd);
  RdKafka::TopicPartition::destroy(rd);
  if (error) *error = e;
  return out;
}

Error Consumer::cached_watermarks(const std::string& topic, std::int32_t partition,
                                  std::int64_t& low, std::int64_t& high) {
  return error_of(c_->get_watermark_offsets(topic, partition, &low, &high));
}

Error Consumer::query_watermarks(const std::string& topic, std::int32_t partition,
                                 std::chrono::milliseconds timeout, std::int64_t& low,
                                 std::int64_t& high) {
  return error_of(c_->query_watermark_offsets(topic, partition, &low, &high, detail::ms(timeout)));
}

int Consumer::partition_count(const std::string& topic, std::chrono::milliseconds timeout) {
  return detail::partition_count(*c_, topic, timeout);
}

std::optional<std::string> read_partitions(const Settings& settings, const std::string& topic,
                                           const std::vector<int32_t>& partitions,
                                           std::chrono::milliseconds timeout,
                                           const std::function<void(const Record&)>& fn) {
  if (partitions.empty()) return std::nullopt;
  ConsumerOptions o;
  o.settings = settings;
  o.settings["enable.partition.eof"] = "true";
  o.settings["enable.auto.commit"] = "false";
  o.settings["isolation.level"] = "read_committed";
  o.settings.emplace("group.id", "relais-reader");  // required by the API; we never commit
  std::string error;
  auto c = Consumer::create(std::move(o), error);
  if (!c) return error;
  TopicPartitions parts;
  for (auto p : partitions) parts.push_back({topic, p, kOffsetBeginning});
  c->assign(parts);
  std::set<int32_t> open(partitions.begin(), partitions.end());
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<std::string> result;
  while (true) {
    if (std::chrono::steady_clock::now() > deadline) {
      result = "timed out reading " + topic;
      break;
    }
    auto m = c->poll(std::chrono::milliseconds(200));
    if (m.error.kind == errc::partition_eof) {
      open.erase(m.eof_partition);
      if (open.empty()) break;
      continue;
    }
    if (m.error.kind == errc::timed_out) continue;
    if (m.error) {
      if (m.error.kind == errc::transport || m.error.kind == errc::brokers_down) continue;
      result = "reading " + topic + ": " + m.error.message;
      break;
    }
    fn(*m.record);
  }
  c->close();
  return result;
}

}  // namespace relais::kafka
