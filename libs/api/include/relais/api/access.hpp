// Authentication, authorisation and the access journal of relais-api (docs/security.md).
//
// `AccessControl::handler()` serves relais-api's route table (routes.hpp). For every request it:
//  1. matches the request in the table (each route carries its policy: open, authenticated,
//     cpas, operator). A route the table does not list is answered 404/405 (fail closed);
//  2. authenticates the bearer token (cache of verified credentials, PostgreSQL on a miss);
//  3. checks the scope: a CPAS credential only on its own CPAS, the operator on everything;
//  4. refuses with 401 (+ WWW-Authenticate: Bearer) or 403 and journals the refusal, or reserves
//     a journal slot (503 when the journal is full), runs the handler with the verified `Caller`
//     and journals the result. Every refusal is a problem document (problem.hpp).
// Open routes (/healthz, /readyz, /metrics, the status page, /openapi.yaml) are not journaled.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "relais/api/routes.hpp"
#include "relais/auth/credentials.hpp"
#include "relais/auth/journal.hpp"
#include "relais/common/metrics.hpp"
#include "relais/http/router.hpp"
#include "relais/pg/pool.hpp"

namespace relais::api {

// True when a JSON body is an integration line recording an SSIN replacement (quality code 999).
// Pure; the handler still validates the body (a malformed one is its 400).
bool records_ssin_replacement(std::string_view json_body);

// Step 3 of every call, pure: may this verified caller call this route (with these path
// captures and this body)? The problem to answer and the refusal to journal, or nullopt.
struct Refused {
  Problem problem;
  auth::Refusal refusal;
};
std::optional<Refused> authorize(const RouteSpec& route, const Caller& caller,
                                 const std::map<std::string, std::string>& params,
                                 const http::Request& req);

struct AccessOptions {
  std::chrono::milliseconds cache_ttl{5000};  // bound on how long a revoked credential still works
  std::size_t cache_max = 10000;
  std::string realm = "relais-api";
};

class AccessControl {
 public:
  // `routes` is read at each call: it must outlive this object and be complete before serving.
  AccessControl(AccessOptions o, const RouteTable& routes, pg::Pool& pool,
                auth::JournalWriter& journal, metrics::Registry& m);
  // The handler to give the HTTP server: the route table behind the access control.
  http::Handler handler();
  // GET /v1/access-journal (operator).
  void add_routes(RouteTable& r);
  // The body limit of a request, decided from its header before any byte of the body is read:
  // `limit` when it carries a bearer token that verifies (cache or PostgreSQL), else at most
  // `unauthenticated_limit` (a junk Authorization header gets no more than none at all).
  boost::asio::awaitable<std::size_t> body_limit(const http::Request& header_only,
                                                 std::size_t limit,
                                                 std::size_t unauthenticated_limit);
  // A call the HTTP server refused itself (body too large, rate limited, bad header...): journaled
  // like any refused call, with the refusal "http_<reason>" (http::ServerOptions::on_refused).
  boost::asio::awaitable<void> refused_by_server(const http::Request& header_only, unsigned status,
                                                 std::string reason);

 private:
  struct Call;
  boost::asio::awaitable<http::Response> handle(http::Request& req);
  boost::asio::awaitable<auth::Refusal> authenticate(const http::Request& req, Call& call);
  boost::asio::awaitable<Reply> query_journal(http::Request& req);

  AccessOptions o_;
  const RouteTable& routes_;
  pg::Pool& pool_;
  auth::JournalWriter& journal_;
  auth::CredentialCache cache_;
  metrics::Family<metrics::Counter>& decisions_;
  metrics::Counter& lookups_;
};

// Text rules of relais-api's inputs (validation/text.hpp): every path parameter and query value,
// every key and string of a JSON body (line breaks only in the free-text fields "comment" and
// "reason"), and the whole of a CSV or NDJSON import. The first problem, as the 400 to answer.
std::optional<Problem> check_request_text(const http::Request& req,
                                          const std::map<std::string, std::string>& params);

}  // namespace relais::api
