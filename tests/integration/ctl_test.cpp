// relaisctl's logic (libs/ctl) against the real PostgreSQL and Kafka: DLQ read and replay
// (once, unless forced; with a corrected body), journal query filters, reaction retry.
#include <algorithm>
#include <future>

#include "relais/ctl/dlq.hpp"
#include "relais/ctl/queries.hpp"
#include "relais/ctl/status.hpp"
#include "relais/v1/records.pb.h"
#include "support.hpp"

namespace relais::itest {
namespace {

class CtlTest : public IntegrationTest {
 protected:
  ctl::Settings settings() {
    ctl::Settings s;
    s.kafka_brokers = kafka_brokers();
    s.kafka_security = kafka_security();
    s.pg_dsn = pg_dsn();
    s.dlq_topic = unique_topic("dlq");
    s.inbound_topic = unique_topic("inbound");
    s.actor = "itest";
    s.timeout_ms = 20000;
    create_topics({s.dlq_topic, s.inbound_topic}, 2);
    return s;
  }

  // Produces a DeadLetter to the test's DLQ topic and returns its coordinates.
  ctl::Coord dead_letter(const ctl::Settings& s, const v1::DeadLetter& d) {
    std::string err;
    auto p = kafka::Producer::create(kafka_settings(), err);
    EXPECT_TRUE(p) << err;
    std::string v;
    d.SerializeToString(&v);
    std::promise<kafka::DeliveryResult> done;
    auto f = done.get_future();
    EXPECT_EQ(p->produce(s.dlq_topic, 1, d.key(), v, {},
                         [&](const kafka::DeliveryResult& r) { done.set_value(r); })
                  .kind,
              kafka::errc::none);
    auto r = f.get();
    EXPECT_TRUE(r.ok()) << r.error.message;
    return {r.partition, r.offset};
  }

  v1::Notification notification(const std::string& ticket, const std::string& ssin) {
    v1::Notification n;
    n.set_flow(v1::FLOW_NOTIFY_PERSON);
    n.set_accepted_at_us(1);
    auto* b = n.mutable_notify_person();
    b->set_ticket(ticket);
    b->set_ssin(ssin);
    b->set_effective_date("2024-01-01");
    b->set_event(v1::NotifyPerson::DEATH);
    b->set_date_of_death("2024-01-01");
    *n.mutable_envelope()->mutable_ticket() = ticket;
    n.mutable_envelope()->set_ssin(ssin);
    n.mutable_envelope()->set_effective_date("2024-01-01");
    return n;
  }
};

TEST_F(CtlTest, ParsesCoordinates) {
  EXPECT_EQ(ctl::parse_coord("2:15"), (ctl::Coord{2, 15}));
  EXPECT_FALSE(ctl::parse_coord("2:"));
  EXPECT_FALSE(ctl::parse_coord(":1"));
  EXPECT_FALSE(ctl::parse_coord("-1:3"));
  EXPECT_FALSE(ctl::parse_coord("1:3x"));
}

TEST_F(CtlTest, ReplaysOnceUnlessForced) {
  auto s = settings();
  pg::Connection db(pg_dsn());
  auto ticket = uuid();
  auto ssin = random_ssin();
  auto n = notification(ticket, ssin);
  v1::DeadLetter d;
  d.set_source_topic("relais.inbound.v1");
  d.set_source_partition(0);
  d.set_source_offset(42);
  d.set_key(ssin);
  n.SerializeToString(d.mutable_value());
  d.set_reason("INVALID: TEST");
  auto at = dead_letter(s, d);

  auto rec = ctl::dlq_get(s, at);
  ASSERT_TRUE(rec);
  ASSERT_TRUE(rec->parsed);
  EXPECT_EQ(rec->letter.reason(), "INVALID: TEST");
  EXPECT_FALSE(ctl::dlq_get(s, {at.partition, at.offset + 5}));
  auto listed = ctl::dlq_list(s, 10);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].at, at);
  EXPECT_NE(ctl::dlq_json(*rec).find(ticket), std::string::npos);

