// relais::auth and relais-api's access control on the real PostgreSQL: the credential store
// (create, load, rotate, revoke, list; only the hash stored), the access journal writer
// (batches, overflow refusal, queries) and AccessControl in front of a router in-process
// (401/403/200, journal rows, revocation within the cache period).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

#include "relais/api/access.hpp"
#include "relais/auth/credentials.hpp"
#include "relais/auth/journal.hpp"
#include "relais/common/metrics.hpp"
#include "relais/http/client.hpp"
#include "relais/http/router.hpp"
#include "support.hpp"

namespace relais::itest {
namespace {

namespace json = boost::json;
using http::verb;

std::string unique_name(const std::string& prefix) {
  return prefix + "-" + std::to_string(random_below(1000000000));
}

auth::NewCredential cpas_credential(const std::string& cbe, long long lifetime = 3600) {
  auth::NewCredential n;
  n.name = unique_name("itest");
  n.scopes = std::get<auth::Scopes>(auth::parse_scopes({"cpas:" + cbe}));
  n.lifetime_seconds = lifetime;
  n.created_by = "itest";
  return n;
}

class AuthStore : public IntegrationTest {};

TEST_F(AuthStore, CreateStoresOnlyTheHashAndLoadsBack) {
  pg::Connection db(pg_dsn());
  auto cbe = unique_cbe(db);
  auto created = auth::create_credential(db, cpas_credential(cbe));
  auto stored =
      db.exec("SELECT encode(token_sha256, 'hex'), scopes::text FROM credentials WHERE id = $1",
              {created.id});
  ASSERT_EQ(stored.rows(), 1);
  EXPECT_EQ(stored.str(0, 0), auth::to_hex(auth::hash_token(created.token)));
  EXPECT_EQ(stored.str(0, 1), "{cpas:" + cbe + "}");
  auto row = db.exec("SELECT row_to_json(c)::text FROM credentials c WHERE id = $1", {created.id});
  EXPECT_EQ(row.str(0, 0).find(created.token.substr(21)), std::string::npos)
      << "the secret is never stored";

  auto c = auth::load_credential(db, created.id, true);
  ASSERT_TRUE(c);
  EXPECT_EQ(auth::check_token(&*c, created.token, auth::Clock::now()), auth::Refusal::none);
  EXPECT_TRUE(c->scopes.allows_cpas(cbe));
  EXPECT_FALSE(c->scopes.op);
  EXPECT_EQ(db.exec("SELECT last_used_at IS NOT NULL FROM credentials WHERE id = $1", {created.id})
                .str(0, 0),
            "t");
  EXPECT_FALSE(auth::load_credential(db, "0000000000000000", false));
}

TEST_F(AuthStore, RevokeIsImmediateInTheStoreAndKeepsTheFirstRevocation) {
  pg::Connection db(pg_dsn());
  auto created = auth::create_credential(db, cpas_credential(unique_cbe(db)));
  EXPECT_TRUE(auth::revoke_credential(db, created.id, "itest-1", "leaked"));
  EXPECT_TRUE(auth::revoke_credential(db, created.id, "itest-2", "again"));
  auto r = db.exec("SELECT revoked_by, revoke_reason FROM credentials WHERE id = $1", {created.id});
  EXPECT_EQ(r.str(0, 0), "itest-1");
  EXPECT_EQ(r.str(0, 1), "leaked");
  auto c = auth::load_credential(db, created.id, false);
  EXPECT_EQ(auth::check_token(&*c, created.token, auth::Clock::now()), auth::Refusal::revoked);
  EXPECT_FALSE(auth::revoke_credential(db, "ffffffffffffffff", "itest", ""));
  auto all = auth::list_credentials(db, true, std::nullopt);
  auto it = std::find_if(all.begin(), all.end(), [&](const auto& x) { return x.id == created.id; });
  ASSERT_NE(it, all.end());
  EXPECT_EQ(it->state, "revoked");
  auto active = auth::list_credentials(db, false, std::nullopt);
  EXPECT_TRUE(std::none_of(active.begin(), active.end(),
                           [&](const auto& x) { return x.id == created.id; }));
}

TEST_F(AuthStore, RotationKeepsNameAndScopesAndEndsTheOldToken) {
  pg::Connection db(pg_dsn());
  auto cbe = unique_cbe(db);
  auto old = auth::create_credential(db, cpas_credential(cbe, 86400));
  auto rot = auth::rotate_credential(db, old.id, 600, 86400, "itest");
  EXPECT_EQ(rot.created.name, old.name);
  EXPECT_EQ(rot.created.scopes, old.scopes);
  EXPECT_NE(rot.created.token, old.token);
  EXPECT_EQ(
      db.exec("SELECT rotated_from FROM credentials WHERE id = $1", {rot.created.id}).str(0, 0),
      old.id);
  // Grace: the old one now expires within 10 minutes, and still works meanwhile.
  auto o = auth::load_credential(db, old.id, false);
  EXPECT_LE(o->expires_at, auth::Clock::now() + std::chrono::seconds(601));
  EXPECT_EQ(auth::check_token(&*o, old.token, auth::Clock::now()), auth::Refusal::none);
  // Without grace: revoked at once.
  auto rot2 = auth::rotate_credential(db, rot.created.id, 0, 3600, "itest");
  auto r = auth::load_credential(db, rot.created.id, false);
  EXPECT_EQ(auth::check_token(&*r, rot.created.token, auth::Clock::now()), auth::Refusal::revoked);
  EXPECT_THROW(auth::rotate_credential(db, rot.created.id, 0, 3600, "itest"),
               std::invalid_argument);
  EXPECT_THROW(auth::rotate_credential(db, "ffffffffffffffff", 0, 3600, "itest"),
               std::invalid_argument);
  auto mine = auth::list_credentials(db, false, cbe);
  ASSERT_EQ(mine.size(), 2u);  // rot2 and the old one in its grace period
}

class AccessJournal : public IntegrationTest {};

auth::AccessRecord record(const std::string& request_id, const std::string& cbe, int status,
                          std::optional<std::string> refusal) {
  auth::AccessRecord r;
  r.at = std::chrono::system_clock::now();
  r.client_address = "127.0.0.1:1";
  r.method = "GET";
  r.route = "/v1/cpas/{cbe}/alerts";
  r.cpas = cbe;
  r.ssin = "68060105329";
  r.status = status;
  r.refusal = std::move(refusal);
  r.request_id = request_id;
  return r;
}

TEST_F(AccessJournal, WriterFlushesBatchesAndStopWritesTheRest) {
  pg::Connection db(pg_dsn());
  auto cbe = unique_cbe(db);
  metrics::Registry m;
  auth::JournalWriterOptions o;
  o.dsn = pg_dsn();
  o.batch_max = 100;
  auth::JournalWriter w(o, m);
  ASSERT_FALSE(w.start());
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(w.reserve());
    w.commit(record("itest-" + std::to_string(i), cbe, i % 2 ? 200 : 403,
                    i % 2 ? std::nullopt : std::optional<std::string>("cpas_out_of_scope")));
  }
  w.record(record("itest-refused", cbe, 401, "missing_credentials"));
  w.stop();
  EXPECT_EQ(w.queued(), 0u);
  EXPECT_EQ(db.exec("SELECT count(*) FROM access_journal WHERE cpas_cbe = $1", {cbe}).integer(0, 0),
            1001);

