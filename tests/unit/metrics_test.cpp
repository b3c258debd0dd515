#include "relais/common/metrics.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using namespace relais::metrics;

TEST(Metrics, RendersPrometheusText) {
  Registry r;
  auto& c = r.counter("relais_test_total", "A test counter", {"flow"});
  c.with({"notify-person"}).inc();
  c.with({"notify-person"}).inc(2);
  c.with({"personnel-\"file"}).inc();
  auto& h = r.histogram("relais_test_seconds", "A test histogram", {}, {0.1, 1}).with();
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  auto text = r.render();
  EXPECT_NE(text.find("# HELP relais_test_total A test counter\n# TYPE relais_test_total counter"),
            std::string::npos);
  EXPECT_NE(text.find("relais_test_total{flow=\"notify-person\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("relais_test_total{flow=\"personnel-\\\"file\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("relais_test_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("relais_test_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("relais_test_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("relais_test_seconds_count 3\n"), std::string::npos);
}

TEST(Metrics, HistogramQuantile) {
  Histogram h({1, 2, 3, 4});
  for (int i = 0; i < 100; ++i) h.observe(0.5 + (i % 4));
  EXPECT_NEAR(h.quantile(0.5), 2.0, 0.01);
  EXPECT_LE(h.quantile(0.99), 4.0);
}

TEST(Metrics, SameNameRegisteredTwiceIsOneFamily) {
  Registry r;
  auto& a = r.counter("relais_twice_total", "Registered twice", {"x"});
  auto& b = r.counter("relais_twice_total", "Registered twice", {"x"});
  EXPECT_EQ(&a, &b);
  a.with({"1"}).inc();
  b.with({"1"}).inc();
  auto text = r.render();
  EXPECT_EQ(text.find("# HELP relais_twice_total"), text.rfind("# HELP relais_twice_total"));
  EXPECT_NE(text.find("relais_twice_total{x=\"1\"} 2\n"), std::string::npos);
  EXPECT_THROW(r.counter("relais_twice_total", "Other labels", {"y"}), std::logic_error);
}
