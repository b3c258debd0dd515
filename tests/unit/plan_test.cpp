// router::plan without Kafka: each outcome of a record (routed, dropped, duplicate, dead letter,
// ticket reused, alerts), the batch records (journal, dedupe), and a property test against a
// brute-force reference over random directories and batches.
#include "relais/router/plan.hpp"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "relais/alerts/rules.hpp"
#include "relais/codec/flow.hpp"
#include "relais/codec/samples.hpp"
#include "relais/router/journal_rows.hpp"
#include "relais/v1/records.pb.h"
#include "relais/validation/date.hpp"

using namespace relais;
using router::InboundRecord;
using router::OutRecord;
using router::Plan;

namespace {

constexpr std::int64_t kNow = 1'780'000'000'000'000;  // 2026-05-28, Unix µs
constexpr std::int64_t kWindow = 7LL * 24 * 3600 * 1000000;
const std::string kInbound = "relais.inbound.v1";

std::int32_t day(const char* iso) {
  return validation::parse_iso_date(iso)->days;
}

// A valid SSIN of someone born in the 1900s: YYMMDD sss cc, cc = 97 - (first nine mod 97).
std::string ssin_of(std::uint64_t first9) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%09llu%02llu", static_cast<unsigned long long>(first9),
                static_cast<unsigned long long>(97 - first9 % 97));
  return buf;
}

std::string ticket_of(std::uint64_t n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012llx",
                static_cast<unsigned long long>(n));
  return buf;
}

std::string encode(const v1::Notification& n) {
  std::string s;
  n.SerializeToString(&s);
  return s;
}

// Inbound records over owned values (InboundRecord holds views).
struct Batch {
  std::vector<std::string> values;
  std::vector<std::string> keys;
  std::vector<InboundRecord> records;
  std::span<const InboundRecord> view(std::int64_t first_offset = 100) {
    records.clear();
    for (std::size_t i = 0; i < values.size(); ++i)
      records.push_back({kInbound, partitions[i], first_offset + static_cast<std::int64_t>(i),
                         &keys[i], values[i]});
    return records;
  }
  std::vector<std::int32_t> partitions;
  void add_on(std::int32_t partition, std::string value) {
    partitions.push_back(partition);
    values.push_back(std::move(value));
    keys.push_back("k");
  }
};

std::vector<v1::JournalEntry> journal_of(const Plan& p) {
  std::vector<v1::JournalEntry> out;
  for (const auto& r : p.records) {
    if (r.topic != "relais.journal.v1") continue;
    v1::JournalBatch b;
    EXPECT_TRUE(b.ParseFromString(r.value));
    for (const auto& e : b.entries()) out.push_back(e);
  }
  return out;
}

// The journal's columns of one entry, as the sink wrote one row per entry before migration 0019.
std::string columns(const v1::JournalEntry& e, v1::JournalEntry::Kind kind, const std::string& cpas,
                    std::uint32_t quality, const std::string& reason, const std::string& alert_id) {
  return std::to_string(e.at_us()) + "|" + std::to_string(kind) + "|" + e.ticket() + "|" +
         e.ssin() + "|" + std::to_string(e.flow()) + "|" + e.event() + "|" + e.effective_date() +
         "|" + cpas + "|" + std::to_string(quality) + "|" + reason + "|" +
         std::to_string(e.accepted_at_us()) + "|" + e.source() + "|" + alert_id;
}
std::string columns(const v1::JournalEntry& e) {
  return columns(e, e.kind(), e.cpas_cbe(), e.quality_code(), e.reason(), e.alert_id());
}

