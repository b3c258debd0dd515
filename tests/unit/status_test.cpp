// The status page's building blocks: rate tracker, HTML escaping, the log's ring of recent
// problems, registry sums, and the page itself (escaped, self-contained).
#include "relais/service/status.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "relais/common/log.hpp"
#include "relais/common/metrics.hpp"
#include "relais/service/readiness.hpp"

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
  r.rate("a", 100, t0 + 11s);                                  // 100 over 10 s
  EXPECT_NEAR(r.rate("a", 100, t0 + 21s), 0.0, 1e-9);          // nothing new in the last 10 s
  EXPECT_NEAR(r.rate("a", 150, t0 + 26s), 50.0 / 15.0, 1e-9);  // since the sample at 11 s
  EXPECT_EQ(r.rate("b", 5, t0), 0.0);                          // no elapsed time
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
  service::add_status_routes(r, m, "test",
                             [] {
                               return std::vector<service::Check>{{"kafka", true, "<ok>"}};
                             },
                             {{"things/s", "relais_test_total"}});
  service::add_openapi_route(r, service::openapi_ingest());
  log::Logger("status-test").warn("<img src=x onerror=alert(1)>");
  auto h = r.handler();
  boost::asio::io_context ioc;
  auto get = [&](std::string path) {
    http::Response out;
    boost::asio::co_spawn(
        ioc,
        [&, path]() -> boost::asio::awaitable<void> {
          http::Request q;
          q.method = http::verb::get;
          q.target = path;
          q.path = path;
          out = co_await h(q);
        },
        boost::asio::detached);
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
  // Nothing is fetched from elsewhere: no URL but the SVG namespace's name (an identifier the
  // charts' createElementNS takes, never fetched).
  std::string body = page.body;
  for (auto at = body.find("http://www.w3.org/2000/svg"); at != std::string::npos;
       at = body.find("http://www.w3.org/2000/svg"))
    body.erase(at, 26);
  EXPECT_EQ(body.find("http://"), std::string::npos);
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

// Readiness never blocks: the checks run on the probe's thread, /readyz reads the cached result.
TEST(Readiness, CachedViewBeforeTheFirstRun) {
  auto v = service::cached_view(std::nullopt, 3s, 10000ms);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].name, "startup");
  EXPECT_FALSE(v[0].ok);
}

TEST(Readiness, CachedViewFreshAndStale) {
  std::vector<service::Check> last{{"postgresql", true, "SELECT 1 ok"}};
  auto fresh = service::cached_view(last, 2s, 10000ms);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_TRUE(fresh[0].ok);
  auto stale = service::cached_view(last, 11s, 10000ms);
  ASSERT_EQ(stale.size(), 2u);
  EXPECT_TRUE(stale[0].ok);
  EXPECT_EQ(stale[1].name, "readiness");
  EXPECT_FALSE(stale[1].ok);
  EXPECT_NE(stale[1].detail.find("11 s ago"), std::string::npos);
}

TEST(Readiness, AHangingCheckDoesNotBlockTheReader) {
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> runs{0};
  {
    service::ReadinessProbe probe(
        [&] {
          if (runs.fetch_add(1) == 0) return std::vector<service::Check>{{"kafka", true, "ok"}};
          std::unique_lock lock(m);  // the second run hangs until released
          cv.wait(lock, [&] { return release; });
          return std::vector<service::Check>{{"kafka", true, "ok"}};
        },
        {.interval = 10ms, .stale_after = 200ms});
    // current() answers while the check hangs, and turns not ready once the result is stale.
    bool saw_ok = false, saw_stale = false;
    for (int i = 0; i < 500 && !saw_stale; ++i) {
      auto fut = std::async(std::launch::async, [&] { return probe.current(); });
      ASSERT_EQ(fut.wait_for(5s), std::future_status::ready) << "current() blocked on a check";
      auto v = fut.get();
      if (v.size() == 1 && v[0].name == "kafka" && v[0].ok) saw_ok = true;
      if (v.size() == 2 && v[1].name == "readiness" && !v[1].ok) saw_stale = true;
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(saw_ok);
    EXPECT_TRUE(saw_stale);
    {
      std::lock_guard lock(m);
      release = true;
    }
    cv.notify_all();
  }  // the destructor stops and joins the thread
  EXPECT_GE(runs.load(), 2);
}

TEST(Readiness, AThrowingCheckIsNotReady) {
  service::ReadinessProbe probe(
      []() -> std::vector<service::Check> { throw std::runtime_error("boom"); },
      {.interval = 10ms, .stale_after = 10000ms});
  std::vector<service::Check> v;
  for (int i = 0; i < 500; ++i) {
    v = probe.current();
    if (v.size() == 1 && v[0].name == "readiness") break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(v.size(), 1u);
  EXPECT_FALSE(v[0].ok);
  EXPECT_NE(v[0].detail.find("boom"), std::string::npos);
}
