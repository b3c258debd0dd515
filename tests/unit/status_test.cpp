// The status page's building blocks: rate tracker, HTML escaping, the log's ring of recent
// problems, registry sums, and the page itself (escaped, self-contained).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "relais/common/log.hpp"
#include "relais/common/metrics.hpp"
#include "relais/service/status.hpp"

using namespace relais;
using namespace std::chrono_literals;

TEST(RateTracker, FirstCallComparesWithStart) {
  auto t0 = service::RateTracker::Clock::now();
  service::RateTracker r(10s, t0);
  EXPECT_DOUBLE_EQ(r.rate("a", 20, t0 + 2s), 10.0);
}

TEST(RateTracker, UsesTheWindow) {
  auto t0 = service::RateTracker::Clock::now();
  service::RateTracker r(10s, t0);
  r.rate("a", 0, t0 + 1s);
  r.rate("a", 100, t0 + 11s);   // 100 over 10 s
  EXPECT_NEAR(r.rate("a", 100, t0 + 21s), 0.0, 1e-9);  // nothing new in the last 10 s
  EXPECT_NEAR(r.rate("a", 150, t0 + 26s), 50.0 / 15.0, 1e-9);  // since the sample at 11 s
  EXPECT_EQ(r.rate("b", 5, t0), 0.0);  // no elapsed time
}

TEST(RateTracker, CounterResetGivesZero) {
  auto t0 = service::RateTracker::Clock::now();
  service::RateTracker r(10s, t0);
  r.rate("a", 50, t0 + 1s);
  EXPECT_EQ(r.rate("a", 10, t0 + 2s), 0.0);
}

TEST(HtmlEscape, EscapesMarkup) {
  EXPECT_EQ(service::html_escape(R"(<script>alert("x") & 'y'</script>)"),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;");
}

TEST(Log, KeepsTheLastProblemsOnly) {
  log::Logger l("status-test");
  l.info("not kept");
  for (int i = 0; i < 30; ++i) l.warn("problem", {{"n", i}});
  l.error("<b>last</b>");
  auto lines = log::recent_problems();
  ASSERT_EQ(lines.size(), log::kRecentProblems);
  EXPECT_NE(lines.back().find("error status-test: <b>last</b>"), std::string::npos);
  EXPECT_NE(lines.front().find("n=11"), std::string::npos);
  for (const auto& s : lines) EXPECT_EQ(s.find("not kept"), std::string::npos);
}

TEST(Registry, SumsMatchingChildren) {
  metrics::Registry m;
  auto& f = m.counter("x_total", "x", {"flow", "code"});
  f.with({"a", "1"}).inc(2);
  f.with({"a", "2"}).inc(3);
  f.with({"b", "1"}).inc(5);
  m.gauge("g", "g").with().set(7);
  EXPECT_DOUBLE_EQ(m.sum("x_total"), 10);
  EXPECT_DOUBLE_EQ(m.sum("x_total", {{"flow", "a"}}), 5);
  EXPECT_DOUBLE_EQ(m.sum("x_total", {{"flow", "a"}, {"code", "2"}}), 3);
  EXPECT_DOUBLE_EQ(m.sum("g"), 7);
  EXPECT_DOUBLE_EQ(m.sum("missing"), 0);
}

TEST(StatusPage, RendersEscapedAndSelfContained) {
  metrics::Registry m;
  m.counter("relais_test_total", "t").with().inc(4);
  http::Router r;
  service::add_status_routes(r, m, "test", [] {
    return std::vector<service::Check>{{"kafka", true, "<ok>"}};
  }, {{"things/s", "relais_test_total"}});
  service::add_openapi_route(r, service::openapi_ingest());
  log::Logger("status-test").warn("<img src=x onerror=alert(1)>");
  auto h = r.handler();
  boost::asio::io_context ioc;
  auto get = [&](std::string path) {
    http::Response out;
    boost::asio::co_spawn(ioc, [&, path]() -> boost::asio::awaitable<void> {
      http::Request q;
      q.method = http::verb::get;
      q.target = path;
      q.path = path;
      out = co_await h(q);
    }, boost::asio::detached);
    ioc.run();
    ioc.restart();
    return out;
  };
  auto page = get("/");
  EXPECT_EQ(page.status, 200u);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("&lt;ok&gt;"), std::string::npos);
  EXPECT_NE(page.body.find("&lt;img src=x onerror=alert(1)&gt;"), std::string::npos);
  EXPECT_EQ(page.body.find("<img"), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos);
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
  EXPECT_EQ(page.body.find("src=\""), std::string::npos);
  EXPECT_EQ(page.body.find("href=\"/"), std::string::npos);
  auto js = get("/status.json");
  EXPECT_EQ(js.status, 200u);
  EXPECT_NE(js.body.find("\"total\":4"), std::string::npos) << js.body;
  auto doc = get("/openapi.yaml");
  EXPECT_EQ(doc.content_type, "application/yaml");
  EXPECT_EQ(doc.body.rfind("openapi: 3", 0), 0u);
}
