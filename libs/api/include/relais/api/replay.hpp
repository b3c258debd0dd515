// Replays (issue 18, docs/subscribers.md section 6): a CPAS application that restored an old
// backup asks relais-api to publish again what was routed to its CPAS since a date.
//
//   POST /v1/cpas/{cbe}/replays {"since", "until"?, "again"?}   the CPAS's own token (or the
//   operator) GET  /v1/cpas/{cbe}/replays/{id}                           its progress
//
// The records come from the notification archive (archive.hpp), not from Kafka, so a replay
// reaches past the CPAS topic's retention. The replay worker (its own thread) re-publishes them
// to cpas.<cbe>.replay.v1 (one partition: routing order), each exactly as it was routed plus
// the headers `replay` (the replay's id) and `replay-position` (its place in the archive), in
// chunks; after each chunk its progress is written to cpas_replays. A replay is resumable: a
// worker that dies leaves its lease to expire, and whoever takes it up continues after the last
// record of this replay the replay topic holds (the idempotent producer writes them in order),
// so nothing is published twice and nothing is skipped. Only that CPAS's archive rows are read
// and only its replay topic is written.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "relais/api/routes.hpp"
#include "relais/common/metrics.hpp"
#include "relais/kafka/client.hpp"
#include "relais/kafka/reload.hpp"
#include "relais/pg/pool.hpp"
#include "relais/validation/error.hpp"

namespace relais::api {

// The replay topic of a CPAS.
std::string replay_topic(std::string_view cbe);

// A moment of a replay request: "YYYY-MM-DD" (midnight in Belgium, Europe/Brussels) or an
// RFC 3339 timestamp with "Z" or an offset. The PostgreSQL timestamptz input it stands for.
std::optional<std::string> parse_instant(std::string_view text);

struct ReplayRequest {
  std::string since, until;  // timestamptz inputs (parse_instant); until empty = no end
  bool again = false;        // a new replay even when an identical one is done
};
// The JSON body of POST /v1/cpas/{cbe}/replays, validated (codes as libs/validation's).
std::optional<validation::Error> parse_replay_request(std::string_view body, ReplayRequest& out);

struct ReplayOptions {
  kafka::Settings kafka;
  const kafka::Reloads* reloads = nullptr;  // the producer made again on a reload (none: never)
  std::string dsn;
  std::string instance;  // lease owner, e.g. host:pid
  int replication_factor = 1;
  std::size_t chunk = 500;  // records per chunk (one progress update each)
  std::chrono::milliseconds poll{500};
  std::chrono::milliseconds lease{30000};
  std::chrono::milliseconds kafka_timeout{30000};
  std::string topic_retention_ms = "604800000";  // cpas.<cbe>.replay.v1: 7 days
  int archive_retention_days = 3650;             // docs/subscribers.md, "Assumptions"
  std::chrono::milliseconds prune_every{3600 * 1000};
};

class ReplayService {
 public:
  ReplayService(ReplayOptions o, pg::Pool& pool, metrics::Registry& m);
  ~ReplayService();
  ReplayService(const ReplayService&) = delete;
  ReplayService& operator=(const ReplayService&) = delete;

  void add_routes(RouteTable& table);
  // Starts the worker thread (replays and the archive's pruning).
  std::optional<std::string> start();
  void stop();

 private:
  boost::asio::awaitable<Reply> post_replay(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> get_replay(http::Request& req, const Caller& caller);
  void run();
  bool work_one(pg::Connection& c);  // false: nothing to do
  void prune(pg::Connection& c);

  ReplayOptions o_;
  pg::Pool& pool_;
  metrics::Counter& published_;
  metrics::Family<metrics::Counter>& replays_;
  metrics::Counter& pruned_;
  std::unique_ptr<kafka::Producer> producer_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

}  // namespace relais::api
