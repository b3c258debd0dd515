// relais-api's directory handlers in-process (http::Server on an ephemeral
// port, pg::Pool on the real PostgreSQL): CPAS, register / unregister / list,
// bulk import (CSV, NDJSON, 100,000 lines), SSIN replacement, validation
// errors, and the directory journal.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <iostream>
#include <set>

#include "relais/api/service.hpp"
#include "relais/common/metrics.hpp"
#include "relais/http/client.hpp"
#include "relais/http/router.hpp"
#include "support.hpp"

namespace relais::itest {
namespace {

namespace json = boost::json;
using http::verb;

struct Api {
  explicit Api(const std::string& dsn = pg_dsn()) : pool(dsn, 4) {
    api::Options o;
    o.kafka = kafka_settings();
    o.cpas_topic_partitions = 1;
    service = std::make_unique<api::Service>(o, pool, registry);
    service->add_routes(routes);
    auto* svc = service.get();
    api::Caller op;
    op.op = true;
    op.actor = "api:itest-operator";
    server = std::make_unique<InProcessServer>(
        routes.handler_as(op), [svc](const http::Request& r) { return svc->body_limit(r); });
  }
  ~Api() {
    server.reset();
    service.reset();
  }
  http::ClientResponse call(verb m, const std::string& target, const std::string& body = {},
                            const std::string& ct = "application/json") {
    return http::request("127.0.0.1", server->port(), m, target, body,
                         body.empty() ? std::string{} : ct, {}, 120s);
  }
  json::value call_json(verb m, const std::string& target, unsigned expected,
                        const std::string& body = {}, const std::string& ct = "application/json") {
    auto r = call(m, target, body, ct);
    EXPECT_EQ(r.status, expected) << json_str(m) << " " << target << " -> " << r.body;
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    EXPECT_FALSE(ec) << "not JSON: " << r.body;
    return v;
  }
  static std::string json_str(verb m) { return std::string(boost::beast::http::to_string(m)); }
  // Creates a CPAS through the API; returns its CBE.
  std::string new_cpas(pg::Connection& c) {
    auto cbe = unique_cbe(c);
    call_json(verb::put, "/v1/cpas/" + cbe, 201,
              R"({"name":"CPAS itest","municipalities":["21004"]})");
    return cbe;
  }

