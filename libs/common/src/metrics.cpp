#include "relais/common/metrics.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace relais::metrics {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
  count_.fetch_add(1, std::memory_order_relaxed);
}

void Histogram::snapshot(std::vector<std::uint64_t>& buckets, double& sum,
                         std::uint64_t& count) const {
  buckets.assign(bounds_.size() + 1, 0);
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    acc += counts_[i].load(std::memory_order_relaxed);
    buckets[i] = acc;
  }
  sum = sum_.load(std::memory_order_relaxed);
  count = acc;
}

double Histogram::quantile(double q) const {
  std::vector<std::uint64_t> b;
  double sum{};
  std::uint64_t count{};
  snapshot(b, sum, count);
  if (count == 0) return 0;
  double rank = q * static_cast<double>(count);
  double lower = 0;
  std::uint64_t prev = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (static_cast<double>(b[i]) >= rank) {
      double in_bucket = static_cast<double>(b[i] - prev);
      double frac = in_bucket > 0 ? (rank - static_cast<double>(prev)) / in_bucket : 0;
      return lower + (bounds_[i] - lower) * frac;
    }
    lower = bounds_[i];
    prev = b[i];
  }
  return bounds_.empty() ? 0 : bounds_.back();
}

std::vector<double> latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

namespace {
// A name registered twice (e.g. two components of one process using the same
// metric) returns the first family: the exposition must hold one HELP/TYPE per name.
template <typename T>
Family<T>* find_family(const std::vector<std::unique_ptr<Family<T>>>& fams, const std::string& name,
                       const std::vector<std::string>& labels) {
  for (const auto& f : fams) {
    if (f->name() != name) continue;
    if (f->label_names() != labels)
      throw std::logic_error("metric " + name + " registered with other labels");
    return f.get();
  }
  return nullptr;
}
}  // namespace

Family<Counter>& Registry::counter(std::string name, std::string help,
                                   std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  if (auto* f = find_family(counters_, name, labels)) return *f;
  counters_.push_back(
      std::make_unique<Family<Counter>>(std::move(name), std::move(help), std::move(labels),
                                        [] { return std::make_unique<Counter>(); }));
  return *counters_.back();
}

Family<Gauge>& Registry::gauge(std::string name, std::string help,
                               std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  if (auto* f = find_family(gauges_, name, labels)) return *f;
  gauges_.push_back(std::make_unique<Family<Gauge>>(std::move(name), std::move(help),
                                                    std::move(labels),
                                                    [] { return std::make_unique<Gauge>(); }));
  return *gauges_.back();
}

Family<Histogram>& Registry::histogram(std::string name, std::string help,
                                       std::vector<std::string> labels,
                                       std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  if (auto* f = find_family(histograms_, name, labels)) return *f;
  histograms_.push_back(std::make_unique<Family<Histogram>>(
      std::move(name), std::move(help), std::move(labels),
      [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); }));
  return *histograms_.back();
}

void Registry::on_collect(std::function<void()> f) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(f));
}

namespace {
std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string label_text(const std::vector<std::string>& names,
                       const std::vector<std::string>& values, const std::string& extra = {}) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (!out.empty()) out.push_back(',');
    out += names[i] + "=\"" + escape_label(values[i]) + "\"";
  }
  if (!extra.empty()) {
    if (!out.empty()) out.push_back(',');
    out += extra;
  }
  return out.empty() ? std::string{} : "{" + out + "}";
}

std::string num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

template <typename T>
void header(std::string& out, const Family<T>& f, const char* type) {
  out += "# HELP " + f.name() + " " + f.help() + "\n# TYPE " + f.name() + " " + type + "\n";
}
}  // namespace

namespace {
template <typename T>
bool sum_family(const Family<T>& f, const std::string& name, const Labels& match, double& total) {
  if (f.name() != name) return false;
  f.for_each([&](const std::vector<std::string>& lv, const T& child) {
    for (const auto& [k, v] : match) {
      bool found = false;
      for (std::size_t i = 0; i < f.label_names().size() && i < lv.size(); ++i)
        if (f.label_names()[i] == k && lv[i] == v) found = true;
      if (!found) return;
    }
    total += child.value();
  });
  return true;
}
}  // namespace

double Registry::sum(const std::string& name, const Labels& match) const {
  std::lock_guard lock(mu_);
  double total = 0;
  for (const auto& f : counters_) sum_family(*f, name, match, total);
  for (const auto& f : gauges_) sum_family(*f, name, match, total);
  return total;
}

std::string Registry::render() const {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard lock(mu_);
    collectors = collectors_;
  }
  for (auto& c : collectors) c();
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(8192);
  for (const auto& f : counters_) {
    header(out, *f, "counter");
    f->for_each([&](const auto& lv, const Counter& c) {
      out += f->name() + label_text(f->label_names(), lv) + " " + num(c.value()) + "\n";
    });
  }
  for (const auto& f : gauges_) {
    header(out, *f, "gauge");
    f->for_each([&](const auto& lv, const Gauge& g) {
      out += f->name() + label_text(f->label_names(), lv) + " " + num(g.value()) + "\n";
    });
  }
  for (const auto& f : histograms_) {
    header(out, *f, "histogram");
    f->for_each([&](const auto& lv, const Histogram& h) {
      std::vector<std::uint64_t> b;
      double sum{};
      std::uint64_t count{};
      h.snapshot(b, sum, count);
      for (std::size_t i = 0; i < b.size(); ++i) {
        std::string le = i < h.bounds().size() ? num(h.bounds()[i]) : "+Inf";
        out += f->name() + "_bucket" + label_text(f->label_names(), lv, "le=\"" + le + "\"") + " " +
               num(static_cast<double>(b[i])) + "\n";
      }
      out += f->name() + "_sum" + label_text(f->label_names(), lv) + " " + num(sum) + "\n";
      out += f->name() + "_count" + label_text(f->label_names(), lv) + " " +
             num(static_cast<double>(count)) + "\n";
    });
  }
  return out;
}

}  // namespace relais::metrics
