#include "relais/auth/journal.hpp"

#include <charconv>
#include <ctime>

#include "relais/auth/credentials.hpp"
#include "relais/common/log.hpp"
#include "relais/validation/date.hpp"
#include "relais/validation/ids.hpp"
#include "relais/validation/text.hpp"

namespace relais::auth {
namespace {
const log::Logger logger{"access-journal"};

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string timestamp(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us % 1000000));
  return buf;
}

bool is_timestamp(const std::string& s) {
  return validation::is_valid_rfc3339(s) ||
         (s.size() == 10 && validation::parse_iso_date(s).has_value());
}

}  // namespace

JournalWriter::JournalWriter(JournalWriterOptions o, metrics::Registry& m)
    : o_(std::move(o)),
      written_(m.counter("relais_api_access_journal_written_total",
                         "Access journal records written to PostgreSQL")
                   .with()),
      dropped_(
          m.counter("relais_api_access_journal_dropped_total",
                    "Access journal records of refused calls dropped because the queue was full")
              .with()),
      refused_full_(m.counter("relais_api_access_journal_full_total",
                              "Calls refused (503) because the access journal queue was full")
                        .with()),
      failures_(m.counter("relais_api_access_journal_write_failures_total",
                          "Failed access journal batch writes (retried)")
                    .with()),
      dead_letters_(m.counter("relais_sink_dead_letters_total",
                              "Records PostgreSQL refused, set aside in sink_dead_letters instead "
                              "of blocking their sink",
                              {"sink"})
                        .with({"access-journal"})),
      depth_(
          m.gauge("relais_api_access_journal_queue", "Access journal records waiting to be written")
              .with()) {
  m.on_collect([this] { depth_.set(static_cast<double>(pending_.load())); });
}

JournalWriter::~JournalWriter() {
  stop();
}

std::optional<std::string> JournalWriter::start() {
  if (thread_.joinable()) return "already started";
  last_flush_ms_ = now_ms();
  thread_ = std::thread([this] { run(); });
  return std::nullopt;
}

void JournalWriter::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool JournalWriter::reserve() {
  if (pending_.fetch_add(1) >= o_.capacity) {
    pending_.fetch_sub(1);
    refused_full_.inc();
    overflow();
    return false;
  }
  return true;
}

void JournalWriter::commit(AccessRecord r) {
  bool wake{};
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(r));
    wake = queue_.size() >= o_.batch_max;
  }
  if (wake) cv_.notify_one();
}

void JournalWriter::cancel() {
  pending_.fetch_sub(1);
}

void JournalWriter::record(AccessRecord r) {
  if (pending_.fetch_add(1) >= o_.capacity) {
    pending_.fetch_sub(1);
    dropped_.inc();
    overflow();
    return;
  }
  commit(std::move(r));
}

void JournalWriter::overflow() {
  auto now = now_ms(), last = last_overflow_log_ms_.load();
  if (now - last >= 10000 && last_overflow_log_ms_.compare_exchange_strong(last, now))
    logger.error("access journal queue full: calls are refused until PostgreSQL catches up",
                 {{"capacity", o_.capacity}});
}

std::size_t JournalWriter::queued() const {
  return pending_.load();
}

bool JournalWriter::keeping_up(std::chrono::seconds stall) const {
  const auto q = pending_.load();
  if (q * 2 >= o_.capacity) return false;
  return q == 0 || seconds_since_flush() < static_cast<double>(stall.count());
}

double JournalWriter::seconds_since_flush() const {
  return static_cast<double>(now_ms() - last_flush_ms_.load()) / 1000.0;
}

