// The directory read from the real PostgreSQL: load_all, changes_since (order,
// pagination, concurrent writers), and the router's DirectoryFeed (latency,
// health, behaviour when the database is unreachable).
#include "relais/directory/directory.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <iostream>
#include <mutex>
#include <regex>
#include <set>

#include "relais/directory/pg_source.hpp"
#include "relais/router/directory_feed.hpp"
#include "support.hpp"

namespace relais::itest {
namespace {

using directory::Change;
using directory::Directory;
using directory::Entry;

std::vector<Entry> entries_of(const Directory& d, const std::string& ssin) {
  std::vector<Entry> out;
  d.for_each(*directory::ssin_key(ssin), [&](const Entry& e) { out.push_back(e); });
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.id < b.id; });
  return out;
}

void insert_cpas(pg::Connection& c, const std::string& cbe,
                 const std::string& name = "CPAS itest") {
  c.exec(
      "INSERT INTO cpas (cbe, name, municipalities, updated_by) VALUES ($1, $2, '{21004,21015}', "
      "'itest')",
      {cbe, name});
}

long long insert_integration(pg::Connection& c, const std::string& cbe, const std::string& ssin,
                             int q, const std::string& start, std::optional<std::string> end) {
  auto r = c.exec(
      "INSERT INTO integrations (ssin, cbe, quality_code, start_date, end_date, created_by, "
      "updated_by) "
      "VALUES ($1, $2, $3, $4, $5, 'itest', 'itest') RETURNING id",
      {ssin, cbe, std::to_string(q), start, end});
  return r.integer(0, 0);
}

class DirectoryPg : public IntegrationTest {};

TEST_F(DirectoryPg, LoadAllReadsEveryTableWithDaysAndOpenEnds) {
  pg::Connection c(pg_dsn());
  auto cbe = unique_cbe(c);
  auto s1 = unique_ssin(c), s2 = unique_ssin(c), old_ssin = unique_ssin(c),
       new_ssin = unique_ssin(c);
  insert_cpas(c, cbe, "CPAS de Tubize");
  auto id_open = insert_integration(c, cbe, s1, 1, "2020-01-01", std::nullopt);
  auto id_closed = insert_integration(c, cbe, s1, 2, "1970-01-02", "2021-12-31");
  auto id_s2 = insert_integration(c, cbe, s2, 40, "1969-12-31", "2030-06-30");
  c.exec(
      "INSERT INTO ssin_replacements (old_ssin, new_ssin, source, recorded_by, updated_by) "
      "VALUES ($1, $2, 'register', 'itest', 'itest')",
      {old_ssin, new_ssin});
  auto max_seq = count(c,
                       "SELECT GREATEST((SELECT max(change_seq) FROM integrations WHERE cbe = $1), "
                       "(SELECT change_seq FROM ssin_replacements WHERE old_ssin = $2))",
                       {cbe, old_ssin});

  Directory d;
  auto seq = directory::load_all(c, d);
  EXPECT_GE(seq, max_seq) << "load_all must be consistent with every committed change";

  auto idx = d.find_cpas(cbe);
  ASSERT_TRUE(idx.has_value()) << "CPAS " << cbe << " not loaded";
  EXPECT_EQ(d.cpas(*idx).name, "CPAS de Tubize");
  EXPECT_EQ(d.cpas(*idx).municipalities, (std::vector<std::string>{"21004", "21015"}));
  EXPECT_EQ(d.size_for_cpas(*idx), 3u);

  auto e1 = entries_of(d, s1);
  ASSERT_EQ(e1.size(), 2u);
  EXPECT_EQ(e1[0].id, static_cast<std::uint32_t>(id_open));
  EXPECT_EQ(e1[0].cpas, *idx);
  EXPECT_EQ(e1[0].quality, 1);
  EXPECT_EQ(e1[0].start, 18262);  // 2020-01-01
  EXPECT_EQ(e1[0].end, directory::kOpenEnd);
  EXPECT_EQ(e1[1].id, static_cast<std::uint32_t>(id_closed));
  EXPECT_EQ(e1[1].quality, 2);
  EXPECT_EQ(e1[1].start, 1);    // 1970-01-02
  EXPECT_EQ(e1[1].end, 18992);  // 2021-12-31
  auto e2 = entries_of(d, s2);
  ASSERT_EQ(e2.size(), 1u);
  EXPECT_EQ(e2[0].id, static_cast<std::uint32_t>(id_s2));
  EXPECT_EQ(e2[0].quality, 40);
  EXPECT_EQ(e2[0].start, -1);   // 1969-12-31: before the epoch
  EXPECT_EQ(e2[0].end, 22095);  // 2030-06-30
  EXPECT_TRUE(e2[0].covers(0));
  EXPECT_FALSE(e2[0].covers(22096));

  std::vector<std::uint64_t> rel;
  d.related(*directory::ssin_key(new_ssin), rel);
  EXPECT_NE(std::find(rel.begin(), rel.end(), *directory::ssin_key(old_ssin)), rel.end())
      << "the replacement " << old_ssin << " -> " << new_ssin << " was not loaded";
}