  metrics::Registry registry;
  pg::Pool pool;
  std::unique_ptr<api::Service> service;
  api::RouteTable routes;
  std::unique_ptr<InProcessServer> server;
};

std::string reg(const std::string& ssin, int q, const std::string& start,
                const std::string& end = {}) {
  json::object o{{"ssin", ssin}, {"quality_code", q}, {"start_date", start}};
  if (!end.empty()) o["end_date"] = end;
  return json::serialize(o);
}

std::string code_of(const json::value& v) {
  auto* c = v.is_object() ? v.as_object().if_contains("code") : nullptr;
  return c && c->is_string() ? std::string(c->as_string()) : std::string("<none>");
}
std::string field_of(const json::value& v) {
  auto* c = v.is_object() ? v.as_object().if_contains("field") : nullptr;
  return c && c->is_string() ? std::string(c->as_string()) : std::string("<none>");
}

// Distinct valid SSINs, deterministic from `seed` (for bulk files).
std::vector<std::string> many_ssins(std::size_t n, std::uint64_t seed) {
  std::vector<std::string> out;
  out.reserve(n);
  std::uint64_t k = seed % 1000;
  for (std::uint64_t yy = 40; yy < 100 && out.size() < n; ++yy)
    for (std::uint64_t mm = 1; mm <= 12 && out.size() < n; ++mm)
      for (std::uint64_t dd = 1; dd <= 28 && out.size() < n; ++dd)
        for (std::uint64_t j = 0; j < 10 && out.size() < n; ++j) {
          std::uint64_t sss = 1 + (k + j * 97) % 997;
          std::uint64_t first9 = ((yy * 100 + mm) * 100 + dd) * 1000 + sss;
          char buf[16];
          std::snprintf(buf, sizeof buf, "%09llu%02llu", static_cast<unsigned long long>(first9),
                        static_cast<unsigned long long>(97 - first9 % 97));
          out.emplace_back(buf);
        }
  return out;
}

class ApiTest : public IntegrationTest {};

TEST_F(ApiTest, PutCpasCreatesThenUpdatesAndCreatesItsTopic) {
  Api api;
  pg::Connection c(pg_dsn());
  auto cbe = unique_cbe(c);
  auto v = api.call_json(verb::put, "/v1/cpas/" + cbe, 201,
                         R"({"name":"CPAS d'Anderlecht","municipalities":["21001"]})");
  EXPECT_TRUE(v.at("created").as_bool());
  api.call_json(verb::put, "/v1/cpas/" + cbe, 200,
                R"({"name":"OCMW Anderlecht","municipalities":["21001","21004"]})");
  auto r = c.exec("SELECT name, municipalities::text, updated_by FROM cpas WHERE cbe = $1", {cbe});
  ASSERT_EQ(r.rows(), 1);
  EXPECT_EQ(r.str(0, 0), "OCMW Anderlecht");
  EXPECT_EQ(r.str(0, 1), "{21001,21004}");
  EXPECT_EQ(r.str(0, 2), "api:itest-operator");
  EXPECT_EQ(
      count(
          c,
          "SELECT count(*) FROM directory_journal WHERE cbe = $1 AND actor = 'api:itest-operator' "
          "AND action IN ('cpas-create', 'cpas-update')",
          {cbe}),
      2);
  EXPECT_GT(partitions_of("cpas." + cbe + ".notifications.v1"), 0) << "the CPAS topic should exist";
  auto list = api.call_json(verb::get, "/v1/cpas", 200);
  bool found = false;
  for (const auto& x : list.at("cpas").as_array())
    if (x.at("cbe").as_string() == cbe) found = true;
  EXPECT_TRUE(found);
  // Validation.
  auto bad = api.call_json(verb::put, "/v1/cpas/0123456788", 400, R"({"name":"x"})");
  EXPECT_EQ(code_of(bad), "INVALID_CBE");
  auto nis =
      api.call_json(verb::put, "/v1/cpas/" + cbe, 400, R"({"name":"x","municipalities":["123"]})");
  EXPECT_EQ(code_of(nis), "INVALID_NIS_CODE");
}

TEST_F(ApiTest, RegisterIsIdempotentAndReturnsOverlapsOfTheSameCpasOnly) {
  Api api;
  pg::Connection c(pg_dsn());
  auto cbe = api.new_cpas(c), other = api.new_cpas(c);
  auto ssin = unique_ssin(c);
  auto base = "/v1/cpas/" + cbe + "/integrations";

  auto first = api.call_json(verb::put, base, 201, reg(ssin, 1, "2024-01-01"));
  EXPECT_EQ(first.at("overlapping").as_array().size(), 0u);
  auto id1 = first.at("integration").at("id").to_number<long long>();
  EXPECT_EQ(first.at("integration").at("end_date"), json::value(nullptr));
  EXPECT_EQ(first.at("integration").at("updated_by").as_string(), "api:itest-operator");

  auto again = api.call_json(verb::put, base, 200, reg(ssin, 1, "2024-01-01"));
  EXPECT_EQ(again.at("integration").at("id").to_number<long long>(), id1) << "same line, same row";
  EXPECT_EQ(count(c, "SELECT count(*) FROM integrations WHERE cbe = $1 AND ssin = $2", {cbe, ssin}),
            1);

  // The same person at another CPAS: that CPAS's answer must not leak this one's lines.
  auto elsewhere = api.call_json(verb::put, "/v1/cpas/" + other + "/integrations", 201,
                                 reg(ssin, 2, "2024-03-01"));
  EXPECT_EQ(elsewhere.at("overlapping").as_array().size(), 0u)
      << "overlaps of another CPAS leaked: " << elsewhere;

  // An overlapping line at the same CPAS is returned.
  auto second = api.call_json(verb::put, base, 201, reg(ssin, 2, "2024-06-01", "2024-12-31"));
  const auto& ov = second.at("overlapping").as_array();
  ASSERT_EQ(ov.size(), 1u) << second;
  EXPECT_EQ(ov[0].at("id").to_number<long long>(), id1);
  EXPECT_EQ(ov[0].at("cbe").as_string(), cbe);
  // A line that does not overlap (ends before the first starts) gets none.
  auto before = api.call_json(verb::put, base, 201, reg(ssin, 3, "2023-01-01", "2023-06-30"));
  EXPECT_EQ(before.at("overlapping").as_array().size(), 0u) << before;

  // Journal: who did what.
  EXPECT_EQ(count(c,
                  "SELECT count(*) FROM directory_journal WHERE cbe = $1 AND ssin = $2 AND action "
                  "= 'register' "
                  "AND actor = 'api:itest-operator'",
                  {cbe, ssin}),
            3);

  // Unregister closes the open line at the given date; nothing left to close → 404.
  auto closed =
      api.call_json(verb::delete_, base + "/" + ssin + "?quality_code=1&end_date=2024-09-30", 200);
  ASSERT_EQ(closed.at("closed").as_array().size(), 1u);
  EXPECT_EQ(closed.at("closed").as_array()[0].at("end_date").as_string(), "2024-09-30");
  EXPECT_EQ(c.exec("SELECT end_date::text FROM integrations WHERE id = $1", {std::to_string(id1)})
                .str(0, 0),
            "2024-09-30");
  auto none =
      api.call_json(verb::delete_, base + "/" + ssin + "?quality_code=1&end_date=2024-09-30", 404);
  EXPECT_EQ(code_of(none), "INTEGRATION_NOT_FOUND");
  EXPECT_EQ(count(c,
                  "SELECT count(*) FROM directory_journal WHERE cbe = $1 AND ssin = $2 AND action "
                  "= 'unregister' "
                  "AND actor = 'api:itest-operator' AND detail->>'end_date' = '2024-09-30'",
                  {cbe, ssin}),
            1);
  // The other CPAS's line is untouched.
  EXPECT_EQ(
      count(c,
            "SELECT count(*) FROM integrations WHERE cbe = $1 AND ssin = $2 AND end_date IS NULL",
            {other, ssin}),
      1);
  // Unknown CPAS.
  auto unknown = unique_cbe(c);
  EXPECT_EQ(code_of(api.call_json(verb::put, "/v1/cpas/" + unknown + "/integrations", 404,
                                  reg(ssin, 1, "2024-01-01"))),
            "CPAS_NOT_FOUND");
}

TEST_F(ApiTest, ListPaginatesWithoutGapsOrRepeats) {
  Api api;
  pg::Connection c(pg_dsn());
  auto cbe = api.new_cpas(c);
  auto base = "/v1/cpas/" + cbe + "/integrations";
  std::set<std::string> ssins;
  for (int i = 0; i < 7; ++i) {
    auto s = unique_ssin(c);
    ssins.insert(s);
    api.call_json(verb::put, base, 201, reg(s, 1, "2024-01-01"));
  }
  std::vector<long long> ids;
  std::set<std::string> listed;
  std::string after;
  int pages = 0;
  for (; pages < 20; ++pages) {
    auto v =
        api.call_json(verb::get, base + "?limit=3" + (after.empty() ? "" : "&after=" + after), 200);
    for (const auto& x : v.at("integrations").as_array()) {
      ids.push_back(x.at("id").to_number<long long>());
      listed.insert(std::string(x.at("ssin").as_string()));
      EXPECT_EQ(x.at("cbe").as_string(), cbe);
    }
    auto* next = v.as_object().if_contains("next_after");
    if (!next) break;
    after = std::to_string(next->to_number<long long>());
  }
  EXPECT_EQ(pages + 1, 3) << "7 lines in pages of 3";
  EXPECT_EQ(ids.size(), 7u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<long long>(ids.begin(), ids.end()).size(), 7u);
  EXPECT_EQ(listed, ssins);
  // Filter by SSIN.
  auto one = api.call_json(verb::get, base + "?ssin=" + *ssins.begin(), 200);
  ASSERT_EQ(one.at("integrations").as_array().size(), 1u);
  EXPECT_EQ(code_of(api.call_json(verb::get, base + "?limit=0", 400)), "INVALID_LIMIT");
  // Parsed strictly (issue 21: "5abc" was taken as 5, "2x" as 2): 400 naming the parameter.
  for (const char* bad : {"?limit=5abc", "?limit=3%20", "?limit=", "?limit=-1"}) {
    auto v = api.call_json(verb::get, base + bad, 400);
    EXPECT_EQ(code_of(v), "INVALID_LIMIT") << bad;
    EXPECT_EQ(field_of(v), "limit") << bad;
  }
  for (const char* bad : {"?after=2x", "?after=", "?after=-3"}) {
    auto v = api.call_json(verb::get, base + bad, 400);
    EXPECT_EQ(code_of(v), "INVALID_CURSOR") << bad;
    EXPECT_EQ(field_of(v), "after") << bad;
  }
}

TEST_F(ApiTest, ImportsOneHundredThousandCsvLinesAndNdjson) {
  Api api;
  pg::Connection c(pg_dsn());
  auto cbe = api.new_cpas(c);
  auto ssins = many_ssins(100000, random_below(1000));
  ASSERT_EQ(std::set<std::string>(ssins.begin(), ssins.end()).size(), 100000u);
  std::string csv = "ssin,quality_code,start_date,end_date\n";
  csv.reserve(4 * 1024 * 1024);
  for (std::size_t i = 0; i < ssins.size(); ++i) {
    csv += ssins[i];
    csv += i % 2 ? ",1,2024-01-01\n" : ",2,2023-07-01,2025-06-30\n";
  }
  auto t0 = std::chrono::steady_clock::now();
  auto v =
      api.call_json(verb::post, "/v1/cpas/" + cbe + "/integrations:import", 200, csv, "text/csv");
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[ MEASURE  ] CSV import of 100,000 lines (" << csv.size() << " bytes): " << secs
            << " s" << std::endl;
  RecordProperty("import_100k_csv_seconds", std::to_string(secs));
  EXPECT_EQ(v.at("lines").to_number<long long>(), 100000);
  EXPECT_EQ(v.at("written").to_number<long long>(), 100000);
  EXPECT_EQ(count(c, "SELECT count(*) FROM integrations WHERE cbe = $1", {cbe}), 100000);
  EXPECT_EQ(count(c, "SELECT count(*) FROM integrations WHERE cbe = $1 AND end_date = '2025-06-30'",
                  {cbe}),
            50000);
  EXPECT_EQ(
      count(
          c,
          "SELECT count(*) FROM directory_journal WHERE cbe = $1 AND actor = 'api:itest-operator' "
          "AND action = 'register'",
          {cbe}),
      100000);
  EXPECT_LT(secs, 60.0) << "a 100,000-line import should take seconds";

  // Re-importing the same file changes nothing.
  auto again =
      api.call_json(verb::post, "/v1/cpas/" + cbe + "/integrations:import", 200, csv, "text/csv");
  EXPECT_EQ(again.at("written").to_number<long long>(), 0);
  EXPECT_EQ(again.at("unchanged").to_number<long long>(), 100000);

  // NDJSON, 100,000 lines, into another CPAS.
  auto cbe2 = api.new_cpas(c);
  std::string nd;
  nd.reserve(8 * 1024 * 1024);
  for (const auto& s : ssins)
    nd += R"({"ssin":")" + s +
          R"(","quality_code":4,"start_date":"2024-02-01"})"
          "\n";
  t0 = std::chrono::steady_clock::now();
  auto w = api.call_json(verb::post, "/v1/cpas/" + cbe2 + "/integrations:import", 200, nd,
                         "application/x-ndjson");
  secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[ MEASURE  ] NDJSON import of 100,000 lines (" << nd.size() << " bytes): " << secs
            << " s" << std::endl;
  RecordProperty("import_100k_ndjson_seconds", std::to_string(secs));
  EXPECT_EQ(w.at("written").to_number<long long>(), 100000);
  EXPECT_EQ(
      count(c, "SELECT count(*) FROM integrations WHERE cbe = $1 AND quality_code = 4", {cbe2}),
      100000);
  EXPECT_LT(secs, 60.0);
}

