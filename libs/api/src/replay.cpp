#include "relais/api/replay.hpp"

#include <boost/json.hpp>
#include <mutex>
#include <regex>

#include "handlers.hpp"
#include "relais/api/archive.hpp"
#include "relais/common/log.hpp"
#include "relais/validation/date.hpp"

namespace relais::api {
namespace asio = boost::asio;
namespace json = boost::json;
using validation::Error;

namespace {
const log::Logger logger{"replay"};

// NOLINTNEXTLINE(cert-err58-cpp): a constant, valid pattern; the unit tests construct it
const std::regex kUuid("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$");
// NOLINTNEXTLINE(cert-err58-cpp): a constant, valid pattern; the unit tests construct it
const std::regex kDay("^([0-9]{4}-[0-9]{2}-[0-9]{2})$");
// NOLINTNEXTLINE(cert-err58-cpp): a constant, valid pattern; the unit tests construct it
const std::regex kStamp(
    "^([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\\.[0-9]{1,6})?"
    "(Z|[+-][0-9]{2}:[0-9]{2})$");

// A timestamptz column as RFC 3339 UTC, microseconds.
std::string iso(const std::string& col) {
  return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
}
std::string micros(const std::string& col) {
  return "(extract(epoch FROM " + col + ") * 1000000)::bigint";
}
// NOLINTNEXTLINE(cert-err58-cpp): a constant built at start-up, before any request
const std::string kColumns = "id::text, cpas_cbe, " + iso("since") + ", " + iso("until") +
                             ", topic, state, total, published, " + iso("requested_at") + ", " +
                             iso("finished_at") + ", error, requested_by";

json::object replay_json(const pg::Result& r, int row) {
  auto opt = [&](int col) -> json::value {
    if (r.is_null(row, col)) return nullptr;
    return json::string(r.get(row, col));
  };
  return json::object{{"id", r.str(row, 0)},
                      {"cpas", r.str(row, 1)},
                      {"since", r.str(row, 2)},
                      {"until", opt(3)},
                      {"topic", r.str(row, 4)},
                      {"state", r.str(row, 5)},
                      {"total", r.integer(row, 6)},
                      {"published", r.integer(row, 7)},
                      {"requested_at", r.str(row, 8)},
                      {"finished_at", opt(9)},
                      {"error", opt(10)},
                      {"requested_by", r.str(row, 11)}};
}

// The last record of replay `id` on its topic (one partition), when the topic's last record is
// one of it: where a resumed replay continues. Throws std::runtime_error when Kafka cannot say.
std::optional<ArchivePosition> published_up_to(const kafka::Settings& settings,
                                               const std::string& topic, const std::string& id,
                                               std::chrono::milliseconds timeout) {
  kafka::ConsumerOptions co;
  co.settings = settings;
  co.settings["enable.partition.eof"] = "true";
  co.settings["enable.auto.commit"] = "false";
  co.settings["isolation.level"] = "read_committed";
  co.settings["group.id"] = "relais-api-replay";  // required by the API; never committed
  std::string error;
  auto c = kafka::Consumer::create(std::move(co), error);
  if (!c) throw std::runtime_error("replay: consumer: " + error);
  std::int64_t low = 0, high = 0;
  if (auto e = c->query_watermarks(topic, 0, timeout, low, high))
    throw std::runtime_error("replay: watermarks of " + topic + ": " + e.message);
  std::optional<ArchivePosition> out;
  if (high > low) {
    c->assign({{topic, 0, high - 1}});
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("replay: timed out reading the end of " + topic);
      auto m = c->poll(std::chrono::milliseconds(200));
      if (m.error.kind == kafka::errc::partition_eof) break;
      if (m.error) continue;  // timed out, transport: until the deadline
      if (m.record->header_view("replay") == id)
        out = parse_position(m.record->header_view("replay-position"));
      break;
    }
  }
  c->close();
  return out;
}
}  // namespace

std::string replay_topic(std::string_view cbe) {
  return "cpas." + std::string(cbe) + ".replay.v1";
}