// The `journal` view of migration 0019 over folded rows: the row, its acceptance, its alerts.
std::vector<std::string> unfold(const std::vector<router::JournalRow>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) {
    const auto& e = *r.entry;
    out.push_back(columns(e));
    if (r.accepted) out.push_back(columns(e, v1::JournalEntry::ACCEPTED, "", 0, "", ""));
    for (const auto* a : r.alerts)
      out.push_back(columns(e, v1::JournalEntry::ALERT, e.cpas_cbe(), e.quality_code(), a->reason(),
                            a->alert_id()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A plan's journal records folded as the sink folds them (each record alone), and their entries.
struct Folded {
  std::vector<v1::JournalBatch> batches;
  std::vector<router::JournalRow> rows;
  std::vector<std::string> entries;  // sorted columns
};
Folded fold_plan(const Plan& p) {
  Folded f;
  for (const auto& r : p.records)
    if (r.topic == "relais.journal.v1") {
      EXPECT_TRUE(f.batches.emplace_back().ParseFromString(r.value));
    }
  for (const auto& b : f.batches) {
    router::fold_journal(b.entries(), f.rows);
    for (const auto& e : b.entries()) f.entries.push_back(columns(e));
  }
  std::sort(f.entries.begin(), f.entries.end());
  return f;
}

std::vector<const OutRecord*> on_topic(const Plan& p, const std::string& topic) {
  std::vector<const OutRecord*> out;
  for (const auto& r : p.records)
    if (r.topic == topic) out.push_back(&r);
  return out;
}

std::string header(const OutRecord& r, const std::string& name) {
  for (const auto& h : r.headers)
    if (h.key == name) return h.value;
  return {};
}

class PlanTest : public ::testing::Test {
 protected:
  PlanTest() : processed(kWindow) {
    a = dir.cpas_index("0212344876");
    b = dir.cpas_index("0207500123");
    dir.upsert_cpas("0212344876", "CPAS A", {"21004"});
    dir.upsert_cpas("0207500123", "CPAS B", {"21009"});
  }
  void integrate(const std::string& ssin, std::uint16_t cpas, const char* start,
                 const char* end = nullptr, std::uint16_t quality = 1) {
    dir.upsert(directory::Entry{*directory::ssin_key(ssin), next_id++, cpas, quality, day(start),
                                end ? day(end) : directory::kOpenEnd});
  }
  Plan run(Batch& batch, const alerts::Ruleset* rules = nullptr) {
    return router::plan(batch.view(), router::PlanContext{dir, processed, rules, {}, kNow});
  }
  directory::Directory dir;
  router::DedupeSet processed;
  std::uint16_t a = 0, b = 0;
  std::uint32_t next_id = 1;
  const std::string ssin = ssin_of(680601053);
};

TEST_F(PlanTest, RoutesToEveryCoveringCpasWithTheInboundBytesSpliced) {
  integrate(ssin, a, "2025-01-01");
  integrate(ssin, b, "2024-01-01", "2026-12-31", 2);
  auto n = codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket_of(1), ssin, "2026-03-01");
  n.set_accepted_at_us(kNow - 250000);
  Batch batch;
  batch.add_on(3, encode(n));
  auto p = run(batch);

  for (auto [cbe, quality] : {std::pair{"0212344876", 1}, std::pair{"0207500123", 2}}) {
    auto recs = on_topic(p, std::string("cpas.") + cbe + ".notifications.v1");
    ASSERT_EQ(recs.size(), 1u) << cbe;
    EXPECT_EQ(recs[0]->key, ssin);
    EXPECT_EQ(header(*recs[0], "ticket"), ticket_of(1));
    EXPECT_EQ(header(*recs[0], "flow"), "notify-person");
    v1::RoutedNotification r;
    ASSERT_TRUE(r.ParseFromString(recs[0]->value));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(r.notification(), n));
    EXPECT_EQ(r.cpas_cbe(), cbe);
    EXPECT_EQ(r.integration().quality_code(), quality);
    EXPECT_EQ(r.routed_at_us(), kNow);
  }
  EXPECT_EQ(p.cpas_topics, (std::set<std::string>{"cpas.0207500123.notifications.v1",
                                                  "cpas.0212344876.notifications.v1"}));
  auto j = journal_of(p);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0].kind(), v1::JournalEntry::ACCEPTED);
  EXPECT_EQ(j[1].kind(), v1::JournalEntry::ROUTED);
  EXPECT_EQ(j[2].kind(), v1::JournalEntry::ROUTED);
  EXPECT_EQ(j[1].source(), "relais.inbound.v1/3/100");
  EXPECT_EQ(j[1].at_us(), kNow);
  ASSERT_EQ(p.marks.size(), 1u);
  EXPECT_EQ(p.marks[0].first, 3);
  auto dd = on_topic(p, "relais.dedupe.v1");
  ASSERT_EQ(dd.size(), 1u);
  EXPECT_EQ(dd[0]->partition, 3);  // dedupe partition p holds inbound partition p's tickets
  EXPECT_EQ(dd[0]->key, "batch/3-100/d3-0");
  v1::DedupeBatch db;
  ASSERT_TRUE(db.ParseFromString(dd[0]->value));
  EXPECT_EQ(db.ticket_hi_size(), 1);
  EXPECT_EQ(p.next_offsets, (std::map<std::int32_t, std::int64_t>{{3, 101}}));
  EXPECT_EQ(p.counts.consumed, 1u);
  EXPECT_EQ((p.counts.routed.at({"notify-person", "0212344876"})), 1u);
  ASSERT_EQ(p.end_to_end_seconds.size(), 1u);
  EXPECT_DOUBLE_EQ(p.end_to_end_seconds[0], 0.25);
}

TEST_F(PlanTest, DropsWithTheRoutingReason) {
  integrate(ssin, a, "2020-01-01", "2020-12-31");
  Batch batch;
  batch.add_on(0, encode(codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket_of(1), ssin,
                                                    "2026-03-01")));
  batch.add_on(0, encode(codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket_of(2),
                                                    ssin_of(700101001), "2026-03-01")));
  auto p = run(batch);
  EXPECT_TRUE(p.cpas_topics.empty());
  auto j = journal_of(p);
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[1].kind(), v1::JournalEntry::DROPPED);
  EXPECT_EQ(j[1].reason(), "outside_period");
  EXPECT_EQ(j[3].reason(), "not_integrated");
  EXPECT_EQ((p.counts.dropped.at({"notify-person", "outside_period"})), 1u);
  EXPECT_EQ(p.marks.size(), 2u);  // dropped notifications are processed: a re-post is a duplicate
}

TEST_F(PlanTest, UndecodableAndInvalidRecordsAreDeadLetters) {
  integrate(ssin, a, "2025-01-01");
  auto bad_ssin =
      codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket_of(2), ssin, "2026-03-01");
  bad_ssin.mutable_envelope()->set_ssin("68060105328");  // wrong check digits
  Batch batch;
  batch.add_on(1, "\xff\xff\xff not protobuf");
  batch.add_on(1, encode(bad_ssin));
  auto p = run(batch);
  auto dlq = on_topic(p, "relais.dlq.v1");
  ASSERT_EQ(dlq.size(), 2u);
  v1::DeadLetter d;
  ASSERT_TRUE(d.ParseFromString(dlq[0]->value));
  EXPECT_EQ(d.reason(), "UNDECODABLE: not a relais.v1.Notification");
  EXPECT_EQ(d.source_partition(), 1);
  EXPECT_EQ(d.source_offset(), 100);
  EXPECT_EQ(d.value(), batch.values[0]);
  EXPECT_EQ(header(*dlq[0], "reason"), d.reason());
  ASSERT_TRUE(d.ParseFromString(dlq[1]->value));
  EXPECT_TRUE(d.reason().starts_with("INVALID: ")) << d.reason();
  auto j = journal_of(p);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0].kind(), v1::JournalEntry::DEAD_LETTER);
  EXPECT_EQ(j[0].ticket(), "relais.inbound.v1/1/100");  // no ticket: the source names it
  EXPECT_EQ(j[1].ticket(), ticket_of(2));
  EXPECT_TRUE(p.marks.empty());
  EXPECT_EQ(p.counts.dead_letters.at("UNDECODABLE"), 1u);
  EXPECT_EQ(p.counts.dead_letters.at("INVALID"), 1u);
  EXPECT_EQ(p.next_offsets.at(1), 102);  // dead letters are consumed too
  EXPECT_EQ(p.dead_letter_notes.size(), 2u);
}

