// Clignotants in relais-api against the real PostgreSQL and Kafka: the alert
// store (transactional alert records → rows, aborted ones invisible, replays
// create nothing), the alert routes, the reaction POST (validation, one
// transaction with its outbox rows), and the outbox sender delivering to the
// upstream stand-in (tests/harness/upstream_standin.py, a subprocess) and to
// cpas.<cbe>.alert-reactions.v1, through failures, an outage and the breaker.
#include "relais/api/alerts.hpp"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <algorithm>
#include <boost/json.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "relais/api/alert_store.hpp"
#include "relais/common/metrics.hpp"
#include "relais/http/client.hpp"
#include "relais/http/router.hpp"
#include "relais/outbox/sender.hpp"
#include "relais/pg/pool.hpp"
#include "relais/v1/records.pb.h"
#include "relais/validation/date.hpp"
#include "support.hpp"

namespace relais::itest {
namespace {

namespace json = boost::json;
using http::verb;

// The upstream stand-in as a subprocess on ephemeral ports (reaction + control); `script` and
// `args`: another stand-in with the same control API (fake_sppis.py, mutual TLS).
class StandIn {
 public:
  explicit StandIn(std::string script = "upstream_standin.py", std::vector<std::string> args = {},
                   std::string scheme = "http", std::string host = "127.0.0.1")
      : scheme_(std::move(scheme)), host_(std::move(host)) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      std::string py = RELAIS_SOURCE_DIR "/var/venv/bin/python";
      std::string path = RELAIS_SOURCE_DIR "/tests/harness/" + script;
      std::vector<std::string> argv{py, path, "--port", "0", "--control-port", "0"};
      argv.insert(argv.end(), args.begin(), args.end());
      std::vector<char*> cargs;
      for (auto& a : argv) cargs.push_back(a.data());
      cargs.push_back(nullptr);
      ::execv(py.c_str(), cargs.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    FILE* f = ::fdopen(fds[0], "r");
    unsigned p = 0, c = 0;
    if (std::fscanf(f, "PORT %u CONTROL %u", &p, &c) != 2)
      throw std::runtime_error("stand-in did not start");
    std::fclose(f);
    port_ = static_cast<unsigned short>(p);
    control_ = static_cast<unsigned short>(c);
  }
  ~StandIn() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::string url() const {
    return scheme_ + "://" + host_ + ":" + std::to_string(port_) + "/pcsaa/alert-reactions";
  }
  json::value control(const std::string& body) {
    auto r = http::request("127.0.0.1", control_, verb::post, "/_control", body, "application/json",
                           {}, 10s);
    EXPECT_EQ(r.status, 200u) << r.body;
    return json::parse(r.body);
  }
  std::map<std::string, int> received() {
    auto r = http::request("127.0.0.1", control_, verb::get, "/_received", {}, {}, {}, 10s);
    std::map<std::string, int> out;
    auto v = json::parse(r.body);  // named: a range-for over a temporary's member would dangle
    for (const auto& x : v.at("received").as_array()) ++out[std::string(x.at("key").as_string())];
    return out;
  }

 private:
  std::string scheme_, host_;
  pid_t pid_ = -1;
  unsigned short port_ = 0, control_ = 0;
};

alerts::ReactionCodes default_codes() {
  auto r = alerts::load_reaction_codes(RELAIS_SOURCE_DIR "/deploy/rules/reaction-codes.yaml");
  return std::get<alerts::ReactionCodes>(r);
}

// Inserts a CPAS and `n` alerts directly (the store is tested separately): SPP IS clignotants
// (the only kind that takes a reaction), or early signals.
std::vector<std::string> seed_alerts(pg::Connection& c, const std::string& cbe, int n,
                                     const std::string& type, const std::string& due = "2099-01-01",
                                     const std::string& kind = "SPPIS_CLIGNOTANT") {
  c.exec(
      "INSERT INTO cpas (cbe, name, updated_by) VALUES ($1, 'CPAS itest alerts', 'itest') ON "
      "CONFLICT DO NOTHING",
      {cbe});
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    auto id = uuid();
    c.exec(
        "INSERT INTO alerts (alert_id, cpas_cbe, type, severity, rule_id, ssin, ticket, flow, "
        "event, effective_date, "
        "quality_codes, deadline_days, raised_at, due_date, notification, source, kind, sppis_id) "
        "VALUES ($1::uuid, $2, $3, 'high', "
        "'rule-x', $4, $5, 'notify-person', 'DEATH', '2024-01-01', '{2}', 7, now(), $6::date, "
        "'{\"cpas_cbe\":\"x\"}', 'itest', $7, $8)",
        {id, cbe, type, random_ssin(), uuid(), due, kind,
         kind == "SPPIS_CLIGNOTANT" ? pg::Param("CLG-" + id) : std::nullopt});
    ids.push_back(id);
  }
  return ids;
}

struct AlertsApi {
  explicit AlertsApi(std::function<void()> on_reaction = {}) : pool(pg_dsn(), 4) {
    api::AlertsOptions o;
    o.codes = default_codes();
    service = std::make_unique<api::AlertsService>(o, pool, registry, std::move(on_reaction));
    service->add_routes(routes);
    api::Caller worker;
    worker.op = true;
    worker.actor = "api:itest-worker";
    server = std::make_unique<InProcessServer>(routes.handler_as(worker));
  }
  ~AlertsApi() {
    server.reset();
    service.reset();
  }
  http::ClientResponse call(verb m, const std::string& target, const std::string& body = {},
                            const std::string& ct = "application/json") {
    return http::request("127.0.0.1", server->port(), m, target, body,
                         body.empty() ? std::string{} : ct, {}, 60s);
  }
  pg::Pool pool;
  metrics::Registry registry;
  api::RouteTable routes;
  std::unique_ptr<api::AlertsService> service;
  std::unique_ptr<InProcessServer> server;
};

outbox::SenderOptions sender_options(const std::string& url) {
  outbox::SenderOptions o;
  o.dsn = pg_dsn();
  o.upstream_url = url;
  o.timeout = 1000ms;
  o.backoff = {50ms, 500ms};
  o.concurrency = 4;
  o.breaker_failures = 3;
  o.breaker_open = 1000ms;
  o.poll = 50ms;
  o.kafka = kafka_settings();
  o.topic_partitions = 1;
  o.gauges_every = 500ms;
  o.instance = "itest";
  return o;
}

std::string code_of(const http::ClientResponse& r) {
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("code")) return {};
  return std::string(v.at("code").as_string());
}
std::string field_of(const http::ClientResponse& r) {
  auto v = json::parse(r.body);
  auto* f = v.as_object().if_contains("field");
  return f ? std::string(f->as_string()) : std::string{};
}

class AlertStoreTest : public IntegrationTest {};
class AlertRoutesTest : public IntegrationTest {};