TEST_F(DirectoryPg, ADroppedReplacementLeavesTheRoutersDirectory) {
  pg::Connection c(pg_dsn());
  Directory d;
  auto last = directory::load_all(c, d);
  auto old_ssin = unique_ssin(c), new_ssin = unique_ssin(c);
  c.exec(
      "INSERT INTO ssin_replacements (old_ssin, new_ssin, source, recorded_by, updated_by) "
      "VALUES ($1, $2, 'register', 'itest', 'itest')",
      {old_ssin, new_ssin});
  auto o = *directory::ssin_key(old_ssin), n = *directory::ssin_key(new_ssin);
  for (const auto& ch : directory::changes_since(c, last, 100000)) {
    directory::apply(d, ch);
    last = std::max(last, ch.seq);
  }
  std::vector<std::uint64_t> rel;
  d.related(n, rel);
  EXPECT_EQ(rel, (std::vector<std::uint64_t>{n, o}));
  // An operator drops it (relaisctl directory audit-replacements --drop): an UPDATE, seen by the
  // feed.
  c.exec(
      "UPDATE ssin_replacements SET active = false, updated_by = 'itest', reason = 'wrong' WHERE "
      "old_ssin = $1",
      {old_ssin});
  auto changes = directory::changes_since(c, last, 100000);
  auto it = std::find_if(changes.begin(), changes.end(), [&](const Change& ch) {
    return ch.kind == Change::Kind::replacement && ch.ssin == o;
  });
  ASSERT_NE(it, changes.end());
  EXPECT_FALSE(it->active);
  for (const auto& ch : changes) directory::apply(d, ch);
  d.related(n, rel);
  EXPECT_EQ(rel, std::vector<std::uint64_t>{n});
  // A full load skips it too; the journal has both changes with their actor.
  Directory fresh;
  directory::load_all(c, fresh);
  fresh.related(n, rel);
  EXPECT_EQ(rel, std::vector<std::uint64_t>{n});
  auto j =
      c.exec("SELECT action FROM directory_journal WHERE ssin = $1 AND actor = 'itest' ORDER BY id",
             {old_ssin});
  ASSERT_EQ(j.rows(), 2);
  EXPECT_EQ(j.str(0, 0), "replacement-record");
  EXPECT_EQ(j.str(1, 0), "replacement-drop");
}

