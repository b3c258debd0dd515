#include "relais/router/journal_sink.hpp"

#include <ctime>
#include <memory>
#include <vector>

#include "relais/codec/flow.hpp"
#include "relais/common/log.hpp"
#include "relais/pg/pg.hpp"
#include "relais/v1/records.pb.h"

namespace relais::router {
namespace {
const log::Logger logger{"journal"};

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ts(std::int64_t us) {
  if (us <= 0) return "\\N";
  std::time_t s = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us % 1000000));
  return buf;
}

std::string kind_name(v1::JournalEntry::Kind k) {
  switch (k) {
    case v1::JournalEntry::ACCEPTED: return "accepted";
    case v1::JournalEntry::ROUTED: return "routed";
    case v1::JournalEntry::DROPPED: return "dropped";
    case v1::JournalEntry::DUPLICATE: return "duplicate";
    case v1::JournalEntry::DEAD_LETTER: return "dead_letter";
    case v1::JournalEntry::ALERT: return "alert";
    default: return "";
  }
}

void field(std::string& out, const std::string& v) {
  if (v.empty()) {
    out += "\\N";
  } else {
    pg::copy_escape(out, v);
  }
  out.push_back('\t');
}
}  // namespace

JournalSink::JournalSink(JournalSinkOptions o, metrics::Registry& m)
    : o_(std::move(o)),
      written_(m.counter("relais_journal_rows_written_total", "Journal entries copied to PostgreSQL").with()),
      failures_(m.counter("relais_journal_write_failures_total", "Failed journal batch writes (retried)").with()),
      batch_seconds_(m.histogram("relais_journal_batch_duration_seconds", "Time to write one journal batch", {},
                                 metrics::latency_buckets())
                         .with()) {}

JournalSink::~JournalSink() { stop(); }

std::optional<std::string> JournalSink::start() {
  std::string err;
  kafka::Settings cc = o_.kafka;
  cc["group.id"] = o_.group_id;
  cc["enable.auto.commit"] = "false";
  cc["isolation.level"] = "read_committed";
  cc["auto.offset.reset"] = "earliest";
  auto conf = kafka::make_conf(cc, err);
  if (!conf) return err;
  consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer_) return "cannot create journal consumer: " + err;
  if (auto e = consumer_->subscribe({o_.topic}); e != RdKafka::ERR_NO_ERROR) return "subscribe: " + RdKafka::err2str(e);
  thread_ = std::thread([this] { run(); });
  return std::nullopt;
}

void JournalSink::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (consumer_) {
    consumer_->close();
    consumer_.reset();
  }
}

double JournalSink::age_seconds() const {
  auto ok = last_ok_us_.load();
  return ok == 0 ? 1e9 : static_cast<double>(now_us() - ok) / 1e6;
}