// Produces alert records in one Kafka transaction, committed or aborted.
void produce_alerts(const std::string& topic, const std::vector<v1::Alert>& alerts, bool commit,
                    const std::vector<std::string>& raw = {}) {
  std::string err;
  auto s = kafka_settings();
  s["transactional.id"] = "itest-alerts-" + unique_suffix();
  auto p = kafka::TransactionalProducer::create(s, nullptr, err);
  ASSERT_TRUE(p) << err;
  auto check = [](const kafka::Error& e) { ASSERT_FALSE(e) << e.message; };
  check(p->init(20s));
  check(p->begin());
  auto send = [&](const std::string& key, const std::string& v) {
    check(p->send(topic, kafka::kAnyPartition, key, v, {}));
  };
  for (const auto& a : alerts) send(a.ssin(), a.SerializeAsString());
  for (const auto& r : raw) send("x", r);
  if (commit)
    check(p->commit(20s));
  else
    check(p->abort(20s));
}

v1::Alert make_alert(const std::string& cbe, const std::string& type) {
  v1::Alert a;
  a.set_alert_id(uuid());
  a.set_rule_id("rule-" + type);
  a.set_type(type);
  a.set_severity("high");
  a.set_cpas_cbe(cbe);
  a.set_ssin(random_ssin());
  a.set_ticket(uuid());
  a.set_flow(v1::FLOW_NOTIFY_PERSON);
  a.set_event("DEATH");
  a.set_effective_date("2024-03-01");
  a.add_quality_codes(2);
  a.set_deadline_days(7);
  a.set_due_date("2024-03-08");
  a.set_raised_at_us(1700000000000000LL);
  a.mutable_notification()->set_cpas_cbe(cbe);
  a.set_description("itest");
  return a;
}

// An alert store of the test's own group, reading only this CPAS's alert topic. (The production
// regex matches every CPAS's alert topic of the shared stack; this is still a regex subscription,
// to a topic that may not exist yet.)
api::AlertStoreOptions alert_store_options(const std::string& cbe) {
  api::AlertStoreOptions o;
  o.kafka = kafka_settings();
  o.dsn = pg_dsn();
  o.group_id = "itest-alert-store-" + unique_suffix();
  o.topic_regex = "^cpas\\." + cbe + "\\.alerts\\.v1$";
  o.metadata_refresh_ms = 500;
  o.linger = 100ms;
  return o;
}

// Issue 21, finding 2: one alert PostgreSQL refuses (a notification whose name holds a NUL, which
// jsonb refuses) used to stop the alert store for every CPAS, across restarts. Now it is set aside
// in sink_dead_letters with its source, the others are stored, the sink goes on.
TEST_F(AlertStoreTest, ARecordPostgresRefusesIsSetAsideAndTheOthersAreStored) {
  pg::Connection c(pg_dsn());
  auto cbe = unique_cbe(c);
  std::string topic = "cpas." + cbe + ".alerts.v1";
  create_topics({topic}, 1);
  std::vector<v1::Alert> first, second;
  for (int i = 0; i < 5; ++i) first.push_back(make_alert(cbe, "PERSON_DECEASED"));
  auto poison = make_alert(cbe, "PERSON_DECEASED");
  poison.mutable_notification()->mutable_notification()->mutable_notify_person()->set_last_name(
      std::string("Dupont\0X", 8));
  poison.set_description(std::string("bad\0", 4));
  first.push_back(poison);
  for (int i = 0; i < 5; ++i) first.push_back(make_alert(cbe, "EMPLOYMENT_STARTED"));
  produce_alerts(topic, first, true);

  metrics::Registry reg;
  auto o = alert_store_options(cbe);
  api::AlertStore store(o, reg);
  ASSERT_FALSE(store.start());
  auto stored = [&] { return count(c, "SELECT count(*) FROM alerts WHERE cpas_cbe = $1", {cbe}); };
  EXPECT_TRUE(eventually([&] { return stored() >= 10; }, 60s, 100ms)) << "stored " << stored();
  EXPECT_EQ(count(c, "SELECT count(*) FROM alerts WHERE alert_id = $1::uuid", {poison.alert_id()}),
            0);
  auto dl = c.exec(
      "SELECT source, sqlstate, reason, length(payload) FROM sink_dead_letters "
      "WHERE sink = 'alert-store' AND source LIKE $1",
      {topic + "/%"});
  ASSERT_EQ(dl.rows(), 1);
  EXPECT_EQ(dl.str(0, 0), topic + "/0/5");
  EXPECT_EQ(dl.str(0, 2).find("Dupont"), std::string::npos)
      << "no personal data in the reason: " << dl.str(0, 2);
  EXPECT_EQ(dl.integer(0, 3), static_cast<long long>(poison.SerializeAsString().size()));

  // The sink did not stop: later alerts are stored too.
  for (int i = 0; i < 3; ++i) second.push_back(make_alert(cbe, "PERSON_DECEASED"));
  produce_alerts(topic, second, true);
  EXPECT_TRUE(eventually([&] { return stored() >= 13; }, 60s, 100ms)) << "stored " << stored();
  EXPECT_LT(store.age_seconds(), 10.0);
  store.stop();
  EXPECT_NE(reg.render().find("relais_sink_dead_letters_total{sink=\"alert-store\"} 1"),
            std::string::npos)
      << reg.render();
}

TEST_F(AlertStoreTest, StoresCommittedAlertsOnceAndIgnoresAbortedOnes) {
  pg::Connection c(pg_dsn());
  auto cbe = unique_cbe(c);
  std::string topic = "cpas." + cbe + ".alerts.v1";
  metrics::Registry reg;
  auto o = alert_store_options(cbe);
  auto store = std::make_unique<api::AlertStore>(o, reg);
  ASSERT_FALSE(store->start());
  // The topic appears after the store subscribed: the regex picks it up.
  create_topics({topic}, 3);
  std::vector<v1::Alert> committed;
  for (int i = 0; i < 40; ++i)
    committed.push_back(make_alert(cbe, i % 2 ? "PERSON_DECEASED" : "EMPLOYMENT_STARTED"));
  std::vector<v1::Alert> aborted{make_alert(cbe, "PERSON_DECEASED")};
  produce_alerts(topic, aborted, false);
  // A duplicate record and an undecodable one in the same committed transaction.
  auto with_dup = committed;
  with_dup.push_back(committed[3]);
  produce_alerts(topic, with_dup, true, {"not a protobuf \xff\xff"});
  auto stored = [&] { return count(c, "SELECT count(*) FROM alerts WHERE cpas_cbe = $1", {cbe}); };
  EXPECT_TRUE(eventually([&] { return stored() >= 40; }, 60s, 100ms)) << "stored " << stored();
  EXPECT_EQ(stored(), 40);
  EXPECT_EQ(
      count(c, "SELECT count(*) FROM alerts WHERE alert_id = $1::uuid", {aborted[0].alert_id()}),
      0);
  auto row = c.exec(
      "SELECT type, status, ssin, flow, effective_date::text, quality_codes::text, due_date::text, "
      "notification->>'cpas_cbe' FROM alerts WHERE alert_id = $1::uuid",
      {committed[0].alert_id()});
  ASSERT_EQ(row.rows(), 1);
  EXPECT_EQ(row.str(0, 0), "EMPLOYMENT_STARTED");
  EXPECT_EQ(row.str(0, 1), "OPEN");
  EXPECT_EQ(row.str(0, 2), committed[0].ssin());
  EXPECT_EQ(row.str(0, 3), "notify-person");
  EXPECT_EQ(row.str(0, 4), "2024-03-01");
  EXPECT_EQ(row.str(0, 5), "{2}");
  EXPECT_EQ(row.str(0, 6), "2024-03-08");
  EXPECT_EQ(row.str(0, 7), cbe);
  store->stop();
  auto rendered = reg.render();
  EXPECT_NE(rendered.find("relais_api_alerts_stored_total{type=\"PERSON_DECEASED\"}"),
            std::string::npos);
  EXPECT_NE(rendered.find("relais_api_alerts_undecodable_total 1"), std::string::npos) << rendered;

  // Replay everything with a fresh group: nothing new.
  metrics::Registry reg2;
  o.group_id = "itest-alert-store-" + unique_suffix();
  store = std::make_unique<api::AlertStore>(o, reg2);
  ASSERT_FALSE(store->start());
  auto dups = [&] {
    auto r = reg2.render();
    std::string name = "\nrelais_api_alerts_duplicates_total ";
    auto p = r.find(name);
    return p == std::string::npos ? 0.0 : std::strtod(r.c_str() + p + name.size(), nullptr);
  };
  EXPECT_TRUE(eventually([&] { return dups() >= 41; }, 60s, 100ms)) << reg2.render();
  EXPECT_EQ(stored(), 40);
  store->stop();
}

