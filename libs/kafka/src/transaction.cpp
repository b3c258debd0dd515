#include "relais/kafka/transaction.hpp"

#include "internal.hpp"

namespace relais::kafka {
using detail::ms;
using detail::take_error;

TransactionalProducer::TransactionalProducer() = default;
TransactionalProducer::~TransactionalProducer() {
  p_.reset();
}

std::unique_ptr<TransactionalProducer> TransactionalProducer::create(const Settings& settings,
                                                                     StatsExporter* stats,
                                                                     std::string& error) {
  std::unique_ptr<TransactionalProducer> t(new TransactionalProducer());
  auto conf = detail::make_conf(settings, error);
  if (!conf) return nullptr;
  if (stats) {
    t->events_ = std::make_unique<detail::StatsEvents>(*stats);
    if (!detail::set_event_cb(*conf, t->events_.get(), error)) return nullptr;
  }
  t->p_.reset(RdKafka::Producer::create(conf.get(), error));
  if (!t->p_) {
    error = "cannot create producer: " + error;
    return nullptr;
  }
  return t;
}

Error TransactionalProducer::init(std::chrono::milliseconds timeout) {
  return take_error(p_->init_transactions(ms(timeout)));
}
Error TransactionalProducer::begin() {
  return take_error(p_->begin_transaction());
}
Error TransactionalProducer::commit(std::chrono::milliseconds timeout) {
  return take_error(p_->commit_transaction(ms(timeout)));
}
Error TransactionalProducer::abort(std::chrono::milliseconds timeout) {
  return take_error(p_->abort_transaction(ms(timeout)));
}

Error TransactionalProducer::send(const std::string& topic, std::int32_t partition,
                                  std::string_view key, std::string_view value,
                                  const std::vector<Header>& headers) {
  RdKafka::ErrorCode err = RdKafka::ERR__QUEUE_FULL;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    RdKafka::Headers* h = RdKafka::Headers::create();
    for (const auto& hd : headers) h->add(hd.key, hd.value.data(), hd.value.size());
    err = p_->produce(topic, partition, RdKafka::Producer::RK_MSG_COPY,
                      const_cast<char*>(value.data()), value.size(), key.data(), key.size(), 0, h,
                      nullptr);
    if (err == RdKafka::ERR_NO_ERROR) return {};
    delete h;  // ownership stays with us on failure
    if (err != RdKafka::ERR__QUEUE_FULL) break;
    p_->poll(10);
  }
  return detail::error_of(err);
}

Error TransactionalProducer::send_offsets(const TopicPartitions& offsets, Consumer& consumer,
                                          std::chrono::milliseconds timeout) {
  auto rd = detail::to_rd(offsets);
  std::unique_ptr<RdKafka::ConsumerGroupMetadata> gm(consumer.c_->groupMetadata());
  Error e = take_error(p_->send_offsets_to_transaction(rd, gm.get(), ms(timeout)));
  RdKafka::TopicPartition::destroy(rd);
  return e;
}

void TransactionalProducer::poll(std::chrono::milliseconds timeout) {
  p_->poll(ms(timeout));
}

void TransactionalProducer::purge() {
  p_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
}

int TransactionalProducer::flush(std::chrono::milliseconds timeout) {
  p_->flush(ms(timeout));
  return p_->outq_len();
}

int TransactionalProducer::partition_count(const std::string& topic,
                                           std::chrono::milliseconds timeout) {
  return detail::partition_count(*p_, topic, timeout);
}

}  // namespace relais::kafka