TEST_F(DirectoryPg, ChangesSinceReturnsLaterWritesInChangeSeqOrder) {
  pg::Connection c(pg_dsn());
  Directory d;
  auto last = directory::load_all(c, d);
  auto cbe = unique_cbe(c);
  auto sx = unique_ssin(c), sy = unique_ssin(c), old_ssin = unique_ssin(c),
       new_ssin = unique_ssin(c);

  insert_cpas(c, cbe, "first name");
  auto idx_x = insert_integration(c, cbe, sx, 1, "2024-01-01", std::nullopt);
  auto idx_y = insert_integration(c, cbe, sy, 3, "2024-02-01", std::nullopt);
  c.exec("UPDATE integrations SET end_date = '2024-12-31', updated_by = 'itest' WHERE id = $1",
         {std::to_string(idx_x)});
  c.exec(
      "INSERT INTO ssin_replacements (old_ssin, new_ssin, source, recorded_by, updated_by) "
      "VALUES ($1, $2, 'register', 'itest', 'itest')",
      {old_ssin, new_ssin});
  c.exec("UPDATE cpas SET name = 'second name', updated_by = 'itest' WHERE cbe = $1", {cbe});

  auto changes = directory::changes_since(c, last, 1000);
  ASSERT_FALSE(changes.empty());
  for (std::size_t i = 1; i < changes.size(); ++i)
    EXPECT_LT(changes[i - 1].seq, changes[i].seq)
        << "changes must come in strictly ascending change_seq";
  for (const auto& ch : changes) EXPECT_GT(ch.seq, last);

  // Ours, in order: integration y, integration x (updated after y), the replacement, the cpas
  // (renamed last).
  std::vector<std::string> ours;
  for (const auto& ch : changes) {
    if (ch.kind == Change::Kind::cpas && ch.cbe == cbe) ours.push_back("cpas:" + ch.name);
    if (ch.kind == Change::Kind::integration && ch.cbe == cbe)
      ours.push_back("int:" + std::to_string(ch.id) + ":" + std::to_string(ch.end));
    if (ch.kind == Change::Kind::replacement && ch.ssin == *directory::ssin_key(old_ssin)) {
      EXPECT_EQ(ch.new_ssin, *directory::ssin_key(new_ssin));
      ours.push_back("rep");
    }
  }
  EXPECT_EQ(ours, (std::vector<std::string>{
                      "int:" + std::to_string(idx_y) + ":" + std::to_string(directory::kOpenEnd),
                      "int:" + std::to_string(idx_x) + ":20088", "rep", "cpas:second name"}));

  // Applying them gives the current state.
  for (const auto& ch : changes) directory::apply(d, ch);
  auto ex = entries_of(d, sx);
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].end, 20088);  // 2024-12-31
  ASSERT_TRUE(d.find_cpas(cbe));
  EXPECT_EQ(d.cpas(*d.find_cpas(cbe)).name, "second name");

  // Paging with a tiny limit visits the same changes, none skipped, none repeated.
  std::vector<std::int64_t> paged;
  std::int64_t after = last;
  for (int guard = 0; guard < 10000; ++guard) {
    auto page = directory::changes_since(c, after, 1);
    if (page.empty()) break;
    for (const auto& ch : page) paged.push_back(ch.seq);
    after = page.back().seq;
  }
  std::vector<std::int64_t> all;
  for (const auto& ch : directory::changes_since(c, last, 100000)) all.push_back(ch.seq);
  EXPECT_EQ(paged, all);

  // Nothing after the last one.
  auto tail = directory::changes_since(c, all.back(), 1000);
  for (const auto& ch : tail) EXPECT_GT(ch.seq, all.back());
}

// Two writers whose transactions overlap: the one that started later cannot take
// a change_seq (nor commit its row) before the earlier one commits, so a reader
// advancing `last` never jumps over a row that commits late.
TEST_F(DirectoryPg, OverlappingWritersNeverMakeChangesSinceSkipARow) {
  pg::Connection setup(pg_dsn());
  auto cbe = unique_cbe(setup);
  insert_cpas(setup, cbe);
  auto sa = unique_ssin(setup), sb = unique_ssin(setup);
  Directory d;
  std::int64_t last = directory::load_all(setup, d);

  pg::Connection a(pg_dsn()), b(pg_dsn()), reader(pg_dsn());
  std::set<long long> seen;
  auto poll = [&] {
    for (const auto& ch : directory::changes_since(reader, last, 1000)) {
      if (ch.kind == Change::Kind::integration && ch.cbe == cbe) seen.insert(ch.id);
      last = ch.seq;
    }
  };

  // B starts first (its snapshot is older), A starts second and writes first.
  b.exec("BEGIN");
  b.exec("SELECT count(*) FROM integrations WHERE cbe = $1", {cbe});
  a.exec("BEGIN");
  auto id_a =
      a.exec(
           "INSERT INTO integrations (ssin, cbe, quality_code, start_date, created_by, updated_by) "
           "VALUES ($1, $2, 1, '2024-01-01', 'a', 'a') RETURNING id",
           {sa, cbe})
          .integer(0, 0);
  // B now writes: it must wait for A's directory lock.
  auto b_insert = std::async(std::launch::async, [&] {
    return b
        .exec(
            "INSERT INTO integrations (ssin, cbe, quality_code, start_date, created_by, "
            "updated_by) "
            "VALUES ($1, $2, 1, '2024-01-01', 'b', 'b') RETURNING id",
            {sb, cbe})
        .integer(0, 0);
  });
  int b_pid = PQbackendPID(b.raw());
  EXPECT_TRUE(eventually(
      [&] {
        return count(setup,
                     "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                     "AND pid = $1",
                     {std::to_string(b_pid)}) == 1;
      },
      5s))
      << "the second writer should wait on the directory advisory lock";
  EXPECT_EQ(b_insert.wait_for(0ms), std::future_status::timeout);
  poll();
  EXPECT_TRUE(seen.empty()) << "nothing is committed yet";

  // B would like to commit first; it cannot: A commits, then B gets its seq and commits.
  a.exec("COMMIT");
  ASSERT_EQ(b_insert.wait_for(10s), std::future_status::ready);
  auto id_b = b_insert.get();
  poll();  // may see A only
  b.exec("COMMIT");
  poll();
  EXPECT_EQ(seen, (std::set<long long>{id_a, id_b})) << "a row committed late was skipped";
  auto seq_a =
      count(setup, "SELECT change_seq FROM integrations WHERE id = $1", {std::to_string(id_a)});
  auto seq_b =
      count(setup, "SELECT change_seq FROM integrations WHERE id = $1", {std::to_string(id_b)});
  EXPECT_LT(seq_a, seq_b) << "change_seq order must be commit order";
}

