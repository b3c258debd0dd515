// The JournalSink copying a real Kafka journal topic (read_committed) into the
// real PostgreSQL journal table: rows appear, a replay adds nothing (the marks of
// migration 0020, and the comparison where a partition has none), aborted
// transactions never appear, SSIN_REPLACED creates directory replacements. Since migration 0019
// a batch record's entries are stored one row per routing outcome (journal_rows) and the
// `journal` view gives back one row per entry, as the table did before.
#include "relais/router/journal_sink.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "relais/common/metrics.hpp"
#include "relais/pg/copy_binary.hpp"
#include "relais/sink/kafka_to_pg.hpp"
#include "relais/v1/records.pb.h"
#include "support.hpp"

namespace relais::itest {
namespace {

// A transactional producer, like the router's.
class TxProducer {
 public:
  TxProducer() {
    std::string err;
    auto s = kafka_settings();
    s["transactional.id"] = "itest-journal-" + unique_suffix();
    s["enable.idempotence"] = "true";
    s["acks"] = "all";
    p_ = kafka::TransactionalProducer::create(s, nullptr, err);
    if (!p_) throw std::runtime_error(err);
    check(p_->init(30s), "init_transactions");
  }
  void begin() { check(p_->begin(), "begin"); }
  void commit() { check(p_->commit(30s), "commit"); }
  void abort() { check(p_->abort(30s), "abort"); }
  void produce(const std::string& topic, const v1::JournalEntry& j,
               int32_t partition = kafka::kAnyPartition) {
    std::string v;
    j.SerializeToString(&v);
    check(p_->send(topic, partition, j.ticket(), v, {}), "produce");
  }
  // Several entries in one record, as the router writes them.
  void produce_batch(const std::string& topic, const std::string& key,
                     const std::vector<v1::JournalEntry>& js) {
    v1::JournalBatch b;
    for (const auto& j : js) *b.add_entries() = j;
    std::string v;
    b.SerializeToString(&v);
    check(p_->send(topic, kafka::kAnyPartition, key, v, {}), "produce");
  }
  // Waits until the records of the open transaction are delivered (so an abort really discards sent
  // data).
  void flush() { p_->flush(10s); }