TEST_F(ApiTest, ImportWithOneBadLineImportsNothing) {
  Api api;
  pg::Connection c(pg_dsn());
  auto cbe = api.new_cpas(c);
  auto ssins = many_ssins(10, random_below(1000));
  std::string csv = "ssin,quality_code,start_date\n";  // line 1
  for (int i = 0; i < 10; ++i) {
    if (i == 5)
      csv += "12345678901,1,2024-01-01\n";  // line 7: bad check digits
    else
      csv += ssins[i] + ",1,2024-01-01\n";
  }
  auto v =
      api.call_json(verb::post, "/v1/cpas/" + cbe + "/integrations:import", 400, csv, "text/csv");
  EXPECT_EQ(code_of(v), "IMPORT_REJECTED");
  ASSERT_EQ(v.at("errors").as_array().size(), 1u) << v;
  const auto& e = v.at("errors").as_array()[0];
  EXPECT_EQ(e.at("line").to_number<int>(), 7);
  EXPECT_TRUE(e.at("code").as_string().starts_with("INVALID_SSIN")) << e;
  EXPECT_EQ(e.at("field").as_string(), "ssin");
  EXPECT_EQ(v.at("valid_lines").to_number<int>(), 9);
  EXPECT_EQ(count(c, "SELECT count(*) FROM integrations WHERE cbe = $1", {cbe}), 0)
      << "all or nothing";

  // NDJSON: a bad quality code on line 3.
  std::string nd;
  for (int i = 0; i < 4; ++i)
    nd += R"({"ssin":")" + ssins[i] + R"(","quality_code":)" + (i == 2 ? "50" : "1") +
          R"(,"start_date":"2024-01-01"})"
          "\n";
  auto w = api.call_json(verb::post, "/v1/cpas/" + cbe + "/integrations:import", 400, nd,
                         "application/x-ndjson");
  ASSERT_EQ(w.at("errors").as_array().size(), 1u) << w;
  EXPECT_EQ(w.at("errors").as_array()[0].at("line").to_number<int>(), 3);
  EXPECT_EQ(w.at("errors").as_array()[0].at("code").as_string(), "INVALID_QUALITY_CODE");
  EXPECT_EQ(count(c, "SELECT count(*) FROM integrations WHERE cbe = $1", {cbe}), 0);
  EXPECT_EQ(
      api.call(verb::post, "/v1/cpas/" + cbe + "/integrations:import", "x", "text/plain").status,
      415u);
}