TEST_F(PlanTest, DuplicatesOfCommittedAndOfEarlierRecordsInTheBatch) {
  integrate(ssin, a, "2025-01-01");
  auto n1 = codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket_of(1), ssin, "2026-03-01");
  auto n2 = codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket_of(2), ssin, "2026-03-01");
  // n1 was processed by a committed transaction.
  Batch first;
  first.add_on(0, encode(n1));
  auto p1 = run(first);
  ASSERT_EQ(p1.marks.size(), 1u);
  processed.insert(p1.marks[0].first, p1.marks[0].second, kNow);

  Batch batch;
  batch.add_on(0, encode(n1));  // committed before
  batch.add_on(0, encode(n2));
  batch.add_on(0, encode(n2));  // earlier in this batch
  auto p = run(batch);
  EXPECT_EQ(on_topic(p, "cpas.0212344876.notifications.v1").size(), 1u);
  EXPECT_EQ(p.counts.duplicates, 2u);
  EXPECT_EQ(p.marks.size(), 1u);
  std::vector<v1::JournalEntry::Kind> kinds;
  for (const auto& e : journal_of(p)) kinds.push_back(e.kind());
  EXPECT_EQ(kinds, (std::vector<v1::JournalEntry::Kind>{
                       v1::JournalEntry::DUPLICATE, v1::JournalEntry::ACCEPTED,
                       v1::JournalEntry::ROUTED, v1::JournalEntry::DUPLICATE}));
}

TEST_F(PlanTest, ATicketReusedForOtherContentIsRefusedNeverMerged) {
  integrate(ssin, a, "2025-01-01");
  auto n1 = codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket_of(1), ssin, "2026-03-01");
  auto other = codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket_of(1), ssin, "2026-04-01");
  Batch batch;
  batch.add_on(0, encode(n1));
  batch.add_on(0, encode(other));
  auto p = run(batch);
  EXPECT_EQ(on_topic(p, "cpas.0212344876.notifications.v1").size(), 1u);
  auto dlq = on_topic(p, "relais.dlq.v1");
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_TRUE(header(*dlq[0], "reason").starts_with("TICKET_REUSED")) << header(*dlq[0], "reason");
  auto j = journal_of(p);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[2].kind(), v1::JournalEntry::DEAD_LETTER);
  EXPECT_EQ(j[2].ssin(), ssin);  // the notification's journal entry, marked dead letter
}

TEST_F(PlanTest, TheSendersRawPayloadTravelsToEveryCpas) {
  integrate(ssin, a, "2025-01-01");
  integrate(ssin, b, "2025-01-01");
  Batch batch;
  batch.add_on(0, encode(codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket_of(1), ssin,
                                                    "2026-03-01")));
  auto view = batch.view();
  std::vector<InboundRecord> recs(view.begin(), view.end());
  recs[0].raw = "<soap:Envelope/>";
  recs[0].raw_content_type = "text/xml";
  auto p = router::plan(recs, router::PlanContext{dir, processed, nullptr, {}, kNow});
  for (const char* topic :
       {"cpas.0212344876.notifications.v1", "cpas.0207500123.notifications.v1"}) {
    auto r = on_topic(p, topic);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(header(*r[0], "raw"), "<soap:Envelope/>");
    EXPECT_EQ(header(*r[0], "source-content-type"), "text/xml");
  }
}

TEST_F(PlanTest, AlertsCarryTheRoutedNotificationAndAreJournaled) {
  auto r = alerts::parse_rules(R"(
version: 1
rules:
  - id: any-person-change
    flow: notify-person
    alert: PERSON_CHANGED
    severity: low
    deadline_days: 10
    description: a change
)",
                               "test.yaml");
  ASSERT_TRUE(std::holds_alternative<alerts::Ruleset>(r)) << std::get<std::string>(r);  // NOLINT
  const auto& rules = std::get<alerts::Ruleset>(r);
  integrate(ssin, a, "2025-01-01");
  auto n = codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket_of(1), ssin, "2026-03-01");
  Batch batch;
  batch.add_on(0, encode(n));
  auto p = run(batch, &rules);
  auto al = on_topic(p, "cpas.0212344876.alerts.v1");
  ASSERT_EQ(al.size(), 1u);
  v1::Alert alert;
  ASSERT_TRUE(alert.ParseFromString(al[0]->value));
  EXPECT_EQ(alert.type(), "PERSON_CHANGED");
  EXPECT_EQ(alert.alert_id(), header(*al[0], "alert-id"));
  EXPECT_EQ(alert.notification().cpas_cbe(), "0212344876");
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(alert.notification().notification(), n));
  EXPECT_EQ(alert.due_date(), "2026-06-07");  // kNow's day + 10
  EXPECT_EQ(p.cpas_topics.count("cpas.0212344876.alerts.v1"), 1u);
  auto j = journal_of(p);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[2].kind(), v1::JournalEntry::ALERT);
  EXPECT_EQ(j[2].alert_id(), alert.alert_id());
  EXPECT_EQ((p.counts.alerts.at({"PERSON_CHANGED", "0212344876"})), 1u);
  // The journal sink stores the three entries as one row: the routed one, accepted, its alert.
  auto f = fold_plan(p);
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_EQ(f.rows[0].entry->kind(), v1::JournalEntry::ROUTED);
  EXPECT_TRUE(f.rows[0].accepted);
  ASSERT_EQ(f.rows[0].alerts.size(), 1u);
  EXPECT_EQ(f.rows[0].alerts[0]->alert_id(), alert.alert_id());
  EXPECT_EQ(unfold(f.rows), f.entries);
}

