#include "relais/api/routes.hpp"

#include <stdexcept>

#include "relais/auth/credentials.hpp"

namespace relais::api {
namespace asio = boost::asio;

Caller Caller::of(const auth::Credential& c) {
  Caller out;
  out.credential_id = c.id;
  out.credential_name = c.name;
  out.op = c.scopes.op;
  out.cpas = c.scopes.cpas;
  std::string a = c.name + "#" + c.id;
  if (a.size() > 100) a.resize(100);
  out.actor = "api:" + a;
  return out;
}

namespace {
// The matching router's handlers are never run: the table dispatches itself.
asio::awaitable<http::Response> never_run(http::Request&) {
  co_return http::Response{};
}

// Not a lambda: the handler is a coroutine parameter, so it lives in the coroutine frame.
asio::awaitable<Reply> serve_open(std::shared_ptr<http::Handler> h, http::Request& req) {
  http::Response r = co_await (*h)(req);
  co_return r;
}
}  // namespace

RouteTable::RouteTable() : routes_(std::make_shared<std::vector<Route>>()) {}

void RouteTable::add(RouteSpec spec, RouteHandler handler) {
  if (!handler)
    throw std::invalid_argument("api routes: empty handler for \"" + spec.pattern + "\"");
  router_.add(spec.method, spec.pattern, never_run);  // validates the pattern, refuses duplicates
  index_[{static_cast<int>(spec.method), spec.pattern}] = routes_->size();
  Route r;
  static_cast<RouteSpec&>(r) = std::move(spec);
  r.handler = std::move(handler);
  routes_->push_back(std::move(r));
}

void RouteTable::add_open(http::verb method, std::string pattern, http::Handler handler) {
  auto h = std::make_shared<http::Handler>(std::move(handler));
  add({method, std::move(pattern), Policy::open},
      [h](http::Request& req, const Caller&) { return serve_open(h, req); });
}

void RouteTable::add_open(const http::Router& r) {
  auto h = r.handler();
  for (auto& [method, pattern] : r.list()) add_open(method, pattern, h);
}

RouteTable::Match RouteTable::match(const http::Request& req) const {
  auto m = router_.match(req);
  Match out;
  out.status = m.status;
  out.pattern = std::move(m.route);
  out.params = std::move(m.params);
  out.allow = std::move(m.allow);
  if (m.status == 200)
    out.route = &(*routes_)[index_.at({static_cast<int>(m.method), out.pattern})];
  return out;
}

Problem no_route(const RouteTable::Match& m) {
  if (m.status == 400) return problem(errc::invalid, "BAD_REQUEST", "invalid request target");
  if (m.status == 405) {
    auto p = problem(errc::method_not_allowed, "METHOD_NOT_ALLOWED",
                     "method not allowed for this resource");
    p.headers.emplace_back("Allow", m.allow);
    return p;
  }
  return problem(errc::not_found, "NOT_FOUND", "no such resource");
}

namespace {
asio::awaitable<http::Response> dispatch_as(const RouteTable* table,
                                            std::shared_ptr<const Caller> caller,
                                            http::Request& req) {
  auto m = table->match(req);
  if (!m.route) co_return to_response(no_route(m));
  req.route = m.pattern;
  for (auto& [k, v] : m.params) req.params[k] = std::move(v);
  // Named, not temporaries inside the co_await expression: GCC 12 mishandles those.
  Reply reply = co_await m.route->handler(req, *caller);
  co_return to_response(std::move(reply));
}
}  // namespace

http::Handler RouteTable::handler_as(Caller caller) const {
  auto c = std::make_shared<const Caller>(std::move(caller));
  return [this, c](http::Request& req) { return dispatch_as(this, c, req); };
}

}  // namespace relais::api