  auto r1 = ctl::dlq_replay(s, db, {*rec}, false, std::nullopt);
  ASSERT_EQ(r1.size(), 1u);
  EXPECT_EQ(r1[0].status, ctl::ReplayOutcome::Status::replayed) << r1[0].detail;
  auto r2 = ctl::dlq_replay(s, db, {*rec}, false, std::nullopt);
  EXPECT_EQ(r2[0].status, ctl::ReplayOutcome::Status::already_replayed) << r2[0].detail;
  auto r3 = ctl::dlq_replay(s, db, {*rec}, true, std::nullopt);
  EXPECT_EQ(r3[0].status, ctl::ReplayOutcome::Status::replayed) << r3[0].detail;

  auto in = read_topic(s.inbound_topic);
  ASSERT_EQ(in.size(), 2u);
  for (auto& r : in) {
    EXPECT_EQ(r.key, ssin);
    EXPECT_EQ(r.value, d.value());
    EXPECT_EQ(r.ticket, ticket);
    EXPECT_EQ(r.flow, "notify-person");
    EXPECT_EQ(r.content_type, "application/x-protobuf");
  }
  EXPECT_EQ(count(db, "SELECT count(*) FROM dlq_replays WHERE dlq_topic = $1", {s.dlq_topic}), 2);
  EXPECT_EQ(
      count(db, "SELECT count(*) FROM dlq_replays WHERE dlq_topic = $1 AND forced AND ticket = $2",
            {s.dlq_topic, ticket}),
      1);
}

TEST_F(CtlTest, ReplaysACorrectedBody) {
  auto s = settings();
  pg::Connection db(pg_dsn());
  auto ticket = uuid();
  auto ssin = random_ssin();
  auto typo = ssin.substr(0, 9) + (ssin.substr(9) == "00" ? "01" : "00");
  v1::DeadLetter d;
  d.set_source_topic("relais.inbound.v1");
  d.set_key(typo);
  notification(ticket, typo).SerializeToString(d.mutable_value());
  d.set_reason("INVALID: INVALID_SSIN_CHECKSUM ssin");
  auto at = dead_letter(s, d);
  auto rec = ctl::dlq_get(s, at);
  ASSERT_TRUE(rec);

  auto body = [&](const std::string& t, const std::string& ss) {
    return R"({"ticket":")" + t + R"(","ssin":")" + ss +
           R"(","effective_date":"2024-01-01","event":"DEATH","date_of_death":"2024-01-01"})";
  };
  // Still invalid, or another ticket: refused, nothing produced, nothing recorded.
  auto bad =
      ctl::dlq_replay(s, db, {*rec}, false, ctl::Correction{body(ticket, typo), std::nullopt});
  EXPECT_EQ(bad[0].status, ctl::ReplayOutcome::Status::failed);
  EXPECT_NE(bad[0].detail.find("INVALID_SSIN_CHECKSUM"), std::string::npos) << bad[0].detail;
  auto other =
      ctl::dlq_replay(s, db, {*rec}, false, ctl::Correction{body(uuid(), ssin), std::nullopt});
  EXPECT_EQ(other[0].status, ctl::ReplayOutcome::Status::failed);
  EXPECT_EQ(count(db, "SELECT count(*) FROM dlq_replays WHERE dlq_topic = $1", {s.dlq_topic}), 0);

  auto ok =
      ctl::dlq_replay(s, db, {*rec}, false, ctl::Correction{body(ticket, ssin), std::nullopt});
  ASSERT_EQ(ok[0].status, ctl::ReplayOutcome::Status::replayed) << ok[0].detail;
  auto in = read_topic(s.inbound_topic);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].key, ssin);
  v1::Notification n;
  ASSERT_TRUE(n.ParseFromString(in[0].value));
  EXPECT_EQ(n.envelope().ssin(), ssin);
  EXPECT_EQ(n.envelope().ticket(), ticket);
  EXPECT_EQ(n.accepted_at_us(), 1);  // the original acceptance time is kept
  EXPECT_EQ(count(db, "SELECT count(*) FROM dlq_replays WHERE dlq_topic = $1 AND corrected",
                  {s.dlq_topic}),
            1);
}

