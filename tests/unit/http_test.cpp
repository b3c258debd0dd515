// relais::http against a real server on an ephemeral loopback port, io_context run by background
// threads. Waits are bounded polls, never fixed sleeps used as assertions.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <future>
#include <memory>
#include <optional>
#include <relais/common/metrics.hpp>
#include <relais/http/client.hpp>
#include <relais/http/limits.hpp>
#include <relais/http/router.hpp>
#include <relais/http/server.hpp>
#include <relais/http/url.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http_support.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using relais::http::Request;
using relais::http::Response;
using relais::http::verb;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

using relais::http::testing::kHost;

// ---- handlers (free coroutines: nothing captured) ----

std::atomic<int> slow_started{0};
std::atomic<int> slow_finished{0};

asio::awaitable<Response> echo(Request& req) {
  json::object o;
  o["method"] = req.method_string;
  o["path"] = req.path;
  o["route"] = req.route;
  o["body"] = req.body;
  o["content_type"] = req.content_type();
  o["remote"] = req.remote_address;
  json::object params;
  for (const auto& [k, v] : req.params) params[k] = v;
  o["params"] = std::move(params);
  json::array query;
  for (const auto& [k, v] : req.query)
    query.push_back(json::array{json::string(k), json::string(v)});
  o["query"] = std::move(query);
  auto a = req.query_param("a");
  o["a"] = a ? json::value(json::string(*a)) : json::value(nullptr);
  co_return Response{200, "application/json", json::serialize(o), {}};
}

asio::awaitable<Response> batch(Request& req) {
  co_return Response{
      200, "text/plain", "batch:" + req.params["flow"] + ":" + std::to_string(req.body.size()), {}};
}

asio::awaitable<Response> single(Request& req) {
  co_return Response{202, "text/plain", "single:" + req.params["flow"], {}};
}

asio::awaitable<Response> hello(Request&) {
  co_return Response{200, "text/plain", "hello, world", {}};
}

asio::awaitable<Response> thrower(Request&) {
  throw std::runtime_error("secret database password hunter2");
  co_return Response{};
}

asio::awaitable<Response> slow(Request&) {
  slow_started.fetch_add(1);
  asio::steady_timer t(co_await asio::this_coro::executor, 300ms);
  co_await t.async_wait(asio::use_awaitable);
  slow_finished.fetch_add(1);
  co_return Response{200, "text/plain", "slow done", {}};
}

asio::awaitable<Response> stuck(Request&) {
  slow_started.fetch_add(1);
  asio::steady_timer t(co_await asio::this_coro::executor, 30s);
  co_await t.async_wait(asio::use_awaitable);  // cancelled by a forced stop
  co_return Response{200, "text/plain", "never", {}};
}

asio::awaitable<Response> retry_later(Request&) {
  Response r = relais::http::json_error(503, "UNAVAILABLE", "later");
  r.headers.emplace_back("Retry-After", "7");
  r.headers.emplace_back("X-Bad", "a\r\nInjected: yes");
  co_return r;
}

relais::http::Router make_router() {
  relais::http::Router r;
  r.add(verb::get, "/v1/cpas/{cbe}/integrations/{ssin}", echo);
  r.add(verb::put, "/v1/cpas/{cbe}/integrations/{ssin}", echo);
  r.add(verb::post, "/v1/notifications/{flow}", single);
  r.add(verb::post, "/v1/notifications/{flow}:batch", batch);
  r.add(verb::get, "/echo", echo);
  r.add(verb::post, "/echo", echo);
  r.add(verb::get, "/hello", hello);
  r.add(verb::get, "/throw", thrower);
  r.add(verb::get, "/slow", slow);
  r.add(verb::get, "/stuck", stuck);
  r.add(verb::get, "/busy", retry_later);
  return r;
}

std::size_t path_body_limit(const Request& req) {
  // Batches get more: decided from the path, before the body is read.
  return req.path.ends_with(":batch") ? 256 * 1024 : 1024;
}

relais::http::ServerOptions default_options() {
  relais::http::ServerOptions o;
  o.body_limit = path_body_limit;
  return o;
}

// The fixture with this file's defaults.
class TestServer : public relais::http::testing::ServerFixture {
 public:
  explicit TestServer(relais::http::ServerOptions opts = default_options(),
                      relais::http::Handler handler = make_router().handler())
      : ServerFixture(std::move(opts), std::move(handler)) {}
};