// The same property under load: several writers whose transactions overlap with
// random delays between the write and the commit, one reader polling meanwhile.
TEST_F(DirectoryPg, ConcurrentWritersAndAPollingReaderLoseNothing) {
  pg::Connection setup(pg_dsn());
  auto cbe = unique_cbe(setup);
  insert_cpas(setup, cbe);
  Directory d;
  std::int64_t last = directory::load_all(setup, d);
  constexpr int kWriters = 4, kPerWriter = 20;
  std::vector<std::string> ssins;
  for (int i = 0; i < kWriters * kPerWriter; ++i) ssins.push_back(unique_ssin(setup));

  std::mutex mu;
  std::set<long long> written;
  std::atomic<int> done{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      pg::Connection c(pg_dsn());
      std::mt19937 r(static_cast<unsigned>(w * 7919 + 1));
      for (int i = 0; i < kPerWriter; ++i) {
        c.exec("BEGIN");
        std::this_thread::sleep_for(std::chrono::microseconds(r() % 2000));
        auto id = c.exec(
                       "INSERT INTO integrations (ssin, cbe, quality_code, start_date, created_by, "
                       "updated_by) "
                       "VALUES ($1, $2, 1, '2024-01-01', 'w', 'w') RETURNING id",
                       {ssins[w * kPerWriter + i], cbe})
                      .integer(0, 0);
        std::this_thread::sleep_for(std::chrono::microseconds(r() % 3000));
        c.exec("COMMIT");
        std::lock_guard lock(mu);
        written.insert(id);
      }
      done.fetch_add(1);
    });
  }
  pg::Connection reader(pg_dsn());
  std::set<long long> seen;
  int polls = 0;
  auto poll = [&] {
    ++polls;
    for (const auto& ch : directory::changes_since(reader, last, 7)) {  // small pages on purpose
      if (ch.kind == Change::Kind::integration && ch.cbe == cbe) {
        EXPECT_TRUE(seen.insert(ch.id).second);
      }
      last = ch.seq;
    }
  };
  while (done.load() < kWriters) poll();
  for (auto& t : writers) t.join();
  for (int i = 0; i < 100 && seen.size() < written.size(); ++i) poll();  // drain the tail (paged)
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kWriters * kPerWriter));
  EXPECT_EQ(seen, written) << "the reader skipped rows committed while it was polling (" << polls
                           << " polls)";
}

class DirectoryFeedTest : public IntegrationTest {};

TEST_F(DirectoryFeedTest, RowInsertedInPostgresIsVisibleWithinOneSecond) {
  pg::Connection c(pg_dsn());
  auto cbe = unique_cbe(c);
  insert_cpas(c, cbe);
  auto s1 = unique_ssin(c), s2 = unique_ssin(c);
  insert_integration(c, cbe, s1, 1, "2024-01-01", std::nullopt);

  // The router's default poll interval.
  router::DirectoryFeed feed(pg_dsn(), 200ms);
  Directory d;
  feed.initial_load(d);
  EXPECT_EQ(entries_of(d, s1).size(), 1u);
  EXPECT_LT(feed.age_seconds(), 1.0);
  EXPECT_TRUE(feed.healthy());
  feed.start();

  std::vector<double> latencies;
  for (int round = 0; round < 3; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    auto id = insert_integration(c, cbe, s2, 1 + round, "2024-03-01", std::nullopt);
    bool visible = eventually(
        [&] {
          feed.apply_pending(d);
          for (const auto& e : entries_of(d, s2))
            if (e.id == static_cast<std::uint32_t>(id)) return true;
          return false;
        },
        3s, 5ms);
    auto ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(visible) << "integration " << id << " not seen by the feed after 3 s";
    latencies.push_back(ms);
    EXPECT_LT(ms, 1000.0) << "a directory change must reach routing within one second";
  }
  std::cout << "[ MEASURE  ] directory change -> apply_pending latency (ms):";
  for (double l : latencies) std::cout << ' ' << l;
  std::cout << std::endl;
  RecordProperty("directory_change_latency_ms_max",
                 std::to_string(*std::max_element(latencies.begin(), latencies.end())));
  EXPECT_LT(feed.age_seconds(), 1.0);
  EXPECT_TRUE(feed.healthy());
  EXPECT_GT(feed.last_seq(), 0);
  feed.stop();
}