  auth::AccessQuery q;
  q.cpas = cbe;
  q.status = "refused";
  q.limit = 10000;
  EXPECT_EQ(auth::query_access_journal(db, q).rows(), 501);
  q.status = "200";
  EXPECT_EQ(auth::query_access_journal(db, q).rows(), 500);
  q.status.reset();
  q.limit = 10;
  auto page = auth::query_access_journal(db, q);
  ASSERT_EQ(page.rows(), 10);
  q.after = page.integer(9, 0);
  auto next = auth::query_access_journal(db, q);
  EXPECT_LT(next.integer(0, 0), q.after);
  q = {};
  q.ssin = "12345678901";
  EXPECT_TRUE(auth::validate(q));  // bad check digits
  q = {};
  q.since = "yesterday";
  EXPECT_TRUE(auth::validate(q));
}

// Issue 21, finding 1: a path segment of eleven euro signs (cut to 32 bytes inside a character), a
// NUL or invalid UTF-8 made PostgreSQL refuse the COPY, and the writer retried that batch for
// ever: nothing was journaled any more. Every field is now made storable; the batch and the next
// one are written.
TEST_F(AccessJournal, HostileFieldsAreJournaledSafelyAndNeverBlockTheWriter) {
  pg::Connection db(pg_dsn());
  auto cbe = unique_cbe(db);
  metrics::Registry m;
  auth::JournalWriterOptions o;
  o.dsn = pg_dsn();
  o.flush_every = 50ms;
  auth::JournalWriter w(o, m);
  ASSERT_FALSE(w.start());
  auto tag = unique_suffix();
  const std::string hostile[] = {"€€€€€€€€€€€", std::string("0212\0", 5),
                                 "\xff\xfe",    "\xed\xa0\x80",
                                 "\x1b[2J",     std::string(5000, 'x')};
  int i = 0;
  for (const auto& h : hostile) {
    auto r =
        record("itest-hostile-" + tag + "-" + std::to_string(i++), h, 401, "missing_credentials");
    r.client_address = h;
    r.method = h;
    w.record(r);
  }
  w.record(record("itest-after-" + tag, cbe, 403, "cpas_out_of_scope"));
  EXPECT_TRUE(eventually(
      [&] {
        return count(db, "SELECT count(*) FROM access_journal WHERE request_id = $1",
                     {"itest-after-" + tag}) == 1;
      },
      10s, 50ms))
      << "the record after the hostile ones was not journaled";
  EXPECT_EQ(count(db, "SELECT count(*) FROM access_journal WHERE request_id LIKE $1",
                  {"itest-hostile-" + tag + "-%"}),
            6);
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM access_journal WHERE request_id LIKE $1 AND "
                  "octet_length(cpas_cbe) > 40",
                  {"itest-hostile-" + tag + "-%"}),
            0);
  w.stop();
  auto rendered = m.render();
  EXPECT_NE(rendered.find("relais_api_access_journal_write_failures_total 0"), std::string::npos)
      << rendered;
  EXPECT_TRUE(w.keeping_up(std::chrono::seconds(5)));
}