void JournalSink::run() {
  std::unique_ptr<pg::Connection> conn;
  std::vector<std::unique_ptr<RdKafka::Message>> batch;
  auto backoff = std::chrono::milliseconds(200);
  while (!stop_.load()) {
    auto deadline = std::chrono::steady_clock::now() + o_.linger;
    while (batch.size() < o_.batch_max && !stop_.load()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      std::unique_ptr<RdKafka::Message> m(consumer_->consume(static_cast<int>(left.count())));
      if (m->err() == RdKafka::ERR__TIMED_OUT) break;
      if (m->err() != RdKafka::ERR_NO_ERROR) continue;
      batch.push_back(std::move(m));
    }
    if (batch.empty()) {
      last_ok_us_.store(now_us());
      continue;
    }
    auto t0 = std::chrono::steady_clock::now();
    try {
      if (!conn || !conn->ok()) conn = std::make_unique<pg::Connection>(o_.dsn + " connect_timeout=3");
      std::vector<std::pair<std::string, std::string>> replacements;
      std::string rows;
      rows.reserve(batch.size() * 160);
      for (const auto& m : batch) {
        v1::JournalEntry j;
        if (!j.ParseFromArray(m->payload(), static_cast<int>(m->len()))) continue;
        std::string kind = kind_name(j.kind());
        if (kind.empty()) continue;
        rows += ts(j.at_us());
        rows.push_back('\t');
        field(rows, kind);
        field(rows, j.ticket());
        field(rows, j.ssin());
        field(rows, j.flow() == v1::FLOW_UNSPECIFIED ? std::string{} : std::string(codec::flow_id(j.flow())));
        field(rows, j.event());
        field(rows, j.effective_date());
        field(rows, j.cpas_cbe());
        field(rows, j.quality_code() ? std::to_string(j.quality_code()) : std::string{});
        field(rows, j.reason());
        rows += ts(j.accepted_at_us());
        rows.push_back('\t');
        field(rows, j.source());
        if (j.alert_id().empty()) rows += "\\N";
        else pg::copy_escape(rows, j.alert_id());
        rows.push_back('\n');
        if (j.kind() == v1::JournalEntry::ACCEPTED && !j.replaces_ssin().empty() && j.event() == "SSIN_REPLACED")
          replacements.emplace_back(j.replaces_ssin(), j.ssin());
      }
      pg::transaction(*conn, [&] {
        conn->exec("CREATE TEMP TABLE IF NOT EXISTS journal_in (LIKE journal INCLUDING DEFAULTS) ON COMMIT DELETE ROWS");
        bool sent = false;
        conn->copy_in(
            "COPY journal_in (at, kind, ticket, ssin, flow, event, effective_date, cpas_cbe, quality_code, reason, "
            "accepted_at, source, alert_id) FROM STDIN",
            [&](std::string& buf) {
              if (!sent) buf.swap(rows);
              sent = true;
              return false;
            });
        auto r = conn->exec(
            "INSERT INTO journal (at, kind, ticket, ssin, flow, event, effective_date, cpas_cbe, quality_code, reason, "
            "accepted_at, source, alert_id) SELECT at, kind, ticket, ssin, flow, event, effective_date, cpas_cbe, "
            "quality_code, reason, accepted_at, source, alert_id FROM journal_in ON CONFLICT DO NOTHING");
        written_.inc(static_cast<double>(r.affected()));
        for (const auto& [old_ssin, new_ssin] : replacements) {
          conn->exec(
              "INSERT INTO ssin_replacements (old_ssin, new_ssin, source) VALUES ($1, $2, 'notify-person') "
              "ON CONFLICT (old_ssin) DO UPDATE SET new_ssin = EXCLUDED.new_ssin, source = EXCLUDED.source "
              "WHERE ssin_replacements.new_ssin <> EXCLUDED.new_ssin",
              {old_ssin, new_ssin});
        }
      });
      // PostgreSQL has the rows: now the offsets.
      std::map<std::pair<std::string, int32_t>, int64_t> next;
      for (const auto& m : batch) next[{m->topic_name(), m->partition()}] = m->offset() + 1;
      std::vector<RdKafka::TopicPartition*> offs;
      for (auto& [tp, off] : next) offs.push_back(RdKafka::TopicPartition::create(tp.first, tp.second, off));
      auto cerr = consumer_->commitSync(offs);
      RdKafka::TopicPartition::destroy(offs);
      if (cerr != RdKafka::ERR_NO_ERROR)
        logger.warn("journal offset commit failed; rows may be re-read (idempotent)", {{"error", RdKafka::err2str(cerr)}});
      batch_seconds_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      batch.clear();
      last_ok_us_.store(now_us());
      backoff = std::chrono::milliseconds(200);
    } catch (const std::exception& e) {
      failures_.inc();
      logger.warn("journal write failed, retrying the same batch", {{"error", e.what()}, {"rows", batch.size()},
                                                                     {"retry_ms", backoff.count()}});
      conn.reset();
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }
}

}  // namespace relais::router
