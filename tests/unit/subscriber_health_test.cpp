// The pure core of relais-api's subscriber health (libs/api/subscriber_health.hpp): which records
// a pass fetches, what it keeps, and the figures per CPAS application.
#include "relais/api/subscriber_health.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "relais/api/operator_view.hpp"
#include "relais/ctl/status.hpp"

using namespace relais;
using api::AppHealth;
using api::CommitMemory;
using api::FirstRecordCache;
using api::Reading;

namespace {

constexpr const char* kA = "0212344876";  // valid CBE numbers (check digits)
constexpr const char* kB = "0203163233";
constexpr std::int64_t kHour = 3600 * 1000;
constexpr std::int64_t kNow = 1'800'000'000'000;

std::string topic(const std::string& cbe) {
  return "cpas." + cbe + ".notifications.v1";
}

// Two CPAS, one partition each; A's application "app" is behind by 40 records, B's is caught up.
Reading world() {
  Reading r;
  r.now_ms = kNow;
  r.groups = {{"cpas." + std::string(kA) + ".app", "Empty", false},
              {"cpas." + std::string(kB) + ".app", "Stable", true},
              {"relais-router", "Stable", true},         // not a CPAS group
              {"cpas.0000000000.app", "Stable", true}};  // not a valid CBE
  r.committed["cpas." + std::string(kA) + ".app"] = {{topic(kA), 0, 60}};
  r.committed["cpas." + std::string(kB) + ".app"] = {{topic(kB), 0, 100}};
  r.watermarks = {{topic(kA), 0, 10, 100}, {topic(kB), 0, 0, 100}};
  r.retention_ms = {{topic(kA), 168 * kHour}, {topic(kB), 168 * kHour}};
  return r;
}

kafka::FirstRecord record(const std::string& t, std::int64_t from, std::int64_t offset,
                          std::int64_t ts) {
  kafka::FirstRecord f;
  f.topic = t;
  f.partition = 0;
  f.from = from;
  f.offset = offset;
  f.timestamp_ms = ts;
  return f;
}

// The world's applications after one pass: A's first unread record is 150 h old.
std::vector<AppHealth> world_apps() {
  auto r = world();
  FirstRecordCache cache;
  api::remember(cache, r, {record(topic(kA), 60, 60, kNow - 150 * kHour)});
  CommitMemory commits;
  return api::assess(r, cache, commits);
}

const AppHealth& app_of(const std::vector<AppHealth>& apps, const std::string& cbe) {
  for (const auto& a : apps)
    if (a.cpas == cbe) return a;
  throw std::runtime_error("no application of " + cbe);
}

}  // namespace

TEST(SubscriberHealth, ParsesOnlyGroupsOfAValidCbeWithAnApplication) {
  auto g = api::parse_group("cpas.0212344876.case-files");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->first, "0212344876");
  EXPECT_EQ(g->second, "case-files");
  EXPECT_EQ(api::parse_group("cpas.0212344876.a.b")->second, "a.b");
  EXPECT_FALSE(api::parse_group("cpas.0212344876."));
  EXPECT_FALSE(api::parse_group("cpas.0212344876"));
  EXPECT_FALSE(api::parse_group("cpas.0212344877.app"));  // bad check digits
  EXPECT_FALSE(api::parse_group("relais-router"));
}

TEST(SubscriberHealth, FetchesTheFirstUnreadRecordOfLaggingPartitionsOnly) {
  auto r = world();
  FirstRecordCache cache;
  auto want = api::records_to_fetch(r, cache);
  ASSERT_EQ(want.size(), 1u);
  EXPECT_EQ(want[0].topic, topic(kA));
  EXPECT_EQ(want[0].offset, 60);
  // Once remembered, the same committed offset is not fetched again.
  api::remember(cache, r, {record(topic(kA), 60, 60, kNow - 10 * kHour)});
  EXPECT_TRUE(api::records_to_fetch(r, cache).empty());
  // A commit moves the first unread record: fetched again, the old entry forgotten.
  r.committed["cpas." + std::string(kA) + ".app"] = {{topic(kA), 0, 80}};
  want = api::records_to_fetch(r, cache);
  ASSERT_EQ(want.size(), 1u);
  EXPECT_EQ(want[0].offset, 80);
  api::remember(cache, r, {});
  EXPECT_TRUE(cache.entries.empty());
}

TEST(SubscriberHealth, CommittedBeforeTheLogStartReadsFromTheLogStartAndCountsTheLost) {
  auto r = world();
  r.committed["cpas." + std::string(kA) + ".app"] = {{topic(kA), 0, 4}};
  FirstRecordCache cache;
  auto want = api::records_to_fetch(r, cache);
  ASSERT_EQ(want.size(), 1u);
  EXPECT_EQ(want[0].offset, 10);
  api::remember(cache, r, {record(topic(kA), 10, 10, kNow - 100 * kHour)});
  CommitMemory commits;
  auto a = app_of(api::assess(r, cache, commits), kA);
  EXPECT_EQ(a.lost_records, 6);
  EXPECT_EQ(a.lag_records, 90);
  ASSERT_TRUE(a.retention_left_s);
  EXPECT_DOUBLE_EQ(*a.retention_left_s, 68 * 3600.0);
}