// pg::write_rows, the no-poison-pill rule every sink follows: a row PostgreSQL refuses goes to
// sink_dead_letters, the others are written.
TEST_F(AccessJournal, WriteRowsSetsAsideWhatPostgresRefuses) {
  pg::Connection db(pg_dsn());
  db.exec("CREATE TEMP TABLE itest_rows (v int CHECK (v <> 13))");
  std::vector<int> rows = {1, 2, 13, 4, 5};
  auto tag = "itest-" + unique_suffix();
  auto rejected = pg::write_rows(
      db, rows.size(),
      [&](pg::Connection& c, std::size_t first, std::size_t last) {
        for (auto k = first; k < last; ++k)
          c.exec("INSERT INTO itest_rows VALUES ($1::int)", {std::to_string(rows[k])});
      },
      [&](pg::Connection& c, std::size_t k, const pg::Error& e) {
        pg::dead_letter(c, tag, "row/" + std::to_string(k), e, std::to_string(rows[k]));
      });
  EXPECT_EQ(rejected, 1u);
  EXPECT_EQ(count(db, "SELECT count(*) FROM itest_rows"), 4);
  auto dl = db.exec(
      "SELECT source, sqlstate, encode(payload, 'escape') FROM sink_dead_letters WHERE sink = $1",
      {tag});
  ASSERT_EQ(dl.rows(), 1);
  EXPECT_EQ(dl.str(0, 0), "row/2");
  EXPECT_EQ(dl.str(0, 1), "23514");
  EXPECT_EQ(dl.str(0, 2), "13");
}