relais::http::ClientResponse get(const TestServer& s, std::string target,
                                 relais::http::ClientHeaders h = {}) {
  return relais::http::request(kHost, s.port(), verb::get, std::move(target), {}, {}, std::move(h),
                               5s);
}

using relais::http::testing::eventually;
using relais::http::testing::Raw;

json::value parse_json(const std::string& s) {
  return json::parse(s);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST(HttpJsonError, EscapesAndOmitsEmptyField) {
  auto r = relais::http::json_error(400, "INVALID", "bad \"ssin\"\n", "ssin");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.content_type, "application/json");
  auto v = parse_json(r.body);
  EXPECT_EQ(v.at("code").as_string(), "INVALID");
  EXPECT_EQ(v.at("message").as_string(), "bad \"ssin\"\n");
  EXPECT_EQ(v.at("field").as_string(), "ssin");
  auto w = parse_json(relais::http::json_error(404, "NOT_FOUND", "x").body);
  EXPECT_FALSE(w.as_object().contains("field"));
}

TEST(HttpRequest, HeaderAndContentType) {
  Request req;
  req.headers.set("Content-Type", " Application/X-NDJSON ; charset=utf-8");
  EXPECT_EQ(req.content_type(), "application/x-ndjson");
  EXPECT_EQ(req.header("content-type"), "Application/X-NDJSON ; charset=utf-8");
  EXPECT_EQ(req.header("X-Missing"), "");
}

TEST(HttpUrl, SchemeHostPortAndPath) {
  using relais::http::parse_http_url;
  std::string err;
  auto u = parse_http_url("http://127.0.0.1:8099/pcsaa/alert-reactions", err);
  ASSERT_TRUE(u) << err;
  EXPECT_FALSE(u->https);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8099);
  EXPECT_EQ(u->target, "/pcsaa/alert-reactions");
  u = parse_http_url("http://upstream.example", err);
  ASSERT_TRUE(u) << err;
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->target, "/");
  u = parse_http_url("https://bcss.example/SOAP/ManageAccess?v=1", err);
  ASSERT_TRUE(u) << err;
  EXPECT_TRUE(u->https);
  EXPECT_EQ(u->host, "bcss.example");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/SOAP/ManageAccess?v=1");
  u = parse_http_url("https://127.0.0.1:8443", err);
  ASSERT_TRUE(u) << err;
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->target, "/");
}

