#include "relais/sink/kafka_to_pg.hpp"

#include <algorithm>
#include <ctime>
#include <map>

#include "relais/common/log.hpp"

namespace relais::sink {
namespace {
std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Options RegexSinkSettings::options(std::string name, metrics::Registry& m) const {
  Options s;
  s.name = std::move(name);
  s.dead_letters = &dead_letter_counter(m, s.name);
  s.stalls = &stall_counter(m, s.name);
  s.kafka = kafka;
  s.dsn = dsn;
  s.topics = {topic_regex};
  s.group_id = group_id;
  s.batch_max = batch_max;
  s.linger = linger;
  s.metadata_refresh_ms = metadata_refresh_ms;
  s.reloads = reloads;
  return s;
}

metrics::Counter& stall_counter(metrics::Registry& m, const std::string& sink) {
  return m
      .counter("relais_sink_consumer_stalls_total",
               "Times the sink had records waiting on its assigned partitions but received none "
               "for its stall timeout, and made its consumer again",
               {"sink"})
      .with({sink});
}

metrics::Counter& dead_letter_counter(metrics::Registry& m, const std::string& sink) {
  return m
      .counter("relais_sink_dead_letters_total",
               "Records PostgreSQL refused, set aside in sink_dead_letters instead of blocking "
               "their sink",
               {"sink"})
      .with({sink});
}

void copy_field(std::string& out, std::string_view value, bool last) {
  if (value.empty())
    out += "\\N";
  else
    pg::copy_escape(out, value);
  out.push_back(last ? '\n' : '\t');
}

void copy_timestamp_us(std::string& out, std::int64_t us, bool last) {
  if (us <= 0) {
    out += "\\N";
  } else {
    std::time_t s = static_cast<std::time_t>(us / 1000000);
    std::tm tm{};
    gmtime_r(&s, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(us % 1000000));
    out += buf;
  }
  out.push_back(last ? '\n' : '\t');
}

std::string source_of(const kafka::Record& m) {
  return m.topic() + "/" + std::to_string(m.partition()) + "/" + std::to_string(m.offset());
}

KafkaToPg::KafkaToPg(Options o, Writer w, metrics::Counter& failures)
    : o_(std::move(o)), write_(std::move(w)), failures_(failures) {}

KafkaToPg::~KafkaToPg() {
  stop();
}

std::unique_ptr<kafka::Consumer> KafkaToPg::make_consumer(std::string& err) const {
  kafka::ConsumerOptions co;
  kafka::Settings& cc = co.settings;
  cc = o_.kafka;
  cc["group.id"] = o_.group_id;
  cc["enable.auto.commit"] = "false";
  cc["isolation.level"] = "read_committed";
  cc["auto.offset.reset"] = "earliest";
  // Bounded prefetch (librdkafka's defaults: 100,000 records per partition, 64 MiB): a sink
  // writes batches of a few MiB at most, so 8 MiB queued keeps the next one ready.
  cc.emplace("queued.min.messages", "1000");
  cc.emplace("queued.max.messages.kbytes", "8192");
  if (o_.metadata_refresh_ms > 0)
    cc["topic.metadata.refresh.interval.ms"] = std::to_string(o_.metadata_refresh_ms);
  return kafka::Consumer::create(std::move(co), err);
}

std::optional<std::string> KafkaToPg::start() {
  std::string err;
  consumer_ = make_consumer(err);
  if (!consumer_) return o_.name + ": " + err;
  if (auto e = consumer_->subscribe(o_.topics)) return o_.name + ": subscribe: " + e.message;
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
  return std::nullopt;
}

void KafkaToPg::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (consumer_) {
    consumer_->close();
    consumer_.reset();
  }
}

double KafkaToPg::age_seconds() const {
  auto ok = last_ok_us_.load();
  return ok == 0 ? 1e9 : static_cast<double>(now_us() - ok) / 1e6;
}

// The new consumer is made before the old one leaves (a setting it refuses keeps the old one), and
// subscribes only after: with static membership (group.instance.id) the two never meet in the
// group, and the new one gets the old one's partitions back.
void KafkaToPg::renew_consumer(const log::Logger& logger, const std::string& why) {
  std::string err;
  auto fresh = make_consumer(err);
  if (!fresh) {
    logger.error("cannot create a new consumer; the current one stays in use",
                 {{"why", why}, {"error", err}});
    return;
  }
  consumer_->close();
  consumer_ = std::move(fresh);
  if (auto e = consumer_->subscribe(o_.topics)) {
    logger.error("the new consumer cannot subscribe", {{"why", why}, {"error", e.message}});
    return;
  }
  logger.info("consumer made again", {{"why", why}});
}

void KafkaToPg::run() {
  const log::Logger logger{o_.name};
  std::unique_ptr<pg::Connection> conn;
  Batch batch;
  auto backoff = std::chrono::milliseconds(200);
  std::size_t weight = 0;  // of `batch`
  kafka::ReloadWatch reload(o_.reloads);
  kafka::StallWatch stall(o_.stall_timeout);
  while (!stop_.load()) {
    // Between two batches (every offset read is committed): the consumer made again on a reload,
    // or when stalled (records wait at the broker, none came for stall_timeout).
    if (batch.empty() && reload.due()) renew_consumer(logger, "TLS files read again");
    if (batch.empty()) {
      std::string err;
      if (auto why = stall.check(*consumer_, err)) {
        logger.warn(*why);
        if (o_.stalls) o_.stalls->inc();
        renew_consumer(logger, *why);
        stall.progress();
      } else if (!err.empty()) {
        logger.warn("stall watch: no answer from the broker", {{"error", err}});
      }
    }
    auto deadline = std::chrono::steady_clock::now() + o_.linger;
    while (weight < o_.batch_max && !stop_.load()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      auto m = consumer_->poll(left);
      if (m.error.kind == kafka::errc::timed_out) break;
      if (m.error) {
        if (m.error.kind != kafka::errc::partition_eof &&
            m.error.kind != kafka::errc::unknown_topic)
          logger.debug("consumer", {{"error", m.error.message}});
        continue;
      }
      stall.progress();
      weight += o_.weight ? o_.weight(*m.record) : 1;
      batch.push_back(std::move(*m.record));
    }
    if (batch.empty()) {
      last_ok_us_.store(now_us());
      continue;
    }
    try {
      if (!conn || !conn->ok())
        conn = std::make_unique<pg::Connection>(o_.dsn + " connect_timeout=3");
      auto rejected = pg::write_rows(
          *conn, batch.size(),
          [&](pg::Connection& c, std::size_t first, std::size_t last) {
            if (first == 0 && last == batch.size()) return write_(c, batch);
            // One record of the batch, lent to the Writer and given back whatever happens.
            Batch part;
            for (auto i = first; i < last; ++i) part.push_back(std::move(batch[i]));
            struct GiveBack {
              Batch& from;
              Batch& to;
              std::size_t at;
              ~GiveBack() {
                for (std::size_t k = 0; k < from.size(); ++k) to[at + k] = std::move(from[k]);
              }
            } give_back{part, batch, first};
            write_(c, part);
          },
          [&](pg::Connection& c, std::size_t i, const pg::Error& e) {
            const auto& m = batch[i];
            pg::dead_letter(c, o_.name, source_of(m), e, m.value());
            logger.error("record set aside in sink_dead_letters (PostgreSQL refused it)",
                         {{"source", source_of(m)}, {"sqlstate", e.sqlstate()}});
          });
      if (rejected && o_.dead_letters) o_.dead_letters->inc(static_cast<double>(rejected));
      // PostgreSQL has the rows: now the offsets.
      std::map<std::pair<std::string, int32_t>, int64_t> next;
      // The highest offset read of each partition: a batch may hold records read twice (fetched
      // again from the committed offset after a rebalance), the later reading lower.
      for (const auto& m : batch) {
        auto& n = next[{m.topic(), m.partition()}];
        n = std::max(n, m.offset() + 1);
      }
      kafka::TopicPartitions offs;
      for (auto& [tp, off] : next) offs.push_back({tp.first, tp.second, off});
      if (auto cerr = consumer_->commit_sync(offs))
        logger.warn("offset commit failed; records may be re-read (idempotent)",
                    {{"error", cerr.message}});
      batch.clear();
      weight = 0;
      last_ok_us_.store(now_us());
      backoff = std::chrono::milliseconds(200);
    } catch (const std::exception& e) {
      failures_.inc();
      logger.warn("batch not stored, retrying the same batch",
                  {{"error", e.what()}, {"records", batch.size()}, {"retry_ms", backoff.count()}});
      conn.reset();
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
    // Quiet time is time spent polling: records that queued while a batch was written (or
    // retried through a PostgreSQL outage) are not a stall.
    stall.progress();
  }
}

}  // namespace relais::sink