TEST_F(PlanTest, JournalBatchesSplitAtTheRecordSizeWithKeysUniquePerTransaction) {
  Batch batch;
  for (int i = 0; i < router::kJournalPerRecord + 10; ++i)
    batch.add_on(i % 2, encode(codec::sample_notification(
                            v1::FLOW_NOTIFY_PERSON, ticket_of(i + 1),
                            ssin_of(700101001 + 1000 * (i / 900) + i % 900), "2026-03-01")));
  auto p = router::plan(batch.view(42), router::PlanContext{dir, processed, nullptr, {}, kNow});
  auto j = on_topic(p, "relais.journal.v1");
  ASSERT_EQ(j.size(),
            3u);  // 2 entries per notification (ACCEPTED, DROPPED): 2068 = 1024 + 1024 + 20
  EXPECT_EQ(j[0]->key, "batch/0-42/j0");
  EXPECT_EQ(j[2]->key, "batch/0-42/j2");
  EXPECT_EQ(journal_of(p).size(), 2u * (router::kJournalPerRecord + 10));
  auto dd = on_topic(p, "relais.dedupe.v1");
  ASSERT_EQ(dd.size(), 2u);
  // 1034 records on partitions 0 and 1 alternately, from offset 42: the last are 1074 and 1075.
  EXPECT_EQ(p.next_offsets,
            (std::map<std::int32_t, std::int64_t>{{0, 42 + router::kJournalPerRecord + 9},
                                                  {1, 42 + router::kJournalPerRecord + 10}}));
}

// ------------------------------------------------------------------ property test
// A brute-force reference: every CPAS with a line of the SSIN covering every day the
// effective date may designate; dedupe by (ticket, SSIN) remembering the content.
struct Reference {
  struct Line {
    std::uint64_t ssin;
    std::uint16_t cpas;
    std::int32_t start, end;
  };
  std::vector<Line> lines;
  std::map<std::pair<std::string, std::string>, std::string> seen;  // (ticket, ssin) -> value bytes

  std::set<std::uint16_t> targets(std::uint64_t ssin, std::int32_t first, std::int32_t last) const {
    std::set<std::uint16_t> out;
    for (const auto& l : lines)
      if (l.ssin == ssin && l.start <= first && last <= l.end) out.insert(l.cpas);
    return out;
  }
};

