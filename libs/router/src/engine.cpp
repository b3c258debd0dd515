#include "relais/router/engine.hpp"

#include <map>
#include <thread>

#include "relais/codec/flow.hpp"
#include "relais/common/log.hpp"
#include "relais/kafka/stats.hpp"
#include "relais/kafka/transaction.hpp"
#include "relais/fingerprint/fingerprint.hpp"
#include "relais/routing/route.hpp"
#include "relais/v1/records.pb.h"
#include "relais/validation/date.hpp"
#include "relais/validation/notification.hpp"

namespace relais::router {
namespace {
const log::Logger logger{"router"};

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Journal entries and dedupe tickets are written in batches: one record per
// transaction (and inbound partition for the dedupe marks), split at these
// sizes to stay far below the broker's 1 MB record limit (a journal entry is
// at most a few hundred bytes; a ticket is 16 bytes).
constexpr int kJournalPerRecord = 1024;
constexpr int kTicketsPerRecord = 16384;
constexpr std::string_view kBatchKeyPrefix = "batch/";

std::string event_name(const v1::Notification& n) {
  const auto* body_field = n.GetDescriptor()->FindFieldByNumber(static_cast<int>(n.body_case()));
  if (!body_field) return {};
  const auto& body = n.GetReflection()->GetMessage(n, body_field);
  const auto* ev = body.GetDescriptor()->FindFieldByName("event");
  if (!ev) return {};
  const auto* v = body.GetReflection()->GetEnum(body, ev);
  return v ? v->name() : std::string{};
}

// The National Register announcing an SSIN replacement: the only notification whose
// replaces_ssin routing follows (routing::Subject).
bool announces_replacement(const v1::Notification& n) {
  return n.body_case() == v1::Notification::kNotifyPerson &&
         n.notify_person().event() == v1::NotifyPerson::SSIN_REPLACED;
}
}  // namespace

using namespace std::chrono_literals;
using kafka::errc;

class Engine::Impl {
 public:
  Impl(Engine& e, EngineOptions o, DirectoryFeed& feed, metrics::Registry& m)
      : e_(e), o_(std::move(o)), feed_(feed), dedupe_(o_.dedupe_window_us),
        producer_stats_(m, "router-producer"), consumer_stats_(m, "router-consumer"),
        consumed_(m.counter("relais_router_records_consumed_total", "Records read from the inbound topic").with()),
        routed_(m.counter("relais_router_routed_total", "Notifications forwarded to a CPAS topic", {"flow", "cpas"})),
        dropped_(m.counter("relais_router_dropped_total", "Notifications forwarded to no CPAS, by reason",
                           {"flow", "reason"})),
        dlq_(m.counter("relais_router_dlq_total", "Records sent to the dead-letter topic, by reason", {"reason"})),
        dupes_(m.counter("relais_router_duplicates_total", "Notifications whose ticket was already processed").with()),
        txns_(m.counter("relais_router_transactions_total", "Kafka transactions, by result", {"result"})),
        txn_seconds_(m.histogram("relais_router_transaction_duration_seconds",
                                 "Time to commit one batch transaction", {}, metrics::latency_buckets())
                         .with()),
        e2e_seconds_(m.histogram("relais_router_end_to_end_seconds",
                                 "Accepted by ingest to committed by the router", {}, metrics::latency_buckets())
                         .with()),
        lag_gauge_(m.gauge("relais_router_consumer_lag", "Records behind the end of the inbound partitions", {"partition"})),
        dir_size_(m.gauge("relais_directory_integrations", "Integration lines held in memory, by CPAS", {"cpas"})),
        dir_age_(m.gauge("relais_directory_refresh_age_seconds", "Seconds since the directory was last refreshed").with()),
        dedupe_size_(m.gauge("relais_router_dedupe_tickets", "Tickets remembered for deduplication").with()),
        alerts_(m.counter("relais_router_alerts_raised_total", "Clignotants raised, by type and CPAS", {"type", "cpas"})),
        client_restarts_(m.counter("relais_router_client_restarts_total",
                                   "Kafka clients created again after a fatal Kafka error (fenced)")
                             .with()),
        batch_cap_(m.gauge("relais_router_batch_cap",
                           "Records the next transaction may take (router.batch_max, up to "
                           "router.catchup_batch_max while a backlog drains)")
                       .with()) {
    cap_ = std::max<std::size_t>(1, o_.batch_max);
  }

