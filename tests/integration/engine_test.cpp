// The router's Engine against the real broker and the directory in the real
// PostgreSQL: routing by period, deduplication, dead letters, the journal
// written in the same transactions, and a clean stop.
#include "relais/router/engine.hpp"

#include <gtest/gtest.h>

#include <future>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "relais/alerts/rules.hpp"
#include "relais/api/alert_store.hpp"
#include "relais/codec/samples.hpp"
#include "relais/common/metrics.hpp"
#include "relais/kafka/reload.hpp"
#include "relais/kafka/stall.hpp"
#include "relais/router/directory_feed.hpp"
#include "relais/v1/records.pb.h"
#include "support.hpp"

namespace relais::itest {
namespace {

class EngineTest : public IntegrationTest {};

struct Sent {
  std::string ticket, ssin, date;
};

// An engine's options on its own topics, group and transactional id.
router::EngineOptions engine_options(const std::string& inbound, const std::string& dedupe,
                                     const std::string& journal, const std::string& dlq) {
  router::EngineOptions eo;
  eo.kafka = kafka_settings();
  eo.group_id = "itest-router-" + unique_suffix();
  eo.transactional_id = "itest-router-" + unique_suffix();
  eo.inbound_topic = inbound;
  eo.dedupe_topic = dedupe;
  eo.journal_topic = journal;
  eo.dlq_topic = dlq;
  return eo;
}

// A new CPAS in the directory; its CBE.
std::string new_cpas(pg::Connection& c) {
  auto cbe = unique_cbe(c);
  c.exec("INSERT INTO cpas (cbe, name, updated_by) VALUES ($1, 'CPAS itest', 'itest')", {cbe});
  return cbe;
}

// An open integration line (quality 1, since 2020-01-01) of `ssin` with CPAS `cbe`.
void integrate(pg::Connection& c, const std::string& ssin, const std::string& cbe) {
  c.exec(
      "INSERT INTO integrations (ssin, cbe, quality_code, start_date, created_by, updated_by) "
      "VALUES ($1, $2, 1, '2020-01-01', 'itest', 'itest')",
      {ssin, cbe});
}

// The engine's own topics, new: inbound and dedupe with `partitions`, the journal with one.
struct EngineTopics {
  std::string inbound = unique_topic("inbound"), dedupe = unique_topic("dedupe"),
              journal = unique_topic("journal");
  explicit EngineTopics(int partitions) {
    create_topics({inbound}, partitions);
    create_topics({dedupe}, partitions);
    create_topics({journal}, 1);
  }
};

// Loads the directory, starts the feed and the engine, and runs the engine on its own thread.
std::future<int> run_engine(router::Engine& engine, router::DirectoryFeed& feed) {
  feed.initial_load(engine.directory_for_load());
  feed.start();
  if (auto err = engine.start()) {
    ADD_FAILURE() << "engine.start: " << *err;
    std::promise<int> failed;
    failed.set_value(-1);
    return failed.get_future();
  }
  return std::async(std::launch::async, [&engine] { return engine.run(); });
}

// Stops an engine running on `f` (and its feed, when given) at the end of a test, failed or not.
struct StopGuard {
  router::Engine& e;
  std::future<int>& f;
  router::DirectoryFeed* feed = nullptr;
  ~StopGuard() {
    e.stop();
    if (f.valid()) f.wait_for(30s);
    if (feed) feed->stop();
  }
};

// The stall watch against the broker (relais/kafka/stall.hpp), as the engine's lanes and the
// sinks use it: records beyond the committed offset of an assigned partition that the consumer
// has not read, after the quiet period, are a stall; once read (or before the quiet period) they
// are not. The lane then makes its clients again: a consumer librdkafka left without fetchers
// after a broker restart routed nothing for minutes.
TEST_F(EngineTest, StallWatchSeesRecordsWaitingOnAnAssignedPartitionNotRead) {
  const std::string topic = unique_topic("stall");
  create_topics({topic}, 2);
  std::string err;
  auto producer = kafka::Producer::create(kafka_settings(), err);
  ASSERT_TRUE(producer) << err;
  std::atomic<int> delivered{0};
  for (int i = 0; i < 5; ++i)
    ASSERT_FALSE(producer->produce(topic, 0, "k", "v" + std::to_string(i), {},
                                   [&](const kafka::DeliveryResult& r) {
                                     if (r.ok()) delivered.fetch_add(1);
                                   }));
  ASSERT_EQ(producer->flush(10s), 0);
  ASSERT_EQ(delivered.load(), 5);

  kafka::ConsumerOptions co;
  co.settings = kafka_settings({{"group.id", "itest-stall-" + unique_suffix()},
                                {"enable.auto.commit", "false"},
                                {"isolation.level", "read_committed"}});
  auto consumer = kafka::Consumer::create(std::move(co), err);
  ASSERT_TRUE(consumer) << err;
  // The group has read 2 records of partition 0 and all (none) of partition 1.
  ASSERT_FALSE(consumer->commit_sync({{topic, 0, 2}, {topic, 1, 0}}));
  ASSERT_FALSE(
      consumer->assign({{topic, 0, kafka::kOffsetInvalid}, {topic, 1, kafka::kOffsetInvalid}}));

  kafka::StallWatch watch(30s);
  const auto t0 = std::chrono::steady_clock::now();
  watch.progress(t0);
  EXPECT_FALSE(watch.check(*consumer, err, t0 + 29s).has_value());  // not quiet long enough
  auto why = watch.check(*consumer, err, t0 + 31s);
  ASSERT_TRUE(why.has_value()) << err;
  EXPECT_NE(why->find(topic + "/0,"), std::string::npos) << *why;
  EXPECT_EQ(why->find(topic + "/1"), std::string::npos) << *why;
  EXPECT_NE(why->find("30 s"), std::string::npos) << *why;
  EXPECT_FALSE(watch.check(*consumer, err, t0 + 32s).has_value());  // once per quiet period

  int read = 0;  // the 3 waiting records of partition 0, read from the committed offset
  ASSERT_TRUE(eventually(
      [&] {
        auto r = consumer->poll(100ms);
        if (r.record) ++read;
        return read == 3;
      },
      30s, 1ms));
  EXPECT_FALSE(watch.check(*consumer, err, t0 + 62s).has_value()) << err;
  EXPECT_TRUE(err.empty()) << err;
  consumer->close();
}

TEST_F(EngineTest, RoutesByDirectoryDedupesAndDeadLetters) {
  pg::Connection c(pg_dsn());
  auto cbe_a = new_cpas(c), cbe_b = new_cpas(c);
  auto s_a = unique_ssin(c), s_old = unique_ssin(c), s_b = unique_ssin(c), s_none = unique_ssin(c),
       s_both = unique_ssin(c);
  auto ins = [&](const std::string& ssin, const std::string& cbe, int q, const std::string& start,
                 std::optional<std::string> end) {
    c.exec(
        "INSERT INTO integrations (ssin, cbe, quality_code, start_date, end_date, created_by, "
        "updated_by) "
        "VALUES ($1, $2, $3, $4, $5, 'itest', 'itest')",
        {ssin, cbe, std::to_string(q), start, end});
  };
  ins(s_a, cbe_a, 1, "2024-01-01", std::nullopt);
  ins(s_old, cbe_a, 1, "2020-01-01", "2020-12-31");  // period over before the event
  ins(s_b, cbe_b, 2, "2023-01-01", std::nullopt);
  ins(s_both, cbe_a, 1, "2024-01-01", std::nullopt);
  ins(s_both, cbe_b, 4, "2022-01-01", "2025-12-31");

  auto inbound = unique_topic("inbound"), dedupe = unique_topic("dedupe"),
       journal = unique_topic("journal"), dlq = unique_topic("dlq");
  create_topics({inbound}, 3);
  create_topics({dedupe}, 3);
  create_topics({journal}, 1);

  metrics::Registry registry;
  router::DirectoryFeed feed(pg_dsn(), 100ms);
  auto eo = engine_options(inbound, dedupe, journal, dlq);
  eo.cpas_topic_partitions = 2;
  router::Engine engine(eo, feed, registry);
  auto run = run_engine(engine, feed);
  StopGuard guard{engine, run};

  std::string perr;
  auto producer = kafka::Producer::create(kafka_settings({{"linger.ms", "5"}}), perr);
  ASSERT_TRUE(producer) << perr;
  std::atomic<int> delivered{0}, failed{0};
  auto send = [&](const std::string& key, const std::string& value, const std::string& ticket) {
    auto e = producer->produce(
        inbound, -1, key, value,
        {{"flow", "notify-person"}, {"ticket", ticket}, {"content-type", "application/x-protobuf"}},
        [&](const kafka::DeliveryResult& r) { (r.ok() ? delivered : failed).fetch_add(1); });
    ASSERT_FALSE(e) << e.message;
  };
  auto notify = [&](const Sent& s) {
    auto n = codec::sample_notification(v1::FLOW_NOTIFY_PERSON, s.ticket, s.ssin, s.date);
    n.set_accepted_at_us(std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count());
    std::string v;
    n.SerializeToString(&v);
    send(s.ssin, v, s.ticket);
  };

  Sent to_a{uuid(), s_a, "2024-05-01"}, before_start{uuid(), s_a, "2023-12-31"},
      ended{uuid(), s_old, "2024-05-01"}, to_b{uuid(), s_b, "2024-05-01"},
      unknown{uuid(), s_none, "2024-05-01"}, to_both{uuid(), s_both, "2024-05-01"},
      both_then_b{uuid(), s_both, "2023-06-01"};
  std::vector<Sent> all = {to_a, before_start, ended, to_b, unknown, to_both, both_then_b};
  for (const auto& s : all) notify(s);
  notify(to_a);  // the same ticket again: routed once
  const std::string garbage = "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01not a notification";
  send(s_a, garbage, "");
  ASSERT_EQ(producer->flush(10s), 0);
  ASSERT_EQ(delivered.load(), 9);

  // Wait until the router has committed a journal entry for every input.
  std::map<std::string, std::multiset<int>> kinds;  // ticket -> journal kinds
  int dead_letters = 0;
  auto t0 = std::chrono::steady_clock::now();
  bool complete = eventually(
      [&] {
        kinds.clear();
        dead_letters = 0;
        for (const auto& j : journal_entries(journal)) {
          if (j.kind() == v1::JournalEntry::DEAD_LETTER) ++dead_letters;
          kinds[j.ticket()].insert(j.kind());
        }
        for (const auto& s : all)
          if (!kinds[s.ticket].contains(v1::JournalEntry::ACCEPTED)) return false;
        return kinds[to_a.ticket].contains(v1::JournalEntry::DUPLICATE) && dead_letters == 1;
      },
      45s, 200ms);
  ASSERT_TRUE(complete) << "the router did not journal every input in time";
  std::cout
      << "[ MEASURE  ] router: 9 records routed and journaled (committed) after "
      << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()
      << " ms" << std::endl;

  auto tickets_of = [&](const std::string& cbe) {
    std::multiset<std::string> out;
    for (const auto& r : read_topic("cpas." + cbe + ".notifications.v1")) {
      out.insert(r.ticket);
      v1::RoutedNotification rn;
      EXPECT_TRUE(rn.ParseFromString(r.value));
      EXPECT_EQ(rn.cpas_cbe(), cbe);
      EXPECT_EQ(rn.notification().envelope().ticket(), r.ticket);
      EXPECT_EQ(r.key, rn.notification().envelope().ssin()) << "key = SSIN";
      EXPECT_EQ(r.flow, "notify-person");
      EXPECT_EQ(r.content_type, "application/x-protobuf");
      if (r.ticket == to_a.ticket) {
        EXPECT_EQ(rn.integration().start_date(), "2024-01-01");
        EXPECT_EQ(rn.integration().end_date(), "");
        EXPECT_EQ(rn.integration().quality_code(), 1);
      }
      if (r.ticket == both_then_b.ticket) {
        EXPECT_EQ(rn.integration().end_date(), "2025-12-31");
      }
    }
    return out;
  };
  EXPECT_EQ(tickets_of(cbe_a), (std::multiset<std::string>{to_a.ticket, to_both.ticket}))
      << "CPAS A must get exactly its covered notifications, the duplicate once";
  EXPECT_EQ(tickets_of(cbe_b),
            (std::multiset<std::string>{to_b.ticket, to_both.ticket, both_then_b.ticket}));

  // Journal: one DUPLICATE, drops with reasons, routes per CPAS.
  EXPECT_EQ(kinds[to_a.ticket].count(v1::JournalEntry::DUPLICATE), 1u);
  EXPECT_EQ(kinds[to_a.ticket].count(v1::JournalEntry::ACCEPTED), 1u);
  EXPECT_EQ(kinds[to_a.ticket].count(v1::JournalEntry::ROUTED), 1u);
  for (const auto* s : {&before_start, &ended, &unknown}) {
    EXPECT_EQ(kinds[s->ticket].count(v1::JournalEntry::DROPPED), 1u) << s->ssin << " " << s->date;
    EXPECT_EQ(kinds[s->ticket].count(v1::JournalEntry::ROUTED), 0u);
  }
  EXPECT_EQ(kinds[to_both.ticket].count(v1::JournalEntry::ROUTED), 2u);

  // The garbage went to the DLQ, intact.
  auto dead = read_topic(dlq);
  ASSERT_EQ(dead.size(), 1u);
  v1::DeadLetter d;
  ASSERT_TRUE(d.ParseFromString(dead[0].value));
  EXPECT_EQ(d.value(), garbage);
  EXPECT_EQ(d.key(), s_a);
  EXPECT_EQ(d.source_topic(), inbound);
  EXPECT_TRUE(d.reason().starts_with("UNDECODABLE")) << d.reason();
  EXPECT_TRUE(dead[0].reason.starts_with("UNDECODABLE"));

  // The dedupe topic holds every accepted ticket once, in batch records of the
  // inbound partition's number (one per transaction and partition), and the
  // journal travels in batch records too: far fewer records than notifications.
  std::multiset<std::string> marked;
  auto marks = read_topic(dedupe);
  for (const auto& r : marks) {
    ASSERT_TRUE(r.key.starts_with("batch/")) << r.key;
    v1::DedupeBatch b;
    ASSERT_TRUE(b.ParseFromString(r.value));
    ASSERT_EQ(b.ticket_hi_size(), b.ticket_lo_size());
    EXPECT_GT(b.processed_at_us(), 0);
    for (int i = 0; i < b.ticket_hi_size(); ++i)
      marked.insert(ticket_string(b.ticket_hi(i), b.ticket_lo(i)));
  }
  std::multiset<std::string> accepted;
  for (const auto& x : all) accepted.insert(x.ticket);
  EXPECT_EQ(marked, accepted);
  EXPECT_LT(marks.size(), all.size());
  EXPECT_LT(read_topic(journal).size(), journal_entries(journal).size());
  // Each mark sits in the dedupe partition of its ticket's inbound partition.
  std::map<std::string, int32_t> inbound_partition;
  for (const auto& r : read_topic(inbound)) inbound_partition[r.ticket] = r.partition;
  for (const auto& r : marks) {
    v1::DedupeBatch b;
    b.ParseFromString(r.value);
    for (int i = 0; i < b.ticket_hi_size(); ++i)
      EXPECT_EQ(inbound_partition[ticket_string(b.ticket_hi(i), b.ticket_lo(i))], r.partition);
  }

  // stop() makes run() return 0.
  engine.stop();
  ASSERT_EQ(run.wait_for(30s), std::future_status::ready) << "run() did not return after stop()";
  EXPECT_EQ(run.get(), 0);
  feed.stop();

  // A restarted router (same group, same transactional id) rebuilds its dedupe
  // state from the dedupe topic: a ticket re-posted after the restart is still
  // dropped, a new one is routed.
  // A mark in the per-ticket format older routers wrote is honoured too (a
  // rolling upgrade keeps the dedupe state): `legacy` is marked that way, in
  // the dedupe partition its key lands on in the inbound topic.
  Sent legacy{uuid(), s_a, "2024-06-01"};
  {
    auto n = inbound_partition.contains(to_a.ticket) ? inbound_partition[to_a.ticket]
                                                     : -1;  // same SSIN key as to_a
    ASSERT_GE(n, 0);
    v1::DedupeMark mark;
    mark.set_processed_at_us(std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
    std::string v;
    mark.SerializeToString(&v);
    std::atomic<int> ok{0};
    ASSERT_EQ(producer
                  ->produce(dedupe, n, legacy.ticket, v, {},
                            [&](const kafka::DeliveryResult& r) {
                              if (r.ok()) ok.fetch_add(1);
                            })
                  .kind,
              kafka::errc::none);
    ASSERT_EQ(producer->flush(10s), 0);
    ASSERT_EQ(ok.load(), 1);
  }
  router::DirectoryFeed feed2(pg_dsn(), 100ms);
  router::Engine engine2(eo, feed2, registry);
  feed2.initial_load(engine2.directory_for_load());
  feed2.start();
  auto err = engine2.start();
  ASSERT_FALSE(err.has_value()) << *err;
  auto run2 = std::async(std::launch::async, [&] { return engine2.run(); });
  StopGuard guard2{engine2, run2};
  Sent fresh{uuid(), s_a, "2024-06-01"};
  notify(to_a);
  notify(fresh);
  notify(legacy);
  ASSERT_EQ(producer->flush(10s), 0);
  bool second_wave = eventually(
      [&] {
        kinds.clear();
        for (const auto& j : journal_entries(journal)) kinds[j.ticket()].insert(j.kind());
        return kinds[fresh.ticket].contains(v1::JournalEntry::ROUTED) &&
               kinds[to_a.ticket].count(v1::JournalEntry::DUPLICATE) == 2 &&
               kinds[legacy.ticket].contains(v1::JournalEntry::DUPLICATE);
      },
      45s, 200ms);
  EXPECT_TRUE(second_wave) << "the restarted router did not process the second wave";
  EXPECT_EQ(kinds[to_a.ticket].count(v1::JournalEntry::ROUTED), 1u)
      << "a re-posted ticket was routed again after a restart";
  EXPECT_FALSE(kinds[legacy.ticket].contains(v1::JournalEntry::ROUTED))
      << "a ticket marked in the per-ticket format was routed";
  EXPECT_EQ(tickets_of(cbe_a),
            (std::multiset<std::string>{to_a.ticket, to_both.ticket, fresh.ticket}));
  engine2.stop();
  ASSERT_EQ(run2.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(run2.get(), 0);
  feed2.stop();
}

// Issue 21: a ticket reused for two persons (one on another inbound partition, one on the same)
// gives three deliveries and three PERSON_DECEASED alerts with three ids, all stored by the alert
// store (before: the same-partition one was dropped as a duplicate, and the alert ids collided,
// so the store kept one). The same ticket for the same person with other content is refused to
// the DLQ (TICKET_REUSED) with a journal entry, also after a restart (the fingerprint is
// restored from relais.dedupe.v1); an exact re-post (new transport fields) stays one copy.
TEST_F(EngineTest, ReusedTicketIsNeverMergedNorLost) {
  pg::Connection c(pg_dsn());
  auto cbe = new_cpas(c);
  auto s1 = unique_ssin(c), s2 = unique_ssin(c), s3 = unique_ssin(c);
  for (const auto& s : {s1, s2, s3})
    c.exec(
        "INSERT INTO integrations (ssin, cbe, quality_code, start_date, created_by, updated_by) "
        "VALUES ($1, $2, 2, '2020-01-01', 'itest', 'itest')",
        {s, cbe});
  auto inbound = unique_topic("inbound"), dedupe = unique_topic("dedupe"),
       journal = unique_topic("journal"), dlq = unique_topic("dlq");
  create_topics({inbound}, 2);
  create_topics({dedupe}, 2);
  create_topics({journal}, 1);
  create_topics({"cpas." + cbe + ".alerts.v1"}, 1);

  metrics::Registry registry;
  api::AlertStoreOptions so;
  so.kafka = kafka_settings();
  so.dsn = pg_dsn();
  so.group_id = "itest-alert-store-" + unique_suffix();
  so.topic_regex = "^cpas\\." + cbe + "\\.alerts\\.v1$";
  so.metadata_refresh_ms = 500;
  so.linger = 100ms;
  api::AlertStore store(so, registry);
  ASSERT_FALSE(store.start());
  struct StoreGuard {
    api::AlertStore& s;
    ~StoreGuard() { s.stop(); }
  } store_guard{store};

  auto rules = alerts::load_rules(RELAIS_SOURCE_DIR "/deploy/rules/clignotants.yaml");
  ASSERT_TRUE(std::holds_alternative<alerts::Ruleset>(rules)) << std::get<std::string>(rules);
  auto eo = engine_options(inbound, dedupe, journal, dlq);
  eo.rules = std::make_shared<const alerts::Ruleset>(std::get<alerts::Ruleset>(std::move(rules)));
  auto start_engine = [&](router::DirectoryFeed& feed) {
    auto e = std::make_unique<router::Engine>(eo, feed, registry);
    feed.initial_load(e->directory_for_load());
    feed.start();
    auto err = e->start();
    EXPECT_FALSE(err.has_value()) << *err;
    return e;
  };
  auto feed = std::make_unique<router::DirectoryFeed>(pg_dsn(), 100ms);
  auto engine = start_engine(*feed);
  auto run = std::async(std::launch::async, [&] { return engine->run(); });
  struct RunGuard {  // stops whichever engine runs when the test ends, even on a failed ASSERT
    std::unique_ptr<router::Engine>& e;
    std::future<int>& f;
    std::unique_ptr<router::DirectoryFeed>& feed;
    ~RunGuard() {
      if (e) e->stop();
      if (f.valid()) f.wait_for(30s);
      if (feed) feed->stop();
    }
  } run_guard{engine, run, feed};

  std::string perr;
  auto producer = kafka::Producer::create(kafka_settings({{"linger.ms", "5"}}), perr);
  ASSERT_TRUE(producer) << perr;
  std::atomic<int> delivered{0};
  int sent = 0;
  const std::string ticket = uuid();
  // A DEATH notice of `ssin` under `ticket`, written to inbound `partition` (key = SSIN as ingest
  // does; the partition is chosen so that both cases, same and other partition, are certain).
  auto death = [&](const std::string& ssin, int32_t partition, const std::string& day,
                   const std::string& sent_at) {
    auto n = codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket, ssin, "2026-11-01");
    auto* p = n.mutable_notify_person();
    p->set_event(v1::NotifyPerson::DEATH);
    p->set_nr_information_type("IT150");  // the sample's IT020 is the address change's
    p->set_date_of_death(day);
    p->set_sent_at(sent_at);
    n.mutable_envelope()->set_sent_at(sent_at);
    n.set_accepted_at_us(std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count());
    ASSERT_EQ(producer
                  ->produce(inbound, partition, ssin, n.SerializeAsString(),
                            {{"flow", "notify-person"},
                             {"ticket", ticket},
                             {"content-type", "application/x-protobuf"}},
                            [&](const kafka::DeliveryResult& r) {
                              if (r.ok()) delivered.fetch_add(1);
                            })
                  .kind,
              kafka::errc::none);
    ++sent;
    ASSERT_EQ(producer->flush(10s), 0);
    ASSERT_EQ(delivered.load(), sent);
  };
  death(s1, 0, "2026-11-01", "2026-11-01T06:00:00Z");
  death(s2, 1, "2026-11-01", "2026-11-01T06:00:00Z");  // another person, another partition
  death(s3, 0, "2026-11-01", "2026-11-01T06:00:00Z");  // another person, the same partition
  death(s1, 0, "2026-10-30", "2026-11-01T06:00:00Z");  // s1 again, another date of death: reused
  death(s1, 0, "2026-11-01",
        "2026-11-03T09:00:00Z");  // s1 re-sent as it was (new sent_at): duplicate

  auto journal_of = [&] {
    std::map<std::string, std::multiset<int>> by_ssin;  // ssin -> kinds
    for (const auto& j : journal_entries(journal))
      if (j.ticket() == ticket) by_ssin[j.ssin()].insert(j.kind());
    return by_ssin;
  };
  std::map<std::string, std::multiset<int>> kinds;
  ASSERT_TRUE(eventually(
      [&] {
        kinds = journal_of();
        return kinds[s1].count(v1::JournalEntry::DUPLICATE) == 1 &&
               kinds[s1].count(v1::JournalEntry::DEAD_LETTER) == 1 &&
               kinds[s2].contains(v1::JournalEntry::ALERT) &&
               kinds[s3].contains(v1::JournalEntry::ALERT);
      },
      45s, 200ms))
      << "the router did not journal the five notices";
  for (const auto& s : {s1, s2, s3}) {
    EXPECT_EQ(kinds[s].count(v1::JournalEntry::ACCEPTED), 1u) << s;
    EXPECT_EQ(kinds[s].count(v1::JournalEntry::ROUTED), 1u) << s;
    EXPECT_EQ(kinds[s].count(v1::JournalEntry::ALERT), 1u) << s;
  }

  // Three deliveries, the first date of death for s1.
  std::map<std::string, std::string> delivered_to;  // ssin -> date of death
  for (const auto& r : read_topic("cpas." + cbe + ".notifications.v1")) {
    v1::RoutedNotification rn;
    ASSERT_TRUE(rn.ParseFromString(r.value));
    EXPECT_TRUE(
        delivered_to.emplace(r.key, rn.notification().notify_person().date_of_death()).second)
        << "delivered twice: " << r.key;
  }
  EXPECT_EQ(delivered_to, (std::map<std::string, std::string>{
                              {s1, "2026-11-01"}, {s2, "2026-11-01"}, {s3, "2026-11-01"}}));

  // Three alerts, three ids, all three stored.
  std::set<std::string> ids;
  for (const auto& r : read_topic("cpas." + cbe + ".alerts.v1")) {
    v1::Alert a;
    ASSERT_TRUE(a.ParseFromString(r.value));
    EXPECT_EQ(a.type(), "PERSON_DECEASED");
    ids.insert(a.alert_id());
  }
  EXPECT_EQ(ids.size(), 3u);
  auto stored = [&] {
    return count(c, "SELECT count(*) FROM alerts WHERE cpas_cbe = $1 AND ticket = $2",
                 {cbe, ticket});
  };
  EXPECT_TRUE(eventually([&] { return stored() >= 3; }, 30s, 100ms)) << "stored " << stored();
  EXPECT_EQ(count(c, "SELECT count(DISTINCT ssin) FROM alerts WHERE cpas_cbe = $1 AND ticket = $2",
                  {cbe, ticket}),
            3);

  // The reused one is in the DLQ, intact, with its reason.
  auto dead = read_topic(dlq);
  ASSERT_EQ(dead.size(), 1u);
  v1::DeadLetter d;
  ASSERT_TRUE(d.ParseFromString(dead[0].value));
  EXPECT_TRUE(d.reason().starts_with("TICKET_REUSED")) << d.reason();
  v1::Notification refused;
  ASSERT_TRUE(refused.ParseFromString(d.value()));
  EXPECT_EQ(refused.notify_person().date_of_death(), "2026-10-30");
  EXPECT_EQ(d.key(), s1);

  // The dedupe records carry each notification's SSIN and content fingerprint.
  std::size_t with_content = 0;
  for (const auto& r : read_topic(dedupe)) {
    v1::DedupeBatch b;
    ASSERT_TRUE(b.ParseFromString(r.value));
    EXPECT_EQ(b.ssin_size(), b.ticket_hi_size());
    EXPECT_EQ(b.content_fp_size(), b.ticket_hi_size());
    with_content += static_cast<std::size_t>(b.content_fp_size());
  }
  EXPECT_EQ(with_content, 3u);

  // After a restart, the state restored from relais.dedupe.v1 still tells them apart.
  engine->stop();
  ASSERT_EQ(run.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(run.get(), 0);
  feed->stop();
  feed = std::make_unique<router::DirectoryFeed>(pg_dsn(), 100ms);
  engine = start_engine(*feed);
  run = std::async(std::launch::async, [&] { return engine->run(); });
  death(s1, 0, "2026-10-30", "2026-11-04T06:00:00Z");  // reused again
  death(s2, 1, "2026-11-01", "2026-11-04T06:00:00Z");  // exact re-post
  ASSERT_TRUE(eventually(
      [&] {
        kinds = journal_of();
        return kinds[s1].count(v1::JournalEntry::DEAD_LETTER) == 2 &&
               kinds[s2].count(v1::JournalEntry::DUPLICATE) == 1;
      },
      45s, 200ms))
      << "the restarted router did not refuse the reused ticket again";
  EXPECT_EQ(read_topic("cpas." + cbe + ".notifications.v1").size(), 3u);
  EXPECT_EQ(read_topic(dlq).size(), 2u);
}

// A backlog (the router was down, or a nightly batch arrives faster than it routes): once a
// transaction fills up, the next ones may take up to router.catchup_batch_max records, so the
// backlog takes fewer, larger transactions; routed exactly once all the same. The same backlog
// with catch-up off (catchup_batch_max = batch_max) takes one transaction per batch_max.
TEST_F(EngineTest, BacklogIsRoutedInLargerTransactions) {
  pg::Connection c(pg_dsn());
  auto cbe = new_cpas(c);
  auto ssin = unique_ssin(c);
  integrate(c, ssin, cbe);
  constexpr int kBacklog = 8000;
  auto committed_for = [&](std::size_t catchup) -> double {
    EngineTopics t(1);
    const auto &inbound = t.inbound, &dedupe = t.dedupe, &journal = t.journal;
    std::string perr;
    auto producer = kafka::Producer::create(kafka_settings({{"linger.ms", "20"}}), perr);
    EXPECT_TRUE(producer) << perr;
    std::atomic<int> delivered{0};
    for (int i = 0; i < kBacklog; ++i) {
      auto t = uuid();
      auto n = codec::sample_notification(v1::FLOW_NOTIFY_PERSON, t, ssin, "2024-05-01");
      std::string v;
      n.SerializeToString(&v);
      EXPECT_EQ(producer
                    ->produce(inbound, 0, ssin, v,
                              {{"flow", "notify-person"},
                               {"ticket", t},
                               {"content-type", "application/x-protobuf"}},
                              [&](const kafka::DeliveryResult& r) {
                                if (r.ok()) delivered.fetch_add(1);
                              })
                    .kind,
                kafka::errc::none);
    }
    EXPECT_EQ(producer->flush(30s), 0);
    EXPECT_EQ(delivered.load(), kBacklog);

    metrics::Registry registry;
    router::DirectoryFeed feed(pg_dsn(), 100ms);
    auto eo = engine_options(inbound, dedupe, journal, unique_topic("dlq"));
    eo.batch_max = 1000;
    eo.catchup_batch_max = catchup;
    router::Engine engine(eo, feed, registry);
    feed.initial_load(engine.directory_for_load());
    feed.start();
    auto err = engine.start();
    EXPECT_FALSE(err.has_value()) << *err;
    auto run = std::async(std::launch::async, [&] { return engine.run(); });
    std::size_t routed = 0;
    bool done = eventually(
        [&] {
          routed = 0;
          for (const auto& j : journal_entries(journal))
            if (j.kind() == v1::JournalEntry::ROUTED) ++routed;
          return routed >= static_cast<std::size_t>(kBacklog);
        },
        90s, 500ms);
    engine.stop();
    run.wait_for(30s);
    feed.stop();
    EXPECT_TRUE(done) << "routed " << routed << " of " << kBacklog;
    EXPECT_EQ(routed, static_cast<std::size_t>(kBacklog)) << "each record routed exactly once";
    auto text = registry.render();
    const std::string name = "relais_router_transactions_total{result=\"committed\"} ";
    auto at = text.find(name);
    EXPECT_NE(at, std::string::npos) << text;
    return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size()));
  };
  double with_catchup = committed_for(4000);
  double without = committed_for(1000);
  std::cout << "[ MEASURE  ] backlog of " << kBacklog << ": " << with_catchup
            << " transactions with catch-up (up to "
            << "4,000 records), " << without << " without (1,000)" << std::endl;
  EXPECT_GE(without, kBacklog / 1000)
      << "without catch-up a transaction takes at most batch_max records";
  EXPECT_LE(with_catchup, 6) << "a backlog should be routed in transactions of up to 4,000 records";
  EXPECT_LT(with_catchup, without);
}

// relais_router_end_to_end_seconds is accepted by ingest -> committed by the router (its help
// text, docs/monitoring.md), not -> planned: it includes the transaction that makes the record
// visible. One notification, one transaction: its end-to-end time covers the transaction's.
TEST_F(EngineTest, EndToEndHistogramEndsAtTheCommit) {
  pg::Connection c(pg_dsn());
  auto cbe = new_cpas(c);
  auto ssin = unique_ssin(c);
  integrate(c, ssin, cbe);
  EngineTopics t(1);
  metrics::Registry registry;
  router::DirectoryFeed feed(pg_dsn(), 100ms);
  auto eo = engine_options(t.inbound, t.dedupe, t.journal, unique_topic("dlq"));
  eo.batch_linger = 1ms;
  router::Engine engine(eo, feed, registry);
  auto run = run_engine(engine, feed);
  StopGuard guard{engine, run, &feed};
  // Let the engine join its group first, so that the record waits for nothing but the routing.
  std::this_thread::sleep_for(3s);

  std::string perr;
  auto producer = kafka::Producer::create(kafka_settings({{"linger.ms", "0"}}), perr);
  ASSERT_TRUE(producer) << perr;
  auto ticket = uuid();
  auto n = codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket, ssin, "2024-05-01");
  n.set_accepted_at_us(std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
  std::string v;
  n.SerializeToString(&v);
  ASSERT_EQ(producer
                ->produce(t.inbound, 0, ssin, v,
                          {{"flow", "notify-person"},
                           {"ticket", ticket},
                           {"content-type", "application/x-protobuf"}},
                          nullptr)
                .kind,
            kafka::errc::none);
  ASSERT_EQ(producer->flush(10s), 0);

  auto value = [&](const std::string& text, const std::string& name) {
    auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + name.size() + 2));
  };
  std::string text;
  ASSERT_TRUE(eventually(
      [&] {
        text = registry.render();
        return value(text, "relais_router_end_to_end_seconds_count") == 1.0;
      },
      45s, 100ms))
      << text;
  const double txns = value(text, "relais_router_transaction_duration_seconds_count");
  const double e2e = value(text, "relais_router_end_to_end_seconds_sum");
  const double txn = value(text, "relais_router_transaction_duration_seconds_sum");
  std::cout << "[ MEASURE  ] accepted -> committed " << e2e * 1000 << " ms, the transaction "
            << txn * 1000 << " ms" << std::endl;
  ASSERT_EQ(txns, 1.0) << "one record, one transaction";
  // The transaction's clock starts after the record was accepted and read: the record's
  // end-to-end time holds all of it (5 ms for the two clocks, system and steady).
  EXPECT_GE(e2e + 0.005, txn);
}

