// The access journal (PostgreSQL table `access_journal`, migrations/0007): one record per call
// to relais-api, accepted or refused.
//
// Writer: a bounded in-process queue flushed by its own thread in batches (COPY in one
// transaction), so a call never waits for PostgreSQL. A call reserves its slot *before* its
// handler runs; when the queue is full the call is refused (503, fail closed: nothing is served
// that could not be journaled), counted and logged. If PostgreSQL is down, the batch is retried
// with backoff and the queue absorbs `capacity` calls before refusals start. What is lost on a
// crash (kill -9) is at most the last flush interval's records.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "relais/common/metrics.hpp"
#include "relais/pg/pg.hpp"

namespace relais::auth {

struct AccessRecord {
  std::chrono::system_clock::time_point at;
  std::optional<std::string> credential_id;
  std::string credential_name = "anonymous";
  std::string client_address;
  std::string method;
  std::string route = "none";
  std::optional<std::string> cpas;
  std::optional<std::string> ssin;
  std::optional<std::string> replaces_ssin;  // the replaced number of an SSIN replacement call
  int status = 0;
  std::optional<std::string> refusal;
  std::string request_id;
  double duration_ms = 0;
};

struct JournalWriterOptions {
  std::string dsn;
  std::size_t capacity = 100000;  // records queued or reserved
  std::size_t batch_max = 2000;
  std::chrono::milliseconds flush_every{200};
  std::chrono::milliseconds stop_deadline{5000};  // retrying the last batches at stop
};

class JournalWriter {
 public:
  JournalWriter(JournalWriterOptions o, metrics::Registry& m);
  ~JournalWriter();
  std::optional<std::string> start();
  void stop();  // flushes what is queued (bounded by stop_deadline)

  // A slot for one record, taken before the call runs. false = full.
  bool reserve();
  // Fills a reserved slot.
  void commit(AccessRecord r);
  // Gives a reserved slot back without a record.
  void cancel();
  // For a record without a reservation (a refusal): queued if there is room, else dropped and
  // counted.
  void record(AccessRecord r);

  std::size_t queued() const;
  double seconds_since_flush() const;

  // Blocking write of `rows` (used by the thread; public for tests). Every text field is made
  // storable first; a row PostgreSQL still refuses goes to sink_dead_letters. Returns how many
  // did. Throws pg::Error only when it is retryable (the batch is then retried whole).
  static std::size_t write(pg::Connection& db, const std::vector<AccessRecord>& rows);
  // Whether the journal keeps up (for /readyz): the queue below half its capacity and, when
  // something waits, a successful write within `stall`.
  bool keeping_up(std::chrono::seconds stall) const;

 private:
  void run();
  void overflow();

  JournalWriterOptions o_;
  metrics::Counter& written_;
  metrics::Counter& dropped_;
  metrics::Counter& refused_full_;
  metrics::Counter& failures_;
  metrics::Counter& dead_letters_;
  metrics::Gauge& depth_;
  std::atomic<std::size_t> pending_{0};  // reserved + queued, not yet written
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<AccessRecord> queue_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<long long> last_flush_ms_{0};
  std::atomic<long long> last_overflow_log_ms_{0};
};

// ---- queries (operator route and relaisctl)

struct AccessQuery {
  std::optional<std::string> credential;  // credential id or name
  std::optional<std::string> cpas, ssin, since, until;
  std::optional<std::string> status;  // a status code, or "refused" / "allowed"
  long long after = 0;                // id cursor: rows with id < after (0 = from the newest)
  int limit = 100;
};
inline constexpr int kAccessQueryMaxLimit = 10000;
// Error message for a bad filter (checked before any SQL runs).
std::optional<std::string> validate(const AccessQuery& q);
// Newest first. Columns: access_journal_columns().
pg::Result query_access_journal(pg::Connection& db, const AccessQuery& q);
const std::vector<std::string>& access_journal_columns();

}  // namespace relais::auth
