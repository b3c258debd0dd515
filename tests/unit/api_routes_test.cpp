// relais-api without PostgreSQL: the one route table (every route once, its policy, matching,
// unknown route, wrong method), the scope check of each route, the verified Caller, and the
// problem mapper (every errc → status, type, title; the RFC 9457 document).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <set>

#include "relais/api/access.hpp"
#include "relais/api/alerts.hpp"
#include "relais/api/problem.hpp"
#include "relais/api/replay.hpp"
#include "relais/api/routes.hpp"
#include "relais/api/service.hpp"
#include "relais/auth/credentials.hpp"
#include "relais/auth/journal.hpp"

namespace relais::api {
namespace {
namespace json = boost::json;
using http::verb;

// relais-api's real table, built by the services that own the routes. No connection is ever
// opened: pg::Pool and the journal connect on first use, and nothing here runs a handler.
struct RealTable {
  RealTable()
      : pool("host=127.0.0.1 port=1 dbname=none connect_timeout=1", 1),
        svc(Options{}, pool, registry),
        alerts(AlertsOptions{}, pool, registry),
        journal(auth::JournalWriterOptions{}, registry),
        access(AccessOptions{}, table, pool, journal, registry),
        replays(ReplayOptions{}, pool, registry) {
    svc.add_routes(table);
    alerts.add_routes(table);
    replays.add_routes(table);
    access.add_routes(table);
  }
  metrics::Registry registry;
  pg::Pool pool;
  Service svc;
  AlertsService alerts;
  auth::JournalWriter journal;
  RouteTable table;
  AccessControl access;
  ReplayService replays;  // its routes only: the worker is never started here
};

http::Request request(verb m, std::string target, std::string body = {}) {
  http::Request r;
  r.method = m;
  r.target = target;
  r.path = std::move(target);
  if (!body.empty()) {
    r.body = std::move(body);
    r.headers.set("Content-Type", "application/json");
  }
  return r;
}

Caller cpas_caller(const std::string& cbe) {
  auth::Credential c{"0123456789abcdef", "app-a", {}, {}, {}, {}};
  c.scopes.cpas.insert(cbe);
  return Caller::of(c);
}

Caller operator_caller() {
  auth::Credential c{"fedcba9876543210", "ops", {}, {}, {}, {}};
  c.scopes.op = true;
  return Caller::of(c);
}

TEST(ApiRoutes, EveryRouteIsDeclaredOnceWithItsPolicy) {
  RealTable t;
  std::set<std::pair<int, std::string>> seen;
  for (const auto& r : t.table.routes()) {
    EXPECT_TRUE(seen.insert({static_cast<int>(r.method), r.pattern}).second) << r.pattern;
    EXPECT_TRUE(r.handler) << r.pattern;
    EXPECT_TRUE(r.pattern.starts_with("/v1/")) << r.pattern;
    EXPECT_NE(r.policy, Policy::open) << r.pattern;  // every data route needs a credential
    // A CPAS's own resources are CPAS-scoped; the CPAS row and its identity (NIS codes, BCSS
    // sector/institution, by which the directory is also addressed) are the operator's to set.
    const bool operator_data = r.pattern == "/v1/cpas/{cbe}" ||
                               (r.pattern == "/v1/cpas/{cbe}/identity" && r.method == verb::put);
    if (r.pattern.find("{cbe}") != std::string::npos && !operator_data) {
      EXPECT_EQ(r.policy, Policy::cpas) << r.pattern;
    }
    if (operator_data || r.pattern.starts_with("/v1/ssin-replacements")) {
      EXPECT_EQ(r.policy, Policy::operator_only) << r.pattern;
    }
  }
  EXPECT_EQ(seen.size(), 22u);  // the routes of docs/openapi/api.yaml under /v1/
  EXPECT_THROW(t.table.add({verb::get, "/v1/cpas", Policy::operator_only},
                           [](http::Request&, const Caller&) -> boost::asio::awaitable<Reply> {
                             co_return Reply{};
                           }),
               std::invalid_argument);
}

TEST(ApiRoutes, MatchingFindsTheRouteTheCapturesAndRefusesUnknownRoutesAndMethods) {
  RealTable t;
  auto m = t.table.match(request(verb::delete_, "/v1/cpas/0212344876/integrations/68060105329"));
  ASSERT_EQ(m.status, 200u);
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.route->pattern, "/v1/cpas/{cbe}/integrations/{ssin}");
  EXPECT_EQ(m.route->ssin, SsinFrom::path);
  EXPECT_EQ(m.params.at("cbe"), "0212344876");
  EXPECT_EQ(m.params.at("ssin"), "68060105329");
  // The import pattern wins over a bare capture.
  m = t.table.match(request(verb::post, "/v1/cpas/0212344876/integrations:import"));
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.route->pattern, "/v1/cpas/{cbe}/integrations:import");
  // HEAD is served by GET.
  m = t.table.match(request(verb::head, "/v1/cpas"));
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.route->method, verb::get);

  m = t.table.match(request(verb::get, "/v1/nothing-here"));
  EXPECT_EQ(m.status, 404u);
  EXPECT_FALSE(m.route);
  auto r = to_response(no_route(m));
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(json::parse(r.body).at("code"), "NOT_FOUND");

  m = t.table.match(request(verb::delete_, "/v1/cpas"));
  EXPECT_EQ(m.status, 405u);
  EXPECT_FALSE(m.route);
  EXPECT_EQ(m.pattern, "/v1/cpas");
  r = to_response(no_route(m));
  EXPECT_EQ(r.status, 405u);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Allow");
  EXPECT_EQ(r.headers[0].second, "GET, HEAD");
}