 private:
  static void check(const kafka::Error& e, const char* what) {
    if (e) throw std::runtime_error(std::string(what) + ": " + e.message);
  }
  std::unique_ptr<kafka::TransactionalProducer> p_;
};

v1::JournalEntry entry(v1::JournalEntry::Kind kind, const std::string& ticket,
                       const std::string& ssin, const std::string& source) {
  v1::JournalEntry j;
  j.set_kind(kind);
  j.set_ticket(ticket);
  j.set_ssin(ssin);
  j.set_flow(v1::FLOW_NOTIFY_PERSON);
  j.set_event("ADDRESS_CHANGE");
  j.set_effective_date("2024-05-01");
  j.set_at_us(1714550400000000LL + 123456);  // 2024-05-01T08:00:00.123456Z
  j.set_accepted_at_us(1714550399000000LL);  // one second earlier
  j.set_source(source);
  return j;
}

class JournalSinkTest : public IntegrationTest {};

TEST_F(JournalSinkTest, CopiesCommittedEntriesOnceAndIgnoresAbortedOnes) {
  pg::Connection c(pg_dsn());
  auto topic = unique_topic("journal");
  create_topics({topic}, 3);
  auto cbe = unique_cbe(c);
  TxProducer tx;

  // Committed: 20 accepted + 20 routed entries, and an SSIN_REPLACED acceptance.
  std::vector<v1::JournalEntry> committed;
  std::vector<std::string> tickets;
  for (int i = 0; i < 20; ++i) {
    auto t = uuid();
    tickets.push_back(t);
    auto ssin = random_ssin();
    committed.push_back(
        entry(v1::JournalEntry::ACCEPTED, t, ssin, "itest-inbound/0/" + std::to_string(i)));
    auto r = entry(v1::JournalEntry::ROUTED, t, ssin, "itest-inbound/0/" + std::to_string(i));
    r.set_cpas_cbe(cbe);
    r.set_quality_code(1);
    committed.push_back(r);
  }
  auto old_ssin = unique_ssin(c), new_ssin = unique_ssin(c);
  auto rep_ticket = uuid();
  tickets.push_back(rep_ticket);
  auto rep = entry(v1::JournalEntry::ACCEPTED, rep_ticket, new_ssin, "itest-inbound/1/0");
  rep.set_event("SSIN_REPLACED");
  rep.set_replaces_ssin(old_ssin);
  committed.push_back(rep);
  // An incomplete effective date (CommonV3 yyyy-mm-00) dropped by the whole-interval rule.
  auto inc_ticket = uuid();
  tickets.push_back(inc_ticket);
  auto inc = entry(v1::JournalEntry::DROPPED, inc_ticket, random_ssin(), "itest-inbound/1/1");
  inc.set_effective_date("2024-05-00");
  inc.set_reason("incomplete_date_not_covered");
  committed.push_back(inc);

  // A notification routed to two CPAS, with alerts raised for each, as the router journals it.
  auto alerted = uuid();
  tickets.push_back(alerted);
  const std::string other_cbe = "0207500123";
  std::vector<v1::JournalEntry> fanned;
  {
    const auto ssin = random_ssin();
    const std::string src = "itest-inbound/2/0";
    fanned.push_back(entry(v1::JournalEntry::ACCEPTED, alerted, ssin, src));
    for (const auto& [cpas, ids] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {cbe, {"alert-a1", "alert-a2"}}, {other_cbe, {"alert-b1"}}}) {
      auto routed = entry(v1::JournalEntry::ROUTED, alerted, ssin, src);
      routed.set_cpas_cbe(cpas);
      routed.set_quality_code(1);
      fanned.push_back(routed);
      for (const auto& id : ids) {
        auto a = routed;
        a.set_kind(v1::JournalEntry::ALERT);
        a.set_alert_id(id);
        a.set_reason("PERSON_\"CHANGED\"");  // quoted: the array literal's escaping
        fanned.push_back(a);
      }
    }
  }

  // The first 24 entries in two batch records (the router's format), the
  // others one per record (the format of routers before batches).
  tx.begin();
  tx.produce_batch(topic, "batch/0-0/j0", {committed.begin(), committed.begin() + 12});
  tx.produce_batch(topic, "batch/0-0/j1", {committed.begin() + 12, committed.begin() + 24});
  for (std::size_t i = 24; i < committed.size(); ++i) tx.produce(topic, committed[i]);
  tx.produce_batch(topic, "batch/0-0/j2", fanned);
  tx.commit();

  metrics::Registry registry;
  router::JournalSinkOptions o;
  o.kafka = kafka_settings();
  o.dsn = pg_dsn();
  o.topic = topic;
  o.group_id = "itest-journal-" + unique_suffix();
  o.linger = std::chrono::milliseconds(50);
  router::JournalSink sink(o, registry);
  auto err = sink.start();
  ASSERT_FALSE(err.has_value()) << *err;