namespace {
// Every text column gets storable text whatever the caller put in the record (validation/text.hpp):
// the access journal is written from values an unauthenticated client controls.
void text_field(std::string& out, std::string_view v, std::size_t max_bytes) {
  if (validation::check_text(v, {max_bytes, false}) == validation::TextProblem::none)
    pg::copy_escape(out, v);
  else
    pg::copy_escape(out, validation::sanitize_text(v, max_bytes));
}
void opt_text_field(std::string& out, const std::optional<std::string>& v, std::size_t max_bytes) {
  if (v)
    text_field(out, *v, max_bytes);
  else
    out += "\\N";
}

void copy_rows(pg::Connection& db, const std::vector<AccessRecord>& rows, std::size_t first,
               std::size_t last) {
  std::string copy;
  copy.reserve((last - first) * 200);
  for (std::size_t i = first; i < last; ++i) {
    const auto& r = rows[i];
    copy += timestamp(r.at);
    copy += '\t';
    opt_text_field(copy, r.credential_id, 64);
    copy += '\t';
    text_field(copy, r.credential_name, 200);
    copy += '\t';
    text_field(copy, r.client_address, 64);
    copy += '\t';
    text_field(copy, r.method, 16);
    copy += '\t';
    text_field(copy, r.route, 200);
    copy += '\t';
    opt_text_field(copy, r.cpas, 40);
    copy += '\t';
    opt_text_field(copy, r.ssin, 11);
    copy += '\t';
    opt_text_field(copy, r.replaces_ssin, 11);
    copy += '\t';
    copy += std::to_string(r.status);
    copy += '\t';
    opt_text_field(copy, r.refusal, 64);
    copy += '\t';
    text_field(copy, r.request_id, 64);
    copy += '\t';
    char d[32];
    std::snprintf(d, sizeof d, "%.3f", r.duration_ms);
    copy += d;
    copy += '\n';
  }
  db.copy_in(
      "COPY access_journal (at, credential_id, credential_name, client_address, method, route, "
      "cpas_cbe, ssin, "
      "replaces_ssin, status, refusal, request_id, duration_ms) FROM STDIN",
      std::move(copy));
}
}  // namespace

std::size_t JournalWriter::write(pg::Connection& db, const std::vector<AccessRecord>& rows) {
  // A record PostgreSQL still refuses is set aside in sink_dead_letters (with the reason and the
  // record's fields made safe), never retried for ever: it cannot stop the journal.
  return pg::write_rows(
      db, rows.size(),
      [&](pg::Connection& c, std::size_t first, std::size_t last) {
        copy_rows(c, rows, first, last);
      },
      [&](pg::Connection& c, std::size_t i, const pg::Error& e) {
        const auto& r = rows[i];
        std::string safe = "request_id=" + validation::sanitize_text(r.request_id, 64) +
                           " route=" + validation::sanitize_text(r.route, 200) +
                           " status=" + std::to_string(r.status);
        pg::dead_letter(c, "access-journal", "", e, safe);
      });
}