std::optional<std::string> parse_instant(std::string_view text) {
  std::string s(text);
  std::smatch m;
  if (std::regex_match(s, m, kDay)) {
    if (!validation::parse_iso_date(m[1].str())) return std::nullopt;
    return m[1].str() + " 00:00:00 Europe/Brussels";
  }
  if (!std::regex_match(s, m, kStamp) || !validation::parse_iso_date(m[1].str()))
    return std::nullopt;
  if (std::stoi(m[2].str()) > 23 || std::stoi(m[3].str()) > 59 || std::stoi(m[4].str()) > 59)
    return std::nullopt;
  const std::string zone = m[6].str();
  if (zone != "Z" && (std::stoi(zone.substr(1, 2)) > 14 || std::stoi(zone.substr(4, 2)) > 59))
    return std::nullopt;
  return s;
}

std::optional<Error> parse_replay_request(std::string_view body, ReplayRequest& out) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec) return Error{"INVALID_JSON", "the body is not JSON: " + ec.message(), ""};
  if (!v.is_object()) return Error{"WRONG_TYPE", "expected a JSON object", ""};
  const auto& o = v.as_object();
  for (const auto& kv : o)
    if (kv.key() != "since" && kv.key() != "until" && kv.key() != "again")
      return Error{"UNKNOWN_FIELD", "unknown field", std::string(kv.key())};
  auto instant = [&](std::string_view k, std::string& into, bool required) -> std::optional<Error> {
    const auto* p = o.if_contains(k);
    if (!p || p->is_null()) {
      if (required)
        return Error{"MISSING_FIELD", "required: YYYY-MM-DD or an RFC 3339 timestamp",
                     std::string(k)};
      return std::nullopt;
    }
    if (!p->is_string()) return Error{"WRONG_TYPE", "expected a string", std::string(k)};
    auto t = parse_instant(p->as_string());
    if (!t)
      return Error{"INVALID_DATE",
                   "expected YYYY-MM-DD (midnight in Belgium) or an RFC 3339 timestamp with Z or "
                   "an offset",
                   std::string(k)};
    into = *t;
    return std::nullopt;
  };
  if (auto e = instant("since", out.since, true)) return e;
  if (auto e = instant("until", out.until, false)) return e;
  if (const auto* a = o.if_contains("again"); a && !a->is_null()) {
    if (!a->is_bool()) return Error{"WRONG_TYPE", "expected a boolean", "again"};
    out.again = a->as_bool();
  }
  return std::nullopt;
}

ReplayService::ReplayService(ReplayOptions o, pg::Pool& pool, metrics::Registry& m)
    : o_(std::move(o)),
      pool_(pool),
      published_(m.counter("relais_api_replay_records_total",
                           "Archived records re-published to cpas.<cbe>.replay.v1")
                     .with()),
      replays_(m.counter("relais_api_replays_total", "Replays asked for, finished or failed",
                         {"event"})),
      pruned_(m.counter("relais_api_archive_pruned_total",
                        "Archive rows deleted after archive.retention_days")
                  .with()) {}

ReplayService::~ReplayService() {
  stop();
}

void ReplayService::add_routes(RouteTable& t) {
  t.add({http::verb::post, "/v1/cpas/{cbe}/replays", Policy::cpas},
        [this](http::Request& q, const Caller& c) { return post_replay(q, c); });
  t.add({http::verb::get, "/v1/cpas/{cbe}/replays/{id}", Policy::cpas},
        [this](http::Request& q, const Caller& c) { return get_replay(q, c); });
}