  std::optional<std::string> start() {
    std::string err;
    kafka::Settings pc = o_.kafka;
    pc["transactional.id"] = o_.transactional_id;
    pc["enable.idempotence"] = "true";
    pc["acks"] = "all";
    pc["transaction.timeout.ms"] = std::to_string(o_.transaction_timeout.count());
    pc.emplace("linger.ms", "5");
    pc.emplace("queue.buffering.max.messages", "1000000");
    pc.emplace("statistics.interval.ms", kafka::kStatsIntervalMs);
    producer_ = kafka::TransactionalProducer::create(pc, &producer_stats_, err);
    if (!producer_) return err;
    if (auto kerr = producer_->init(30s)) return "init_transactions: " + kerr.message;

    kafka::ConsumerOptions co;
    co.stats = &consumer_stats_;
    co.on_rebalance = [this](kafka::Consumer& c, kafka::Rebalance r, const kafka::TopicPartitions& parts) {
      rebalance(c, r, parts);
    };
    kafka::Settings& cc = co.settings;
    cc = o_.kafka;
    cc["group.id"] = o_.group_id;
    cc["enable.auto.commit"] = "false";
    cc["isolation.level"] = "read_committed";
    cc["auto.offset.reset"] = "earliest";
    cc.emplace("max.poll.interval.ms", "60000");
    cc.emplace("session.timeout.ms", "10000");
    // Static membership: a replica restarted with the same instance id takes its
    // partitions back at once instead of waiting for a rebalance.
    cc.emplace("group.instance.id", o_.transactional_id);
    cc.emplace("statistics.interval.ms", kafka::kStatsIntervalMs);
    consumer_ = kafka::Consumer::create(std::move(co), err);
    if (!consumer_) return err;

    if (auto e = kafka::ensure_topics(o_.kafka, {o_.dlq_topic}, 3, o_.replication_factor, std::chrono::seconds(15)))
      return *e;
    int inbound = producer_->partition_count(o_.inbound_topic, 10s);
    int dedupe = producer_->partition_count(o_.dedupe_topic, 10s);
    if (inbound <= 0) return "topic " + o_.inbound_topic + " not found";
    if (dedupe < inbound)
      return "topic " + o_.dedupe_topic + " must have at least as many partitions as " + o_.inbound_topic + " (" +
             std::to_string(dedupe) + " < " + std::to_string(inbound) + ")";
    if (auto sub = consumer_->subscribe({o_.inbound_topic})) return "subscribe: " + sub.message;
    return std::nullopt;
  }

  // Rebalance: rebuild the dedupe state of assigned partitions before reading them.
  void rebalance(kafka::Consumer& c, kafka::Rebalance r, const kafka::TopicPartitions& parts) {
    if (r == kafka::Rebalance::assign) {
      std::vector<int32_t> ps;
      for (const auto& tp : parts) ps.push_back(tp.partition);
      if (!restore_dedupe(ps)) {
        // Stopping: never consume a partition whose dedupe state is not restored.
        logger.warn("stopping before the dedupe state was restored; partitions not consumed",
                    {{"count", parts.size()}});
        return;
      }
      c.assign(parts);
      // Ready once the group has given this replica its share (possibly none).
      e_.ready_.store(true);
      logger.info("partitions assigned", {{"count", parts.size()}});
    } else {
      for (const auto& tp : parts) {
        auto p = tp.partition;
        dedupe_.drop_partition(p);
        // Records of a revoked partition collected for the next transaction are
        // dropped: their offsets were not committed, the next owner reads them.
        std::erase_if(batch_, [p](const kafka::Record& o) { return o.partition() == p; });
      }
      c.unassign();
      logger.info("partitions revoked", {{"count", parts.size()}});
    }
  }