TEST(HttpUrl, RefusedWithAReason) {
  using relais::http::parse_http_url;
  for (const char* bad :
       {"ftp://x/", "HTTP://x/", "x:80/path", "", "http://x:99999/", "http://x:0/", "http://x:/",
        "http://x:8a/", "https://:443/", "http:///path", "https://user@bcss.example/"}) {
    std::string err;
    EXPECT_FALSE(parse_http_url(bad, err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
  std::string err;
  parse_http_url("http://x:99999/", err);
  EXPECT_NE(err.find("bad port"), std::string::npos) << err;
  parse_http_url("https://:443/p", err);
  EXPECT_NE(err.find("bad host"), std::string::npos) << err;
  parse_http_url("ftp://x/", err);
  EXPECT_NE(err.find("expected http(s)://"), std::string::npos) << err;
}

TEST(HttpRouter, RejectsBadPatterns) {
  relais::http::Router r;
  EXPECT_THROW(r.add(verb::get, "no-slash", echo), std::invalid_argument);
  EXPECT_THROW(r.add(verb::get, "/a/{x", echo), std::invalid_argument);
  EXPECT_THROW(r.add(verb::get, "/a/{}", echo), std::invalid_argument);
  EXPECT_THROW(r.add(verb::get, "/a/{x}/{x}", echo), std::invalid_argument);
  r.add(verb::get, "/a/{x}", echo);
  EXPECT_THROW(r.add(verb::get, "/a/{x}", echo), std::invalid_argument);
  EXPECT_THROW(r.add(verb::post, "/a/{y}", echo), std::invalid_argument);
  EXPECT_NO_THROW(r.add(verb::post, "/a/{x}", echo));
}

TEST(HttpServer, RoutesWithDecodedCaptures) {
  TestServer s;
  auto r = get(s, "/v1/cpas/0212344876/integrations/85%2007%2030?x=1");
  ASSERT_EQ(r.status, 200u);
  auto v = parse_json(r.body);
  EXPECT_EQ(v.at("params").at("cbe").as_string(), "0212344876");
  EXPECT_EQ(v.at("params").at("ssin").as_string(), "85 07 30");
  EXPECT_EQ(v.at("route").as_string(), "/v1/cpas/{cbe}/integrations/{ssin}");
  EXPECT_EQ(v.at("path").as_string(), "/v1/cpas/0212344876/integrations/85 07 30");
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("server"), "relais");
  EXPECT_EQ(r.header("content-length"), std::to_string(r.body.size()));
  EXPECT_EQ(v.at("remote").as_string().starts_with("127.0.0.1:"), true);

  // Literal suffix after a capture wins over a bare capture.
  auto b =
      relais::http::request(kHost, s.port(), verb::post, "/v1/notifications/notify-person:batch",
                            "{}\n{}\n", "application/x-ndjson");
  EXPECT_EQ(b.status, 200u);
  EXPECT_EQ(b.body, "batch:notify-person:6");
  auto one = relais::http::request(kHost, s.port(), verb::post, "/v1/notifications/notify-person",
                                   "{}", "application/json");
  EXPECT_EQ(one.status, 202u);
  EXPECT_EQ(one.body, "single:notify-person");
}

TEST(HttpServer, NotFoundVersusMethodNotAllowed) {
  TestServer s;
  auto nf = get(s, "/v1/nothing/here");
  EXPECT_EQ(nf.status, 404u);
  EXPECT_EQ(parse_json(nf.body).at("code").as_string(), "NOT_FOUND");
  EXPECT_EQ(nf.header("content-type"), "application/json");

  // A capture never matches an empty segment or a different depth.
  EXPECT_EQ(get(s, "/v1/cpas//integrations/1").status, 404u);
  EXPECT_EQ(get(s, "/v1/cpas/1/integrations/1/extra").status, 404u);

  auto na = relais::http::request(kHost, s.port(), verb::delete_, "/v1/cpas/1/integrations/2");
  EXPECT_EQ(na.status, 405u);
  EXPECT_EQ(parse_json(na.body).at("code").as_string(), "METHOD_NOT_ALLOWED");
  EXPECT_EQ(na.header("allow"), "GET, HEAD, PUT");
}

TEST(HttpServer, HeadUsesGetRouteWithoutBody) {
  TestServer s;
  auto h = relais::http::request(kHost, s.port(), verb::head, "/hello");
  EXPECT_EQ(h.status, 200u);
  EXPECT_TRUE(h.body.empty());
  EXPECT_EQ(h.header("content-length"), "12");
  EXPECT_EQ(h.header("content-type"), "text/plain");
  // Keep-alive survives a HEAD (no body bytes were sent that would desynchronise the stream).
  relais::http::Client c(kHost, s.port(), 5s);
  EXPECT_EQ(c.request(verb::head, "/hello").status, 200u);
  EXPECT_EQ(c.request(verb::get, "/hello").body, "hello, world");
  EXPECT_EQ(c.connects(), 1u);
}

TEST(HttpServer, DecodesQuery) {
  TestServer s;
  auto r = get(s, "/echo?a=1&b=hello+world&c=%C3%A9t%C3%A9%26co&a=2&flag&e%3Dq=x%2By");
  ASSERT_EQ(r.status, 200u);
  auto v = parse_json(r.body);
  auto& q = v.at("query").as_array();
  ASSERT_EQ(q.size(), 6u);
  auto pair = [&](std::size_t i) {
    return std::make_pair(std::string(q[i].as_array()[0].as_string()),
                          std::string(q[i].as_array()[1].as_string()));
  };
  EXPECT_EQ(pair(0), std::make_pair(std::string("a"), std::string("1")));
  EXPECT_EQ(pair(1), std::make_pair(std::string("b"), std::string("hello world")));
  EXPECT_EQ(pair(2), std::make_pair(std::string("c"), std::string("\xC3\xA9t\xC3\xA9&co")));
  EXPECT_EQ(pair(3), std::make_pair(std::string("a"), std::string("2")));
  EXPECT_EQ(pair(4), std::make_pair(std::string("flag"), std::string("")));
  EXPECT_EQ(pair(5), std::make_pair(std::string("e=q"), std::string("x+y")));
  EXPECT_EQ(v.at("a").as_string(), "1");  // query_param: first value
  EXPECT_EQ(v.at("path").as_string(), "/echo");

  // Invalid percent-encoding is a 400, not a crash or a 404.
  Raw raw(s.port());
  raw.send("GET /echo?a=%zz HTTP/1.1\r\nHost: x\r\n\r\n");
  auto resp = raw.read_response();
  EXPECT_EQ(resp.rfind("HTTP/1.1 400", 0), 0u) << resp;
}

TEST(HttpServer, BodyLimitDecidedFromPath) {
  TestServer s;
  const std::string two_k(2048, 'x');
  auto big = relais::http::request(kHost, s.port(), verb::post, "/v1/notifications/notify-person",
                                   two_k, "application/json");
  EXPECT_EQ(big.status, 413u);
  EXPECT_EQ(parse_json(big.body).at("code").as_string(), "BODY_TOO_LARGE");
  EXPECT_EQ(big.header("connection"), "close");

  // The same size is fine on the batch route.
  auto ok =
      relais::http::request(kHost, s.port(), verb::post, "/v1/notifications/notify-person:batch",
                            two_k, "application/x-ndjson");
  EXPECT_EQ(ok.status, 200u);
  EXPECT_EQ(ok.body, "batch:notify-person:2048");

  // Far over the limit (the peer is still uploading when the 413 goes out): still a clean 413.
  auto huge =
      relais::http::request(kHost, s.port(), verb::post, "/v1/notifications/notify-person:batch",
                            std::string(2 * 1024 * 1024, 'y'), "application/x-ndjson");
  EXPECT_EQ(huge.status, 413u);

  // Chunked bodies have no Content-Length: the limit applies while reading.
  Raw raw(s.port());
  raw.send(
      "POST /v1/notifications/notify-person HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
      "chunked\r\n\r\n");
  for (int i = 0; i < 4; ++i) raw.send("200\r\n" + std::string(512, 'z') + "\r\n");
  raw.send("0\r\n\r\n");
  auto resp = raw.read_response();
  EXPECT_EQ(resp.rfind("HTTP/1.1 413", 0), 0u) << resp;
  EXPECT_NE(resp.find("BODY_TOO_LARGE"), std::string::npos);
  EXPECT_TRUE(raw.closed_within(2s));
}

TEST(HttpServer, ExpectContinue) {
  TestServer s;
  Raw raw(s.port());
  raw.send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nExpect: "
      "100-continue\r\n\r\n");
  auto interim = raw.read_response();
  EXPECT_EQ(interim.rfind("HTTP/1.1 100", 0), 0u) << interim;
  raw.send("hello");
  auto final_resp = raw.read_response();
  EXPECT_EQ(final_resp.rfind("HTTP/1.1 200", 0), 0u) << final_resp;
  EXPECT_NE(final_resp.find("\"body\":\"hello\""), std::string::npos);

  // Over the limit: 413 straight away, no 100 Continue.
  Raw raw2(s.port());
  raw2.send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\nExpect: 100-continue\r\n\r\n");
  auto resp = raw2.read_response();
  EXPECT_EQ(resp.rfind("HTTP/1.1 413", 0), 0u) << resp;
}

TEST(HttpServer, HeaderTooLarge) {
  TestServer s;
  auto r = get(s, "/echo", {{"X-Big", std::string(20 * 1024, 'h')}});
  EXPECT_EQ(r.status, 431u);
  EXPECT_EQ(parse_json(r.body).at("code").as_string(), "HEADER_TOO_LARGE");
  EXPECT_EQ(r.header("connection"), "close");
  // Just under the limit is fine.
  EXPECT_EQ(get(s, "/echo", {{"X-Big", std::string(12 * 1024, 'h')}}).status, 200u);
}

TEST(HttpServer, MalformedRequestsGet400AndClose) {
  TestServer s;
  {
    Raw raw(s.port());
    raw.send(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, "
        "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    auto resp = raw.read_response();
    EXPECT_EQ(resp.rfind("HTTP/1.1 501", 0), 0u) << resp;
  }
  for (std::string bad :
       {std::string("GARBAGE\r\n\r\n"), std::string("GET /echo HTTP/9.9\r\nHost: x\r\n\r\n"),
        std::string("GET /echo HTTP/1.1\r\n\r\n"),  // no Host
        std::string(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc"),
        std::string("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc"),
        std::string("GET relative/path HTTP/1.1\r\nHost: x\r\n\r\n")}) {
    Raw raw(s.port());
    raw.send(bad);
    auto resp = raw.read_response();
    EXPECT_EQ(resp.rfind("HTTP/1.1 400", 0), 0u) << bad << " -> " << resp;
    EXPECT_NE(resp.find("Connection: close"), std::string::npos) << resp;
    EXPECT_TRUE(raw.closed_within(3s)) << bad;
  }
}

// Issue 21: an obs-fold (a header line continued by a line starting with a space or a tab) was
// unfolded by Beast and accepted, e.g. "Transfer-Encoding: chunked" folded so that a proxy in
// front reads another header: refused with 400 and the connection closed (RFC 9112 §5.2).
TEST(HttpServer, ObsFoldIsRefused) {
  TestServer s;
  for (std::string bad :
       {std::string("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n "
                    "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        std::string("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                    "chunked\r\n\tidentity\r\n\r\n0\r\n\r\n"),
        std::string("GET /echo HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n b\r\n\r\n")}) {
    Raw raw(s.port());
    raw.send(bad);
    auto resp = raw.read_response();
    EXPECT_EQ(resp.rfind("HTTP/1.1 400", 0), 0u) << bad << " -> " << resp;
    EXPECT_NE(resp.find("obs-fold"), std::string::npos) << resp;
    EXPECT_NE(resp.find("Connection: close"), std::string::npos) << resp;
    EXPECT_TRUE(raw.closed_within(3s)) << bad;
  }
  // Sent in pieces (the fold arrives after the first read) and after a good request on the same
  // connection: refused all the same.
  {
    Raw raw(s.port());
    raw.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n");
    EXPECT_EQ(raw.read_response().rfind("HTTP/1.1 200", 0), 0u);
    std::this_thread::sleep_for(50ms);
    raw.send("\t2\r\n\r\n");
    auto resp = raw.read_response();
    EXPECT_EQ(resp.rfind("HTTP/1.1 400", 0), 0u) << resp;
  }
  // Spaces inside values and a body starting with a space are not folds.
  {
    Raw raw(s.port());
    raw.send("POST /echo HTTP/1.1\r\nHost: x\r\nX-A: a b\t c\r\nContent-Length: 3\r\n\r\n a\n");
    auto resp = raw.read_response();
    EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << resp;
  }
}

TEST(HttpServer, HandlerExceptionIs500WithoutDetails) {
  TestServer s;
  auto r = get(s, "/throw");
  EXPECT_EQ(r.status, 500u);
  auto v = parse_json(r.body);
  EXPECT_EQ(v.at("code").as_string(), "INTERNAL");
  EXPECT_EQ(v.at("message").as_string(), "internal error");
  EXPECT_EQ(r.body.find("hunter2"), std::string::npos);
  // The server is still fine afterwards.
  EXPECT_EQ(get(s, "/echo").status, 200u);
}

TEST(HttpServer, HandlerHeadersPassedButSanitized) {
  TestServer s;
  auto r = get(s, "/busy");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.header("retry-after"), "7");
  EXPECT_EQ(r.header("x-bad"), "");
  EXPECT_EQ(r.header("injected"), "");
}

TEST(HttpServer, KeepAliveReusesOneConnection) {
  TestServer s;
  relais::http::Client c(kHost, s.port(), 5s);
  for (int i = 0; i < 5; ++i) {
    auto r = c.request(verb::post, "/echo?i=" + std::to_string(i), "n" + std::to_string(i),
                       "text/plain");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(parse_json(r.body).at("body").as_string(), "n" + std::to_string(i));
    EXPECT_NE(r.header("connection"), "close");
  }
  EXPECT_EQ(c.connects(), 1u);
  EXPECT_TRUE(c.connected());
  EXPECT_EQ(s.server().connections(), 1u);
}

TEST(HttpServer, MaxRequestsPerConnection) {
  auto o = default_options();
  o.max_requests_per_connection = 2;
  TestServer s(o);
  relais::http::Client c(kHost, s.port(), 5s);
  EXPECT_NE(c.request(verb::get, "/echo").header("connection"), "close");
  EXPECT_EQ(c.request(verb::get, "/echo").header("connection"), "close");
  EXPECT_FALSE(c.connected());
  EXPECT_EQ(c.request(verb::get, "/echo").status, 200u);
  EXPECT_EQ(c.connects(), 2u);
}

TEST(HttpServer, PipelinedRequestsAnsweredInOrder) {
  TestServer s;
  Raw raw(s.port());
  raw.send(
      "GET /echo?a=first HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?a=second HTTP/1.1\r\nHost: "
      "x\r\n\r\n");
  auto r1 = raw.read_response();
  auto r2 = raw.read_response();
  EXPECT_NE(r1.find("\"a\":\"first\""), std::string::npos) << r1;
  EXPECT_NE(r2.find("\"a\":\"second\""), std::string::npos) << r2;
}

TEST(HttpServer, IdleKeepAliveConnectionIsClosed) {
  auto o = default_options();
  o.idle_timeout = 200ms;
  TestServer s(o);
  Raw raw(s.port());
  raw.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  auto resp = raw.read_response();
  ASSERT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << resp;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(raw.closed_within(3s));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);  // by the idle timer, not at once
  EXPECT_TRUE(eventually([&] { return s.server().connections() == 0; }));
}

TEST(HttpServer, SilentConnectionClosedByHeaderTimeout) {
  auto o = default_options();
  o.header_timeout = 200ms;
  TestServer s(o);
  Raw raw(s.port());
  raw.send("GET /echo HTTP/1.1\r\nHost:");  // never finishes the header
  EXPECT_TRUE(raw.closed_within(3s));
}

TEST(HttpServer, ConnectionCapAnswers503) {
  auto o = default_options();
  o.max_connections = 2;
  TestServer s(o);
  auto a = std::make_unique<Raw>(s.port());
  Raw b(s.port());
  ASSERT_TRUE(eventually([&] { return s.server().connections() == 2; }));
  auto r = get(s, "/echo");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.header("retry-after"), "1");
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_EQ(parse_json(r.body).at("code").as_string(), "UNAVAILABLE");
  EXPECT_NE(s.registry().render().find("relais_http_rejected_connections_total 1"),
            std::string::npos);

  a.reset();  // frees a slot
  ASSERT_TRUE(eventually([&] { return s.server().connections() == 1; }));
  EXPECT_EQ(get(s, "/echo").status, 200u);
}