TEST(PlanProperty, AgreesWithABruteForceReference) {
  std::mt19937_64 rng(20261205);
  std::map<int, std::size_t> outcomes;  // how often each outcome was exercised
  auto below = [&](std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng);
  };
  for (int round = 0; round < 40; ++round) {
    directory::Directory dir;
    Reference ref;
    std::vector<std::string> cbes;
    const int ncpas = 1 + static_cast<int>(below(6));
    for (int c = 0; c < ncpas; ++c) {
      cbes.push_back("02" + std::to_string(10000000 + c * 7919));
      dir.cpas_index(cbes.back());
    }
    std::vector<std::string> persons;
    for (int i = 0; i < 20; ++i) persons.push_back(ssin_of(500101001 + 1000 * i + below(900)));
    std::uint32_t id = 1;
    for (const auto& s : persons)
      for (int k = static_cast<int>(below(4)); k > 0; --k) {
        auto cpas = static_cast<std::uint16_t>(below(ncpas));
        std::int32_t start = day("2024-01-01") + static_cast<std::int32_t>(below(900));
        std::int32_t end =
            below(3) == 0 ? directory::kOpenEnd : start + static_cast<std::int32_t>(below(400));
        dir.upsert(directory::Entry{*directory::ssin_key(s), id++, cpas, 1, start, end});
        ref.lines.push_back({*directory::ssin_key(s), cpas, start, end});
      }
    router::DedupeSet processed(kWindow);

    // Two consecutive batches: the second sees the first's marks as committed.
    std::vector<std::string> history;  // values already sent, to re-post
    for (int batch_no = 0; batch_no < 2; ++batch_no) {
      Batch batch;
      struct Expect {
        enum { routed, dropped, duplicate, reused, dead } what;
        std::set<std::string> cpas;
        std::string ticket;
      };
      std::vector<Expect> expect;
      const int count = 50 + static_cast<int>(below(100));
      for (int i = 0; i < count; ++i) {
        std::string value;
        auto pick = below(10);
        if (pick == 0) {
          value = "\x08\x96\x01garbage" + std::to_string(i);
        } else if (pick <= 2 && !history.empty()) {
          value = history[below(history.size())];  // an exact re-post
        } else {
          const auto& s = persons[below(persons.size())];
          const std::string complete = validation::to_string(
              validation::Date{day("2024-01-01") + static_cast<std::int32_t>(below(1200))});
          std::string date = complete;
          if (below(5) == 0)
            date = date.substr(0, 8) + "00";  // an incomplete date: the whole month
          // Tickets from a small pool: the same ticket and person with another date is a reuse.
          auto n =
              codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket_of(below(150)), s, date);
          n.mutable_envelope()->set_sent_at(complete + "T06:00:00Z");
          n.mutable_notify_person()->set_sent_at(complete + "T06:00:00Z");
          value = encode(n);
        }
        history.push_back(value);
        // The reference's verdict.
        v1::Notification n;
        Expect e{};
        if (!n.ParseFromString(value) || !n.has_envelope() || n.envelope().ticket().empty()) {
          e.what = Expect::dead;
        } else {
          e.ticket = n.envelope().ticket();
          auto key = std::pair{n.envelope().ticket(), n.envelope().ssin()};
          auto it = ref.seen.find(key);
          if (it != ref.seen.end()) {
            e.what = it->second == value ? Expect::duplicate : Expect::reused;
          } else {
            ref.seen.emplace(key, value);
            auto d = validation::parse_incomplete_date(n.envelope().effective_date());
            for (auto c : ref.targets(*directory::ssin_key(n.envelope().ssin()),
                                      d->first_day().days, d->last_day().days))
              e.cpas.insert(cbes[c]);
            e.what = e.cpas.empty() ? Expect::dropped : Expect::routed;
          }
        }
        expect.push_back(e);
        ++outcomes[e.what];
        // All records of one person on one partition, as the ingest's key partitioner does.
        batch.add_on(static_cast<std::int32_t>(
                         n.envelope().ssin().empty() ? 0 : n.envelope().ssin().back() % 3),
                     value);
      }
      auto p = router::plan(batch.view(1000 * batch_no),
                            router::PlanContext{dir, processed, nullptr, {}, kNow});

      // What the plan routed, by ticket.
      std::map<std::string, std::multiset<std::string>> routed;
      for (const auto& r : p.records)
        if (r.topic.starts_with("cpas.")) routed[header(r, "ticket")].insert(r.topic.substr(5, 10));
      std::map<std::string, std::multiset<std::string>> want;
      std::size_t dead = 0, dup = 0, marks = 0;
      for (const auto& e : expect) {
        if (e.what == Expect::routed)
          for (const auto& c : e.cpas) want[e.ticket].insert(c);
        dead += e.what == Expect::dead || e.what == Expect::reused;
        dup += e.what == Expect::duplicate;
        marks += e.what == Expect::routed || e.what == Expect::dropped;
      }
      std::string notes;
      for (const auto& d : p.dead_letter_notes) notes += d + "\n";
      ASSERT_EQ(routed, want) << "round " << round << " batch " << batch_no << "\n" << notes;
      EXPECT_EQ(on_topic(p, "relais.dlq.v1").size(), dead);
      EXPECT_EQ(p.counts.duplicates, dup);
      EXPECT_EQ(p.marks.size(), marks);
      EXPECT_EQ(p.counts.consumed, static_cast<std::uint64_t>(count));
      // Every record has journal entries, the first naming its outcome.
      auto j = journal_of(p);
      std::size_t accepted = 0;
      for (const auto& e : j) accepted += e.kind() == v1::JournalEntry::ACCEPTED;
      EXPECT_EQ(accepted, marks);
      // Folded as the journal sink stores them: nothing lost, one row per outcome (an acceptance
      // stays a row of its own only when its record ends before its outcome).
      auto f = fold_plan(p);
      ASSERT_EQ(unfold(f.rows), f.entries) << "round " << round << " batch " << batch_no;
      std::size_t folded = 0;
      for (const auto& r : f.rows) folded += r.accepted;
      EXPECT_GE(folded + f.batches.size(), accepted);
      EXPECT_EQ(f.rows.size(), j.size() - folded);
      for (const auto& [part, mark] : p.marks) processed.insert(part, mark, kNow);
    }
  }
  // Not vacuous: every outcome (routed, dropped, duplicate, reused, dead letter) came up often.
  ASSERT_EQ(outcomes.size(), 5u);
  for (auto [what, n] : outcomes) EXPECT_GT(n, 50u) << "outcome " << what;
}

}  // namespace

// ---- SPP IS clignotants (flow sppis-clignotant) -------------------------------------------------

static v1::Notification sppis_clignotant(const std::string& ticket, const std::string& ssin,
                                         const std::string& cbe, const std::string& sppis_id) {
  auto n = codec::sample_notification(v1::FLOW_SPPIS_CLIGNOTANT, ticket, ssin, "2026-01-01");
  auto& c = *n.mutable_sppis_clignotant();
  c.set_cpas_cbe(cbe);
  c.set_sppis_id(sppis_id);
  c.set_period_end("2026-03-31");
  c.set_issued_date("2026-05-01");
  c.set_deadline_date("2026-06-30");
  codec::sync_envelope(n);
  return n;
}