  // Rebuilds the processed-ticket sets of `ps` from relais.dedupe.v1 (dedupe
  // partition p holds the tickets of inbound partition p). Until it succeeds
  // the partitions are not consumed: routing without it could duplicate.
  // Returns false if the engine is stopped before it succeeds.
  bool restore_dedupe(const std::vector<int32_t>& ps) {
    auto cutoff = now_us() - dedupe_.window_us();
    for (int attempt = 0;; ++attempt) {
      for (auto p : ps) dedupe_.clear_partition(p);
      std::size_t n = 0;
      auto t0 = std::chrono::steady_clock::now();
      auto e = kafka::read_partitions(o_.kafka, o_.dedupe_topic, ps, std::chrono::seconds(120),
                                      [&](const kafka::Record& m) {
                                        if (!m.key()) return;
                                        if (m.key()->starts_with(kBatchKeyPrefix)) {
                                          v1::DedupeBatch b;
                                          if (!b.ParseFromArray(m.value().data(), static_cast<int>(m.value().size())) ||
                                              b.processed_at_us() < cutoff || b.ticket_hi_size() != b.ticket_lo_size())
                                            return;
                                          restore_batch(m.partition(), b);
                                          n += static_cast<std::size_t>(b.ticket_hi_size());
                                          return;
                                        }
                                        // One DedupeMark per ticket (the format before batches).
                                        auto t = parse_ticket(*m.key());
                                        v1::DedupeMark mark;
                                        if (!t || !mark.ParseFromArray(m.value().data(), static_cast<int>(m.value().size())))
                                          return;
                                        if (mark.processed_at_us() < cutoff) return;
                                        dedupe_.insert_legacy(m.partition(), *t, mark.processed_at_us());
                                        ++n;
                                      });
      if (!e) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        logger.info("dedupe state restored", {{"partitions", ps.size()}, {"tickets", n}, {"ms", ms}});
        return true;
      }
      logger.warn("restoring dedupe state failed, retrying", {{"error", *e}, {"attempt", attempt}});
      // Waits before the next attempt, but a stop request (SIGTERM) ends it at once.
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(std::min(attempt + 1, 10));
      while (e_.running_.load() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (!e_.running_.load()) return false;
    }
  }

  // One DedupeBatch into the dedupe state. Records of routers before content
  // fingerprints (no ssin/content_fp) give legacy entries: duplicates whatever
  // their SSIN and content, as those routers decided.
  void restore_batch(std::int32_t partition, const v1::DedupeBatch& b) {
    const int n = b.ticket_hi_size();
    const bool full = b.ssin_size() == n && b.content_fp_size() == n;
    for (int i = 0; i < n; ++i) {
      TicketId t{b.ticket_hi(i), b.ticket_lo(i)};
      if (full) dedupe_.insert(partition, Mark{t, b.ssin(i), b.content_fp(i)}, b.processed_at_us());
      else dedupe_.insert_legacy(partition, t, b.processed_at_us());
    }
  }

  int run() {
    auto& batch = batch_;
    batch.reserve(std::max(o_.batch_max, o_.catchup_batch_max));  // the largest a batch gets
    refresh_dir_metrics();  // the gauges show the initial load, not only later changes
    auto last_prune = std::chrono::steady_clock::now();
    auto last_lag = last_prune;
    while (e_.running_.load()) {
      if (feed_.apply_pending(e_.dir_) > 0) refresh_dir_metrics();
      dir_age_.set(feed_.age_seconds());
      batch.clear();
      auto deadline = std::chrono::steady_clock::now() + o_.batch_linger;
      const std::size_t cap = cap_;
      while (batch.size() < cap) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        int timeout = batch.empty() ? 100 : static_cast<int>(std::max<long long>(0, left.count()));
        auto m = consumer_->poll(std::chrono::milliseconds(timeout));
        if (m.error.kind == errc::timed_out) break;
        if (m.error.kind == errc::partition_eof) continue;
        if (m.error) {
          if (m.error.fatal()) {
            if (!restart_clients("consumer: " + m.error.message)) return 3;
            break;
          }
          logger.warn("consumer error", {{"error", m.error.message}});
          break;
        }
        batch.push_back(std::move(*m.record));
      }
      // Catch-up: a batch that filled up while a backlog of at least catchup_batch_max records
      // waits lets the next one be twice as large. The backlog condition keeps a router that
      // merely has slow commits (records queue for a few hundred ms) from growing its
      // transactions, which would slow its commits further: latency first, unless behind.
      const std::size_t catchup = std::max(o_.batch_max, o_.catchup_batch_max);
      bool grow = false;
      if (batch.size() >= cap && catchup > o_.batch_max) {
        update_lag();  // local: positions and the watermarks of the last fetch
        grow = e_.lag_.load() >= static_cast<std::int64_t>(catchup);
      }
      cap_ = grow ? std::min(cap * 2, catchup) : o_.batch_max;
      batch_cap_.set(static_cast<double>(cap_));
      if (!batch.empty()) {
        int rc = process_batch(batch);
        if (rc != 0 && !restart_clients("transaction: fatal error")) return rc;
      }
      auto now = std::chrono::steady_clock::now();
      if (now - last_prune > std::chrono::minutes(10)) {
        dedupe_.prune(now_us());
        last_prune = now;
      }
      if (now - last_lag > std::chrono::seconds(2)) {
        producer_->poll(0ms);  // serves the producer's statistics events
        update_lag();
        last_lag = now;
      }
    }
    return 0;
  }