TEST(SubscriberHealth, FiguresPerApplicationWorstFirst) {
  auto apps = world_apps();
  ASSERT_EQ(apps.size(), 2u);  // the two groups that are not CPAS applications are ignored
  const auto& a = apps[0];     // worst first: A's records expire within 18 h
  EXPECT_EQ(a.cpas, kA);
  EXPECT_EQ(a.application, "app");
  EXPECT_EQ(a.lag_records, 40);
  EXPECT_FALSE(a.has_members);
  EXPECT_EQ(a.state, "Empty");
  ASSERT_TRUE(a.oldest_unread_age_s);
  EXPECT_DOUBLE_EQ(*a.oldest_unread_age_s, 150 * 3600.0);
  ASSERT_TRUE(a.retention_left_s);
  EXPECT_DOUBLE_EQ(*a.retention_left_s, 18 * 3600.0);
  EXPECT_FALSE(a.incomplete);
  const auto& b = apps[1];
  EXPECT_EQ(b.cpas, kB);
  EXPECT_EQ(b.lag_records, 0);
  EXPECT_FALSE(b.oldest_unread_age_s);
  EXPECT_FALSE(b.retention_left_s);
  EXPECT_TRUE(b.has_members);
}

TEST(SubscriberHealth, LastCommitAgeCountsFromTheLastObservedChange) {
  auto r = world();
  FirstRecordCache cache;
  CommitMemory commits;
  api::assess(r, cache, commits);  // first seen: counts from now
  r.now_ms += 2 * kHour;
  r.committed["cpas." + std::string(kB) + ".app"] = {{topic(kB), 0, 100}};
  auto apps = api::assess(r, cache, commits);
  EXPECT_DOUBLE_EQ(app_of(apps, kA).last_commit_age_s, 2 * 3600.0);
  // B commits again (its end moved): its age starts over.
  r.now_ms += kHour;
  r.watermarks[1].end = 120;
  r.committed["cpas." + std::string(kB) + ".app"] = {{topic(kB), 0, 120}};
  apps = api::assess(r, cache, commits);
  EXPECT_DOUBLE_EQ(app_of(apps, kA).last_commit_age_s, 3 * 3600.0);
  EXPECT_DOUBLE_EQ(app_of(apps, kB).last_commit_age_s, 0.0);
}

TEST(SubscriberHealth, OnlyTransactionMarkersLeftIsNoLag) {
  auto r = world();
  r.committed["cpas." + std::string(kA) + ".app"] = {{topic(kA), 0, 99}};
  FirstRecordCache cache;
  kafka::FirstRecord marker;
  marker.topic = topic(kA);
  marker.from = 99;
  marker.at_end = true;
  api::remember(cache, r, {marker});
  CommitMemory commits;
  auto a = app_of(api::assess(r, cache, commits), kA);
  EXPECT_EQ(a.lag_records, 0);
  EXPECT_FALSE(a.oldest_unread_age_s);
  // New records behind the marker: the "nothing there" answer is stale and fetched again.
  r.watermarks[0].end = 110;
  EXPECT_EQ(api::records_to_fetch(r, cache).size(), 1u);
}

TEST(SubscriberHealth, NothingCommittedReadsTheNotificationsTopicFromItsStart) {
  auto r = world();
  r.committed.erase("cpas." + std::string(kA) + ".app");
  FirstRecordCache cache;
  auto want = api::records_to_fetch(r, cache);
  ASSERT_EQ(want.size(), 1u);
  EXPECT_EQ(want[0].offset, 10);
  CommitMemory commits;
  auto a = app_of(api::assess(r, cache, commits), kA);
  EXPECT_TRUE(a.incomplete);  // not fetched this pass: the lag is counted, the age unknown
  EXPECT_EQ(a.lag_records, 90);
  EXPECT_EQ(a.lost_records, 0);
  EXPECT_FALSE(a.oldest_unread_age_s);
}

TEST(SubscriberHealth, RetentionForeverLeavesNoDeadline) {
  auto r = world();
  r.retention_ms[topic(kA)] = -1;
  FirstRecordCache cache;
  api::remember(cache, r, {record(topic(kA), 60, 60, kNow - 500 * kHour)});
  CommitMemory commits;
  auto a = app_of(api::assess(r, cache, commits), kA);
  EXPECT_EQ(a.lag_records, 40);
  EXPECT_TRUE(a.oldest_unread_age_s);
  EXPECT_FALSE(a.retention_left_s);
}