asio::awaitable<Reply> ReplayService::post_replay(http::Request& req, const Caller& caller) {
  if (auto p = detail::check_cbe(req)) co_return *p;
  if (req.content_type() != "application/json")
    co_return detail::unsupported_media_type("application/json");
  ReplayRequest rq;
  if (auto e = parse_replay_request(req.body, rq)) co_return problem(*e);
  const std::string cbe = req.params["cbe"];
  const std::string actor = caller.actor;
  const std::string topic = replay_topic(cbe);
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job = [cbe, actor, topic, rq](pg::Connection& c) -> Reply {
    if (c.exec("SELECT 1 FROM cpas WHERE cbe = $1", {cbe}).rows() == 0)
      return detail::cpas_not_found();
    const std::optional<std::string> until =
        rq.until.empty() ? std::nullopt : std::optional(rq.until);
    if (until &&
        c.exec("SELECT $1::timestamptz < $2::timestamptz", {rq.since, *until}).get(0, 0) != "t")
      return problem(errc::invalid, "DATE_ORDER", "until is not after since", "until");
    // The same replay running (a re-run after an interruption continues it), or done (not
    // published twice unless "again").
    auto same = c.exec("SELECT " + kColumns +
                           " FROM cpas_replays WHERE cpas_cbe = $1 AND since = $2::timestamptz AND "
                           "until IS NOT DISTINCT FROM $3::timestamptz AND state IN ('running', "
                           "'done') AND ($4::boolean = false OR state = 'running') ORDER BY "
                           "requested_at DESC LIMIT 1",
                       {cbe, rq.since, until, rq.again ? "true" : "false"});
    if (same.rows() == 1) return detail::reply(200, json::object{{"replay", replay_json(same, 0)}});
    if (c.exec("SELECT 1 FROM cpas_replays WHERE cpas_cbe = $1 AND state = 'running'", {cbe})
            .rows() > 0)
      return problem(errc::conflict, "REPLAY_RUNNING",
                     "another replay of this CPAS is running; wait for it to finish", "since");
    try {
      c.exec("SAVEPOINT replay");
      auto r = c.exec(
          "INSERT INTO cpas_replays (cpas_cbe, since, until, topic, total, requested_by) SELECT "
          "$1, $2::timestamptz, $3::timestamptz, $4, count(*), $5 FROM notification_archive "
          "WHERE cpas_cbe = $1 AND routed_at >= $2::timestamptz AND ($3::timestamptz IS NULL OR "
          "routed_at < $3::timestamptz) RETURNING " +
              kColumns,
          {cbe, rq.since, until, topic, actor});
      return detail::reply(202, json::object{{"replay", replay_json(r, 0)}});
    } catch (const pg::Error& e) {
      if (e.sqlstate() != "23505") throw;
      c.exec("ROLLBACK TO SAVEPOINT replay");
      return problem(errc::conflict, "REPLAY_RUNNING",
                     "another replay of this CPAS is running; wait for it to finish", "since");
    }
  };
  auto tx = [job](pg::Connection& c) -> Reply {
    return pg::transaction(c, [&] { return job(c); });
  };
  auto r = co_await pool_.run<Reply>(std::move(tx));
  if (r && r->status == 202) replays_.with({"requested"}).inc();
  co_return r;
}

asio::awaitable<Reply> ReplayService::get_replay(http::Request& req, const Caller&) {
  if (auto p = detail::check_cbe(req)) co_return *p;
  const std::string cbe = req.params["cbe"];
  const std::string id = req.params["id"];
  auto not_found =
      problem(errc::not_found, "REPLAY_NOT_FOUND", "no such replay of this CPAS", "id");
  if (!std::regex_match(id, kUuid)) co_return not_found;
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job = [cbe, id, not_found](pg::Connection& c) -> Reply {
    auto r = c.exec("SELECT " + kColumns + " FROM cpas_replays WHERE id = $1 AND cpas_cbe = $2",
                    {id, cbe});
    if (r.rows() == 0) return not_found;
    return detail::reply(200, json::object{{"replay", replay_json(r, 0)}});
  };
  co_return co_await pool_.run<Reply>(std::move(job));
}

std::optional<std::string> ReplayService::start() {
  std::string error;
  producer_ = kafka::Producer::create(o_.kafka, error, o_.reloads);
  if (!producer_) return "replay producer: " + error;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
  return std::nullopt;
}

void ReplayService::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (producer_) {
    producer_->flush(std::chrono::seconds(5));
    producer_.reset();
  }
}

