// A request target (path and query string), as relais-ingest and relais-api receive it. Input:
// one selector byte (the method), then the target. Parsed by relais::http::detail::parse_target
// as the server does (decoded path and query), then dispatched by relais::http::Router over the
// services' route patterns; the captures are checked by the validators the handlers use, and the
// query parameters the handlers read are looked up.
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>

#include "fuzz_util.hpp"
#include "relais/http/router.hpp"
#include "relais/http/target.hpp"
#include "relais/validation/date.hpp"
#include "relais/validation/ids.hpp"

using namespace relais;
namespace asio = boost::asio;

namespace {

// The routes of relais-ingest, relais-api and every service's operations endpoints.
constexpr std::array<std::pair<http::verb, const char*>, 18> kRoutes{{
    {http::verb::post, "/v1/notifications/{flow}"},
    {http::verb::post, "/v1/notifications/{flow}:batch"},
    {http::verb::put, "/v1/cpas/{cbe}"},
    {http::verb::get, "/v1/cpas"},
    {http::verb::put, "/v1/cpas/{cbe}/integrations"},
    {http::verb::get, "/v1/cpas/{cbe}/integrations"},
    {http::verb::delete_, "/v1/cpas/{cbe}/integrations/{ssin}"},
    {http::verb::post, "/v1/cpas/{cbe}/integrations:import"},
    {http::verb::get, "/v1/cpas/{cbe}/alerts"},
    {http::verb::get, "/v1/cpas/{cbe}/alerts/{id}"},
    {http::verb::post, "/v1/cpas/{cbe}/alerts/{id}/reaction"},
    {http::verb::get, "/v1/reaction-codes"},
    {http::verb::get, "/metrics"},
    {http::verb::get, "/healthz"},
    {http::verb::get, "/readyz"},
    {http::verb::get, "/"},
    {http::verb::get, "/status.json"},
    {http::verb::get, "/openapi.yaml"},
}};

constexpr std::array<http::verb, 6> kMethods{http::verb::get,     http::verb::head,
                                             http::verb::post,    http::verb::put,
                                             http::verb::delete_, http::verb::patch};

asio::awaitable<http::Response> matched(http::Request& req) {
  // What the handlers check first.
  for (const auto& [name, value] : req.params) {
    if (name == "flow") (void)codec::flow_from_id(value);
    if (name == "cbe") (void)validation::is_valid_cbe(value);
    if (name == "ssin") (void)validation::validate_ssin(value, "ssin");
    if (name == "id") (void)validation::is_valid_ticket(value);
  }
  for (const char* key : {"status", "type", "overdue", "limit", "after", "quality_code"})
    (void)req.query_param(key);
  if (auto v = req.query_param("ssin")) (void)validation::validate_ssin(*v, "ssin");
  if (auto v = req.query_param("end_date")) (void)validation::parse_iso_date(*v);
  co_return http::Response{};
}

http::Handler make_handler() {
  http::Router router;
  for (const auto& [method, pattern] : kRoutes) router.add(method, pattern, matched);
  return router.handler();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const http::Handler handler = make_handler();
  static asio::io_context io;
  if (size < 1) return 0;

  http::Request req;
  req.method = kMethods[data[0] % kMethods.size()];
  req.target = std::string(fuzz::text(data + 1, size - 1));
  auto parsed = http::detail::parse_target(req.target, false);
  if (!parsed) return 0;  // the server answers 400 before routing
  RELAIS_FUZZ_CHECK(!parsed->path.empty());
  req.path = std::move(parsed->path);
  req.query = std::move(parsed->query);

  std::optional<http::Response> resp;
  std::exception_ptr failure;
  asio::co_spawn(io, handler(req), [&](std::exception_ptr e, http::Response r) {
    failure = e;
    resp = std::move(r);
  });
  io.restart();
  io.run();
  if (failure) std::rethrow_exception(failure);  // the router never throws on input
  RELAIS_FUZZ_CHECK(resp.has_value());
  RELAIS_FUZZ_CHECK(resp->status == 200 || resp->status == 400 || resp->status == 404 ||
                    resp->status == 405);
  if (resp->status == 200) RELAIS_FUZZ_CHECK(!req.route.empty());
  return 0;
}