TEST_F(PlanTest, AnSppIsClignotantGoesOnlyToTheNamedCpasAsAnAlert) {
  integrate(ssin, a, "2025-01-01", nullptr, 2);
  integrate(ssin, b, "2025-01-01");  // covers too, but is not named
  auto n = sppis_clignotant(ticket_of(1), ssin, "0212344876", "CLG-2026-000001");
  Batch batch;
  batch.add_on(0, encode(n));
  auto p = run(batch);
  EXPECT_TRUE(on_topic(p, "cpas.0212344876.notifications.v1").empty());
  EXPECT_TRUE(on_topic(p, "cpas.0207500123.notifications.v1").empty());
  EXPECT_TRUE(on_topic(p, "cpas.0207500123.alerts.v1").empty());
  EXPECT_EQ(p.cpas_topics, (std::set<std::string>{"cpas.0212344876.alerts.v1"}));
  auto al = on_topic(p, "cpas.0212344876.alerts.v1");
  ASSERT_EQ(al.size(), 1u);
  v1::Alert alert;
  ASSERT_TRUE(alert.ParseFromString(al[0]->value));
  EXPECT_EQ(alert.kind(), "SPPIS_CLIGNOTANT");
  EXPECT_EQ(header(*al[0], "alert-kind"), "SPPIS_CLIGNOTANT");
  EXPECT_EQ(alert.sppis_id(), "CLG-2026-000001");
  EXPECT_EQ(alert.type(), "WORK_INCOME");
  EXPECT_EQ(alert.rule_id(), "sppis-clignotant");
  EXPECT_EQ(alert.cpas_cbe(), "0212344876");
  EXPECT_EQ(alert.ssin(), ssin);
  EXPECT_EQ(alert.effective_date(), "2026-01-01");
  EXPECT_EQ(alert.period_end(), "2026-03-31");
  EXPECT_EQ(alert.due_date(), "2026-06-30");
  EXPECT_EQ(alert.deadline_days(), 60);
  EXPECT_EQ(alert.quality_codes_size(), 1);
  EXPECT_EQ(alert.quality_codes(0), 2);
  EXPECT_FALSE(alert.description().empty());
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(alert.notification().notification(), n));
  // The id derives from SPP IS's identifier and the CPAS, not from the ticket.
  EXPECT_EQ(alert.alert_id(),
            alerts::alert_id("CLG-2026-000001", 0, "0212344876", "sppis-clignotant"));
  auto j = journal_of(p);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0].kind(), v1::JournalEntry::ACCEPTED);
  EXPECT_EQ(j[1].kind(), v1::JournalEntry::ROUTED);
  EXPECT_EQ(j[1].cpas_cbe(), "0212344876");
  EXPECT_EQ(j[2].kind(), v1::JournalEntry::ALERT);
  EXPECT_EQ(j[2].alert_id(), alert.alert_id());
  EXPECT_EQ(j[2].reason(), "WORK_INCOME");
  EXPECT_EQ((p.counts.routed.at({"sppis-clignotant", "0212344876"})), 1u);
  EXPECT_EQ((p.counts.alerts.at({"WORK_INCOME", "0212344876"})), 1u);
}

TEST_F(PlanTest, AnSppIsClignotantWithoutACoveringIntegrationOfTheNamedCpasIsDropped) {
  // B covers the period, A (named) only part of it: dropped, never delivered to B.
  integrate(ssin, a, "2026-02-01");
  integrate(ssin, b, "2025-01-01");
  const std::string other = ssin_of(700101001);
  Batch batch;
  batch.add_on(0, encode(sppis_clignotant(ticket_of(1), ssin, "0212344876", "CLG-1")));
  batch.add_on(0, encode(sppis_clignotant(ticket_of(2), ssin, "0207500123", "CLG-2")));
  batch.add_on(0, encode(sppis_clignotant(ticket_of(3), other, "0212344876", "CLG-3")));
  auto p = run(batch);
  EXPECT_TRUE(on_topic(p, "cpas.0212344876.alerts.v1").empty());
  EXPECT_TRUE(on_topic(p, "cpas.0212344876.notifications.v1").empty());
  EXPECT_TRUE(on_topic(p, "cpas.0207500123.notifications.v1").empty());
  ASSERT_EQ(on_topic(p, "cpas.0207500123.alerts.v1").size(), 1u);  // CLG-2 names B
  auto j = journal_of(p);
  ASSERT_EQ(j.size(), 7u);
  EXPECT_EQ(j[1].kind(), v1::JournalEntry::DROPPED);
  EXPECT_EQ(j[1].reason(), "named_cpas_not_covering");
  EXPECT_EQ(j[1].cpas_cbe(), "0212344876");
  EXPECT_EQ(j[3].kind(), v1::JournalEntry::ROUTED);
  EXPECT_EQ(j[4].kind(), v1::JournalEntry::ALERT);
  EXPECT_EQ(j[6].kind(), v1::JournalEntry::DROPPED);
  EXPECT_EQ(j[6].reason(), "not_integrated");
  EXPECT_EQ((p.counts.dropped.at({"sppis-clignotant", "named_cpas_not_covering"})), 1u);
  EXPECT_EQ((p.counts.dropped.at({"sppis-clignotant", "not_integrated"})), 1u);
}

TEST_F(PlanTest, TheSameSppIsIdentifierUnderTwoTicketsIsTheSameAlert) {
  integrate(ssin, a, "2025-01-01");
  Batch batch;
  batch.add_on(0, encode(sppis_clignotant(ticket_of(1), ssin, "0212344876", "CLG-9")));
  batch.add_on(0, encode(sppis_clignotant(ticket_of(2), ssin, "0212344876", "CLG-9")));
  batch.add_on(0, encode(sppis_clignotant(ticket_of(1), ssin, "0212344876", "CLG-9")));
  auto p = run(batch);
  auto al = on_topic(p, "cpas.0212344876.alerts.v1");
  ASSERT_EQ(al.size(), 2u);  // the third is a duplicate ticket; the store keeps one of the two
  EXPECT_EQ(header(*al[0], "alert-id"), header(*al[1], "alert-id"));
  EXPECT_EQ(p.counts.duplicates, 1u);
}

TEST_F(PlanTest, EarlySignalsAreMarkedAsSuch) {
  auto r = alerts::parse_rules(
      "version: 1\nrules:\n  - {id: any, flow: notify-person, alert: PERSON_CHANGED, severity: "
      "low, "
      "deadline_days: 10}\n",
      "test.yaml");
  ASSERT_TRUE(std::holds_alternative<alerts::Ruleset>(r)) << std::get<std::string>(r);  // NOLINT
  integrate(ssin, a, "2025-01-01");
  Batch batch;
  batch.add_on(0, encode(codec::sample_notification(v1::FLOW_NOTIFY_PERSON, ticket_of(1), ssin,
                                                    "2026-03-01")));
  batch.add_on(0, encode(sppis_clignotant(ticket_of(2), ssin, "0212344876", "CLG-5")));
  auto p = run(batch, &std::get<alerts::Ruleset>(r));
  auto al = on_topic(p, "cpas.0212344876.alerts.v1");
  ASSERT_EQ(al.size(), 2u);  // the rules never run on an SPP IS clignotant
  v1::Alert early, sppis;
  ASSERT_TRUE(early.ParseFromString(al[0]->value));
  ASSERT_TRUE(sppis.ParseFromString(al[1]->value));
  EXPECT_EQ(early.kind(), "EARLY_SIGNAL");
  EXPECT_TRUE(early.sppis_id().empty());
  EXPECT_EQ(sppis.kind(), "SPPIS_CLIGNOTANT");
}