void ReplayService::run() {
  std::unique_ptr<pg::Connection> conn;
  auto next_prune = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!stop_) {
    bool busy = false;
    try {
      if (!conn || !conn->ok()) conn = std::make_unique<pg::Connection>(o_.dsn);
      if (std::chrono::steady_clock::now() >= next_prune) {
        prune(*conn);
        next_prune = std::chrono::steady_clock::now() + o_.prune_every;
      }
      busy = work_one(*conn);
    } catch (const std::exception& e) {
      logger.warn("replay worker: retrying", {{"error", e.what()}});
      if (conn && !conn->ok()) conn.reset();
      // Waits longer after a failure; the lease lets the replay be taken up again.
      for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(o_.poll);
    }
    if (!busy)
      for (auto t = o_.poll; t.count() > 0 && !stop_; t -= std::chrono::milliseconds(50))
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void ReplayService::prune(pg::Connection& c) {
  // One CPAS at a time: each DELETE is a range of the primary key (no other index to scan by).
  // The archive's CPAS, found by skipping along the primary key (one probe per CPAS).
  auto cpas = c.exec(
      "WITH RECURSIVE t(cbe) AS (SELECT min(cpas_cbe) FROM notification_archive UNION ALL SELECT "
      "(SELECT min(cpas_cbe) FROM notification_archive WHERE cpas_cbe > t.cbe) FROM t WHERE t.cbe "
      "IS NOT NULL) SELECT cbe FROM t WHERE cbe IS NOT NULL");
  long long n = 0;
  for (int i = 0; i < cpas.rows() && !stop_; ++i)
    n += c.exec(
              "DELETE FROM notification_archive WHERE cpas_cbe = $1 AND routed_at < now() - "
              "make_interval(days => $2::int)",
              {cpas.str(i, 0), std::to_string(o_.archive_retention_days)})
             .affected();
  pruned_.inc(static_cast<double>(n));
  if (n > 0)
    logger.info("archive pruned", {{"rows", n}, {"retention_days", o_.archive_retention_days}});
}

bool ReplayService::work_one(pg::Connection& c) {
  const std::string lease_ms = std::to_string(o_.lease.count());
  auto claim = c.exec(
      "UPDATE cpas_replays SET lease_owner = $1, lease_until = now() + $2::bigint * interval '1 "
      "millisecond' WHERE id = (SELECT id FROM cpas_replays WHERE state = 'running' AND "
      "(lease_until IS NULL OR lease_until < now() OR lease_owner = $1) ORDER BY requested_at "
      "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id::text, cpas_cbe, topic, " +
          micros("since") + ", " + micros("until") + ", " + micros("last_routed_at") +
          ", last_partition, last_offset, published",
      {o_.instance, lease_ms});
  if (claim.rows() == 0) return false;
  const std::string id = claim.str(0, 0), cbe = claim.str(0, 1), topic = claim.str(0, 2);
  const std::string since_us = claim.str(0, 3);
  const std::optional<std::string> until_us =
      claim.is_null(0, 4) ? std::nullopt : std::optional(claim.str(0, 4));
  std::optional<ArchivePosition> pos;
  if (!claim.is_null(0, 5))
    pos = ArchivePosition{claim.integer(0, 5), static_cast<std::int32_t>(claim.integer(0, 6)),
                          claim.integer(0, 7)};
  auto fail = [&](const std::string& why) {
    c.exec("UPDATE cpas_replays SET error = $2 WHERE id = $1", {id, why});
    throw std::runtime_error("replay " + id + ": " + why);
  };
  if (auto e = kafka::ensure_topics(o_.kafka, {topic}, 1, o_.replication_factor, o_.kafka_timeout,
                                    {{"retention.ms", o_.topic_retention_ms}}))
    fail("cannot create " + topic + ": " + *e);
  // Kafka holds what was published: a worker that died after producing and before recording its
  // progress is continued after its last record, not before.
  if (auto tail = published_up_to(o_.kafka, topic, id, o_.kafka_timeout);
      tail && (!pos || *tail > *pos)) {
    pos = tail;
    c.exec(
        "UPDATE cpas_replays SET last_routed_at = 'epoch'::timestamptz + $2::bigint * interval '1 "
        "microsecond', last_partition = $3::int, last_offset = $4::bigint, published = (SELECT "
        "count(*) FROM notification_archive WHERE cpas_cbe = $5 AND routed_at >= "
        "'epoch'::timestamptz "
        "+ $6::bigint * interval '1 microsecond' AND (routed_at, kafka_partition, kafka_offset) <= "
        "('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3::int, $4::bigint)) "
        "WHERE id = $1",
        {id, std::to_string(pos->routed_at_us), std::to_string(pos->partition),
         std::to_string(pos->offset), cbe, since_us});
    logger.info("replay resumed after its last published record",
                {{"replay", id}, {"position", to_string(*pos)}});
  }
  const std::string at = "'epoch'::timestamptz + $%::bigint * interval '1 microsecond'";
  auto at_param = [&](int n) {
    std::string s = at;
    s.replace(s.find('%'), 1, std::to_string(n));
    return s;
  };
  while (!stop_) {
    std::vector<pg::Param> params{cbe, since_us, until_us, std::to_string(o_.chunk)};
    std::string after = "true";
    if (pos) {
      params.push_back(std::to_string(pos->routed_at_us));
      params.push_back(std::to_string(pos->partition));
      params.push_back(std::to_string(pos->offset));
      after =
          "(routed_at, kafka_partition, kafka_offset) > (" + at_param(5) + ", $6::int, $7::bigint)";
    }
    auto rows = c.exec("SELECT " + micros("routed_at") +
                           ", kafka_partition, kafka_offset, record FROM notification_archive "
                           "WHERE cpas_cbe = $1 AND routed_at >= " +
                           at_param(2) + " AND ($3::bigint IS NULL OR routed_at < " + at_param(3) +
                           ") AND " + after +
                           " ORDER BY routed_at, kafka_partition, kafka_offset LIMIT $4::int",
                       params);
    if (rows.rows() == 0) {
      c.exec(
          "UPDATE cpas_replays SET state = 'done', finished_at = now(), lease_owner = NULL, "
          "lease_until = NULL, error = NULL WHERE id = $1",
          {id});
      replays_.with({"done"}).inc();
      logger.info("replay done", {{"replay", id}, {"cpas", cbe}});
      return true;
    }
    std::atomic<int> failed{0};
    std::string first_error;
    std::mutex m;
    ArchivePosition last;
    for (int i = 0; i < rows.rows(); ++i) {
      last = {rows.integer(i, 0), static_cast<std::int32_t>(rows.integer(i, 1)),
              rows.integer(i, 2)};
      // bytea arrives as text "\x<hex>".
      auto hex = rows.get(i, 3);
      std::string blob;
      if (hex.starts_with("\\x")) {
        blob.reserve((hex.size() - 2) / 2);
        auto nib = [](char ch) { return ch <= '9' ? ch - '0' : ch - 'a' + 10; };
        for (std::size_t k = 2; k + 1 < hex.size(); k += 2)
          blob.push_back(static_cast<char>(nib(hex[k]) << 4 | nib(hex[k + 1])));
      }
      auto rec = decode_archived(blob);
      if (!rec) fail("archive row " + to_string(last) + " does not decode");
      rec->headers.push_back({"replay", id});
      rec->headers.push_back({"replay-position", to_string(last)});
      std::string_view key = rec->key ? std::string_view(*rec->key) : std::string_view{};
      for (int attempt = 0;; ++attempt) {
        auto e = producer_->produce(topic, 0, key, rec->value, rec->headers,
                                    [&](const kafka::DeliveryResult& d) {
                                      if (d.ok()) return;
                                      std::lock_guard lock(m);
                                      if (failed++ == 0) first_error = d.error.message;
                                    });
        if (!e) break;
        if (e.kind != kafka::errc::queue_full || attempt > 100) fail("produce: " + e.message);
        producer_->flush(std::chrono::milliseconds(100));
      }
    }
    if (producer_->flush(o_.kafka_timeout) > 0) fail("records not delivered in time");
    if (failed > 0) {
      std::lock_guard lock(m);
      fail("delivery failed: " + first_error);
    }
    published_.inc(rows.rows());
    pos = last;
    c.exec("UPDATE cpas_replays SET published = published + $2::bigint, last_routed_at = " +
               at_param(3) +
               ", last_partition = $4::int, last_offset = $5::bigint, error = NULL, lease_until = "
               "now() + $6::bigint * interval '1 millisecond' WHERE id = $1",
           {id, std::to_string(rows.rows()), std::to_string(last.routed_at_us),
            std::to_string(last.partition), std::to_string(last.offset), lease_ms});
  }
  return true;
}

}  // namespace relais::api