TEST_F(AccessJournal, AFullQueueRefusesReservations) {
  metrics::Registry m;
  auth::JournalWriterOptions o;
  o.dsn = "host=127.0.0.1 port=1 dbname=nothing connect_timeout=1";  // never written
  o.capacity = 3;
  o.stop_deadline = std::chrono::milliseconds(100);
  auth::JournalWriter w(o, m);
  EXPECT_TRUE(w.reserve());
  EXPECT_TRUE(w.reserve());
  EXPECT_TRUE(w.reserve());
  EXPECT_FALSE(w.reserve());
  w.cancel();
  EXPECT_TRUE(w.reserve());
  w.record(record("x", "0212344876", 401, "missing_credentials"));  // dropped and counted
  EXPECT_EQ(w.queued(), 3u);
}

// AccessControl in front of a small router: what relais-api does, in-process.
struct Guarded {
  Guarded() : pool(pg_dsn(), 2) {
    auth::JournalWriterOptions jo;
    jo.dsn = pg_dsn();
    jo.flush_every = std::chrono::milliseconds(20);
    journal = std::make_unique<auth::JournalWriter>(jo, registry);
    if (journal->start()) throw std::runtime_error("journal");
    api::AccessOptions ao;
    ao.cache_ttl = std::chrono::milliseconds(300);
    access = std::make_unique<api::AccessControl>(ao, routes, pool, *journal, registry);
    // The handler shows what it was given: the verified caller, and what is left of the headers.
    auto ok = [](http::Request& r, const api::Caller& c) -> boost::asio::awaitable<api::Reply> {
      http::Response resp;
      resp.body = json::serialize(json::object{{"actor", c.actor},
                                               {"declared", r.header("X-Relais-Actor")},
                                               {"authorization", r.header("Authorization")}});
      co_return resp;
    };
    routes.add_open(verb::get, "/healthz",
                    [](http::Request&) -> boost::asio::awaitable<http::Response> {
                      co_return http::Response{};
                    });
    routes.add({verb::get, "/v1/cpas/{cbe}/things", api::Policy::cpas, api::SsinFrom::query}, ok);
    routes.add({verb::get, "/v1/admin", api::Policy::operator_only}, ok);
    server = std::make_unique<InProcessServer>(access->handler());
  }
  ~Guarded() {
    server.reset();
    journal->stop();
  }
  http::ClientResponse get(const std::string& target, const std::string& token = {},
                           const std::string& rid = {}) {
    http::ClientHeaders h;
    if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
    if (!rid.empty()) h.emplace_back("X-Request-Id", rid);
    h.emplace_back("X-Relais-Actor", "someone");
    return http::request("127.0.0.1", server->port(), verb::get, target, {}, {}, h, 30s);
  }
  metrics::Registry registry;
  pg::Pool pool;
  std::unique_ptr<auth::JournalWriter> journal;
  api::RouteTable routes;
  std::unique_ptr<api::AccessControl> access;
  std::unique_ptr<InProcessServer> server;
};

class AccessControl : public IntegrationTest {};