TEST_F(ApiTest, QualityCode999IsNoIntegrationAndRecordsNothing) {
  // (A CPAS credential is refused before the handler, by AccessControl: 403
  // REPLACEMENT_OPERATOR_ONLY, tests/e2e/test_replacements.py. The operator gets here.)
  Api api;
  pg::Connection c(pg_dsn());
  auto cbe = api.new_cpas(c);
  auto old_ssin = unique_ssin(c), new_ssin = unique_ssin(c);
  auto v =
      api.call_json(verb::put, "/v1/cpas/" + cbe + "/integrations", 400,
                    json::serialize(json::object{
                        {"ssin", new_ssin}, {"quality_code", 999}, {"replaces_ssin", old_ssin}}));
  EXPECT_EQ(code_of(v), "USE_REPLACEMENT_ROUTE");
  EXPECT_EQ(field_of(v), "quality_code");
  EXPECT_EQ(count(c, "SELECT count(*) FROM ssin_replacements WHERE old_ssin = $1 OR new_ssin = $1",
                  {old_ssin}),
            0);
  // 999 without replaces_ssin is an error.
  auto bad =
      api.call_json(verb::put, "/v1/cpas/" + cbe + "/integrations", 400,
                    json::serialize(json::object{{"ssin", new_ssin}, {"quality_code", 999}}));
  EXPECT_EQ(code_of(bad), "MISSING_FIELD");
  EXPECT_EQ(field_of(bad), "replaces_ssin");
}