TEST_F(DirectoryFeedTest, WrongDsnKeepsTheLastDirectoryAndReportsUnhealthy) {
  pg::Connection c(pg_dsn());
  auto cbe = unique_cbe(c);
  insert_cpas(c, cbe);
  auto s1 = unique_ssin(c);
  insert_integration(c, cbe, s1, 1, "2024-01-01", std::nullopt);
  Directory d;
  {
    router::DirectoryFeed good(pg_dsn(), 200ms);
    good.initial_load(d);
  }
  ASSERT_EQ(entries_of(d, s1).size(), 1u);
  auto size_before = d.size();

  // A port nobody listens on.
  router::DirectoryFeed bad("host=127.0.0.1 port=1 dbname=relais user=relais connect_timeout=2",
                            50ms);
  EXPECT_THROW(bad.initial_load(d), std::exception);
  EXPECT_EQ(d.size(), size_before) << "a failed load must not damage the directory";
  bad.start();
  // Several polls fail meanwhile (50 ms interval, backoff doubling).
  auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < 300ms) {
    EXPECT_EQ(bad.apply_pending(d), 0u);
    EXPECT_FALSE(bad.healthy());
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_GT(bad.age_seconds(), 10.0);
  EXPECT_EQ(d.size(), size_before);
  EXPECT_EQ(entries_of(d, s1).size(), 1u) << "the last directory must be kept";
  bad.stop();
}

// A feed that was healthy loses its database (its role may no longer log in):
// it keeps the directory, reports unhealthy, then catches up once it is back.
TEST_F(DirectoryFeedTest, DatabaseLossKeepsTheDirectoryThenCatchesUp) {
  pg::Connection admin(pg_dsn());
  auto role = "itest_feed_" + std::to_string(random_below(1000000000));
  // The stack requires a password (SCRAM), even on loopback: the role gets one of its own.
  auto password = "pw" + std::to_string(random_below(1000000000));
  admin.exec("CREATE ROLE " + role + " LOGIN PASSWORD '" + password + "'");
  admin.exec("GRANT SELECT ON cpas, integrations, ssin_replacements TO " + role);
  struct Cleanup {
    pg::Connection& c;
    std::string role;
    ~Cleanup() {
      try {
        c.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + role +
               "'");
        c.exec("DROP OWNED BY " + role);
        c.exec("DROP ROLE " + role);
      } catch (...) {
      }
    }
  } cleanup{admin, role};
  auto cbe = unique_cbe(admin);
  insert_cpas(admin, cbe);
  auto s1 = unique_ssin(admin), s2 = unique_ssin(admin);
  insert_integration(admin, cbe, s1, 1, "2024-01-01", std::nullopt);

  std::string dsn = pg_dsn();
  dsn =
      std::regex_replace(dsn, std::regex(R"(user=\S+)"), "user=" + role) + " password=" + password;
  ASSERT_NE(dsn.find("user=" + role), std::string::npos) << "RELAIS_TEST_PG_DSN must name a user";
  router::DirectoryFeed feed(dsn, 100ms);
  Directory d;
  feed.initial_load(d);
  feed.start();
  ASSERT_TRUE(eventually([&] { return feed.healthy(); }, 2s));
  ASSERT_EQ(entries_of(d, s1).size(), 1u);

  admin.exec("ALTER ROLE " + role + " NOLOGIN");
  admin.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + role +
             "'");
  auto id2 = insert_integration(admin, cbe, s2, 1, "2024-01-01", std::nullopt);
  // The health threshold is 10 s without a successful poll.
  EXPECT_TRUE(eventually([&] { return !feed.healthy(); }, 15s, 100ms))
      << "the feed should report unhealthy";
  feed.apply_pending(d);
  EXPECT_EQ(entries_of(d, s1).size(), 1u) << "the last directory must be kept";

  admin.exec("ALTER ROLE " + role + " LOGIN");
  EXPECT_TRUE(eventually(
      [&] {
        feed.apply_pending(d);
        return feed.healthy() && !entries_of(d, s2).empty();
      },
      10s, 50ms))
      << "the feed should recover and pick up the change made during the outage";
  auto e2 = entries_of(d, s2);
  ASSERT_EQ(e2.size(), 1u);
  EXPECT_EQ(e2[0].id, static_cast<std::uint32_t>(id2));
  feed.stop();
}

}  // namespace
}  // namespace relais::itest