  // A fatal Kafka error makes the clients unusable, not the process. The usual one: the broker
  // restarts, this replica's session expires meanwhile, and its static membership comes back
  // "fenced by other consumer with same group.instance.id" (itself, rejoining). Instead of
  // exiting and waiting for a supervisor, the replica does in place what a restart would do:
  // the open transaction and the batch are dropped (nothing of them was committed; the new
  // producer's init_transactions aborts it), the consumer leaves, new clients are created, and
  // the partitions assigned again have their dedupe state restored before they are read. The
  // directory stays in memory. Restarts in a row wait 1, 2, 4 … 30 s (two replicas wrongly
  // given the same instance id would fence each other for ever: the log and
  // relais_router_client_restarts_total say so). Returns false only when the engine stops.
  bool restart_clients(const std::string& why) {
    client_restarts_.inc();
    e_.ready_.store(false);
    batch_.clear();
    for (int attempt = 0; e_.running_.load(); ++attempt) {
      auto since_last = std::chrono::steady_clock::now() - last_restart_;
      if (since_last > std::chrono::minutes(5)) restarts_in_a_row_ = 0;
      auto wait = std::chrono::seconds(std::min(30, 1 << std::min(restarts_in_a_row_, 5)));
      ++restarts_in_a_row_;
      logger.error("fatal Kafka error; creating the Kafka clients again, as a restart would",
                   {{"error", why}, {"attempt", attempt}, {"wait_ms", std::chrono::milliseconds(wait).count()}});
      if (producer_) producer_->purge();
      if (consumer_) consumer_->close();
      consumer_.reset();
      producer_.reset();
      auto until = std::chrono::steady_clock::now() + wait;
      while (e_.running_.load() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (!e_.running_.load()) break;
      last_restart_ = std::chrono::steady_clock::now();
      auto err = start();
      if (!err) {
        logger.info("Kafka clients created again; waiting for partitions");
        return true;
      }
      logger.warn("creating the Kafka clients failed; retrying", {{"error", *err}});
    }
    return false;
  }

  // Leaves the group and flushes; safe to call more than once.
  void shutdown() {
    if (closed_) return;
    closed_ = true;
    if (consumer_) consumer_->close();
    if (producer_) producer_->flush(5s);
  }

 private:
  void refresh_dir_metrics() {
    for (std::uint16_t i = 0; i < e_.dir_.cpas_count(); ++i)
      dir_size_.with({e_.dir_.cpas(i).cbe}).set(static_cast<double>(e_.dir_.size_for_cpas(i)));
  }

  void update_lag() {
    auto parts = consumer_->positions();
    if (!parts) return;
    std::int64_t total = 0;
    for (const auto& tp : *parts) {
      int64_t lo = 0, hi = 0;
      if (!consumer_->cached_watermarks(tp.topic, tp.partition, lo, hi) && tp.offset >= 0) {
        auto lag = std::max<int64_t>(0, hi - tp.offset);
        lag_gauge_.with({std::to_string(tp.partition)}).set(static_cast<double>(lag));
        total += lag;
      }
    }
    e_.lag_.store(total);
    dedupe_size_.set(static_cast<double>(dedupe_.size()));
  }

  bool ensure_cpas_topic(const std::string& topic) {
    if (known_topics_.contains(topic)) return true;
    auto e = kafka::ensure_topics(o_.kafka, {topic}, o_.cpas_topic_partitions, o_.replication_factor,
                                  std::chrono::seconds(15));
    if (e) {
      logger.error("cannot create CPAS topic", {{"topic", topic}, {"error", *e}});
      return false;
    }
    known_topics_.insert(topic);
    return true;
  }

  // Produces in the open transaction (waiting while the local queue is full). False on a hard error.
  bool produce(const std::string& topic, int32_t partition, const std::string& key, const std::string& value,
               const std::vector<kafka::Header>& headers) {
    auto err = producer_->send(topic, partition, key, value, headers);
    if (err && err.kind != errc::queue_full)
      logger.error("produce failed", {{"topic", topic}, {"error", err.message}});
    return !err;
  }

  // Adds an entry to the transaction's journal batch; a full batch is produced
  // at once. Returns false on a hard produce error.
  bool journal(v1::JournalEntry& j) {
    j.set_at_us(now_us());
    *journal_batch_.add_entries() = j;
    return journal_batch_.entries_size() < kJournalPerRecord || flush_journal();
  }

  // Key of the n-th batch record of this transaction: unique for ever (the
  // inbound coordinates of the transaction's first record), so that compaction
  // of relais.dedupe.v1 never merges two transactions' records; a retried
  // transaction reuses its keys, and only the committed attempt is visible.
  std::string batch_key(std::string_view what, int n) const {
    return std::string(kBatchKeyPrefix) + txn_origin_ + "/" + std::string(what) + std::to_string(n);
  }

  bool flush_journal() {
    if (journal_batch_.entries_size() == 0) return true;
    std::string v;
    journal_batch_.SerializeToString(&v);
    journal_batch_.Clear();
    return produce(o_.journal_topic, kafka::kAnyPartition, batch_key("j", journal_records_++), v,
                   {{"content-type", "application/x-protobuf; messageType=relais.v1.JournalBatch"}});
  }

  bool flush_dedupe(int32_t partition, v1::DedupeBatch& b) {
    if (b.ticket_hi_size() == 0) return true;
    b.set_processed_at_us(now_us());
    std::string v;
    b.SerializeToString(&v);
    b.Clear();
    return produce(o_.dedupe_topic, partition, batch_key("d" + std::to_string(partition) + "-", dedupe_records_++), v,
                   {{"content-type", "application/x-protobuf; messageType=relais.v1.DedupeBatch"}});
  }

  // Produces what the transaction's batches still hold. False on a produce error.
  bool flush_batches() {
    if (!flush_journal()) return false;
    for (auto& [p, b] : dedupe_batches_)
      if (!flush_dedupe(p, b)) return false;
    return true;
  }

  std::string source_of(const kafka::Record& m) {
    return m.topic() + "/" + std::to_string(m.partition()) + "/" + std::to_string(m.offset());
  }

  // False on a hard produce error (the transaction must abort).
  // `base`, when given, is the notification's journal entry (ticket, SSIN, flow…).
  bool dead_letter(const kafka::Record& m, const std::string& reason, const std::string& ticket,
                   const v1::JournalEntry* base = nullptr) {
    v1::DeadLetter d;
    d.set_source_topic(m.topic());
    d.set_source_partition(m.partition());
    d.set_source_offset(m.offset());
    if (m.key()) d.set_key(*m.key());
    d.set_value(m.value().data(), m.value().size());
    d.set_reason(reason);
    d.set_failed_at_us(now_us());
    std::string v;
    d.SerializeToString(&v);
    if (!produce(o_.dlq_topic, kafka::kAnyPartition, m.key() ? *m.key() : std::string{}, v,
                 {{"reason", reason}, {"content-type", "application/x-protobuf"}}))
      return false;
    auto code = reason.substr(0, reason.find(':'));
    dlq_.with({code}).inc();
    v1::JournalEntry j;
    if (base) j = *base;
    j.set_kind(v1::JournalEntry::DEAD_LETTER);
    j.set_ticket(ticket.empty() ? source_of(m) : ticket);
    j.set_reason(reason);
    j.set_source(source_of(m));
    bool ok = journal(j);
    logger.warn("record sent to the dead-letter topic", {{"source", source_of(m)}, {"reason", reason}});
    return ok;
  }

  // Returns false on a hard produce error (the transaction must abort).
  bool process(const kafka::Record& m, std::vector<std::pair<int32_t, Mark>>& added) {
    consumed_.inc();
    v1::Notification n;
    if (!n.ParseFromArray(m.value().data(), static_cast<int>(m.value().size())))
      return dead_letter(m, "UNDECODABLE: not a relais.v1.Notification", {});
    if (auto err = validation::validate(n))
      return dead_letter(m, "INVALID: " + err->code + " " + err->field, n.envelope().ticket());
    const auto& env = n.envelope();
    auto ticket = parse_ticket(env.ticket());
    auto ssin = directory::ssin_key(env.ssin());
    // A complete date is one day; an incomplete one (yyyy-mm-00, yyyy-00-00) the days it may
    // designate, routed by the whole-interval rule of routing::decide.
    auto date = validation::parse_incomplete_date(env.effective_date());
    if (!ticket || !ssin || !date) return dead_letter(m, "INVALID: envelope", env.ticket());
    std::string flow(codec::flow_id(n.flow()));
    std::string event = event_name(n);
    auto now = now_us();
    v1::JournalEntry j;
    j.set_ticket(env.ticket());
    j.set_ssin(env.ssin());
    j.set_flow(n.flow());
    j.set_event(event);
    j.set_effective_date(env.effective_date());
    j.set_accepted_at_us(n.accepted_at_us());
    j.set_source(source_of(m));
    const Mark mark{*ticket, *ssin, fingerprint::content(n)};
    switch (dedupe_.insert(m.partition(), mark, now)) {
      case Seen::kNew:
        break;
      case Seen::kDuplicate:
        dupes_.inc();
        j.set_kind(v1::JournalEntry::DUPLICATE);
        logger.debug("duplicate ticket ignored", {{"ticket", env.ticket()}});
        return journal(j);
      case Seen::kTicketReused:
        // Never merged into the first notification, never routed under a ticket the
        // CPAS already holds for other content: kept in the DLQ for the operator.
        return dead_letter(m, "TICKET_REUSED: ticket already processed for this SSIN with other content",
                           env.ticket(), &j);
    }
    added.emplace_back(m.partition(), mark);
    {
      auto& b = dedupe_batches_[m.partition()];
      b.add_ticket_hi(ticket->hi);
      b.add_ticket_lo(ticket->lo);
      b.add_ssin(mark.ssin);
      b.add_content_fp(mark.content);
      if (b.ticket_hi_size() >= kTicketsPerRecord && !flush_dedupe(m.partition(), b)) return false;
    }
    j.set_kind(v1::JournalEntry::ACCEPTED);
    if (!env.replaces_ssin().empty()) j.set_replaces_ssin(env.replaces_ssin());
    if (!journal(j)) return false;
    j.clear_replaces_ssin();

    routing::Subject subject{*ssin, std::nullopt, announces_replacement(n)};
    if (!env.replaces_ssin().empty()) subject.replaces_ssin = directory::ssin_key(env.replaces_ssin());
    routing::decide(subject, routing::Days{date->first_day().days, date->last_day().days}, e_.dir_, decision_);
    if (decision_.targets.empty()) {
      auto reason = std::string(routing::reason_name(decision_.drop));
      dropped_.with({flow, reason}).inc();
      j.set_kind(v1::JournalEntry::DROPPED);
      j.set_reason(reason);
      logger.debug("notification dropped", {{"ticket", env.ticket()}, {"reason", reason}});
      return journal(j);
    }
    // The CPAS record's headers; a notification that came as SOAP also carries what its sender
    // sent, byte for byte (relais-ingest's "raw" header), so a CPAS application can read it
    // whatever Relais models (docs/bcss.md).
    std::vector<kafka::Header> headers{{"flow", flow}, {"ticket", env.ticket()}, {"content-type", "application/x-protobuf"}};
    if (!decision_.targets.empty()) {
      if (auto raw = m.header("raw"); !raw.empty()) {
        headers.push_back({"raw", std::move(raw)});
        headers.push_back({"source-content-type", m.header("source-content-type")});
      }
    }
    for (const auto& t : decision_.targets) {
      const auto& cpas = e_.dir_.cpas(t.cpas);
      std::string topic = "cpas." + cpas.cbe + ".notifications.v1";
      if (!ensure_cpas_topic(topic)) return false;
      v1::RoutedNotification r;
      *r.mutable_notification() = n;
      r.set_cpas_cbe(cpas.cbe);
      auto* in = r.mutable_integration();
      in->set_ssin(directory::ssin_string(t.integration.ssin));
      in->set_cpas_cbe(cpas.cbe);
      in->set_quality_code(t.integration.quality);
      in->set_start_date(validation::to_string(validation::Date{t.integration.start}));
      if (t.integration.end != directory::kOpenEnd)
        in->set_end_date(validation::to_string(validation::Date{t.integration.end}));
      r.set_routed_at_us(now);
      std::string v;
      r.SerializeToString(&v);
      if (!produce(topic, kafka::kAnyPartition, env.ssin(), v, headers)) return false;
      routed_.with({flow, cpas.cbe}).inc();
      j.set_kind(v1::JournalEntry::ROUTED);
      j.set_cpas_cbe(cpas.cbe);
      j.set_quality_code(t.integration.quality);
      if (!journal(j)) return false;
      if (o_.rules && !raise_alerts(r, mark.content, t, cpas, event, now, j)) return false;
    }
    if (n.accepted_at_us() > 0) pending_e2e_.push_back(static_cast<double>(now - n.accepted_at_us()) / 1e6);
    return true;
  }

  // Runs one transaction for `batch`. On failure the transaction is aborted,
  // the dedupe marks of the attempt are undone and the consumer is rewound to
  // the batch's first offsets, so the records are read and processed again.
  // Returns 0, or an exit code on a fatal error.
  // Evaluates the clignotant rules for one forwarding and produces the alerts
  // (same transaction). Returns false on a hard produce error.
  bool raise_alerts(const v1::RoutedNotification& r, std::uint64_t content, const routing::Target& t,
                    const directory::Cpas& cpas,
                    const std::string& event, std::int64_t now, v1::JournalEntry j) {
    fired_.clear();
    alerts::evaluate(*o_.rules, alerts::Context{r.notification(), t.qualities, cpas.municipalities}, fired_);
    if (fired_.empty()) return true;
    std::string topic = "cpas." + cpas.cbe + ".alerts.v1";
    if (!ensure_cpas_topic(topic)) return false;
    const auto& env = r.notification().envelope();
    auto today = validation::Date{static_cast<std::int32_t>(now / 1000000 / 86400)};
    for (const auto* rule : fired_) {
      v1::Alert a;
      a.set_alert_id(alerts::alert_id(env.ticket(), content, cpas.cbe, rule->id));
      a.set_rule_id(rule->id);
      a.set_type(rule->alert_type);
      a.set_severity(std::string(alerts::severity_name(rule->severity)));
      a.set_cpas_cbe(cpas.cbe);
      a.set_ssin(env.ssin());
      a.set_ticket(env.ticket());
      a.set_flow(r.notification().flow());
      a.set_event(event);
      a.set_effective_date(env.effective_date());
      for (auto q : t.qualities) a.add_quality_codes(q);
      a.set_deadline_days(rule->deadline_days);
      a.set_due_date(validation::to_string(validation::Date{today.days + rule->deadline_days}));
      a.set_raised_at_us(now);
      *a.mutable_notification() = r;
      a.set_description(rule->description);
      std::string v;
      a.SerializeToString(&v);
      if (!produce(topic, kafka::kAnyPartition, env.ssin(), v,
                   {{"ticket", env.ticket()}, {"alert-id", a.alert_id()}, {"alert-type", a.type()},
                    {"content-type", "application/x-protobuf"}}))
        return false;
      alerts_.with({rule->alert_type, cpas.cbe}).inc();
      j.set_kind(v1::JournalEntry::ALERT);
      j.set_reason(rule->alert_type);
      j.set_alert_id(a.alert_id());
      if (!journal(j)) return false;
      logger.debug("clignotant raised", {{"ticket", env.ticket()}, {"cpas", cpas.cbe}, {"type", rule->alert_type}});
    }
    return true;
  }

  int process_batch(std::vector<kafka::Record>& batch) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::pair<int32_t, Mark>> added;
    pending_e2e_.clear();
    journal_batch_.Clear();
    for (auto& [p, b] : dedupe_batches_) b.Clear();
    journal_records_ = dedupe_records_ = 0;
    txn_origin_ = std::to_string(batch.front().partition()) + "-" + std::to_string(batch.front().offset());
    kafka::Error err = producer_->begin();
    if (err) {
      logger.error("begin_transaction failed", {{"error", err.message}});
      return 4;
    }
    bool ok = true;
    std::map<int32_t, int64_t> next_offsets, first_offsets;
    for (const auto& o : batch) {
      if (!process(o, added)) {
        ok = false;
        break;
      }
      next_offsets[o.partition()] = o.offset() + 1;
      first_offsets.try_emplace(o.partition(), o.offset());
    }
    if (ok) ok = flush_batches();
    if (ok) {
      kafka::TopicPartitions offsets;
      for (auto [p, off] : next_offsets) offsets.push_back({o_.inbound_topic, p, off});
      for (int i = 0; i < 5; ++i) {
        err = producer_->send_offsets(offsets, *consumer_, 30s);
        if (err.kind != errc::retriable) break;
      }
      if (!err) {
        for (int i = 0; i < 5; ++i) {
          err = producer_->commit(60s);
          if (err.kind != errc::retriable) break;
        }
      }
      if (!err) {
        txns_.with({"committed"}).inc();
        txn_seconds_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        for (double s : pending_e2e_) e2e_seconds_.observe(s);
        failures_in_a_row_ = 0;
        return 0;
      }
    } else {
      for (const auto& o : batch) first_offsets.try_emplace(o.partition(), o.offset());
    }
    for (auto [p, t] : added) dedupe_.erase(p, t);
    if (err.fatal()) {
      logger.error("fatal transaction error (fenced or invalid state); exiting for a clean restart",
                   {{"error", err.message}, {"kind", std::string(kafka::errc_name(err.kind))}});
      return 5;
    }
    txns_.with({"aborted"}).inc();
    logger.warn("transaction failed; aborting, rewinding and retrying",
                {{"error", err ? err.message : std::string("produce failed")}, {"records", batch.size()}});
    if (auto aerr = producer_->abort(60s); aerr.fatal()) {
      logger.error("fatal error while aborting", {{"error", aerr.message}});
      return 5;
    }
    for (auto [p, off] : first_offsets) {
      if (auto serr = consumer_->seek({o_.inbound_topic, p, off}, 5s))
        logger.warn("rewind failed; the partition restarts from its committed offset",
                    {{"partition", p}, {"error", serr.message}});
    }
    ++failures_in_a_row_;
    auto backoff = std::chrono::milliseconds(std::min(5000, 100 << std::min(failures_in_a_row_, 6)));
    auto until = std::chrono::steady_clock::now() + backoff;
    while (e_.running_.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return 0;
  }

  Engine& e_;
  EngineOptions o_;
  DirectoryFeed& feed_;
  DedupeSet dedupe_;
  kafka::StatsExporter producer_stats_;  // before the clients: outlive them
  kafka::StatsExporter consumer_stats_;
  std::unique_ptr<kafka::TransactionalProducer> producer_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::vector<kafka::Record> batch_;  // the records of the transaction being built
  std::set<std::string> known_topics_;
  routing::Decision decision_;
  std::vector<double> pending_e2e_;
  v1::JournalBatch journal_batch_;                  // this transaction's journal entries not yet produced
  std::map<int32_t, v1::DedupeBatch> dedupe_batches_;  // its processed tickets, by inbound partition
  std::string txn_origin_;                          // "partition-offset" of its first inbound record
  int journal_records_ = 0, dedupe_records_ = 0;
  int failures_in_a_row_ = 0;
  int restarts_in_a_row_ = 0;
  std::size_t cap_ = 1;  // records the next transaction may take (batch_max, more while catching up)
  std::chrono::steady_clock::time_point last_restart_{};
  bool closed_ = false;
  metrics::Counter& consumed_;
  metrics::Family<metrics::Counter>& routed_;
  metrics::Family<metrics::Counter>& dropped_;
  metrics::Family<metrics::Counter>& dlq_;
  metrics::Counter& dupes_;
  metrics::Family<metrics::Counter>& txns_;
  metrics::Histogram& txn_seconds_;
  metrics::Histogram& e2e_seconds_;
  metrics::Family<metrics::Gauge>& lag_gauge_;
  metrics::Family<metrics::Gauge>& dir_size_;
  metrics::Gauge& dir_age_;
  metrics::Gauge& dedupe_size_;
  metrics::Family<metrics::Counter>& alerts_;
  metrics::Counter& client_restarts_;
  metrics::Gauge& batch_cap_;
  std::vector<const alerts::Rule*> fired_;
};

Engine::Engine(EngineOptions opts, DirectoryFeed& feed, metrics::Registry& metrics)
    : impl_(std::make_unique<Impl>(*this, std::move(opts), feed, metrics)) {}

Engine::~Engine() {
  if (impl_) impl_->shutdown();
}

std::optional<std::string> Engine::start() { return impl_->start(); }

int Engine::run() {
  int rc = impl_->run();
  impl_->shutdown();
  return rc;
}

}  // namespace relais::router
