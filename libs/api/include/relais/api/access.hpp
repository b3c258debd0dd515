// Authentication, authorisation and the access journal of relais-api (docs/security.md).
//
// `AccessControl::front()` wraps the service's router handler. For every request it:
//  1. matches the request against the policy table (one entry per route: open, authenticated,
//     cpas, operator), with the same matching rules as the service's router. A route the table
//     does not list is answered 404/405 here and never reaches its handler (fail closed);
//  2. authenticates the bearer token (cache of verified credentials, PostgreSQL on a miss);
//  3. checks the scope: a CPAS credential only on its own CPAS, the operator on everything;
//  4. refuses with 401 (+ WWW-Authenticate: Bearer) or 403 and journals the refusal, or reserves
//     a journal slot (503 when the journal is full), runs the handler and journals the result.
// Open routes (/healthz, /readyz, /metrics, the status page, /openapi.yaml) are not journaled.
#pragma once

#include <map>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "relais/auth/credentials.hpp"
#include "relais/auth/journal.hpp"
#include "relais/common/metrics.hpp"
#include "relais/http/router.hpp"
#include "relais/pg/pool.hpp"

namespace relais::api {

enum class Policy {
  open,           // no credential needed, not journaled
  authenticated,  // any valid credential
  cpas,           // a credential scoped to the {cbe} of the path, or the operator
  operator_only,  // the operator scope
};

// Where the journal finds the SSIN of a call.
enum class SsinFrom { none, path, query, request_body, response_body, alert, manage_access_body };

// Calls of a CPAS route that only the operator may make, told by their body.
enum class OperatorOnlyWhen {
  never,
  records_ssin_replacement,  // an integration line with quality code 999 (SSIN replaced)
};

struct RoutePolicy {
  http::verb method;
  std::string pattern;
  Policy policy;
  SsinFrom ssin = SsinFrom::none;
  OperatorOnlyWhen operator_only_when = OperatorOnlyWhen::never;
};

// True when a JSON body is an integration line recording an SSIN replacement (quality code 999).
// Pure; the handler still validates the body (a malformed one is its 400).
bool records_ssin_replacement(std::string_view json_body);

// relais-api's routes and their policies.
const std::vector<RoutePolicy>& api_policies();

struct AccessOptions {
  std::chrono::milliseconds cache_ttl{5000};  // bound on how long a revoked credential still works
  std::size_t cache_max = 10000;
  std::string realm = "relais-api";
};

class AccessControl {
 public:
  AccessControl(AccessOptions o, std::vector<RoutePolicy> policies, pg::Pool& pool, auth::JournalWriter& journal,
                metrics::Registry& m);
  // The handler to give the HTTP server: guards `inner` (the service router's handler).
  http::Handler front(http::Handler inner);
  // GET /v1/access-journal (operator).
  void add_routes(http::Router& r);
  // The body limit of a request, decided from its header before any byte of the body is read:
  // `limit` when it carries a bearer token that verifies (cache or PostgreSQL), else at most
  // `unauthenticated_limit` (a junk Authorization header gets no more than none at all).
  boost::asio::awaitable<std::size_t> body_limit(const http::Request& header_only, std::size_t limit,
                                                 std::size_t unauthenticated_limit);
  // A call the HTTP server refused itself (body too large, rate limited, bad header...): journaled
  // like any refused call, with the refusal "http_<reason>" (http::ServerOptions::on_refused).
  boost::asio::awaitable<void> refused_by_server(const http::Request& header_only, unsigned status,
                                                 std::string reason);

 private:
  struct Call;
  boost::asio::awaitable<http::Response> handle(http::Request& req, std::shared_ptr<http::Handler> inner);
  boost::asio::awaitable<auth::Refusal> authenticate(const http::Request& req, Call& call);
  boost::asio::awaitable<http::Response> query_journal(http::Request& req);

  AccessOptions o_;
  std::shared_ptr<const std::vector<RoutePolicy>> policies_;
  http::Handler policy_match_;  // a Router over the policy table, answering the entry's index
  pg::Pool& pool_;
  auth::JournalWriter& journal_;
  auth::CredentialCache cache_;
  metrics::Family<metrics::Counter>& decisions_;
  metrics::Counter& lookups_;
};

// Text rules of relais-api's inputs (validation/text.hpp): every path parameter and query value,
// every key and string of a JSON body (line breaks only in the free-text fields "comment" and
// "reason"), and the whole of a CSV or NDJSON import. The first problem, as the 400 to answer.
std::optional<http::Response> check_request_text(const http::Request& req,
                                                 const std::map<std::string, std::string>& params);

// "Authorization" is never logged nor echoed; this is the value relais-api puts in
// X-Relais-Actor for the handlers (credential name and id, and for an operator credential the
// person named by the caller's own X-Relais-Actor).
std::string actor_for(const auth::Credential& c, std::string_view declared);

}  // namespace relais::api