TEST(HttpServer, GracefulStopFinishesInFlightAndRefusesNew) {
  TestServer s;
  const int started_before = slow_started.load();
  const int finished_before = slow_finished.load();
  const unsigned short port = s.port();
  auto in_flight = std::async(std::launch::async, [port] {
    return relais::http::request(kHost, port, verb::get, "/slow", {}, {}, {}, 5s);
  });
  ASSERT_TRUE(eventually([&] { return slow_started.load() > started_before; }));

  // An idle keep-alive connection is closed at once by stop().
  Raw idle(port);
  idle.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(idle.read_response().rfind("HTTP/1.1 200", 0), 0u);

  std::promise<bool> stopped;
  auto stopped_future = stopped.get_future();
  s.server().stop(5s, [&stopped, finished_before] {
    stopped.set_value(slow_finished.load() > finished_before);
  });

  // New connections are refused once the acceptor is closed.
  EXPECT_TRUE(eventually([&] {
    try {
      Raw probe(port);
      return false;
    } catch (const std::exception&) {
      return true;
    }
  }));
  EXPECT_TRUE(idle.closed_within(2s));

  auto r = in_flight.get();
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "slow done");
  EXPECT_EQ(r.header("connection"), "close");
  // Completion well before the 5 s grace, and only after the in-flight handler finished.
  ASSERT_EQ(stopped_future.wait_for(2s), std::future_status::ready);
  EXPECT_TRUE(stopped_future.get());
  EXPECT_THROW(get(s, "/echo"), std::runtime_error);
}