TEST(PlanRules, ARuleCannotNameTheSppIsClignotantFlow) {
  auto r = alerts::parse_rules(R"(
version: 1
rules:
  - id: sppis
    flow: sppis-clignotant
    alert: X
    severity: low
    deadline_days: 10
)",
                               "test.yaml");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("six BCSS flow ids"), std::string::npos)
      << std::get<std::string>(r);
}

// ---- The journal's rows (migration 0019): router::fold_journal ----------------------------------

namespace {
v1::JournalEntry entry(v1::JournalEntry::Kind kind, const std::string& ticket,
                       const std::string& cpas = "", const std::string& alert_id = "") {
  v1::JournalEntry e;
  e.set_kind(kind);
  e.set_at_us(kNow);
  e.set_ticket(ticket);
  e.set_ssin("68060105329");
  e.set_flow(v1::FLOW_NOTIFY_PERSON);
  e.set_event("ADDRESS_CHANGED");
  e.set_effective_date("2026-03-01");
  e.set_accepted_at_us(kNow - 1000);
  e.set_source("relais.inbound.v1/0/7");
  e.set_cpas_cbe(cpas);
  if (!cpas.empty()) e.set_quality_code(1);
  if (!alert_id.empty()) {
    e.set_alert_id(alert_id);
    e.set_reason("PERSON_CHANGED");
  }
  return e;
}

google::protobuf::RepeatedPtrField<v1::JournalEntry> record_of(
    std::initializer_list<v1::JournalEntry> es) {
  google::protobuf::RepeatedPtrField<v1::JournalEntry> r;
  for (const auto& e : es) *r.Add() = e;
  return r;
}

std::vector<std::string> sorted_columns(
    std::initializer_list<const google::protobuf::RepeatedPtrField<v1::JournalEntry>*> records) {
  std::vector<std::string> out;
  for (const auto* r : records)
    for (const auto& e : *r) out.push_back(columns(e));
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

TEST(JournalRows, OneRowPerOutcomeTheAcceptanceOnTheFirstAlertsOnTheirCpas) {
  using K = v1::JournalEntry;
  const std::string t = ticket_of(1), u = ticket_of(2), v = ticket_of(3);
  auto rec = record_of({entry(K::ACCEPTED, t), entry(K::ROUTED, t, "0212344876"),
                        entry(K::ALERT, t, "0212344876", "al-1"),
                        entry(K::ALERT, t, "0212344876", "al-2"), entry(K::ROUTED, t, "0207500123"),
                        entry(K::ALERT, t, "0207500123", "al-3"), entry(K::ACCEPTED, u),
                        entry(K::DROPPED, u), entry(K::DUPLICATE, v), entry(K::DEAD_LETTER, v)});
  rec[7].set_reason("not_integrated");
  std::vector<router::JournalRow> rows;
  router::fold_journal(rec, rows);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].entry, &rec[1]);
  EXPECT_TRUE(rows[0].accepted);
  ASSERT_EQ(rows[0].alerts.size(), 2u);
  EXPECT_EQ(rows[0].alerts[1]->alert_id(), "al-2");
  EXPECT_EQ(rows[1].entry, &rec[4]);
  EXPECT_FALSE(rows[1].accepted);  // the acceptance is recorded once, on the first outcome
  ASSERT_EQ(rows[1].alerts.size(), 1u);
  EXPECT_EQ(rows[2].entry, &rec[7]);
  EXPECT_TRUE(rows[2].accepted);
  EXPECT_EQ(rows[3].entry->kind(), K::DUPLICATE);
  EXPECT_EQ(rows[4].entry->kind(), K::DEAD_LETTER);
  EXPECT_EQ(unfold(rows), sorted_columns({&rec}));
}

TEST(JournalRows, AnEntryThatSaysMoreThanItsRowStaysARowOfItsOwn) {
  using K = v1::JournalEntry;
  const std::string t = ticket_of(1);
  auto other_source = entry(K::ACCEPTED, t);
  other_source.set_source("relais.inbound.v1/1/7");
  auto other_time = entry(K::ACCEPTED, t);
  other_time.set_at_us(kNow + 1);
  auto with_reason = entry(K::ACCEPTED, t);
  with_reason.set_reason("why");
  auto other_cpas = entry(K::ALERT, t, "0207500123", "al-1");
  auto no_id = entry(K::ALERT, t, "0212344876");
  no_id.set_reason("PERSON_CHANGED");
  auto other_quality = entry(K::ALERT, t, "0212344876", "al-2");
  other_quality.set_quality_code(2);
  auto rec = record_of({other_source, entry(K::ROUTED, t, "0212344876"), other_time,
                        entry(K::ROUTED, t, "0212344876"), with_reason, entry(K::DROPPED, t),
                        entry(K::ROUTED, t, "0212344876"), other_cpas, no_id, other_quality,
                        entry(K::ACCEPTED, t), entry(K::DUPLICATE, t),
                        entry(K::ALERT, t, "0212344876", "al-3")});
  std::vector<router::JournalRow> rows;
  router::fold_journal(rec, rows);
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(rec.size()));
  for (const auto& r : rows) {
    EXPECT_FALSE(r.accepted);
    EXPECT_TRUE(r.alerts.empty());
  }
  EXPECT_EQ(unfold(rows), sorted_columns({&rec}));
}