TEST_F(ApiTest, OperatorReplacementsAreJournaledNeverOverwrittenNeverALoop) {
  Api api;
  pg::Connection c(pg_dsn());
  auto y = unique_ssin(c), x = unique_ssin(c), w = unique_ssin(c), z = unique_ssin(c);
  auto put = [&](const std::string& old_ssin, const std::string& by, unsigned status,
                 bool correct = false, const std::string& reason = "RN extract 2026-11-02") {
    json::object b{{"replaced_by", by}, {"reason", reason}};
    if (correct) b["correct"] = true;
    return api.call_json(verb::put, "/v1/ssin-replacements/" + old_ssin, status,
                         json::serialize(b));
  };
  auto rec = put(y, x, 201);
  EXPECT_EQ(rec.at("outcome").as_string(), "record");
  EXPECT_EQ(rec.at("replacement").at("source").as_string(), "operator");
  EXPECT_EQ(rec.at("replacement").at("recorded_by").as_string(), "api:itest-operator");
  EXPECT_EQ(rec.at("replacement").at("reason").as_string(), "RN extract 2026-11-02");
  EXPECT_EQ(count(c,
                  "SELECT count(*) FROM directory_journal WHERE ssin = $1 AND action = "
                  "'replacement-record' "
                  "AND actor = 'api:itest-operator' AND detail->>'new_ssin' = $2 AND "
                  "detail->>'reason' = $3",
                  {y, x, "RN extract 2026-11-02"}),
            1);
  EXPECT_EQ(put(y, x, 200).at("outcome").as_string(), "unchanged");
  // Y -> Z while Y -> X is known: 409 naming both, nothing changed.
  auto conflict = put(y, z, 409);
  EXPECT_EQ(code_of(conflict), "REPLACEMENT_CONFLICT");
  auto msg = std::string(conflict.at("message").as_string());
  EXPECT_NE(msg.find(x), std::string::npos) << msg;
  EXPECT_NE(msg.find(z), std::string::npos) << msg;
  EXPECT_EQ(c.exec("SELECT new_ssin FROM ssin_replacements WHERE old_ssin = $1", {y}).str(0, 0), x);
  // A chain Y -> X -> W, then W -> Y would be a loop.
  put(x, w, 201);
  auto loop = put(w, y, 409);
  EXPECT_EQ(code_of(loop), "REPLACEMENT_CYCLE");
  auto got = api.call_json(verb::get, "/v1/ssin-replacements/" + y, 200);
  auto chain = got.at("replacement").at("chain").as_array();
  ASSERT_EQ(chain.size(), 3u) << got;
  EXPECT_EQ(chain[2].as_string(), w);
  // The operator corrects it explicitly, journaled with the previous number.
  auto fixed = put(y, z, 200, true, "wrong BIS number typed");
  EXPECT_EQ(fixed.at("outcome").as_string(), "correct");
  EXPECT_EQ(count(c,
                  "SELECT count(*) FROM directory_journal WHERE ssin = $1 AND action = "
                  "'replacement-correct' "
                  "AND detail->>'previous_new_ssin' = $2 AND detail->>'new_ssin' = $3",
                  {y, x, z}),
            1);
  // A reason is mandatory; unknown numbers are 404 on GET.
  EXPECT_EQ(field_of(api.call_json(verb::put, "/v1/ssin-replacements/" + w, 400,
                                   json::serialize(json::object{{"replaced_by", z}}))),
            "reason");
  EXPECT_EQ(code_of(api.call_json(verb::get, "/v1/ssin-replacements/" + z, 404)),
            "REPLACEMENT_NOT_FOUND");
}