TEST(HttpServer, StopForcesAfterGrace) {
  TestServer s;
  const int started_before = slow_started.load();
  const unsigned short port = s.port();
  auto in_flight = std::async(std::launch::async, [port] {
    return relais::http::request(kHost, port, verb::get, "/stuck", {}, {}, {}, 10s);
  });
  ASSERT_TRUE(eventually([&] { return slow_started.load() > started_before; }));
  std::promise<void> stopped;
  auto stopped_future = stopped.get_future();
  const auto t0 = std::chrono::steady_clock::now();
  s.server().stop(100ms, [&stopped] { stopped.set_value(); });
  ASSERT_EQ(stopped_future.wait_for(3s), std::future_status::ready);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 90ms);
  EXPECT_THROW(in_flight.get(), std::runtime_error);  // connection closed, no response
  EXPECT_EQ(s.server().connections(), 0u);

  // A callback registered after completion still runs.
  std::promise<void> late;
  s.server().stop(0ms, [&late] { late.set_value(); });
  EXPECT_EQ(late.get_future().wait_for(2s), std::future_status::ready);
}

TEST(HttpServer, StartFailsOnPortInUse) {
  TestServer s;
  asio::io_context ioc;
  auto o = default_options();
  o.port = s.port();
  relais::http::Server second(ioc, o, make_router().handler());
  auto err = second.start();
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find("bind"), std::string::npos) << *err;

  auto bad = default_options();
  bad.address = "not-an-address";
  relais::http::Server third(ioc, bad, make_router().handler());
  EXPECT_TRUE(third.start().has_value());
}