TEST_F(CtlTest, JournalQueryFilters) {
  pg::Connection db(pg_dsn());
  auto ticket = uuid();
  auto ssin = random_ssin();
  auto cbe = unique_cbe(db);
  auto src = "itest/" + unique_suffix();
  // Rows as the sink wrote them before migration 0019, one per entry.
  db.exec(
      "INSERT INTO journal_rows (at, kind, ticket, ssin, flow, cpas_cbe, source) VALUES "
      "('2026-01-01T10:00:00Z', 'accepted', $1, $2, 'notify-person', NULL, $4), "
      "('2026-01-01T10:00:01Z', 'routed', $1, $2, 'notify-person', $3, $4), "
      "('2026-01-02T10:00:00Z', 'dropped', $1, $2, 'notify-person', NULL, $4 || 'x')",
      {ticket, ssin, cbe, src});
  ctl::JournalQuery q;
  q.ticket = ticket;
  EXPECT_EQ(ctl::query_journal(db, q).rows.size(), 3u);
  q.kind = "routed";
  auto r = ctl::query_journal(db, q);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][7], cbe);
  q.kind.reset();
  q.since = "2026-01-02";
  EXPECT_EQ(ctl::query_journal(db, q).rows.size(), 1u);
  q.since.reset();
  q.until = "2026-01-01T10:00:01Z";
  EXPECT_EQ(ctl::query_journal(db, q).rows.size(), 1u);
  ctl::JournalQuery by_ssin;
  by_ssin.ssin = ssin;
  by_ssin.limit = 2;
  EXPECT_EQ(ctl::query_journal(db, by_ssin).rows.size(), 2u);
  ctl::JournalQuery by_cpas;
  by_cpas.cpas = cbe;
  EXPECT_EQ(ctl::query_journal(db, by_cpas).rows.size(), 1u);
  // Since migration 0019 a notification's acceptance, routing and alerts are one row of
  // journal_rows; relaisctl journal reads them back as the entries they were, in journal order.
  const auto folded = uuid();
  db.exec(
      "INSERT INTO journal_rows (at, kind, ticket, ssin, flow, cpas_cbe, quality_code, source, "
      "accepted, alert_ids, alert_types) VALUES "
      "('2026-02-01T10:00:00Z', 'routed', $1, $2, 'notify-person', $3, 1, $4, true, "
      "'{al-1,al-2}', '{PERSON_CHANGED,ADDRESS_CHANGED}')",
      {folded, ssin, cbe, src + "f"});
  q = {};
  q.ticket = folded;
  r = ctl::query_journal(db, q);
  ASSERT_EQ(r.rows.size(), 4u);
  std::vector<std::string> kinds, reasons;
  for (const auto& row : r.rows) {
    kinds.push_back(row[1].value_or("-"));
    reasons.push_back(row[9].value_or("-"));
    EXPECT_EQ(row[3], ssin);
    EXPECT_EQ(row[10], src + "f");
  }
  // Newest first, and within one time as the router wrote them (alerts after the routing,
  // the routing after the acceptance).
  EXPECT_EQ(kinds, (std::vector<std::string>{"alert", "alert", "routed", "accepted"}));
  EXPECT_FALSE(r.rows[3][7].has_value());  // the acceptance names no CPAS
  EXPECT_EQ(r.rows[2][7], cbe);
  std::sort(reasons.begin(), reasons.begin() + 2);
  EXPECT_EQ(reasons[0], "ADDRESS_CHANGED");
  EXPECT_EQ(reasons[1], "PERSON_CHANGED");
  q.kind = "accepted";
  EXPECT_EQ(ctl::query_journal(db, q).rows.size(), 1u);
  // A notification routed to two CPAS whose acceptance rides on the row copied second (the
  // sink copies a batch's rows by CPAS): the acceptance is still listed last at its time.
  const auto two = uuid();
  auto cbe2 = unique_cbe(db);
  db.exec(
      "INSERT INTO journal_rows (at, kind, ticket, ssin, flow, cpas_cbe, quality_code, source, "
      "accepted) VALUES "
      "('2026-02-02T10:00:00Z', 'routed', $1, $2, 'notify-person', $3, 1, $5, false), "
      "('2026-02-02T10:00:00Z', 'routed', $1, $2, 'notify-person', $4, 1, $5, true)",
      {two, ssin, cbe, cbe2, src + "t"});
  ctl::JournalQuery by_two;
  by_two.ticket = two;
  r = ctl::query_journal(db, by_two);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0][1], "routed");
  EXPECT_EQ(r.rows[1][1], "routed");
  EXPECT_EQ(r.rows[2][1], "accepted");
  q.kind = "alert";
  EXPECT_EQ(ctl::query_journal(db, q).rows.size(), 2u);
  by_cpas.kind = "alert";
  EXPECT_EQ(ctl::query_journal(db, by_cpas).rows.size(), 2u);
  // A folded row that breaks the rules of 0019 is refused (an alert on a dropped row).
  EXPECT_THROW(
      db.exec("INSERT INTO journal_rows (at, kind, ticket, source, alert_ids, alert_types) "
              "VALUES (now(), 'dropped', $1, $2, '{x}', '{y}')",
              {folded, src + "-bad"}),
      pg::Error);
  // Hostile input never reaches SQL.
  ctl::JournalQuery evil;
  evil.ticket = "' OR 1=1 --";
  EXPECT_TRUE(ctl::validate(evil));
  evil = {};
  evil.since = "yesterday";
  EXPECT_TRUE(ctl::validate(evil));
  evil = {};
  evil.kind = "everything";
  EXPECT_TRUE(ctl::validate(evil));
}

