// relais-api's ONE table of routes. Each route is declared once, in one line: method, path
// pattern, policy (who may call it), where the access journal finds its SSIN, and the handler.
// The router, the access control's policy lookup and the route listing all come from it.
//
//   table.add({verb::get, "/v1/cpas/{cbe}/alerts", Policy::cpas}, [this](auto& q, auto& c) { ...
//   });
//
// Handlers receive the verified `Caller` (never a header) and return `result<http::Response>`;
// an error becomes a problem document in api::to_response (problem.hpp), nowhere else.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "relais/api/problem.hpp"
#include "relais/http/router.hpp"

namespace relais::auth {
struct Credential;
}

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

// Who is calling, as verified by AccessControl from the bearer token. Handlers take it from
// here; nothing the request says about itself (no header) can change it.
struct Caller {
  std::string credential_id;  // "" for an open route
  std::string credential_name;
  bool op = false;             // the operator scope
  std::set<std::string> cpas;  // the CPAS (CBE) a CPAS credential is scoped to
  // The "who" of journals and reactions: "api:<name>#<id>" (at most 104 bytes).
  std::string actor;

  static Caller of(const auth::Credential& c);
  bool may_act_on(std::string_view cbe) const { return op || cpas.contains(std::string(cbe)); }
};

using Reply = result<http::Response>;
using RouteHandler = std::function<boost::asio::awaitable<Reply>(http::Request&, const Caller&)>;

struct RouteSpec {
  http::verb method;
  std::string pattern;
  Policy policy;
  SsinFrom ssin = SsinFrom::none;
  OperatorOnlyWhen operator_only_when = OperatorOnlyWhen::never;
};

struct Route : RouteSpec {
  RouteHandler handler;
};

class RouteTable {
 public:
  RouteTable();
  // Throws std::invalid_argument on a malformed pattern or a route declared twice. Setup-time only.
  void add(RouteSpec spec, RouteHandler handler);
  // An open route served by a plain HTTP handler (probes, metrics, status page, OpenAPI document).
  void add_open(http::verb method, std::string pattern, http::Handler handler);
  // Every route of `r` as an open route (the operations routes of libs/service).
  void add_open(const http::Router& r);

  // The route of a request: status 200 with `route` set, or 400 / 404 / 405 (`allow` set).
  struct Match {
    unsigned status = 404;
    const Route* route = nullptr;
    std::string pattern;                        // the matched pattern, from 405 on
    std::map<std::string, std::string> params;  // the captures, from 405 on
    std::string allow;
  };
  Match match(const http::Request& req) const;

  // The routes, in declaration order (the listing and the tests).
  const std::vector<Route>& routes() const { return *routes_; }

  // An HTTP handler that dispatches every call as `caller`, without access control: for
  // in-process tests of the handlers only (relais-api serves the table through AccessControl).
  http::Handler handler_as(Caller caller) const;

 private:
  std::shared_ptr<std::vector<Route>> routes_;
  http::Router router_;                                       // matching only
  std::map<std::pair<int, std::string>, std::size_t> index_;  // (method, pattern) → routes_
};

// The problem answers of the matching step, shared by AccessControl and handler_as.
Problem no_route(const RouteTable::Match& m);

}  // namespace relais::api