TEST(HttpServer, MetricsUseRoutePatterns) {
  TestServer s;
  EXPECT_EQ(get(s, "/v1/cpas/1/integrations/2").status, 200u);
  EXPECT_EQ(get(s, "/v1/cpas/3/integrations/4").status, 200u);
  EXPECT_EQ(get(s, "/nope/12345").status, 404u);
  EXPECT_EQ(get(s, "/throw").status, 500u);
  // A request is counted once its response is fully written, just after the client has it: wait
  // until the last one is (10 s: a loaded machine may take a while to run the server's strand).
  const std::string last =
      "relais_http_request_duration_seconds_count{method=\"GET\",route=\"/throw\"} 1";
  ASSERT_TRUE(
      eventually([&] { return s.registry().render().find(last) != std::string::npos; }, 10s))
      << s.registry().render();
  const std::string text = s.registry().render();
  EXPECT_NE(
      text.find(
          "relais_http_requests_total{method=\"GET\",route=\"/v1/cpas/{cbe}/integrations/{ssin}\","
          "status=\"200\"} 2"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("relais_http_requests_total{method=\"GET\",route=\"none\",status=\"404\"} 1"),
            std::string::npos);
  EXPECT_NE(
      text.find("relais_http_requests_total{method=\"GET\",route=\"/throw\",status=\"500\"} 1"),
      std::string::npos);
  EXPECT_EQ(text.find("/nope/12345"), std::string::npos);  // raw paths never become labels
  EXPECT_NE(
      text.find("relais_http_request_duration_seconds_count{method=\"GET\",route=\"/throw\"} 1"),
      std::string::npos);
  EXPECT_NE(text.find("# TYPE relais_http_connections gauge"), std::string::npos);
}

TEST(HttpClient, ThrowsOnConnectionFailure) {
  unsigned short port;
  {
    TestServer s;
    port = s.port();
  }  // closed: nothing listens there now
  EXPECT_THROW(relais::http::request(kHost, port, verb::get, "/", {}, {}, {}, 2s),
               std::runtime_error);
}

// ---- per-client limits (bookkeeping, injected clock) ----

TEST(HttpLimits, TokenBucketRefillsAtItsRate) {
  using relais::http::TokenBucket;
  const auto t0 = TokenBucket::Clock::time_point{} + 1h;
  TokenBucket b(2.0, 3.0, t0);  // 2/s, burst 3
  EXPECT_FALSE(b.take(t0));
  EXPECT_FALSE(b.take(t0));
  EXPECT_FALSE(b.take(t0));
  auto wait = b.take(t0);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, 500ms);           // one token every 500 ms
  EXPECT_TRUE(b.take(t0 + 499ms));   // a refused call takes nothing...
  EXPECT_FALSE(b.take(t0 + 500ms));  // ...so the token is there at 500 ms
  EXPECT_FALSE(b.full(t0 + 500ms));
  EXPECT_TRUE(b.full(t0 + 2000ms));  // never more than the burst
  EXPECT_FALSE(b.take(t0 + 10s));
  EXPECT_FALSE(b.take(t0 + 10s));
  EXPECT_FALSE(b.take(t0 + 10s));
  EXPECT_TRUE(b.take(t0 + 10s));
}

