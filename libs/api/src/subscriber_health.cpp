#include "relais/api/subscriber_health.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cmath>
#include <future>
#include <limits>
#include <set>

#include "relais/common/log.hpp"
#include "relais/validation/ids.hpp"

namespace relais::api {
namespace {

const log::Logger logger{"subscriber-health"};

using Key = std::pair<std::string, std::int32_t>;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One partition an application reads: where its unread records start.
struct Position {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t committed = -1;  // -1: nothing committed
  std::int64_t from = 0;        // max(committed, log start)
  std::int64_t end = 0;
  std::int64_t log_start = 0;
};

// The partitions of one group: its committed partitions of its CPAS's topics or, when it has
// committed none, every partition of cpas.<cbe>.notifications.v1 from the log start.
std::vector<Position> positions(const Reading& r, const std::string& group, const std::string& cbe,
                                const std::map<Key, const kafka::PartitionWatermarks*>& wm) {
  std::vector<Position> out;
  const std::string prefix = "cpas." + cbe + ".";
  auto add = [&](const std::string& topic, std::int32_t partition, std::int64_t committed) {
    auto it = wm.find({topic, partition});
    if (it == wm.end()) return;
    Position p{topic, partition, committed, 0, it->second->end, it->second->log_start};
    p.from = committed < 0 ? p.log_start : std::max(committed, p.log_start);
    out.push_back(std::move(p));
  };
  if (auto c = r.committed.find(group); c != r.committed.end()) {
    for (const auto& tp : c->second)
      if (tp.topic.starts_with(prefix) && tp.offset >= 0) add(tp.topic, tp.partition, tp.offset);
  }
  if (out.empty()) {
    const std::string topic = prefix + "notifications.v1";
    for (const auto& w : r.watermarks)
      if (w.topic == topic) add(w.topic, w.partition, -1);
  }
  return out;
}

std::map<Key, const kafka::PartitionWatermarks*> index(const Reading& r) {
  std::map<Key, const kafka::PartitionWatermarks*> wm;
  for (const auto& w : r.watermarks) wm[{w.topic, w.partition}] = &w;
  return wm;
}

template <typename Fn>
void each_position(const Reading& r, Fn fn) {
  auto wm = index(r);
  for (const auto& g : r.groups) {
    auto parsed = parse_group(g.group);
    if (!parsed) continue;
    for (const auto& p : positions(r, g.group, parsed->first, wm)) fn(g, *parsed, p);
  }
}

const FirstRecordCache::Entry* cached(const FirstRecordCache& cache, const Position& p) {
  auto it = cache.entries.find({p.topic, p.partition, p.from});
  if (it == cache.entries.end()) return nullptr;
  if (it->second.record.at_end && it->second.end_seen != p.end) return nullptr;
  return &it->second;
}

}  // namespace

std::optional<std::pair<std::string, std::string>> parse_group(std::string_view group) {
  constexpr std::string_view head = "cpas.";
  if (!group.starts_with(head)) return std::nullopt;
  auto rest = group.substr(head.size());
  auto dot = rest.find('.');
  if (dot == std::string_view::npos || dot + 1 >= rest.size()) return std::nullopt;
  auto cbe = rest.substr(0, dot);
  if (!validation::is_valid_cbe(cbe)) return std::nullopt;
  return std::pair{std::string(cbe), std::string(rest.substr(dot + 1))};
}

kafka::TopicPartitions records_to_fetch(const Reading& r, const FirstRecordCache& cache) {
  kafka::TopicPartitions out;
  std::set<std::tuple<std::string, std::int32_t, std::int64_t>> seen;
  each_position(r, [&](const auto&, const auto&, const Position& p) {
    if (p.from >= p.end || cached(cache, p)) return;
    if (seen.insert({p.topic, p.partition, p.from}).second)
      out.push_back({p.topic, p.partition, p.from});
  });
  return out;
}

void remember(FirstRecordCache& cache, const Reading& r,
              const std::vector<kafka::FirstRecord>& fetched) {
  std::map<Key, std::int64_t> ends;
  for (const auto& w : r.watermarks) ends[{w.topic, w.partition}] = w.end;
  FirstRecordCache next;
  each_position(r, [&](const auto&, const auto&, const Position& p) {
    if (const auto* e = cached(cache, p)) next.entries[{p.topic, p.partition, p.from}] = *e;
  });
  for (const auto& f : fetched) {
    auto end = ends.find({f.topic, f.partition});
    next.entries[{f.topic, f.partition, f.from}] = {f, end == ends.end() ? -1 : end->second};
  }
  cache = std::move(next);
}

std::vector<AppHealth> assess(const Reading& r, const FirstRecordCache& cache,
                              CommitMemory& commits) {
  std::map<std::string, AppHealth> apps;  // by group
  std::map<std::string, std::map<Key, std::int64_t>> committed_now;
  std::map<std::string, std::int64_t> oldest_ts, deletion_ms;
  each_position(r, [&](const kafka::GroupListing& g, const auto& id, const Position& p) {
    auto& a = apps[g.group];
    a.cpas = id.first;
    a.application = id.second;
    a.state = g.state;
    a.has_members = g.has_members;
    ++a.partitions;
    if (p.committed >= 0) committed_now[g.group][{p.topic, p.partition}] = p.committed;
    if (p.committed >= 0 && p.committed < p.log_start) a.lost_records += p.log_start - p.committed;
    if (p.from >= p.end) return;
    const auto* e = cached(cache, p);
    if (!e) {
      a.incomplete = true;
      a.lag_records += p.end - p.from;
      return;
    }
    if (e->record.at_end) return;  // only transaction markers or aborted records remain
    a.lag_records += p.end - std::max(p.from, e->record.offset);
    const std::int64_t ts = e->record.timestamp_ms;
    if (ts < 0) return;
    auto& oldest = oldest_ts.try_emplace(g.group, ts).first->second;
    oldest = std::min(oldest, ts);
    auto ret = r.retention_ms.find(p.topic);
    if (ret != r.retention_ms.end() && ret->second >= 0) {
      auto& del = deletion_ms.try_emplace(g.group, ts + ret->second).first->second;
      del = std::min(del, ts + ret->second);
    }
  });
  // Groups of the prefix that read nothing of their CPAS (no partition at all) still show up.
  for (const auto& g : r.groups) {
    auto id = parse_group(g.group);
    if (!id || apps.contains(g.group)) continue;
    auto& a = apps[g.group];
    a.cpas = id->first;
    a.application = id->second;
    a.state = g.state;
    a.has_members = g.has_members;
  }
  std::vector<AppHealth> out;
  CommitMemory next;
  for (auto& [group, a] : apps) {
    auto& now = committed_now[group];
    auto prev = commits.groups.find(group);
    CommitMemory::Seen seen{now, r.now_ms};
    if (prev != commits.groups.end() && prev->second.offsets == now)
      seen.changed_ms = prev->second.changed_ms;
    a.last_commit_age_s = static_cast<double>(r.now_ms - seen.changed_ms) / 1000.0;
    next.groups[group] = std::move(seen);
    if (auto it = oldest_ts.find(group); it != oldest_ts.end() && a.lag_records > 0)
      a.oldest_unread_age_s = std::max(0.0, static_cast<double>(r.now_ms - it->second) / 1000.0);
    if (auto it = deletion_ms.find(group); it != deletion_ms.end() && a.lag_records > 0)
      a.retention_left_s = static_cast<double>(it->second - r.now_ms) / 1000.0;
    out.push_back(std::move(a));
  }
  commits = std::move(next);
  constexpr double inf = std::numeric_limits<double>::infinity();
  std::stable_sort(out.begin(), out.end(), [&](const AppHealth& x, const AppHealth& y) {
    auto left = [&](const AppHealth& a) { return a.retention_left_s.value_or(inf); };
    if (left(x) != left(y)) return left(x) < left(y);
    if (x.lag_records != y.lag_records) return x.lag_records > y.lag_records;
    return std::tie(x.cpas, x.application) < std::tie(y.cpas, y.application);
  });
  return out;
}

SubscriberHealth::SubscriberHealth(SubscriberHealthOptions o,
                                   const boost::asio::any_io_executor& executor,
                                   metrics::Registry& m)
    : o_(std::move(o)),
      timer_(executor),
      lag_(m.gauge("relais_subscriber_lag_records",
                   "records of a CPAS's topics its application has not committed yet",
                   {"cpas", "application"})),
      oldest_(m.gauge("relais_subscriber_oldest_unread_age_seconds",
                      "age of the oldest record the application has not read (0: none waits)",
                      {"cpas", "application"})),
      retention_left_(m.gauge("relais_subscriber_retention_left_seconds",
                              "time before retention may delete the oldest unread record "
                              "(+Inf: nothing waits or kept forever)",
                              {"cpas", "application"})),
      commit_age_(m.gauge("relais_subscriber_last_commit_age_seconds",
                          "time since the application's committed offsets last changed (as "
                          "observed by relais-api)",
                          {"cpas", "application"})),
      lost_(m.gauge("relais_subscriber_lost_records",
                    "records deleted by retention before the application read them",
                    {"cpas", "application"})),
      members_(m.gauge("relais_subscriber_has_members",
                       "1 while the application's group has members", {"cpas", "application"})),
      pass_seconds_(m.gauge("relais_subscriber_health_pass_seconds",
                            "duration of the last subscriber health pass")
                        .with()),
      pass_requests_(m.gauge("relais_subscriber_health_pass_requests",
                             "Kafka requests of the last subscriber health pass")
                         .with()),
      last_pass_(m.gauge("relais_subscriber_health_last_pass_timestamp_seconds",
                         "when the last subscriber health pass finished")
                     .with()),
      passes_(m.counter("relais_subscriber_health_passes_total",
                        "subscriber health passes by result", {"result"})) {}

SubscriberHealth::~SubscriberHealth() {
  stop();
}

std::optional<std::string> SubscriberHealth::start_client() {
  std::string error;
  admin_ = kafka::Admin::create(o_.kafka, o_.group_id, error);
  if (!admin_) return error;
  return std::nullopt;
}

std::optional<std::string> SubscriberHealth::start() {
  if (auto e = start_client()) return e;
  scheduled_ = true;
  schedule(std::chrono::milliseconds(0));
  return std::nullopt;
}

void SubscriberHealth::stop() {
  if (stopped_.exchange(true) || !scheduled_) return;
  // The timer belongs to the admin thread: cancel it there, then wait behind the cancelled
  // wait's completion (queued by the cancel) so that nothing runs on `this` afterwards.
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  auto ex = timer_.get_executor();
  boost::asio::post(ex, [this, ex, done] {
    timer_.cancel();
    boost::asio::post(ex, [done] { done->set_value(); });
  });
  f.wait();
}

void SubscriberHealth::schedule(std::chrono::milliseconds after) {
  timer_.expires_after(after);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    run_pass();
    if (!stopped_) schedule(o_.interval);
  });
}