  // Tickets as a PostgreSQL array literal.
  auto array_of = [](const std::vector<std::string>& v) {
    std::string a = "{";
    for (const auto& s : v) a += (a.size() > 1 ? "," : "") + s;
    return a + "}";
  };
  auto rows_for = [&](const std::vector<std::string>& ts) {
    return count(c, "SELECT count(*) FROM journal WHERE ticket = ANY($1::text[])", {array_of(ts)});
  };
  auto stored_for = [&](const std::vector<std::string>& ts) {
    return count(c, "SELECT count(*) FROM journal_rows WHERE ticket = ANY($1::text[])",
                 {array_of(ts)});
  };
  ASSERT_TRUE(eventually([&] { return rows_for(tickets) == 48; }, 20s, 50ms))
      << "journal entries for the committed entries: " << rows_for(tickets) << " of 48";
  // Stored one row per outcome: the 12 notifications of the batch records and the fanned one
  // (two CPAS) fold, the 8 written one entry per record do not, nor the lone acceptance.
  EXPECT_EQ(stored_for(tickets), 12 + 2 + 16 + 1 + 1);
  EXPECT_EQ(
      count(c, "SELECT count(*) FROM journal_rows WHERE ticket = ANY($1::text[]) AND accepted",
            {array_of(tickets)}),
      13);
  // The auditor's question by ticket gets the entries as they were sent, one row each.
  auto fan = c.exec(
      "SELECT kind, coalesce(cpas_cbe, '-'), coalesce(quality_code::text, '-'), "
      "coalesce(reason, '-'), coalesce(alert_id, '-'), source, "
      "(extract(epoch FROM at) * 1000000)::bigint FROM journal WHERE ticket = $1",
      {alerted});
  std::vector<std::string> got;
  for (int i = 0; i < fan.rows(); ++i) {
    EXPECT_EQ(fan.str(i, 5), "itest-inbound/2/0");
    EXPECT_EQ(fan.integer(i, 6), 1714550400123456LL);
    got.push_back(fan.str(i, 0) + " " + fan.str(i, 1) + " " + fan.str(i, 2) + " " + fan.str(i, 3) +
                  " " + fan.str(i, 4));
  }
  const std::string changed = "PERSON_\"CHANGED\"";
  std::vector<std::string> want{
      "accepted - - - -",
      "alert " + other_cbe + " 1 " + changed + " alert-b1",
      "alert " + cbe + " 1 " + changed + " alert-a1",
      "alert " + cbe + " 1 " + changed + " alert-a2",
      "routed " + other_cbe + " 1 - -",
      "routed " + cbe + " 1 - -",
  };
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  // Kept as the source sent it (journal.effective_date is text since migration 0010).
  auto dropped =
      c.exec("SELECT effective_date, reason FROM journal WHERE ticket = $1", {inc_ticket});
  ASSERT_EQ(dropped.rows(), 1);
  EXPECT_EQ(dropped.str(0, 0), "2024-05-00");
  EXPECT_EQ(dropped.str(0, 1), "incomplete_date_not_covered");

  // Columns are mapped faithfully.
  auto r = c.exec(
      "SELECT kind, ssin, flow, event, effective_date::text, cpas_cbe, quality_code, source, "
      "(extract(epoch FROM at) * 1000000)::bigint, (extract(epoch FROM accepted_at) * "
      "1000000)::bigint "
      "FROM journal WHERE ticket = $1 AND kind = 'routed'",
      {tickets[3]});
  ASSERT_EQ(r.rows(), 1);
  EXPECT_EQ(r.str(0, 0), "routed");
  EXPECT_EQ(r.str(0, 1), committed[7].ssin());
  EXPECT_EQ(r.str(0, 2), "notify-person");
  EXPECT_EQ(r.str(0, 3), "ADDRESS_CHANGE");
  EXPECT_EQ(r.str(0, 4), "2024-05-01");
  EXPECT_EQ(r.str(0, 5), cbe);
  EXPECT_EQ(r.integer(0, 6), 1);
  EXPECT_EQ(r.str(0, 7), "itest-inbound/0/3");
  EXPECT_EQ(r.integer(0, 8), 1714550400123456LL);
  EXPECT_EQ(r.integer(0, 9), 1714550399000000LL);
  auto acc = c.exec(
      "SELECT cpas_cbe IS NULL, quality_code IS NULL, reason IS NULL FROM journal "
      "WHERE ticket = $1 AND kind = 'accepted'",
      {tickets[3]});
  ASSERT_EQ(acc.rows(), 1);
  EXPECT_EQ(acc.str(0, 0), "t");
  EXPECT_EQ(acc.str(0, 1), "t");
  EXPECT_EQ(acc.str(0, 2), "t");