TEST(HttpLimits, ConnectionsCountedPerClient) {
  relais::http::ClientTable t({.max_connections = 2, .rate = 0, .burst = 0});
  EXPECT_TRUE(t.open("10.0.0.1"));
  EXPECT_TRUE(t.open("10.0.0.1"));
  EXPECT_FALSE(t.open("10.0.0.1"));  // third from the same address
  EXPECT_TRUE(t.open("10.0.0.2"));   // others are not affected
  t.close("10.0.0.1");
  EXPECT_TRUE(t.open("10.0.0.1"));
  t.close("10.0.0.1");
  t.close("10.0.0.1");
  t.close("10.0.0.2");
  EXPECT_EQ(t.tracked(), 0u);         // forgotten once closed
  EXPECT_FALSE(t.admit("10.0.0.1"));  // no rate limit configured
}

TEST(HttpLimits, RateSurvivesReconnectUntilRefilled) {
  using Clock = relais::http::ClientTable::Clock;
  relais::http::ClientTable t({.max_connections = 0, .rate = 1.0, .burst = 2.0});
  const auto t0 = Clock::time_point{} + 1h;
  ASSERT_TRUE(t.open("c", t0));
  EXPECT_FALSE(t.admit("c", t0));
  EXPECT_FALSE(t.admit("c", t0));
  auto wait = t.admit("c", t0);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, 1000ms);
  t.close("c", t0);
  EXPECT_EQ(t.tracked(), 1u);  // the empty bucket is remembered: reconnecting does not refill it
  ASSERT_TRUE(t.open("c", t0));
  EXPECT_TRUE(t.admit("c", t0 + 500ms));
  EXPECT_FALSE(t.admit("c", t0 + 1000ms));
  t.close("c", t0 + 5s);
  EXPECT_EQ(t.tracked(), 0u);  // full again: forgotten
}