HealthPass SubscriberHealth::run_pass() {
  // A reload: the Admin made again (its TLS files read again) before this pass uses it; one that
  // cannot be made leaves the current one.
  if (reload_.due()) {
    std::string error;
    if (auto fresh = kafka::Admin::create(o_.kafka, o_.group_id, error)) {
      admin_ = std::move(fresh);
      logger.info("Kafka admin client made again (TLS files read again)");
    } else {
      logger.error("reload: cannot create a new Kafka admin client; the current one stays in use",
                   {{"error", error}});
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto requests0 = admin_->requests();
  HealthPass p;
  Reading r;
  auto note = [&](const kafka::Error& e) {
    if (e && p.error.empty()) p.error = e.message;
  };
  note(admin_->groups("cpas.", r.groups, o_.timeout));
  std::map<std::string, int> topics;
  note(admin_->topics("cpas.", topics, o_.timeout));
  std::vector<std::string> groups, topic_names;
  for (const auto& g : r.groups)
    if (parse_group(g.group)) groups.push_back(g.group);
  note(admin_->committed(groups, r.committed, o_.timeout));
  kafka::TopicPartitions parts;
  for (const auto& [t, n] : topics) {
    topic_names.push_back(t);
    for (int i = 0; i < n; ++i) parts.push_back({t, i});
  }
  note(admin_->watermarks(parts, r.watermarks, o_.timeout));
  note(admin_->retention_ms(topic_names, r.retention_ms, o_.timeout));
  auto wanted = records_to_fetch(r, cache_);
  std::vector<kafka::FirstRecord> fetched;
  note(admin_->first_records(wanted, fetched, o_.timeout));
  p.fetched = fetched.size();
  remember(cache_, r, fetched);
  r.now_ms = wall_ms();
  p.apps = assess(r, cache_, commits_);
  p.finished_ms = r.now_ms;
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  p.requests = admin_->requests() - requests0;
  publish(p);
  if (!p.error.empty()) logger.warn("subscriber health pass incomplete", {{"error", p.error}});
  return p;
}

void SubscriberHealth::publish(const HealthPass& p) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  const double nan = std::nan("");
  std::map<std::pair<std::string, std::string>, bool> now;
  for (const auto& a : p.apps) {
    std::vector<std::string> l{a.cpas, a.application};
    lag_.with(l).set(static_cast<double>(a.lag_records));
    oldest_.with(l).set(a.oldest_unread_age_s.value_or(0.0));
    retention_left_.with(l).set(a.retention_left_s.value_or(inf));
    commit_age_.with(l).set(a.last_commit_age_s);
    lost_.with(l).set(static_cast<double>(a.lost_records));
    members_.with(l).set(a.has_members ? 1.0 : 0.0);
    now[{a.cpas, a.application}] = true;
  }
  // A group that is gone (deleted, expired) no longer has figures: NaN, which no alert matches.
  for (const auto& [k, _] : published_) {
    if (now.contains(k)) continue;
    std::vector<std::string> l{k.first, k.second};
    for (auto* f : {&lag_, &oldest_, &retention_left_, &commit_age_, &lost_, &members_})
      f->with(l).set(nan);
  }
  published_ = std::move(now);
  pass_seconds_.set(p.seconds);
  pass_requests_.set(static_cast<double>(p.requests));
  last_pass_.set(static_cast<double>(p.finished_ms) / 1000.0);
  passes_.with({p.error.empty() ? "ok" : "incomplete"}).inc();
  std::lock_guard lock(mu_);
  last_ = std::make_shared<const HealthPass>(p);
}

std::shared_ptr<const HealthPass> SubscriberHealth::last() const {
  std::lock_guard lock(mu_);
  return last_;
}

}  // namespace relais::api