void JournalWriter::run() {
  std::unique_ptr<pg::Connection> db;
  std::vector<AccessRecord> batch;
  auto backoff = std::chrono::milliseconds(100);
  std::chrono::steady_clock::time_point stop_deadline{};
  for (;;) {
    bool stopping{};
    {
      std::unique_lock lock(mu_);
      if (batch.empty()) {
        cv_.wait_for(lock, o_.flush_every,
                     [&] { return stopping_ || queue_.size() >= o_.batch_max; });
        while (!queue_.empty() && batch.size() < o_.batch_max) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      stopping = stopping_;
    }
    if (stopping && stop_deadline == std::chrono::steady_clock::time_point{})
      stop_deadline = std::chrono::steady_clock::now() + o_.stop_deadline;
    if (batch.empty()) {
      last_flush_ms_ = now_ms();
      if (stopping) return;
      continue;
    }
    try {
      if (!db)
        db = std::make_unique<pg::Connection>(o_.dsn);
      else if (!db->ok() && !db->reset())
        throw pg::Error("connection lost", "08000", true);
      if (auto rejected = write(*db, batch)) {
        dead_letters_.inc(static_cast<double>(rejected));
        logger.error(
            "access journal records set aside in sink_dead_letters (PostgreSQL refused them)",
            {{"records", rejected}});
      }
      written_.inc(static_cast<double>(batch.size()));
      pending_.fetch_sub(batch.size());
      batch.clear();
      last_flush_ms_ = now_ms();
      backoff = std::chrono::milliseconds(100);
    } catch (const std::exception& e) {
      failures_.inc();
      logger.warn("access journal write failed, retrying",
                  {{"error", e.what()}, {"records", batch.size()}});
      if (stopping && std::chrono::steady_clock::now() >= stop_deadline) {
        std::size_t lost{};
        {
          std::lock_guard lock(mu_);
          lost = batch.size() + queue_.size();
        }
        logger.error(
            "access journal records lost at stop (PostgreSQL did not answer before the stop "
            "deadline)",
            {{"records", lost}, {"error", e.what()}});
        return;
      }
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, backoff, [&] { return false; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }
}

const std::vector<std::string>& access_journal_columns() {
  static const std::vector<std::string> cols = {"id",
                                                "at",
                                                "credential_id",
                                                "credential_name",
                                                "client_address",
                                                "method",
                                                "route",
                                                "cpas",
                                                "ssin",
                                                "status",
                                                "refusal",
                                                "request_id",
                                                "duration_ms",
                                                "replaces_ssin"};
  return cols;
}

std::optional<std::string> validate(const AccessQuery& q) {
  if (q.credential && q.credential->empty()) return "credential: empty";
  if (q.credential && q.credential->size() > 64)
    return "credential: an id or a name (at most 64 characters)";
  if (q.cpas && !validation::is_valid_cbe(*q.cpas)) return "cpas: not a valid enterprise number";
  if (q.ssin)
    if (auto e = validation::validate_ssin(*q.ssin, "ssin")) return "ssin: " + e->message;
  if (q.since && !is_timestamp(*q.since)) return "since: expected RFC 3339 or YYYY-MM-DD";
  if (q.until && !is_timestamp(*q.until)) return "until: expected RFC 3339 or YYYY-MM-DD";
  if (q.status && *q.status != "refused" && *q.status != "allowed") {
    int s = 0;
    auto [p, ec] = std::from_chars(q.status->data(), q.status->data() + q.status->size(), s);
    if (ec != std::errc{} || p != q.status->data() + q.status->size() || s < 100 || s > 599)
      return "status: a status code (100-599), refused or allowed";
  }
  if (q.after < 0) return "after: an id from a previous page";
  if (q.limit < 1 || q.limit > kAccessQueryMaxLimit)
    return "limit: between 1 and " + std::to_string(kAccessQueryMaxLimit);
  return std::nullopt;
}

pg::Result query_access_journal(pg::Connection& db, const AccessQuery& q) {
  auto opt = [](const std::optional<std::string>& v) { return v ? pg::Param(*v) : pg::Param{}; };
  std::optional<std::string> status_code, refused;
  if (q.status == "refused")
    refused = "true";
  else if (q.status == "allowed")
    refused = "false";
  else if (q.status)
    status_code = *q.status;
  return db.exec(
      "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
      "credential_id, credential_name, "
      "client_address, method, route, cpas_cbe, ssin, status, refusal, request_id, "
      "round(duration_ms::numeric, 3)::text, "
      "replaces_ssin "
      "FROM access_journal WHERE ($1::text IS NULL OR credential_id = $1 OR credential_name = $1) "
      "AND ($2::text IS NULL OR cpas_cbe = $2) AND ($3::text IS NULL OR ssin = $3) "
      "AND ($4::timestamptz IS NULL OR at >= $4::timestamptz) AND ($5::timestamptz IS NULL OR at < "
      "$5::timestamptz) "
      "AND ($6::int IS NULL OR status = $6::int) AND ($7::boolean IS NULL OR (refusal IS NOT NULL) "
      "= $7::boolean) "
      "AND ($8::bigint = 0 OR id < $8::bigint) ORDER BY id DESC LIMIT $9::int",
      {opt(q.credential), opt(q.cpas), opt(q.ssin), opt(q.since), opt(q.until), opt(status_code),
       opt(refused), std::to_string(q.after), std::to_string(q.limit)});
}

}  // namespace relais::auth