// Lanes (router.lanes): three consume-plan-transact loops in one engine share the six inbound
// partitions (two each) and the directory. Every notification is routed exactly once, re-sent
// tickets are duplicates whichever lane reads them, and a directory change made while the lanes
// route (applied by lane 0 under the exclusive lock) reaches every lane.
TEST_F(EngineTest, LanesShareThePartitionsAndRouteEachNotificationOnce) {
  pg::Connection c(pg_dsn());
  auto cbe_a = new_cpas(c), cbe_b = new_cpas(c);
  std::vector<std::string> persons;
  for (int i = 0; i < 24; ++i) {
    persons.push_back(unique_ssin(c));
    integrate(c, persons.back(), i % 2 ? cbe_a : cbe_b);
  }
  auto late = unique_ssin(c);  // integrated while the lanes run
  EngineTopics t(6);
  const auto &inbound = t.inbound, &dedupe = t.dedupe, &journal = t.journal;

  metrics::Registry registry;
  router::DirectoryFeed feed(pg_dsn(), 100ms);
  auto eo = engine_options(inbound, dedupe, journal, unique_topic("dlq"));
  eo.lanes = 3;
  router::Engine engine(eo, feed, registry);
  auto run = run_engine(engine, feed);
  StopGuard guard{engine, run, &feed};
  ASSERT_TRUE(eventually(
      [&] {
        auto per = engine.lane_partitions();
        return engine.ready() && per == std::vector<std::size_t>{2, 2, 2};
      },
      60s, 200ms))
      << "three lanes with two inbound partitions each";

  std::string perr;
  auto producer = kafka::Producer::create(kafka_settings({{"linger.ms", "5"}}), perr);
  ASSERT_TRUE(producer) << perr;
  std::atomic<int> delivered{0};
  std::vector<std::string> tickets;
  auto notify = [&](const std::string& ssin, const std::string& ticket) {
    auto n = codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket, ssin, "2024-05-01");
    std::string v;
    n.SerializeToString(&v);
    ASSERT_FALSE(producer->produce(
        inbound, -1, ssin, v,
        {{"flow", "notify-person"}, {"ticket", ticket}, {"content-type", "application/x-protobuf"}},
        [&](const kafka::DeliveryResult& r) {
          if (r.ok()) delivered.fetch_add(1);
        }));
  };
  constexpr int kFirst = 3000;
  for (int i = 0; i < kFirst; ++i) {
    tickets.push_back(uuid());
    notify(persons[static_cast<std::size_t>(i) % persons.size()], tickets.back());
  }
  for (int i = 0; i < 300; ++i)  // re-sent: duplicates
    notify(persons[static_cast<std::size_t>(i) % persons.size()],
           tickets[static_cast<std::size_t>(i)]);
  integrate(c, late, cbe_a);
  std::this_thread::sleep_for(1s);  // the feed polls every 100 ms
  for (int i = 0; i < 200; ++i) notify(late, uuid());
  ASSERT_EQ(producer->flush(30s), 0);
  ASSERT_EQ(delivered.load(), kFirst + 300 + 200);

  std::map<std::string, int> routed;
  int dupes = 0;
  ASSERT_TRUE(eventually(
      [&] {
        routed.clear();
        dupes = 0;
        for (const auto& j : journal_entries(journal)) {
          if (j.kind() == v1::JournalEntry::ROUTED) ++routed[j.ticket()];
          if (j.kind() == v1::JournalEntry::DUPLICATE) ++dupes;
        }
        return routed.size() >= static_cast<std::size_t>(kFirst + 200) && dupes >= 300;
      },
      120s, 500ms))
      << "routed " << routed.size() << ", duplicates " << dupes;
  for (const auto& [ticket, n] : routed) EXPECT_EQ(n, 1) << ticket << " routed more than once";
  EXPECT_EQ(routed.size(), static_cast<std::size_t>(kFirst + 200));
  EXPECT_EQ(dupes, 300);
  std::size_t on_topics = read_topic("cpas." + cbe_a + ".notifications.v1", 10s).size() +
                          read_topic("cpas." + cbe_b + ".notifications.v1", 10s).size();
  EXPECT_EQ(on_topics, static_cast<std::size_t>(kFirst + 200));
}