// The operator's table (operator_view.hpp): one row per CPAS, worst first, figures only.
TEST(OperatorView, RowsPerCpasWorstFirstWithTheirApplications) {
  auto apps = world_apps();
  std::vector<api::CpasFigures> db = {
      {kB, "CPAS B", 1200, 3, 40, 0, 2, kNow - 60'000},
      {kA, "CPAS A", 800, 0, 0, 1, 0, std::nullopt},
      {"0207446772", "CPAS C", 5, 0, 0, 0, 7, std::nullopt},  // no application at all
  };
  auto rows = api::cpas_rows(db, apps);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].figures.cbe, kA);  // records deleted unread within 24 h: critical
  EXPECT_EQ(rows[0].severity, api::Severity::critical);
  EXPECT_EQ(rows[0].lag_records, 40);
  ASSERT_TRUE(rows[0].retention_left_s);
  EXPECT_DOUBLE_EQ(*rows[0].retention_left_s, 18 * 3600.0);
  EXPECT_EQ(rows[1].figures.cbe, "0207446772");  // ok, but 7 open clignotants before B's 2
  EXPECT_EQ(rows[2].figures.cbe, kB);
  EXPECT_EQ(rows[2].apps.size(), 1u);
  EXPECT_EQ(rows[2].severity, api::Severity::ok);

  api::HealthPass pass;
  pass.finished_ms = kNow - 5000;
  pass.requests = 7;
  auto j = api::cpas_table_json(rows, pass, kNow);
  EXPECT_EQ(j.at("summary").at("critical").to_number<std::int64_t>(), 1);
  EXPECT_EQ(j.at("summary").at("warning").to_number<std::int64_t>(), 0);
  EXPECT_EQ(j.at("subscriber_health").at("finished_age_s").as_double(), 5.0);
  const auto& first = j.at("cpas").as_array()[0].as_object();
  EXPECT_EQ(first.at("cbe").as_string(), kA);
  EXPECT_EQ(first.at("severity").as_string(), "critical");
  EXPECT_TRUE(first.at("last_delivery_age_s").is_null());
  const auto& app = first.at("applications").as_array()[0].as_object();
  EXPECT_EQ(app.at("lag_records").to_number<std::int64_t>(), 40);
  EXPECT_EQ(app.at("retention_left_s").as_double(), 18 * 3600.0);
  const auto& b = j.at("cpas").as_array()[2].as_object();
  EXPECT_EQ(b.at("last_delivery_age_s").as_double(), 60.0);
  EXPECT_TRUE(b.at("applications").as_array()[0].as_object().at("retention_left_s").is_null());
}

TEST(OperatorView, NotCommittingWhileRecordsWaitIsAWarningAndAnApplicationWithoutCpasRowIsListed) {
  AppHealth waiting;
  waiting.cpas = "0207446772";
  waiting.application = "x";
  waiting.lag_records = 3;
  waiting.last_commit_age_s = 5 * 3600.0;
  EXPECT_EQ(api::severity_of(waiting), api::Severity::warning);
  AppHealth idle = waiting;
  idle.lag_records = 0;  // nothing waits: an idle application is fine
  EXPECT_EQ(api::severity_of(idle), api::Severity::ok);
  AppHealth lost = idle;
  lost.lost_records = 2;
  EXPECT_EQ(api::severity_of(lost), api::Severity::critical);
  auto rows = api::cpas_rows({}, {waiting});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].figures.cbe, "0207446772");
  EXPECT_TRUE(rows[0].figures.name.empty());
  EXPECT_EQ(rows[0].severity, api::Severity::warning);
}

TEST(OperatorView, ThePageIsSelfContained) {
  auto page = api::cpas_page();
  EXPECT_NE(page.find("RelaisCharts"), std::string_view::npos);
  EXPECT_NE(page.find("/v1/ops/cpas"), std::string_view::npos);
  EXPECT_EQ(page.find("<script src"), std::string_view::npos);  // no CDN, no external asset
  EXPECT_EQ(page.find("<link"), std::string_view::npos);
  EXPECT_EQ(page.find("https://"), std::string_view::npos);
  EXPECT_EQ(page.find("innerHTML"), std::string_view::npos);  // text only
}

// relaisctl status --cpas prints relais-api's document as the page does.
TEST(RelaisctlStatusCpas, RowsOfTheDocumentWorstFirst) {
  auto rows = api::cpas_rows({{kA, "CPAS A", 800, 1, 2, 0, 3, kNow - 90'000}}, world_apps());
  auto doc = boost::json::serialize(api::cpas_table_json(rows, {}, kNow));
  auto t = ctl::cpas_status_rows(doc);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.columns[7], "applications");
  EXPECT_EQ(*t.rows[0][0], "critical");
  EXPECT_EQ(*t.rows[0][1], kA);
  EXPECT_EQ(*t.rows[0][2], "CPAS A");
  EXPECT_EQ(*t.rows[0][6], "1m 30s ago");
  EXPECT_EQ(*t.rows[0][7], "app: 40 / 18h 0m (no member)");
  EXPECT_EQ(*t.rows[1][1], kB);
  EXPECT_EQ(*t.rows[1][2], "");  // a CPAS seen only in Kafka
  EXPECT_FALSE(t.rows[1][6]);    // never delivered
  EXPECT_EQ(*t.rows[1][7], "app: 0");
  EXPECT_EQ(ctl::duration_text(3 * 86400 + 4 * 3600 + 5), "3d 4h");
  EXPECT_EQ(ctl::duration_text(9), "9s");
  EXPECT_THROW(ctl::cpas_status_rows("{\"x\":1}"), std::invalid_argument);
}