  // The SSIN_REPLACED acceptance recorded the replacement in the directory.
  auto repl = c.exec(
      "SELECT new_ssin, source, recorded_by, needs_review FROM ssin_replacements WHERE old_ssin = "
      "$1",
      {old_ssin});
  ASSERT_EQ(repl.rows(), 1) << "SSIN_REPLACED did not create the replacement " << old_ssin << " -> "
                            << new_ssin;
  EXPECT_EQ(repl.str(0, 0), new_ssin);
  EXPECT_EQ(repl.str(0, 1), "register");
  EXPECT_EQ(repl.str(0, 2), "notify-person:" + rep_ticket);
  EXPECT_EQ(repl.str(0, 3), "f");
  EXPECT_EQ(c.exec("SELECT count(*) FROM directory_journal WHERE ssin = $1 AND action = "
                   "'replacement-record' "
                   "AND actor = $2",
                   {old_ssin, "notify-person:" + rep_ticket})
                .integer(0, 0),
            1);

  // Exactly once into PostgreSQL (migration 0020): the partitions' marks moved past every record.
  const std::string marked_sql =
      "SELECT coalesce(sum(next_offset), -1) FROM journal_sink_offsets WHERE topic = $1";
  EXPECT_GT(count(c, marked_sql, {topic}), 0);
  auto skipped = [&](metrics::Registry& reg) {
    return reg.counter("relais_journal_records_skipped_total", "").with().value();
  };
  EXPECT_EQ(skipped(registry), 0.0);

  // A replay (the sink's crash between PostgreSQL's commit and Kafka's, a rebalance): another
  // sink reads the topic again from its start. Every record is below its partition's mark and
  // skipped: the journal is unchanged.
  const int records = 2 + static_cast<int>(committed.size() - 24) + 1;
  auto replay = [&](const std::string& why) {
    metrics::Registry reg;
    auto again = o;
    again.group_id = "itest-journal-" + why + "-" + unique_suffix();
    router::JournalSink second(again, reg);
    auto e = second.start();
    EXPECT_FALSE(e.has_value()) << *e;
    EXPECT_TRUE(eventually([&] { return skipped(reg) >= records; }, 20s, 50ms))
        << why << ": records skipped " << skipped(reg) << " of " << records;
    second.stop();
    return skipped(reg);
  };
  sink.stop();
  EXPECT_EQ(replay("replay"), static_cast<double>(records));
  EXPECT_EQ(rows_for(tickets), 48) << "a replayed record must not add journal rows";
  EXPECT_EQ(stored_for(tickets), 32);

  // A journal written before migration 0020 has no marks: a partition without one has its rows
  // compared with the table's, entry for entry (as the unique key did), and gets its mark.
  const auto marks_before = count(c, marked_sql, {topic});
  c.exec("DELETE FROM journal_sink_offsets WHERE topic = $1", {topic});
  {
    metrics::Registry reg;
    auto again = o;
    again.group_id = "itest-journal-unmarked-" + unique_suffix();
    router::JournalSink third(again, reg);
    ASSERT_FALSE(third.start().has_value());
    ASSERT_TRUE(
        eventually([&] { return count(c, marked_sql, {topic}) == marks_before; }, 20s, 50ms))
        << "the marks were not recorded again: " << count(c, marked_sql, {topic}) << " of "
        << marks_before;
    third.stop();
    EXPECT_EQ(skipped(reg), 0.0);
  }
  EXPECT_EQ(rows_for(tickets), 48) << "unmarked partitions: rows the table holds added again";
  EXPECT_EQ(stored_for(tickets), 32);