TEST_F(CtlTest, RetryMakesFailingDeliveriesDue) {
  pg::Connection db(pg_dsn());
  auto cbe = unique_cbe(db);
  auto alert = uuid();
  db.exec(
      "INSERT INTO alerts (alert_id, cpas_cbe, type, severity, rule_id, ssin, ticket, flow, "
      "raised_at, source) "
      "VALUES ($1::uuid, $2, 'T', 'info', 'r', $3, $4, 'notify-person', now(), 'itest')",
      {alert, cbe, random_ssin(), uuid()});
  auto rid = db.exec(
                   "INSERT INTO reactions (alert_id, cpas_cbe, seq, code, actor, delivery_status, "
                   "attempts) "
                   "VALUES ($1::uuid, $2, 1, 'X', 'itest', 'FAILING', 7) RETURNING id::text",
                   {alert, cbe})
                 .str(0, 0);
  db.exec(
      "INSERT INTO outbox (reaction_id, destination, payload, idempotency_key, attempts, "
      "next_attempt_at) "
      "VALUES ($1::uuid, 'upstream', '{}', $1, 7, now() + interval '1 hour'), "
      "($1::uuid, 'kafka', '{}', $1, 7, now() + interval '1 hour')",
      {rid});
  ctl::ReactionQuery q;
  q.cpas = cbe;
  q.status = "FAILING";
  auto rows = ctl::query_reactions(db, q);
  ASSERT_EQ(rows.rows.size(), 1u);
  EXPECT_EQ(rows.rows[0][0], rid);
  EXPECT_EQ(ctl::retry_reactions(db, rid), 2);
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM outbox WHERE reaction_id = $1::uuid AND attempts = 0 "
                  "AND next_attempt_at <= now()",
                  {rid}),
            2);
  EXPECT_EQ(ctl::retry_reactions(db, uuid()), 0);
}

TEST_F(CtlTest, SumsMetrics) {
  auto m = ctl::sum_metrics(
      "# HELP x_total X\n# TYPE x_total counter\nx_total{a=\"1 2\"} 3\nx_total{a=\"b\"} 4.5\ny "
      "7\n");
  EXPECT_DOUBLE_EQ(m["x_total"], 7.5);
  EXPECT_DOUBLE_EQ(m["y"], 7);
}

}  // namespace
}  // namespace relais::itest