TEST(ApiRoutes, EachRouteEnforcesItsScope) {
  RealTable t;
  const std::string own = "0212344876", other = "0203430576";
  auto check = [&](const Caller& c, verb m, const std::string& target,
                   const std::string& body = {}) {
    auto req = request(m, target, body);
    auto match = t.table.match(req);
    if (!match.route) return std::string("no route");
    auto refused = authorize(*match.route, c, match.params, req);
    return refused ? refused->problem.code + "/" + std::string(auth::to_string(refused->refusal))
                   : std::string("ok");
  };
  const auto cpas = cpas_caller(own), op = operator_caller();
  // Every route: the operator may; a CPAS credential only on its own CPAS and never the operator's
  // routes.
  for (const auto& r : t.table.routes()) {
    std::string target = r.pattern;
    auto fill = [&](const std::string& name, const std::string& v) {
      if (auto p = target.find("{" + name + "}"); p != std::string::npos)
        target.replace(p, name.size() + 2, v);
    };
    fill("cbe", own);
    fill("ssin", "68060105329");
    fill("old_ssin", "68060105329");
    fill("id", "00000000-0000-0000-0000-000000000001");
    EXPECT_EQ(check(op, r.method, target), "ok") << r.pattern;
    const std::string as_cpas = check(cpas, r.method, target);
    EXPECT_EQ(as_cpas, r.policy == Policy::operator_only ? "OPERATOR_ONLY/operator_only" : "ok")
        << r.pattern;
    if (r.policy == Policy::cpas) {
      std::string theirs = target;
      theirs.replace(theirs.find(own), own.size(), other);
      EXPECT_EQ(check(cpas, r.method, theirs), "FORBIDDEN_CPAS/cpas_out_of_scope") << r.pattern;
      EXPECT_EQ(check(op, r.method, theirs), "ok") << r.pattern;
    }
  }
  // Quality code 999 on the integrations route: the operator's only.
  const std::string replacement =
      R"({"ssin":"68060105329","quality_code":999,"replaces_ssin":"93051822361"})";
  EXPECT_EQ(check(cpas, verb::put, "/v1/cpas/" + own + "/integrations", replacement),
            "REPLACEMENT_OPERATOR_ONLY/replacement_operator_only");
  EXPECT_EQ(check(op, verb::put, "/v1/cpas/" + own + "/integrations", replacement), "ok");
  EXPECT_EQ(check(cpas, verb::put, "/v1/cpas/" + own + "/integrations",
                  R"({"ssin":"68060105329","quality_code":2,"start_date":"2024-01-01"})"),
            "ok");
}

TEST(ApiRoutes, RecordsSsinReplacementIsToldByTheBody) {
  EXPECT_TRUE(records_ssin_replacement(
      R"({"ssin":"68060105329","quality_code":999,"replaces_ssin":"93051822361"})"));
  EXPECT_TRUE(records_ssin_replacement(R"({"quality_code":999})"));
  EXPECT_FALSE(records_ssin_replacement(
      R"({"ssin":"68060105329","quality_code":2,"start_date":"2024-01-01"})"));
  EXPECT_FALSE(
      records_ssin_replacement(R"({"quality_code":"999"})"));  // the handler's 400 WRONG_TYPE
  EXPECT_FALSE(records_ssin_replacement("not json"));
  EXPECT_FALSE(records_ssin_replacement(""));
}