TEST_F(ApiTest, ValidationErrorsAreJsonAndChangeNothing) {
  Api api;
  pg::Connection c(pg_dsn());
  auto cbe = api.new_cpas(c);
  auto ssin = unique_ssin(c);
  auto base = "/v1/cpas/" + cbe + "/integrations";
  struct Case {
    std::string target, body, code, field;
  };
  std::string bad_cbe = cbe;
  bad_cbe[9] = bad_cbe[9] == '0' ? '1' : '0';  // wrong check digits
  std::string bad_ssin = ssin;
  bad_ssin[10] = bad_ssin[10] == '0' ? '1' : '0';
  std::vector<Case> cases = {
      {"/v1/cpas/" + bad_cbe + "/integrations", reg(ssin, 1, "2024-01-01"), "INVALID_CBE", "cbe"},
      {"/v1/cpas/12345/integrations", reg(ssin, 1, "2024-01-01"), "INVALID_CBE", "cbe"},
      {base, reg(bad_ssin, 1, "2024-01-01"), "INVALID_SSIN_CHECKSUM", "ssin"},
      {base, reg("1234", 1, "2024-01-01"), "INVALID_SSIN", "ssin"},
      {base, reg(ssin, 50, "2024-01-01"), "INVALID_QUALITY_CODE", "quality_code"},
      {base, reg(ssin, 902, "2024-01-01"), "INVALID_QUALITY_CODE", "quality_code"},
      {base, reg(ssin, 1, "2024-05-01", "2024-03-01"), "DATE_ORDER", "end_date"},
      {base, reg(ssin, 1, "2024-02-30"), "INVALID_DATE", "start_date"},
      {base, R"({"ssin":")" + ssin + R"(","start_date":"2024-01-01"})", "MISSING_FIELD",
       "quality_code"},
      {base, R"({"ssin":")" + ssin + R"(","quality_code":1,"start_date":"2024-01-01","x":1})",
       "UNKNOWN_FIELD", "x"},
      {base, "{not json", "MALFORMED_JSON", "<none>"},
  };
  for (const auto& k : cases) {
    auto v = api.call_json(verb::put, k.target, 400, k.body);
    EXPECT_EQ(code_of(v), k.code) << k.target << " " << k.body;
    EXPECT_EQ(field_of(v), k.field) << k.target << " " << k.body;
    EXPECT_TRUE(v.as_object().contains("message"));
  }
  EXPECT_EQ(code_of(api.call_json(verb::delete_, base + "/" + bad_ssin, 400)),
            "INVALID_SSIN_CHECKSUM");
  EXPECT_EQ(code_of(api.call_json(verb::delete_, base + "/" + ssin + "?quality_code=999", 400)),
            "INVALID_QUALITY_CODE");
  EXPECT_EQ(code_of(api.call_json(verb::delete_, base + "/" + ssin + "?end_date=2024-13-01", 400)),
            "INVALID_DATE");
  EXPECT_EQ(api.call(verb::put, base, reg(ssin, 1, "2024-01-01"), "text/plain").status, 415u);
  // The day before the start is allowed: it cancels the line (an empty period, overlapping
  // nothing).
  api.call_json(verb::put, base, 201, reg(ssin, 1, "2024-05-01", "2024-04-30"));
  EXPECT_EQ(count(c, "SELECT count(*) FROM integrations WHERE cbe = $1", {cbe}), 1)
      << "only the valid request wrote";
  // Registering the same person again, over the cancelled line's dates, still works.
  auto next = api.call_json(verb::put, base, 201, reg(ssin, 2, "2024-01-01"));
  EXPECT_EQ(next.at("overlapping").as_array().size(), 0u)
      << "a cancelled line overlaps nothing: " << next;
  auto third = api.call_json(verb::put, base, 201, reg(ssin, 3, "2024-03-01", "2024-02-29"));
  EXPECT_EQ(third.at("overlapping").as_array().size(), 0u) << third;
}

// The database drops the pool's connections (restart, failover, idle kill):
// the next request must not fail because of a connection that died while idle.
TEST_F(ApiTest, PoolSurvivesConnectionsKilledWhileIdle) {
  auto app = "itest_pool_" + std::to_string(random_below(1000000000));
  Api api(pg_dsn() + " application_name=" + app);
  pg::Connection c(pg_dsn());
  auto cbe = api.new_cpas(c);
  auto base = "/v1/cpas/" + cbe + "/integrations";
  api.call_json(verb::put, base, 201, reg(unique_ssin(c), 1, "2024-01-01"));
  api.call_json(verb::get, base, 200);
  ASSERT_GE(count(c, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", {app}),
            1);
  c.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
         {app});
  ASSERT_TRUE(eventually(
      [&] {
        return count(c, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                     {app}) == 0;
      },
      5s));
  for (int i = 0; i < 3; ++i) {
    auto v = api.call_json(verb::get, base, 200);
    EXPECT_EQ(v.at("integrations").as_array().size(), 1u);
  }
  api.call_json(verb::put, base, 201, reg(unique_ssin(c), 1, "2024-01-01"));
}

}  // namespace
}  // namespace relais::itest