  // The batch record's acceptance and alerts come back one per record (another framing), then an
  // aborted transaction, then committed sentinels: once the sentinels are there, the sink has read
  // past them all. An acceptance or alert its outcome row already carries adds nothing.
  metrics::Registry registry2;
  router::JournalSink sink2(o, registry2);
  ASSERT_FALSE(sink2.start().has_value());
  tx.begin();
  for (const auto& j : fanned)
    if (j.kind() != v1::JournalEntry::ROUTED) tx.produce(topic, j);
  tx.commit();
  std::vector<std::string> aborted_tickets;
  tx.begin();
  for (int i = 0; i < 10; ++i) {
    auto t = uuid();
    aborted_tickets.push_back(t);
    tx.produce(topic, entry(v1::JournalEntry::ACCEPTED, t, random_ssin(),
                            "itest-aborted/0/" + std::to_string(i)));
  }
  tx.flush();  // the broker holds them, uncommitted
  tx.abort();
  auto sentinel = uuid();
  tx.begin();
  // Sentinels in every partition, so that every partition is read past the aborted data.
  std::vector<std::string> sentinels;
  for (int i = 0; i < 12; ++i) {
    auto t = i == 0 ? sentinel : uuid();
    sentinels.push_back(t);
    tx.produce(topic,
               entry(v1::JournalEntry::ACCEPTED, t, random_ssin(),
                     "itest-sentinel/0/" + std::to_string(i)),
               i % 3);
  }
  tx.commit();
  ASSERT_TRUE(eventually([&] { return rows_for(sentinels) == 12; }, 20s, 50ms))
      << "sentinels not journaled";
  EXPECT_EQ(rows_for(tickets), 48) << "an entry an outcome row carries must not be added again";
  EXPECT_EQ(stored_for(tickets), 32);
  EXPECT_EQ(rows_for(aborted_tickets), 0)
      << "entries of an aborted transaction must never be journaled";
  EXPECT_LT(sink2.age_seconds(), 5.0);
  sink2.stop();
}

// pg::CopyBinary against the real server, for every field type the sink writes: what is read
// back is what was written (text with the characters the text format had to escape, char(n)
// padded, times before and after PostgreSQL's epoch, arrays with quotes and braces), and what the
// text format refused is refused (0x00 in text, char(n) too long) as a data error, not stored.
TEST_F(JournalSinkTest, BinaryCopyRoundTripsEveryFieldType) {
  pg::Connection c(pg_dsn());
  c.exec(
      "CREATE TEMP TABLE copy_binary_in (t text, c char(4), i integer, b boolean, ts timestamptz, "
      "a text[], n text)");
  const std::string cols = "t, c, i, b, ts, a, n";
  auto copy = [&](pg::CopyBinary& rows) {
    return c.copy_in("COPY copy_binary_in (" + cols + ") FROM STDIN (FORMAT binary)",
                     rows.finish());
  };
  pg::CopyBinary rows;
  const std::string odd = "tab\there\nnew\\line\r \"quoted\" {a,b} \xc3\xa9t\xc3\xa9 \\N";
  rows.row(7);
  rows.text(odd);
  rows.text("ab");
  rows.int4(std::numeric_limits<std::int32_t>::min());
  rows.boolean(true);
  rows.timestamptz(1714550400123456LL);  // 2024-05-01 08:00:00.123456 UTC
  rows.text_array({"x", odd, "", "NULL"});
  rows.null();
  rows.row(7);
  rows.text("");
  rows.text("abcd");
  rows.int4(std::numeric_limits<std::int32_t>::max());
  rows.boolean(false);
  rows.timestamptz(-1);  // 1969-12-31 23:59:59.999999 UTC
  rows.text_array({});
  rows.text("n");
  EXPECT_EQ(copy(rows), 2);
  auto r = c.exec(
      "SELECT t, c, i, b, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), "
      "array_length(a, 1), a[1], a[2], a[3], a[4], n, octet_length(c) "
      "FROM copy_binary_in ORDER BY i");
  ASSERT_EQ(r.rows(), 2);
  // The first row written (the smallest integer).
  EXPECT_EQ(r.str(0, 0), odd);
  EXPECT_EQ(r.str(0, 1), "ab  ");
  EXPECT_EQ(r.integer(0, 2), std::numeric_limits<std::int32_t>::min());
  EXPECT_EQ(r.str(0, 3), "t");
  EXPECT_EQ(r.str(0, 4), "2024-05-01 08:00:00.123456");
  EXPECT_EQ(r.integer(0, 5), 4);
  EXPECT_EQ(r.str(0, 6), "x");
  EXPECT_EQ(r.str(0, 7), odd);
  EXPECT_EQ(r.str(0, 8), "");
  EXPECT_FALSE(r.is_null(0, 9));
  EXPECT_EQ(r.str(0, 9), "NULL");
  EXPECT_TRUE(r.is_null(0, 10));
  EXPECT_EQ(r.integer(0, 11), 4);
  // The second.
  EXPECT_FALSE(r.is_null(1, 0));
  EXPECT_EQ(r.str(1, 0), "");
  EXPECT_EQ(r.str(1, 1), "abcd");
  EXPECT_EQ(r.integer(1, 2), std::numeric_limits<std::int32_t>::max());
  EXPECT_EQ(r.str(1, 3), "f");
  EXPECT_EQ(r.str(1, 4), "1969-12-31 23:59:59.999999");
  EXPECT_TRUE(r.is_null(1, 5));  // '{}' has no length
  EXPECT_EQ(r.str(1, 10), "n");

  // Refused as the text format refused them: a data error, nothing stored. `t` and `c` given,
  // the other five fields NULL.
  auto refused = [&](std::string_view t, std::string_view ch) {
    pg::CopyBinary bad;
    bad.row(7);
    bad.text(t);
    bad.text(ch);
    for (int k = 0; k < 5; ++k) bad.null();
    try {
      copy(bad);
    } catch (const pg::Error& e) {
      EXPECT_FALSE(e.retryable()) << e.what();
      return std::string(e.sqlstate());
    }
    return std::string("stored");
  };
  EXPECT_EQ(refused(std::string_view("a\0b", 3), "ab"), "22021");  // 0x00 in text
  EXPECT_EQ(refused("\xff", "ab"), "22021");                       // not UTF-8
  EXPECT_EQ(refused("a", "abcde"), "22001");                       // too long for char(4)
  EXPECT_EQ(refused("a", "ab"), "stored");                         // the control: accepted
  EXPECT_EQ(count(c, "SELECT count(*) FROM copy_binary_in"), 3);
}

// sink::KafkaToPg's stall watch (relais/kafka/stall.hpp) counts only time spent polling: records
// that queue at the broker while a batch is being written (here a write slower than the stall
// timeout, as during a PostgreSQL outage) are not a stall. A first version took them for one
// after every PostgreSQL fault and made the sinks' consumers again for nothing.
TEST_F(JournalSinkTest, RecordsQueuedDuringASlowWriteAreNotAStall) {
  const std::string topic = unique_topic("stall-sink");
  create_topics({topic}, 1);
  std::string err;
  auto producer = kafka::Producer::create(kafka_settings(), err);
  ASSERT_TRUE(producer) << err;
  auto send = [&](int n) {
    for (int i = 0; i < n; ++i) ASSERT_FALSE(producer->produce(topic, 0, "k", "v", {}, {}));
    ASSERT_EQ(producer->flush(10s), 0);
  };
  metrics::Registry registry;
  auto& failures = registry.counter("itest_sink_failures_total", "failures").with();
  sink::Options o;
  o.name = "itest-stall";
  o.kafka = kafka_settings();
  o.dsn = pg_dsn();
  o.topics = {topic};
  o.group_id = "itest-stall-sink-" + unique_suffix();
  o.linger = 50ms;
  o.stall_timeout = 1s;
  o.stalls = &sink::stall_counter(registry, o.name);
  std::atomic<int> stored{0}, writes{0};
  sink::KafkaToPg sink(
      o,
      [&](pg::Connection&, const sink::Batch& b) {
        if (writes.fetch_add(1) == 0) {
          send(5);                              // records queue while this batch is written...
          std::this_thread::sleep_for(2500ms);  // ...for longer than the stall timeout
        }
        stored.fetch_add(static_cast<int>(b.size()));
      },
      failures);
  ASSERT_FALSE(sink.start().has_value());
  send(3);
  ASSERT_TRUE(eventually([&] { return stored.load() == 8; }, 60s, 50ms)) << stored.load();
  std::this_thread::sleep_for(2s);  // idle past the stall timeout: nothing waits, no stall
  EXPECT_EQ(o.stalls->value(), 0);
  sink.stop();
}

}  // namespace
}  // namespace relais::itest