TEST(ApiCaller, NamesTheVerifiedCredentialOnly) {
  auth::Credential c{"0123456789abcdef", "app-a", {}, {}, {}, {}};
  c.scopes.cpas.insert("0212344876");
  auto caller = Caller::of(c);
  EXPECT_EQ(caller.actor, "api:app-a#0123456789abcdef");
  EXPECT_FALSE(caller.op);
  EXPECT_TRUE(caller.may_act_on("0212344876"));
  EXPECT_FALSE(caller.may_act_on("0203430576"));
  c.scopes.op = true;
  c.name = std::string(500, 'x');
  caller = Caller::of(c);
  EXPECT_TRUE(caller.op);
  EXPECT_TRUE(caller.may_act_on("0203430576"));
  EXPECT_LE(caller.actor.size(), 104u);
}

TEST(ApiProblem, EveryErrcHasItsStatusTypeAndTitle) {
  const std::map<errc, unsigned> expected = {
      {errc::invalid, 400},
      {errc::unauthenticated, 401},
      {errc::forbidden, 403},
      {errc::not_found, 404},
      {errc::method_not_allowed, 405},
      {errc::conflict, 409},
      {errc::too_large, 413},
      {errc::unsupported_media_type, 415},
      {errc::rate_limited, 429},
      {errc::internal, 500},
      {errc::refused, 502},
      {errc::unavailable, 503},
      {errc::timeout, 504},
  };
  std::set<std::string> types;
  for (errc e : kAllErrc) {
    ASSERT_TRUE(expected.contains(e)) << to_string(e);
    EXPECT_EQ(status_of(e), expected.at(e)) << to_string(e);
    EXPECT_TRUE(types.insert(type_of(e)).second) << to_string(e);
    EXPECT_TRUE(type_of(e).starts_with("urn:relais:problem:")) << type_of(e);
    EXPECT_FALSE(title_of(e).empty());
    auto r = to_response(problem(e, "SOME_CODE", "what went wrong"));
    EXPECT_EQ(r.status, expected.at(e));
    EXPECT_EQ(r.content_type, "application/problem+json");
    auto o = json::parse(r.body).as_object();
    EXPECT_EQ(o.at("status").to_number<unsigned>(), expected.at(e));
    EXPECT_EQ(o.at("type").as_string(), type_of(e));
    EXPECT_EQ(o.at("title").as_string(), title_of(e));
  }
  EXPECT_EQ(types.size(), expected.size());
  EXPECT_EQ(type_of(errc::not_found), "urn:relais:problem:not-found");
}

TEST(ApiProblem, TheDocumentCarriesDetailCodeFieldExtensionsAndHeaders) {
  auto p =
      problem(errc::conflict, "REACTION_EXISTS", "this alert already has a reaction", "amendment");
  p.extra["reaction_id"] = "r-1";
  p.extra["status"] = 200;  // an extension never overrides a standard member
  p.headers.emplace_back("Retry-After", "1");
  auto r = to_response(p);
  EXPECT_EQ(r.status, 409u);
  auto o = json::parse(r.body).as_object();
  EXPECT_EQ(o.at("detail"), "this alert already has a reaction");
  EXPECT_EQ(o.at("code"), "REACTION_EXISTS");
  EXPECT_EQ(o.at("message"), "this alert already has a reaction");
  EXPECT_EQ(o.at("field"), "amendment");
  EXPECT_EQ(o.at("reaction_id"), "r-1");
  EXPECT_EQ(o.at("status").to_number<int>(), 409);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].second, "1");
  // No field: no member.
  EXPECT_FALSE(json::parse(to_response(problem(errc::internal, "INTERNAL", "internal error")).body)
                   .as_object()
                   .contains("field"));
  // A validation error keeps its code and field.
  auto v =
      to_response(problem(validation::Error{"INVALID_SSIN_CHECKSUM", "bad check digits", "ssin"}));
  EXPECT_EQ(v.status, 400u);
  EXPECT_EQ(json::parse(v.body).at("field"), "ssin");
  // A value passes through untouched.
  http::Response ok;
  ok.status = 201;
  ok.body = "{}";
  auto out = to_response(Reply(ok));
  EXPECT_EQ(out.status, 201u);
  EXPECT_EQ(out.content_type, "application/json");
}

TEST(ApiProblem, TheServersOwnRefusalsKeepTheirStatus) {
  for (unsigned status : {400u, 413u, 429u, 431u, 500u, 501u, 503u}) {
    auto r = server_error(status, "SOME_CODE", "refused");
    EXPECT_EQ(r.status, status);
    EXPECT_EQ(r.content_type, "application/problem+json");
    auto o = json::parse(r.body).as_object();
    EXPECT_EQ(o.at("status").to_number<unsigned>(), status);
    EXPECT_EQ(o.at("code"), "SOME_CODE");
  }
  EXPECT_EQ(errc_of_status(413), errc::too_large);
  EXPECT_EQ(errc_of_status(431), errc::invalid);
  EXPECT_EQ(errc_of_status(501), errc::internal);
}

}  // namespace
}  // namespace relais::api