TEST_F(AlertRoutesTest, ListReadAndValidate) {
  pg::Connection c(pg_dsn());
  auto cbe = unique_cbe(c), other = unique_cbe(c);
  auto open = seed_alerts(c, cbe, 5, "PERSON_DECEASED");
  auto overdue = seed_alerts(c, cbe, 3, "EMPLOYMENT_STARTED", "2020-01-01");
  auto foreign = seed_alerts(c, other, 1, "PERSON_DECEASED");
  AlertsApi api;
  auto base = "/v1/cpas/" + cbe + "/alerts";
  auto list = [&](const std::string& q) {
    auto r = api.call(verb::get, base + q);
    EXPECT_EQ(r.status, 200u) << q << " " << r.body;
    return json::parse(r.body).at("alerts").as_array().size();
  };
  EXPECT_EQ(list(""), 8u);
  EXPECT_EQ(list("?type=EMPLOYMENT_STARTED"), 3u);
  EXPECT_EQ(list("?overdue=true"), 3u);
  EXPECT_EQ(list("?overdue=false"), 5u);
  EXPECT_EQ(list("?status=OPEN"), 8u);
  EXPECT_EQ(list("?status=SENT"), 0u);
  // Paging with limit/after covers every alert once.
  std::set<std::string> seen;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    auto r = api.call(verb::get, base + "?limit=3" + (after.empty() ? "" : "&after=" + after));
    auto v = json::parse(r.body).as_object();
    for (const auto& a : v.at("alerts").as_array())
      seen.insert(std::string(a.at("alert_id").as_string()));
    if (!v.contains("next_after")) break;
    after = std::to_string(v.at("next_after").as_int64());
  }
  EXPECT_EQ(seen.size(), 8u);
  for (const char* q : {"?status=DONE", "?overdue=yes", "?limit=0", "?limit=100000", "?after=x",
                        "?type=lower", "?colour=red"}) {
    auto r = api.call(verb::get, base + q);
    EXPECT_EQ(r.status, 400u) << q << " " << r.body;
  }
  EXPECT_EQ(api.call(verb::get, "/v1/cpas/0123456789/alerts").status, 400u);  // bad check digits
  // One alert, with its notification; another CPAS's alert is not found (never revealed).
  auto one = api.call(verb::get, base + "/" + open[0]);
  ASSERT_EQ(one.status, 200u) << one.body;
  auto v = json::parse(one.body).as_object();
  EXPECT_EQ(v.at("status").as_string(), "OPEN");
  EXPECT_TRUE(v.at("notification").is_object());
  EXPECT_TRUE(v.at("reactions").as_array().empty());
  auto nf = api.call(verb::get, base + "/" + foreign[0]);
  EXPECT_EQ(nf.status, 404u);
  EXPECT_EQ(code_of(nf), "ALERT_NOT_FOUND");
  EXPECT_EQ(api.call(verb::get, base + "/" + uuid()).status, 404u);
  auto bad_id = api.call(verb::get, base + "/not-a-uuid");
  EXPECT_EQ(bad_id.status, 400u);
  EXPECT_EQ(code_of(bad_id), "INVALID_ALERT_ID");
  auto codes = api.call(verb::get, "/v1/reaction-codes");
  EXPECT_NE(codes.body.find("NO_IMPACT"), std::string::npos);
}