TEST(JournalRows, ARecordFoldsAloneWhateverBatchItIsReadIn) {
  using K = v1::JournalEntry;
  const std::string t = ticket_of(1), u = ticket_of(2);
  // The plan's record ended between an acceptance and its outcome, and between an outcome and
  // its alert: the next record's entries are never folded into the previous record's rows.
  auto first =
      record_of({entry(K::ACCEPTED, u), entry(K::ROUTED, u, "0212344876"), entry(K::ACCEPTED, t)});
  auto second = record_of({entry(K::ROUTED, t, "0212344876")});
  auto third = record_of({entry(K::ALERT, t, "0212344876", "al-1")});
  std::vector<router::JournalRow> rows;
  router::fold_journal(first, rows);
  router::fold_journal(second, rows);
  router::fold_journal(third, rows);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_TRUE(rows[0].accepted);
  EXPECT_EQ(rows[1].entry->kind(), K::ACCEPTED);
  EXPECT_FALSE(rows[2].accepted);
  EXPECT_EQ(rows[3].entry->kind(), K::ALERT);
  EXPECT_EQ(unfold(rows), sorted_columns({&first, &second, &third}));
  // The same records read in another batch split fold the same way (a replay inserts nothing).
  std::vector<router::JournalRow> again;
  router::fold_journal(second, again);
  router::fold_journal(third, again);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].entry, rows[2].entry);
  EXPECT_EQ(again[1].entry, rows[3].entry);
}

// The journal sink's bookkeeping (migration 0020): what PostgreSQL holds is skipped, a partition
// without a mark is checked against the table, the marks only move forward.
TEST(JournalMarks, ARecordBelowItsPartitionsMarkIsSkippedTheMarksMovePastTheBatch) {
  using router::RecordFate;
  // Partition 0 holds offsets < 10; partition 1 holds < 3; partition 2 has no mark yet.
  std::map<std::int32_t, std::int64_t> recorded{{0, 10}, {1, 3}, {2, router::kNoMark}};
  std::vector<router::MarkedRecord> batch{{0, 8}, {0, 9}, {0, 10}, {0, 12},  // 11: a marker
                                          {1, 3}, {2, 0}, {2, 1},  {3, 5}};
  auto m = router::mark_journal(batch, recorded);
  EXPECT_EQ(m.fate,
            (std::vector<RecordFate>{RecordFate::skip, RecordFate::skip, RecordFate::fresh,
                                     RecordFate::fresh, RecordFate::fresh, RecordFate::unchecked,
                                     RecordFate::unchecked, RecordFate::unchecked}));
  EXPECT_EQ(m.skipped, 2u);
  EXPECT_EQ(m.next, (std::map<std::int32_t, std::int64_t>{{0, 13}, {1, 4}, {2, 2}, {3, 6}}));
}

// After a rebalance a consumer fetches a partition again from its committed offset: the batch
// being collected then holds the same records twice. The second reading is skipped, marked
// partition or not (the fault suite's kill of both routers found it).
TEST(JournalMarks, ARecordReadTwiceInOneBatchIsTakenOnce) {
  using router::RecordFate;
  std::map<std::int32_t, std::int64_t> recorded{{0, 10}, {2, router::kNoMark}};
  std::vector<router::MarkedRecord> batch{{0, 10}, {0, 11}, {0, 12}, {2, 0}, {2, 1},
                                          {0, 10}, {0, 11}, {2, 0},  {0, 13}};
  auto m = router::mark_journal(batch, recorded);
  EXPECT_EQ(m.fate,
            (std::vector<RecordFate>{RecordFate::fresh, RecordFate::fresh, RecordFate::fresh,
                                     RecordFate::unchecked, RecordFate::unchecked, RecordFate::skip,
                                     RecordFate::skip, RecordFate::skip, RecordFate::fresh}));
  EXPECT_EQ(m.skipped, 3u);
  EXPECT_EQ(m.next, (std::map<std::int32_t, std::int64_t>{{0, 14}, {2, 2}}));
}

TEST(JournalMarks, AReplayedBatchIsSkippedWholeAndMovesNoMark) {
  std::vector<router::MarkedRecord> batch{{0, 100}, {0, 101}, {1, 7}};
  auto first = router::mark_journal(batch, {{0, 100}, {1, 7}});
  EXPECT_EQ(first.skipped, 0u);
  // Replayed after its commit (the same records, the marks it left): nothing is written again,
  // and a late zombie's batch never moves a mark back.
  auto replay = router::mark_journal(batch, first.next);
  EXPECT_EQ(replay.skipped, batch.size());
  EXPECT_EQ(replay.next, first.next);
  auto zombie = router::mark_journal({{0, 50}}, first.next);
  EXPECT_EQ(zombie.skipped, 1u);
  EXPECT_EQ(zombie.next.at(0), 102);
}

// The sink copies a batch's rows by CPAS, then time (the (CPAS, time) index's locality); rows
// without a CPAS (dropped) first; equal keys keep their order.
TEST(JournalCopyOrder, ByCpasThenTimeStable) {
  auto entry = [](const std::string& cpas, std::int64_t at, const std::string& ticket) {
    v1::JournalEntry e;
    e.set_cpas_cbe(cpas);
    e.set_at_us(at);
    e.set_ticket(ticket);
    return e;
  };
  std::vector<v1::JournalEntry> es = {entry("0200000002", 30, "a"), entry("0200000001", 20, "b"),
                                      entry("", 10, "c"),           entry("0200000002", 10, "d"),
                                      entry("0200000001", 20, "e"), entry("0200000001", 5, "f")};
  std::vector<relais::router::JournalRow> rows;
  for (const auto& e : es) rows.push_back({&e, false, {}});
  std::string got;
  for (auto k : relais::router::copy_order(rows)) got += rows[k].entry->ticket();
  EXPECT_EQ(got, "cfbeda");
  EXPECT_TRUE(relais::router::copy_order({}).empty());
}