// ---- the limits as the server applies them ----

TEST(HttpServer, TooManyHeaderFieldsGet431) {
  auto o = default_options();
  o.max_header_count = 10;
  TestServer s(o);
  relais::http::ClientHeaders many;
  for (int i = 0; i < 12; ++i) many.emplace_back("X-H" + std::to_string(i), "v");
  auto r = get(s, "/echo", many);
  EXPECT_EQ(r.status, 431u);
  EXPECT_EQ(parse_json(r.body).at("code").as_string(), "HEADER_TOO_LARGE");
  EXPECT_EQ(r.header("connection"), "close");
  many.resize(5);
  EXPECT_EQ(get(s, "/echo", many).status, 200u);
  EXPECT_NE(s.registry().render().find("relais_http_refused_total{reason=\"too_many_headers\"} 1"),
            std::string::npos);
}

TEST(HttpServer, RateLimitPerClientAnswers429WithRetryAfter) {
  auto o = default_options();
  o.rate_limit_per_client = 1;
  o.rate_limit_burst = 2;
  TestServer s(o);
  EXPECT_EQ(get(s, "/echo").status, 200u);
  EXPECT_EQ(get(s, "/echo").status, 200u);
  auto r = get(s, "/echo");
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(parse_json(r.body).at("code").as_string(), "RATE_LIMITED");
  EXPECT_EQ(r.header("retry-after"), "1");
  EXPECT_NE(s.registry().render().find("relais_http_refused_total{reason=\"rate_limited\"} 1"),
            std::string::npos);
  // The bucket refills: a token a second.
  EXPECT_TRUE(eventually([&] { return get(s, "/echo").status == 200u; }, 3s));
}

TEST(HttpServer, ConnectionsPerClientAnswers429) {
  auto o = default_options();
  o.max_connections_per_client = 2;
  TestServer s(o);
  auto a = std::make_unique<Raw>(s.port());
  Raw b(s.port());
  ASSERT_TRUE(eventually([&] { return s.server().connections() == 2; }));
  auto r = get(s, "/echo");
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.header("retry-after"), "1");
  EXPECT_EQ(parse_json(r.body).at("code").as_string(), "TOO_MANY_CONNECTIONS");
  EXPECT_NE(
      s.registry().render().find("relais_http_refused_total{reason=\"client_connection_limit\"} 1"),
      std::string::npos);
  a.reset();
  ASSERT_TRUE(eventually([&] { return s.server().connections() == 1; }));
  EXPECT_EQ(get(s, "/echo").status, 200u);
}

TEST(HttpServer, TricklingBodyCutByRequestTimeout) {
  auto o = default_options();
  o.body_timeout = 10s;
  o.request_timeout = 400ms;
  TestServer s(o);
  Raw raw(s.port());
  raw.send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n");
  const auto t0 = std::chrono::steady_clock::now();
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    try {
      raw.send("a");
    } catch (const std::exception&) {
      break;
    }
    closed = raw.closed_within(50ms);
  }
  EXPECT_TRUE(closed || raw.closed_within(2s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  EXPECT_TRUE(eventually([&] {
    return s.registry().render().find("relais_http_refused_total{reason=\"body_timeout\"} 1") !=
           std::string::npos;
  }));
}

TEST(HttpServer, SlowHeaderCountedAsRefused) {
  auto o = default_options();
  o.header_timeout = 200ms;
  TestServer s(o);
  Raw raw(s.port());
  raw.send("GET /echo HTTP/1.1\r\nHo");
  EXPECT_TRUE(raw.closed_within(3s));
  EXPECT_TRUE(eventually([&] {
    return s.registry().render().find("relais_http_refused_total{reason=\"header_timeout\"} 1") !=
           std::string::npos;
  }));
}