TEST_F(AlertRoutesTest, ReactionValidationAndOneTransaction) {
  pg::Connection c(pg_dsn());
  auto cbe = unique_cbe(c), other = unique_cbe(c);
  auto ids = seed_alerts(c, cbe, 2, "PERSON_DECEASED");
  auto foreign = seed_alerts(c, other, 1, "PERSON_DECEASED");
  AlertsApi api;
  auto url = [&](const std::string& id) {
    return "/v1/cpas/" + cbe + "/alerts/" + id + "/reaction";
  };
  struct Case {
    std::string body;
    unsigned status;
    std::string code, field;
  };
  std::string long_comment(1001, 'x');
  std::vector<Case> cases{
      {R"({"code":"MAYBE"})", 400, "INVALID_REACTION_CODE", "code"},
      {R"({"code":"no_impact"})", 400, "INVALID_REACTION_CODE", "code"},
      {R"({})", 400, "MISSING_FIELD", "code"},
      {R"({"code":7})", 400, "WRONG_TYPE", "code"},
      {R"({"code":"NO_IMPACT","extra":1})", 400, "UNKNOWN_FIELD", "extra"},
      {R"({"code":"NO_IMPACT","comment":5})", 400, "WRONG_TYPE", "comment"},
      {R"({"code":"NO_IMPACT","amendment":"yes"})", 400, "WRONG_TYPE", "amendment"},
      {R"({"code":"NO_IMPACT","comment":")" + long_comment + R"("})", 400, "FIELD_TOO_LONG",
       "comment"},
      {R"([1])", 400, "MALFORMED_JSON", ""},
      {R"({"code":"NO_IMPACT")", 400, "MALFORMED_JSON", ""},
  };
  for (const auto& k : cases) {
    auto r = api.call(verb::post, url(ids[0]), k.body);
    EXPECT_EQ(r.status, k.status) << k.body << " -> " << r.body;
    EXPECT_EQ(code_of(r), k.code) << k.body;
    EXPECT_EQ(field_of(r), k.field) << k.body;
  }
  EXPECT_EQ(api.call(verb::post, url(ids[0]), R"({"code":"NO_IMPACT"})", "text/plain").status,
            415u);
  // Another CPAS's alert and an unknown alert: 404, nothing written.
  auto nf = api.call(verb::post, url(foreign[0]), R"({"code":"NO_IMPACT"})");
  EXPECT_EQ(nf.status, 404u);
  EXPECT_EQ(code_of(nf), "ALERT_NOT_FOUND");
  EXPECT_EQ(api.call(verb::post, url(uuid()), R"({"code":"NO_IMPACT"})").status, 404u);
  EXPECT_EQ(count(c, "SELECT count(*) FROM reactions WHERE alert_id = $1::uuid", {foreign[0]}), 0);
  EXPECT_EQ(count(c, "SELECT count(*) FROM reactions WHERE alert_id = $1::uuid", {ids[0]}), 0);
  // A 1000-character comment (multi-byte) is fine.
  std::string comment;
  for (int i = 0; i < 1000; ++i) comment += "é";
  auto ok =
      api.call(verb::post, url(ids[0]), R"({"code":"NO_IMPACT","comment":")" + comment + R"("})");
  ASSERT_EQ(ok.status, 201u) << ok.body;
  auto rid = std::string(json::parse(ok.body).at("reaction_id").as_string());
  EXPECT_EQ(c.exec("SELECT status FROM alerts WHERE alert_id = $1::uuid", {ids[0]}).str(0, 0),
            "REACTED");
  auto ob = c.exec(
      "SELECT destination, idempotency_key, status, payload FROM outbox WHERE reaction_id = "
      "$1::uuid "
      "ORDER BY destination",
      {rid});
  ASSERT_EQ(ob.rows(), 2);
  EXPECT_EQ(ob.str(0, 0), "kafka");
  EXPECT_EQ(ob.str(1, 0), "upstream");
  EXPECT_EQ(ob.str(1, 1), rid);
  EXPECT_EQ(ob.str(1, 2), "pending");
  auto payload = json::parse(ob.str(1, 3)).as_object();
  EXPECT_EQ(payload.at("code").as_string(), "NO_IMPACT");
  EXPECT_EQ(payload.at("cpas_cbe").as_string(), cbe);
  EXPECT_EQ(payload.at("idempotency_key").as_string(), rid);
  // Second reaction: 409 unless it is an amendment.
  auto again = api.call(verb::post, url(ids[0]), R"({"code":"AID_REVISED"})");
  EXPECT_EQ(again.status, 409u);
  EXPECT_EQ(code_of(again), "REACTION_EXISTS");
  auto amend = api.call(verb::post, url(ids[0]), R"({"code":"AID_REVISED","amendment":true})");
  ASSERT_EQ(amend.status, 201u) << amend.body;
  EXPECT_EQ(json::parse(amend.body).at("sequence").as_int64(), 2);
  EXPECT_EQ(count(c,
                  "SELECT count(*) FROM outbox o JOIN reactions r ON r.id = o.reaction_id WHERE "
                  "r.alert_id = $1::uuid",
                  {ids[0]}),
            4);
  // Concurrent first reactions to one alert: exactly one wins.
  std::vector<std::thread> ts;
  std::atomic<int> created{0}, conflicts{0};
  for (int i = 0; i < 6; ++i)
    ts.emplace_back([&] {
      auto r = api.call(verb::post, url(ids[1]), R"({"code":"ALREADY_KNOWN"})");
      if (r.status == 201) ++created;
      if (r.status == 409) ++conflicts;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(conflicts.load(), 5);
  // Nothing delivers here: leave no pending rows behind for other tests' senders.
  c.exec(
      "UPDATE outbox SET status = 'done' WHERE reaction_id IN (SELECT id FROM reactions WHERE "
      "cpas_cbe = $1)",
      {cbe});
}

TEST_F(AlertRoutesTest, SenderDeliversThroughFailuresOutageAndBreaker) {
  pg::Connection c(pg_dsn());
  auto cbe = unique_cbe(c);
  auto ids = seed_alerts(c, cbe, 30, "PERSON_DECEASED");
  StandIn up;
  metrics::Registry sreg;
  outbox::Sender sender(sender_options(up.url()), sreg);
  ASSERT_FALSE(sender.start());
  AlertsApi api([&sender] { sender.wake(); });
  auto react = [&](const std::string& id) {
    auto r = api.call(verb::post, "/v1/cpas/" + cbe + "/alerts/" + id + "/reaction",
                      R"({"code":"NO_IMPACT"})");
    EXPECT_EQ(r.status, 201u) << r.body;
    return std::string(json::parse(r.body).at("reaction_id").as_string());
  };
  auto status_of = [&](const std::string& rid) {
    return c.exec("SELECT delivery_status FROM reactions WHERE id = $1::uuid", {rid}).str(0, 0);
  };
  // 1. Healthy: delivered to both destinations, alert SENT, each key received once.
  auto r0 = react(ids[0]);
  ASSERT_TRUE(eventually([&] { return status_of(r0) == "SENT"; }, 20s, 50ms)) << status_of(r0);
  EXPECT_EQ(c.exec("SELECT status FROM alerts WHERE alert_id = $1::uuid", {ids[0]}).str(0, 0),
            "SENT");
  EXPECT_EQ(up.received()[r0], 1);
  auto recs = read_topic("cpas." + cbe + ".alert-reactions.v1");
  ASSERT_EQ(recs.size(), 1u);
  v1::AlertReaction ar;
  ASSERT_TRUE(ar.ParseFromString(recs[0].value));
  EXPECT_EQ(ar.reaction_id(), r0);
  EXPECT_EQ(ar.code(), "NO_IMPACT");
  EXPECT_EQ(recs[0].content_type, "application/x-protobuf");

  // 2. Upstream answers 503: FAILING with the error, retried, journaled; then SENT once it
  // recovers.
  up.control(R"({"mode":"fail"})");
  auto r1 = react(ids[1]);
  ASSERT_TRUE(eventually([&] { return status_of(r1) == "FAILING"; }, 20s, 50ms));
  auto le = c.exec("SELECT last_error FROM reactions WHERE id = $1::uuid", {r1}).str(0, 0);
  EXPECT_NE(le.find("http_5xx"), std::string::npos) << le;
  // 3. Down (connection refused): the breaker opens.
  up.control(R"({"mode":"ok","down":true})");
  auto r2 = react(ids[2]);
  ASSERT_TRUE(eventually(
      [&] { return sender.breaker_state() != outbox::CircuitBreaker::State::closed; }, 20s, 50ms));
  EXPECT_TRUE(eventually(
      [&] {
        return count(c,
                     "SELECT count(*) FROM reaction_attempts WHERE reaction_id IN ($1::uuid, "
                     "$2::uuid) AND outcome = "
                     "'connect_error'",
                     {r1, r2}) > 0;
      },
      20s, 50ms));
  up.control(R"({"down":false})");
  ASSERT_TRUE(
      eventually([&] { return status_of(r1) == "SENT" && status_of(r2) == "SENT"; }, 30s, 100ms))
      << status_of(r1) << " " << status_of(r2);
  EXPECT_EQ(sender.breaker_state(), outbox::CircuitBreaker::State::closed);
  EXPECT_GE(up.received()[r1], 1);
  EXPECT_GE(count(c,
                  "SELECT count(*) FROM reaction_attempts WHERE reaction_id = $1::uuid AND outcome "
                  "= 'http_5xx'",
                  {r1}),
            1);
  EXPECT_EQ(count(c,
                  "SELECT count(*) FROM reaction_attempts WHERE reaction_id = $1::uuid AND outcome "
                  "= 'sent' "
                  "AND destination = 'upstream'",
                  {r1}),
            1);
  // 4. Resets and timeouts are retried too.
  up.control(R"({"reset":true})");
  auto r3 = react(ids[3]);
  EXPECT_TRUE(eventually(
      [&] {
        return count(c,
                     "SELECT count(*) FROM reaction_attempts WHERE reaction_id = $1::uuid AND "
                     "outcome = 'reset'",
                     {r3}) > 0;
      },
      20s, 50ms));
  up.control(R"({"reset":false,"timeout":true})");
  auto r4 = react(ids[4]);
  EXPECT_TRUE(eventually(
      [&] {
        return count(c,
                     "SELECT count(*) FROM reaction_attempts WHERE reaction_id = $1::uuid AND "
                     "outcome = 'timeout'",
                     {r4}) > 0;
      },
      20s, 50ms));
  up.control(R"({"timeout":false})");
  ASSERT_TRUE(
      eventually([&] { return status_of(r3) == "SENT" && status_of(r4) == "SENT"; }, 30s, 100ms));
  // 5. A 4xx refusal: FAILED with the upstream's answer, never retried blindly; an operator's
  // retry (relaisctl reactions retry) sends it again.
  up.control(R"({"mode":"fail","status":422})");
  auto r5 = react(ids[5]);
  ASSERT_TRUE(eventually([&] { return status_of(r5) == "FAILED"; }, 20s, 50ms));
  EXPECT_EQ(sender.breaker_state(), outbox::CircuitBreaker::State::closed);
  EXPECT_NE(c.exec("SELECT last_error FROM reactions WHERE id = $1::uuid", {r5})
                .str(0, 0)
                .find("upstream answered 422"),
            std::string::npos);
  up.control(R"({"mode":"ok"})");
  std::this_thread::sleep_for(2s);  // several backoff periods: nothing is retried by itself
  EXPECT_EQ(status_of(r5), "FAILED");
  EXPECT_EQ(count(c,
                  "SELECT count(*) FROM reaction_attempts WHERE reaction_id = $1::uuid AND "
                  "destination = 'upstream'",
                  {r5}),
            1);
  EXPECT_EQ(c.exec("SELECT status FROM alerts WHERE alert_id = $1::uuid", {ids[5]}).str(0, 0),
            "REACTED");
  EXPECT_EQ(outbox::retry_now(c, r5), 1);
  sender.wake();
  ASSERT_TRUE(eventually([&] { return status_of(r5) == "SENT"; }, 20s, 100ms));
  // 6. SPP IS answers a key it already received with 409: delivered, not an error.
  up.control(R"({"mode":"fail","status":409})");
  auto r6 = react(ids[6]);
  ASSERT_TRUE(eventually([&] { return status_of(r6) == "SENT"; }, 20s, 50ms));
  EXPECT_EQ(count(c,
                  "SELECT count(*) FROM reaction_attempts WHERE reaction_id = $1::uuid AND "
                  "destination = 'upstream' AND outcome = 'duplicate'",
                  {r6}),
            1);
  up.control(R"({"mode":"ok"})");
  auto m = sreg.render();
  EXPECT_NE(m.find("relais_outbox_attempts_total{destination=\"upstream\",outcome=\"http_5xx\"}"),
            std::string::npos);
  EXPECT_NE(m.find("relais_upstream_breaker_state"), std::string::npos);
  sender.stop();
}

TEST_F(AlertRoutesTest, TwoSendersShareTheOutboxWithoutDoubleDelivery) {
  pg::Connection c(pg_dsn());
  auto cbe = unique_cbe(c);
  auto ids = seed_alerts(c, cbe, 60, "PERSON_DECEASED");
  StandIn up;
  metrics::Registry r1, r2;
  // Reactions first, senders after: both race for the same rows.
  AlertsApi api;
  std::set<std::string> rids;
  for (const auto& id : ids) {
    auto r = api.call(verb::post, "/v1/cpas/" + cbe + "/alerts/" + id + "/reaction",
                      R"({"code":"ALREADY_KNOWN"})");
    ASSERT_EQ(r.status, 201u);
    rids.insert(std::string(json::parse(r.body).at("reaction_id").as_string()));
  }
  outbox::Sender a(sender_options(up.url()), r1), b(sender_options(up.url()), r2);
  ASSERT_FALSE(a.start());
  ASSERT_FALSE(b.start());
  ASSERT_TRUE(eventually(
      [&] {
        return count(c, "SELECT count(*) FROM alerts WHERE cpas_cbe = $1 AND status = 'SENT'",
                     {cbe}) == 60;
      },
      60s, 100ms));
  a.stop();
  b.stop();
  auto got = up.received();
  for (const auto& rid : rids)
    EXPECT_EQ(got[rid], 1) << rid;  // healthy upstream: each row claimed once
  EXPECT_EQ(
      count(c,
            "SELECT count(*) FROM reaction_attempts a JOIN reactions r ON r.id = a.reaction_id "
            "WHERE r.cpas_cbe = $1",
            {cbe}),
      120);
}

// Over HTTPS to the fake SPP IS (tests/harness/fake_sppis.py), which requires a client
// certificate from the test CA named relais-api: with it, delivered; with the same name from
// another CA, the handshake fails: FAILING with tls_error, retried, never lost.
TEST_F(AlertRoutesTest, SenderUsesTheClientCertificateOverHttps) {
  const std::string dir = "/tmp/relais-itest-sppis-" + uuid();
  ASSERT_EQ(std::system(("sh " RELAIS_SOURCE_DIR "/tests/tls/make-certs.sh " + dir).c_str()), 0);
  pg::Connection c(pg_dsn());
  auto cbe = unique_cbe(c);
  auto ids = seed_alerts(c, cbe, 2, "PERSON_DECEASED");
  StandIn sppis("fake_sppis.py",
                {"--cert", dir + "/server.pem", "--key", dir + "/server.key", "--client-ca",
                 dir + "/ca.pem", "--allowed-clients", "relais-api"},
                "https", "localhost");
  auto with_cert = [&](const std::string& name) {
    auto o = sender_options(sppis.url());
    o.tls = {.ca_file = dir + "/ca.pem",
             .cert_file = dir + "/" + name + ".pem",
             .key_file = dir + "/" + name + ".key"};
    return o;
  };
  auto status_of = [&](const std::string& rid) {
    return c.exec("SELECT delivery_status FROM reactions WHERE id = $1::uuid", {rid}).str(0, 0);
  };
  AlertsApi api;
  auto react = [&](const std::string& id) {
    auto r = api.call(verb::post, "/v1/cpas/" + cbe + "/alerts/" + id + "/reaction",
                      R"({"code":"NO_IMPACT"})");
    EXPECT_EQ(r.status, 201u) << r.body;
    return std::string(json::parse(r.body).at("reaction_id").as_string());
  };
  {
    metrics::Registry reg;
    outbox::Sender wrong(with_cert("relais-api-other"), reg);
    ASSERT_FALSE(wrong.start());
    auto r0 = react(ids[0]);
    ASSERT_TRUE(eventually(
        [&] {
          return count(
                     c,
                     "SELECT count(*) FILTER (WHERE outcome = 'tls_error') FROM "
                     "reaction_attempts WHERE reaction_id = $1::uuid AND destination = 'upstream'",
                     {r0}) > 0;
        },
        20s, 50ms));
    EXPECT_EQ(status_of(r0), "FAILING");
    EXPECT_EQ(sppis.received().count(r0), 0u);
    wrong.stop();
    metrics::Registry reg2;
    outbox::Sender right(with_cert("relais-api"), reg2);
    ASSERT_FALSE(right.start());
    auto r1 = react(ids[1]);
    EXPECT_TRUE(
        eventually([&] { return status_of(r0) == "SENT" && status_of(r1) == "SENT"; }, 30s, 100ms))
        << status_of(r0) << " " << status_of(r1);
    auto got = sppis.received();
    EXPECT_EQ(got[r0], 1);
    EXPECT_EQ(got[r1], 1);
    right.stop();
  }
  // A key file that does not belong to the certificate: the sender does not start.
  auto bad = with_cert("relais-api");
  bad.tls.key_file = dir + "/client.key";
  metrics::Registry reg3;
  outbox::Sender mismatched(bad, reg3);
  auto err = mismatched.start();
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("upstream.tls: key_file \"" + dir + "/client.key\""), std::string::npos)
      << *err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace relais::itest

namespace relais::itest {
namespace {

// ---- SPP IS clignotants (issue 16) -------------------------------------------------------------

v1::Alert early_signal(const std::string& cbe, const std::string& ssin, const std::string& type,
                       const std::string& effective, std::int64_t raised_at_us) {
  auto a = make_alert(cbe, type);
  a.set_kind("EARLY_SIGNAL");
  a.set_ssin(ssin);
  a.set_effective_date(effective);
  a.set_raised_at_us(raised_at_us);
  return a;
}

v1::Alert sppis_alert(const std::string& cbe, const std::string& ssin, const std::string& sppis_id,
                      const std::string& type, const std::string& start, const std::string& end,
                      const std::string& issued) {
  auto a = make_alert(cbe, type);
  a.set_kind("SPPIS_CLIGNOTANT");
  a.set_sppis_id(sppis_id);
  a.set_rule_id("sppis-clignotant");
  a.set_ssin(ssin);
  a.set_flow(v1::FLOW_SPPIS_CLIGNOTANT);
  a.set_event("ISSUED");
  a.set_effective_date(start);
  a.set_period_end(end);
  a.set_raised_at_us(1720000000000000LL);
  auto& c = *a.mutable_notification()->mutable_notification()->mutable_sppis_clignotant();
  c.set_sppis_id(sppis_id);
  c.set_issued_date(issued);
  return a;
}

TEST_F(AlertStoreTest, SppisClignotantStoredOnceByItsIdentifierAndLinkedToItsEarlySignal) {
  pg::Connection c(pg_dsn());
  auto cbe = unique_cbe(c);
  std::string topic = "cpas." + cbe + ".alerts.v1";
  create_topics({topic}, 1);
  const auto person = random_ssin(), other = random_ssin();
  constexpr std::int64_t kRaised = 1700000000000000LL;  // 2023-11-14 22:13 UTC
  // The early signal of the fact; then signals that must NOT be linked: another type (not mapped
  // from WORK_INCOME), a date far outside the period, another person. And one raised later, which
  // matches too: the earliest wins.
  auto early = early_signal(cbe, person, "EMPLOYMENT_STARTED", "2024-03-10", kRaised);
  auto later =
      early_signal(cbe, person, "EMPLOYMENT_STARTED", "2024-03-20", kRaised + 86400000000LL);
  auto other_type = early_signal(cbe, person, "PERSON_DECEASED", "2024-03-10", kRaised - 1);
  auto far = early_signal(cbe, person, "EMPLOYMENT_STARTED", "2023-01-10", kRaised - 2);
  auto other_person = early_signal(cbe, other, "EMPLOYMENT_STARTED", "2024-03-10", kRaised - 3);
  produce_alerts(topic, {early, later, other_type, far, other_person}, true);

  metrics::Registry reg;
  auto o = alert_store_options(cbe);
  o.match_window_days = 31;
  api::AlertStore store(o, reg);
  ASSERT_FALSE(store.start());
  auto stored = [&] { return count(c, "SELECT count(*) FROM alerts WHERE cpas_cbe = $1", {cbe}); };
  ASSERT_TRUE(eventually([&] { return stored() >= 5; }, 60s, 100ms)) << stored();
  EXPECT_EQ(count(c,
                  "SELECT count(*) FROM alerts WHERE cpas_cbe = $1 AND kind = 'EARLY_SIGNAL' AND "
                  "sppis_id IS NULL",
                  {cbe}),
            5);
  c.exec(
      "UPDATE alerts SET notes = 'called the employer', follow_up = 'DONE', "
      "proposed_code = 'AID_REVISED' WHERE alert_id = $1::uuid",
      {early.alert_id()});

  // The clignotant: period 2024-02-01..2024-02-29, the early signal 10 days after it (within the
  // 31-day window); the same SPP IS identifier again under another alert id (another ticket).
  const std::string sppis_id = "CLG-IT-" + unique_suffix();
  auto clg =
      sppis_alert(cbe, person, sppis_id, "WORK_INCOME", "2024-02-01", "2024-02-29", "2024-05-01");
  auto again = clg;
  again.set_alert_id(uuid());
  produce_alerts(topic, {clg, again}, true);
  ASSERT_TRUE(eventually([&] { return stored() >= 6; }, 60s, 100ms)) << stored();
  // One row for the identifier, whichever of the two alert ids came first.
  auto r = c.exec(
      "SELECT kind, sppis_id, linked_alert_id::text, lead_days, notes, period_end::text, "
      "issued_date::text, alert_id::text, follow_up, proposed_code FROM alerts WHERE sppis_id = $1",
      {sppis_id});
  ASSERT_EQ(r.rows(), 1);
  EXPECT_EQ(r.str(0, 0), "SPPIS_CLIGNOTANT");
  EXPECT_TRUE(r.str(0, 7) == clg.alert_id() || r.str(0, 7) == again.alert_id()) << r.str(0, 7);
  EXPECT_EQ(r.str(0, 2), early.alert_id());
  EXPECT_EQ(r.integer(0, 3), 169);  // 2023-11-14 -> 2024-05-01, counted by hand
  EXPECT_EQ(r.str(0, 4), "called the employer");
  EXPECT_EQ(r.str(0, 8), "DONE");  // the follow-up and the intended code carry over too
  EXPECT_EQ(r.str(0, 9), "AID_REVISED");
  EXPECT_EQ(r.str(0, 5), "2024-02-29");
  EXPECT_EQ(r.str(0, 6), "2024-05-01");
  EXPECT_EQ(count(c, "SELECT count(*) FROM alerts WHERE alert_id = $1::uuid OR alert_id = $2::uuid",
                  {clg.alert_id(), again.alert_id()}),
            1);
  auto linked = c.exec(
      "SELECT alert_id::text FROM alerts WHERE cpas_cbe = $1 AND kind = 'EARLY_SIGNAL' AND "
      "linked_alert_id IS NOT NULL",
      {cbe});
  ASSERT_EQ(linked.rows(), 1);  // only the earliest matching one
  EXPECT_EQ(linked.str(0, 0), early.alert_id());

  // A second clignotant of the same fact links the next early signal; an unmapped type none.
  auto clg2 = sppis_alert(cbe, person, sppis_id + "-2", "WORK_INCOME", "2024-03-01", "2024-03-31",
                          "2024-04-01");
  auto clg3 = sppis_alert(cbe, person, sppis_id + "-3", "CADASTRAL_INCOME", "2024-03-01",
                          "2024-03-31", "2024-04-01");
  produce_alerts(topic, {clg2, clg3}, true);
  ASSERT_TRUE(eventually([&] { return stored() >= 8; }, 60s, 100ms)) << stored();
  r = c.exec(
      "SELECT linked_alert_id::text, lead_days FROM alerts WHERE alert_id = $1::uuid OR "
      "alert_id = $2::uuid ORDER BY sppis_id",
      {clg2.alert_id(), clg3.alert_id()});
  ASSERT_EQ(r.rows(), 2);
  EXPECT_EQ(r.str(0, 0), later.alert_id());
  EXPECT_EQ(r.integer(0, 1), 138);  // 2023-11-15 -> 2024-04-01
  EXPECT_TRUE(r.is_null(1, 0));
  store.stop();
  auto rendered = reg.render();
  EXPECT_NE(rendered.find("relais_api_clignotant_lead_seconds_count 2"), std::string::npos)
      << rendered;
}

TEST_F(AlertRoutesTest, AReactionOnAnEarlySignalIsRefusedOneOnAClignotantCarriesItsSppisId) {
  pg::Connection c(pg_dsn());
  auto cbe = unique_cbe(c);
  auto early = seed_alerts(c, cbe, 1, "EMPLOYMENT_STARTED", "2099-01-01", "EARLY_SIGNAL");
  auto clg = seed_alerts(c, cbe, 1, "WORK_INCOME");
  AlertsApi api;
  auto r = api.call(verb::post, "/v1/cpas/" + cbe + "/alerts/" + early[0] + "/reaction",
                    R"({"code":"NO_IMPACT"})");
  EXPECT_EQ(r.status, 409u) << r.body;
  EXPECT_EQ(code_of(r), "EARLY_SIGNAL_NOT_REACTABLE") << r.body;
  auto body = json::parse(r.body);
  EXPECT_EQ(body.at("kind"), "EARLY_SIGNAL");
  EXPECT_TRUE(body.at("linked_alert_id").is_null());
  EXPECT_EQ(count(c, "SELECT count(*) FROM reactions WHERE alert_id = $1::uuid", {early[0]}), 0);
  EXPECT_EQ(count(c, "SELECT count(*) FROM alerts WHERE alert_id = $1::uuid AND status = 'OPEN'",
                  {early[0]}),
            1);

  r = api.call(verb::post, "/v1/cpas/" + cbe + "/alerts/" + clg[0] + "/reaction",
               R"({"code":"NO_IMPACT"})");
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(json::parse(r.body).at("sppis_clignotant_id").as_string(), "CLG-" + clg[0]);
  auto out = c.exec(
      "SELECT o.payload::text FROM outbox o JOIN reactions r ON r.id = o.reaction_id "
      "WHERE r.alert_id = $1::uuid",
      {clg[0]});
  ASSERT_EQ(out.rows(), 2);
  for (int i = 0; i < out.rows(); ++i)
    EXPECT_EQ(json::parse(out.str(i, 0)).at("sppis_clignotant_id").as_string(), "CLG-" + clg[0]);

  // Notes on either kind; the API shows the kinds.
  r = api.call(verb::put, "/v1/cpas/" + cbe + "/alerts/" + early[0] + "/notes",
               R"({"notes":"line one\nline two"})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(json::parse(r.body).at("notes"), "line one\nline two");
  EXPECT_EQ(json::parse(r.body).at("kind"), "EARLY_SIGNAL");
  r = api.call(verb::put, "/v1/cpas/" + cbe + "/alerts/" + early[0] + "/notes",
               "{\"notes\":\"" + std::string(4001, 'x') + "\"}");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(code_of(r), "FIELD_TOO_LONG");
  // The follow-up: on an early signal too; the intended code is checked against the list.
  const std::string fu = "/v1/cpas/" + cbe + "/alerts/" + early[0] + "/follow-up";
  r = api.call(verb::put, fu, R"({"follow_up":"IN_PROGRESS","proposed_code":"AID_REVISED"})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(json::parse(r.body).at("follow_up"), "IN_PROGRESS");
  EXPECT_EQ(json::parse(r.body).at("proposed_code"), "AID_REVISED");
  EXPECT_EQ(json::parse(r.body).at("status"), "OPEN");  // nothing sent, no reaction made
  EXPECT_EQ(count(c, "SELECT count(*) FROM reactions WHERE alert_id = $1::uuid", {early[0]}), 0);
  r = api.call(verb::put, fu, R"({"follow_up":"MAYBE"})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(code_of(r), "INVALID_ENUM") << r.body;
  r = api.call(verb::put, fu, R"({"follow_up":"DONE","proposed_code":"NOT_A_CODE"})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(code_of(r), "INVALID_REACTION_CODE") << r.body;
  r = api.call(verb::put, fu, R"({"proposed_code":"AID_REVISED"})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(code_of(r), "MISSING_FIELD") << r.body;
  r = api.call(verb::put, fu, R"({"follow_up":"DONE","proposed_code":null})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(json::parse(r.body).at("follow_up"), "DONE");
  EXPECT_TRUE(json::parse(r.body).at("proposed_code").is_null());
  r = api.call(verb::put, "/v1/cpas/" + cbe + "/alerts/" + uuid() + "/follow-up",
               R"({"follow_up":"DONE"})");
  EXPECT_EQ(r.status, 404u) << r.body;

  r = api.call(verb::get, "/v1/cpas/" + cbe + "/alerts/" + clg[0]);
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(json::parse(r.body).at("follow_up"), "NONE");
  EXPECT_EQ(json::parse(r.body).at("kind"), "SPPIS_CLIGNOTANT");
  EXPECT_EQ(json::parse(r.body).at("sppis_id").as_string(), "CLG-" + clg[0]);
}

// The backlog report through PostgreSQL and the route, over 10,500 clignotants of three CPAS with
// random issue days and reactions, against counts computed here from the generated data.
TEST_F(AlertRoutesTest, BacklogAgreesWithAnIndependentComputationOver10000Clignotants) {
  pg::Connection c(pg_dsn());
  std::vector<std::string> cbes = {unique_cbe(c), unique_cbe(c), unique_cbe(c)};
  for (const auto& cbe : cbes)
    c.exec(
        "INSERT INTO cpas (cbe, name, updated_by) VALUES ($1, 'CPAS itest backlog', 'itest') ON "
        "CONFLICT DO NOTHING",
        {cbe});
  std::mt19937_64 rng(42);
  const std::vector<std::string> types = {"WORK_INCOME", "PENSION", "CADASTRAL_INCOME"};
  struct Gen {
    std::string id, cbe, type;
    int issued;        // days since 1970-01-01
    int reacted = -1;  // day of the reaction, -1 = none
  };
  std::vector<Gen> gen;
  const int base = 19723;  // 2024-01-01
  std::string ids = "{", cpas = "{", tps = "{", issued = "{";
  std::string r_ids = "{", r_cpas = "{", r_days = "{";
  for (int i = 0; i < 10500; ++i) {
    Gen g{uuid(), cbes[rng() % 3], types[rng() % 3], base + static_cast<int>(rng() % 1000)};
    if (rng() % 2) g.reacted = g.issued + static_cast<int>(rng() % 400);
    auto sep = [i](std::string& s) {
      if (i) s.push_back(',');
    };
    sep(ids), ids += g.id;
    sep(cpas), cpas += g.cbe;
    sep(tps), tps += g.type;
    sep(issued), issued += std::to_string(g.issued);
    if (g.reacted >= 0) {
      if (r_ids.size() > 1) r_ids += ',', r_cpas += ',', r_days += ',';
      r_ids += g.id, r_cpas += g.cbe, r_days += std::to_string(g.reacted);
    }
    gen.push_back(std::move(g));
  }
  for (auto* s : {&ids, &cpas, &tps, &issued, &r_ids, &r_cpas, &r_days}) s->push_back('}');
  c.exec(
      "INSERT INTO alerts (alert_id, cpas_cbe, type, severity, rule_id, ssin, ticket, flow, "
      "raised_at, source, kind, sppis_id, issued_date, due_date) "
      "SELECT id, cbe, t, 'high', 'sppis-clignotant', '68060105329', id::text, 'sppis-clignotant', "
      "now(), 'itest', 'SPPIS_CLIGNOTANT', 'CLG-' || id, DATE '1970-01-01' + d, "
      "DATE '1970-01-01' + d + 60 "
      "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[]) AS u(id, cbe, t, d)",
      {ids, cpas, tps, issued});
  c.exec(
      "INSERT INTO reactions (alert_id, cpas_cbe, seq, code, actor, created_at, delivery_status) "
      "SELECT id, cbe, 1, 'NO_IMPACT', 'itest', ((DATE '1970-01-01' + d) + time '13:00') AT TIME "
      "ZONE 'UTC', 'SENT' FROM unnest($1::uuid[], $2::text[], $3::int[]) AS u(id, cbe, d)",
      {r_ids, r_cpas, r_days});

  AlertsApi api;
  for (const std::string as_of : {"2024-10-01", "2025-03-01", "2026-08-31"}) {
    const int day = validation::parse_iso_date(as_of)->days;
    // Six calendar months earlier, written out for these three days.
    const int cutoff = as_of == std::string("2024-10-01")   ? 19814   // 2024-04-01
                       : as_of == std::string("2025-03-01") ? 19967   // 2024-09-01
                                                            : 20512;  // 2026-02-28
    for (const auto& cbe : cbes) {
      std::map<std::pair<std::string, std::string>, std::int64_t> expect;  // (bucket, type)
      std::int64_t open = 0, reminder = 0;
      for (const auto& g : gen) {
        if (g.cbe != cbe || g.issued > day || (g.reacted >= 0 && g.reacted <= day)) continue;
        ++open;
        const int age = day - g.issued;
        const char* bucket = age < 30    ? "0-29"
                             : age < 90  ? "30-89"
                             : age < 180 ? "90-179"
                             : age < 365 ? "180-364"
                                         : "365+";
        ++expect[{bucket, g.type}];
        if (g.issued <= cutoff) ++reminder;
      }
      auto r = api.call(verb::get, "/v1/cpas/" + cbe + "/clignotants/backlog?as_of=" + as_of);
      ASSERT_EQ(r.status, 200u) << r.body;
      auto b = json::parse(r.body).as_object();
      EXPECT_EQ(b.at("open").as_int64(), open) << cbe << " " << as_of;
      EXPECT_EQ(b.at("reminder").at("count").as_int64(), reminder) << cbe << " " << as_of;
      EXPECT_EQ(static_cast<std::int64_t>(b.at("reminder").at("clignotants").as_array().size()),
                reminder);
      std::map<std::pair<std::string, std::string>, std::int64_t> got;
      for (const auto& bucket : b.at("by_age").as_array())
        for (const auto& [t, n] : bucket.at("by_type").as_object())
          got[{std::string(bucket.at("bucket").as_string()), std::string(t)}] = n.as_int64();
      EXPECT_EQ(got, expect) << cbe << " " << as_of;
      EXPECT_GT(open, 100);
    }
  }
  // CSV: a header and one line per open clignotant.
  auto r = api.call(verb::get,
                    "/v1/cpas/" + cbes[0] + "/clignotants/backlog?as_of=2025-03-01&format=csv");
  ASSERT_EQ(r.status, 200u);
  auto b = json::parse(
      api.call(verb::get, "/v1/cpas/" + cbes[0] + "/clignotants/backlog?as_of=2025-03-01").body);
  EXPECT_EQ(static_cast<std::int64_t>(std::count(r.body.begin(), r.body.end(), '\n')),
            b.at("open").as_int64() + 1);
  // Refusals.
  EXPECT_EQ(code_of(api.call(verb::get, "/v1/cpas/" + cbes[0] + "/clignotants/backlog")),
            "MISSING_PARAMETER");
  EXPECT_EQ(
      code_of(api.call(verb::get, "/v1/cpas/" + cbes[0] + "/clignotants/backlog?as_of=2025-02-30")),
      "INVALID_DATE");
  EXPECT_EQ(code_of(api.call(verb::get, "/v1/cpas/" + cbes[0] +
                                            "/clignotants/backlog?as_of=2025-02-01&format=xml")),
            "INVALID_FORMAT");
}

}  // namespace
}  // namespace relais::itest