TEST_F(AccessControl, RefusesJournalsAndLetsTheRightCredentialThrough) {
  Guarded g;
  pg::Connection db(pg_dsn());
  auto a = unique_cbe(db), b = unique_cbe(db);
  auto tok = auth::create_credential(db, cpas_credential(a));
  auth::NewCredential opn;
  opn.name = unique_name("itest-op");
  opn.scopes.op = true;
  opn.created_by = "itest";
  auto op = auth::create_credential(db, opn);
  std::string tag = unique_name("rid");

  EXPECT_EQ(g.get("/healthz").status, 200u);
  auto r = g.get("/v1/cpas/" + a + "/things", {}, tag + "-1");
  EXPECT_EQ(r.status, 401u);
  r = g.get("/v1/cpas/" + b + "/things?ssin=68060105329", tok.token, tag + "-2");
  EXPECT_EQ(r.status, 403u);
  EXPECT_NE(r.body.find("FORBIDDEN_CPAS"), std::string::npos);
  r = g.get("/v1/admin", tok.token, tag + "-3");
  EXPECT_EQ(r.status, 403u);
  EXPECT_NE(r.body.find("OPERATOR_ONLY"), std::string::npos);
  r = g.get("/v1/unlisted", op.token, tag + "-4");
  EXPECT_EQ(r.status, 404u) << "a route outside the table never runs";
  EXPECT_EQ(r.header("Content-Type"), "application/problem+json");
  r = g.get("/v1/cpas/" + a + "/things?ssin=68060105329", tok.token, tag + "-5");
  ASSERT_EQ(r.status, 200u);
  auto seen = json::parse(r.body).as_object();
  EXPECT_EQ(seen["authorization"].as_string(), "") << "handlers never see the token";
  EXPECT_EQ(seen["actor"].as_string(), "api:" + tok.name + "#" + tok.id)
      << "a CPAS credential cannot name someone else";
  r = g.get("/v1/cpas/" + b + "/things", op.token, tag + "-6");
  ASSERT_EQ(r.status, 200u);
  // The header a caller sends about itself gains nothing, not even for the operator: the caller
  // is the verified credential.
  EXPECT_EQ(json::parse(r.body).as_object()["actor"].as_string(), "api:" + op.name + "#" + op.id);

  // Revocation takes effect within the cache period (300 ms here).
  ASSERT_TRUE(auth::revoke_credential(db, tok.id, "itest", ""));
  auto t0 = std::chrono::steady_clock::now();
  while (g.get("/v1/cpas/" + a + "/things", tok.token).status == 200) {
    ASSERT_LT(std::chrono::steady_clock::now() - t0, 2s) << "revocation not effective";
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(g.get("/v1/cpas/" + a + "/things", tok.token, tag + "-7").status, 401u);

  // The journal has every call but the open route, with its reason.
  std::map<std::string, std::pair<int, std::string>> want = {
      {tag + "-1", {401, "missing_credentials"}},
      {tag + "-2", {403, "cpas_out_of_scope"}},
      {tag + "-3", {403, "operator_only"}},
      {tag + "-4", {404, ""}},
      {tag + "-5", {200, ""}},
      {tag + "-6", {200, ""}},
      {tag + "-7", {401, "revoked"}}};
  pg::Result rows = db.exec("SELECT 1");
  for (int i = 0; i < 200; ++i) {
    rows = db.exec(
        "SELECT request_id, status, coalesce(refusal, ''), coalesce(ssin, ''), route, "
        "credential_name "
        "FROM access_journal WHERE request_id LIKE $1 ORDER BY request_id",
        {tag + "-%"});
    if (rows.rows() == static_cast<int>(want.size())) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(rows.rows(), static_cast<int>(want.size()));
  for (int i = 0; i < rows.rows(); ++i) {
    auto& w = want[rows.str(i, 0)];
    EXPECT_EQ(rows.integer(i, 1), w.first) << rows.str(i, 0);
    EXPECT_EQ(rows.str(i, 2), w.second) << rows.str(i, 0);
  }
  EXPECT_EQ(rows.str(1, 3), "68060105329");  // -2: the SSIN of the query, even when refused
  EXPECT_EQ(rows.str(0, 5), "anonymous");
  EXPECT_EQ(rows.str(4, 5), tok.name);
  EXPECT_EQ(rows.str(3, 4), "none");
}

}  // namespace
}  // namespace relais::itest