// A reload request (SIGHUP: TLS files read again) while notifications stream in: each lane makes
// its consumer and transactional producer again between two transactions, gets its partitions
// back, and every notification is still routed exactly once; it is not counted as a restart.
TEST_F(EngineTest, AReloadMakesEachLanesClientsAgainAndRoutesEachNotificationOnce) {
  pg::Connection c(pg_dsn());
  auto cbe = new_cpas(c);
  std::vector<std::string> persons;
  for (int i = 0; i < 8; ++i) {
    persons.push_back(unique_ssin(c));
    integrate(c, persons.back(), cbe);
  }
  EngineTopics t(4);
  metrics::Registry registry;
  router::DirectoryFeed feed(pg_dsn(), 100ms);
  kafka::Reloads reloads;
  auto eo = engine_options(t.inbound, t.dedupe, t.journal, unique_topic("dlq"));
  eo.lanes = 2;
  eo.reloads = &reloads;
  router::Engine engine(eo, feed, registry);
  auto run = run_engine(engine, feed);
  StopGuard guard{engine, run, &feed};
  ASSERT_TRUE(eventually(
      [&] {
        return engine.ready() && engine.lane_partitions() == std::vector<std::size_t>{2, 2};
      },
      60s, 200ms));

  std::string perr;
  auto producer = kafka::Producer::create(kafka_settings({{"linger.ms", "5"}}), perr);
  ASSERT_TRUE(producer) << perr;
  std::atomic<int> delivered{0};
  std::vector<std::string> tickets;
  auto notify = [&](int i) {
    const auto& ssin = persons[static_cast<std::size_t>(i) % persons.size()];
    tickets.push_back(uuid());
    auto n = codec::sample_notification(v1::FLOW_NOTIFY_PERSON, tickets.back(), ssin, "2024-05-01");
    std::string v;
    n.SerializeToString(&v);
    ASSERT_FALSE(producer->produce(t.inbound, -1, ssin, v,
                                   {{"flow", "notify-person"},
                                    {"ticket", tickets.back()},
                                    {"content-type", "application/x-protobuf"}},
                                   [&](const kafka::DeliveryResult& r) {
                                     if (r.ok()) delivered.fetch_add(1);
                                   }));
  };
  constexpr int kTotal = 1500;
  for (int i = 0; i < kTotal; ++i) {
    notify(i);
    if (i % 100 == 99) std::this_thread::sleep_for(100ms);  // a stream, not one backlog
    if (i == kTotal / 3) reloads.request();
  }
  ASSERT_EQ(producer->flush(30s), 0);
  ASSERT_EQ(delivered.load(), kTotal);

  std::map<std::string, int> routed;
  ASSERT_TRUE(eventually(
      [&] {
        routed.clear();
        for (const auto& j : journal_entries(t.journal))
          if (j.kind() == v1::JournalEntry::ROUTED) ++routed[j.ticket()];
        return routed.size() >= static_cast<std::size_t>(kTotal);
      },
      120s, 500ms))
      << "routed " << routed.size();
  for (const auto& [ticket, n] : routed) EXPECT_EQ(n, 1) << ticket << " routed more than once";
  EXPECT_EQ(read_topic("cpas." + cbe + ".notifications.v1", 10s).size(),
            static_cast<std::size_t>(kTotal));
  EXPECT_EQ(registry.sum("relais_router_client_renewals_total"), 2.0) << "one per lane";
  EXPECT_EQ(registry.sum("relais_router_client_restarts_total"), 0.0);
  EXPECT_TRUE(engine.ready());
}

}  // namespace
}  // namespace relais::itest
