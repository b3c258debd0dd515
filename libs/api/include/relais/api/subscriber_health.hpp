// The health of the CPAS applications that read their CPAS's topics: per CPAS and application
// (consumer group `cpas.<cbe>.<application>`), how many records wait, how old the oldest unread
// one is, how long before retention deletes it unread, when the group last committed (as seen
// from here) and whether it has members. No personal data: offsets, timestamps and counts only.
//
// The pure core (parse_group, records_to_fetch, remember, assess) works on a `Reading` of the
// cluster; `SubscriberHealth` is the thin shell that reads it with kafka::Admin every interval on
// relais-api's Kafka admin thread and publishes metrics and the last pass. docs/operations.md.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "relais/common/metrics.hpp"
#include "relais/kafka/admin.hpp"
#include "relais/kafka/reload.hpp"

namespace relais::api {

// "cpas.<cbe>.<application>" → {cbe, application}; nullopt for any other group id (a CBE that is
// not a valid CBE number, an empty application).
std::optional<std::pair<std::string, std::string>> parse_group(std::string_view group);

// What one pass read from the cluster.
struct Reading {
  std::int64_t now_ms = 0;
  std::vector<kafka::GroupListing> groups;                  // prefix "cpas."
  std::map<std::string, kafka::TopicPartitions> committed;  // group → committed offsets
  std::vector<kafka::PartitionWatermarks> watermarks;       // every partition of cpas.* topics
  std::map<std::string, std::int64_t> retention_ms;         // topic → retention.ms (-1: forever)
};

// The first unread record of each (topic, partition, from offset) already fetched: a record at an
// offset never changes, so it is fetched again only when the group commits (or, for "nothing
// there", when the partition's end moves).
struct FirstRecordCache {
  struct Entry {
    kafka::FirstRecord record;
    std::int64_t end_seen = -1;  // the partition's end when the answer was "nothing there"
  };
  std::map<std::tuple<std::string, std::int32_t, std::int64_t>, Entry> entries;
};

// When each group's committed offsets last changed, as seen by the passes (Kafka does not tell
// when an offset was committed). A group first seen counts from that pass.
struct CommitMemory {
  struct Seen {
    std::map<std::pair<std::string, std::int32_t>, std::int64_t> offsets;
    std::int64_t changed_ms = 0;
  };
  std::map<std::string, Seen> groups;
};

struct AppHealth {
  std::string cpas;         // CBE number
  std::string application;  // the group id after "cpas.<cbe>."
  std::string state;        // the group's state
  bool has_members = false;
  std::int64_t lag_records = 0;   // readable records not yet committed
  std::int64_t lost_records = 0;  // records deleted by retention before they were read
  int partitions = 0;
  // Age of the oldest unread record, nullopt when nothing waits.
  std::optional<double> oldest_unread_age_s;
  // Time before retention may delete the oldest unread record (its timestamp + retention.ms -
  // now, at the earliest), nullopt when nothing waits or the topic keeps records forever.
  std::optional<double> retention_left_s;
  double last_commit_age_s = 0;  // since the committed offsets last changed, as observed
  // True when some partition's first unread record could not be fetched this pass.
  bool incomplete = false;
};

// The partitions (and the offset of their first unread record) whose first unread record is
// not in the cache yet: every partition with something between the group's committed offset
// (or the log start, when it is later or nothing was committed) and the end.
kafka::TopicPartitions records_to_fetch(const Reading& r, const FirstRecordCache& cache);

// Keeps in the cache what the next pass needs: the entries still current and the new answers.
void remember(FirstRecordCache& cache, const Reading& r,
              const std::vector<kafka::FirstRecord>& fetched);

// Per CPAS application, worst first (least retention left, then largest lag). Updates `commits`.
std::vector<AppHealth> assess(const Reading& r, const FirstRecordCache& cache,
                              CommitMemory& commits);

// One pass's result, as shown by the operator page and relaisctl.
struct HealthPass {
  std::vector<AppHealth> apps;
  std::int64_t finished_ms = 0;  // 0: no pass yet
  double seconds = 0;            // duration of the pass
  std::uint64_t requests = 0;    // Kafka requests of the pass
  std::size_t fetched = 0;       // first records fetched (not from the cache)
  std::string error;             // the first error of the pass, "" when none
};

struct SubscriberHealthOptions {
  kafka::Settings kafka;
  const kafka::Reloads* reloads = nullptr;     // the Admin made again on a reload (none: never)
  std::string group_id = "relais-api-health";  // the record fetch's assignment group
  std::chrono::milliseconds interval{30000};
  std::chrono::milliseconds timeout{10000};  // of each Kafka call of a pass
};

// The shell: one pass every interval on `executor` (relais-api's Kafka admin thread).
class SubscriberHealth {
 public:
  SubscriberHealth(SubscriberHealthOptions o, const boost::asio::any_io_executor& executor,
                   metrics::Registry& m);
  ~SubscriberHealth();
  // Schedules the first pass at once; an error when the Kafka client cannot be created.
  std::optional<std::string> start();
  // Creates the Kafka client only, for run_pass() called by the caller (the bench).
  std::optional<std::string> start_client();
  void stop();
  // One pass now, on the calling thread (the bench and the tests).
  HealthPass run_pass();
  std::shared_ptr<const HealthPass> last() const;

 private:
  void schedule(std::chrono::milliseconds after);
  void publish(const HealthPass& p);

  SubscriberHealthOptions o_;
  boost::asio::steady_timer timer_;
  std::unique_ptr<kafka::Admin> admin_;
  kafka::ReloadWatch reload_{o_.reloads};  // on the admin thread
  FirstRecordCache cache_;
  CommitMemory commits_;
  std::atomic<bool> stopped_{false};
  bool scheduled_ = false;  // start() was called: passes run on the executor
  mutable std::mutex mu_;
  std::shared_ptr<const HealthPass> last_;
  std::map<std::pair<std::string, std::string>, bool> published_;  // series set by a pass
  metrics::Family<metrics::Gauge>& lag_;
  metrics::Family<metrics::Gauge>& oldest_;
  metrics::Family<metrics::Gauge>& retention_left_;
  metrics::Family<metrics::Gauge>& commit_age_;
  metrics::Family<metrics::Gauge>& lost_;
  metrics::Family<metrics::Gauge>& members_;
  metrics::Gauge& pass_seconds_;
  metrics::Gauge& pass_requests_;
  metrics::Gauge& last_pass_;
  metrics::Family<metrics::Counter>& passes_;
};

}  // namespace relais::api
