// Prometheus metrics: counters, gauges and histograms with labels, rendered in
// the text exposition format. Look a labelled child up once and keep the
// reference: updates are lock-free atomics; the lookup takes a mutex.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace relais::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(double v = 1.0) { add(v); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  void add(double v) {
    double cur = v_.load(std::memory_order_relaxed);
    while (!v_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
    }
  }
  std::atomic<double> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1.0) {
    double cur = v_.load(std::memory_order_relaxed);
    while (!v_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
    }
  }
  void dec(double v = 1.0) { inc(-v); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Snapshot: cumulative bucket counts (one per bound, plus +Inf), sum, count.
  void snapshot(std::vector<std::uint64_t>& buckets, double& sum, std::uint64_t& count) const;
  const std::vector<double>& bounds() const { return bounds_; }
  // Quantile estimate by linear interpolation within buckets (for status pages).
  double quantile(double q) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
  std::atomic<std::uint64_t> count_{0};
};

// Default latency buckets, in seconds.
std::vector<double> latency_buckets();

template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::function<std::unique_ptr<T>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}

  // Children are never removed, so the reference stays valid for the family's life.
  T& with(const std::vector<std::string>& label_values) {
    std::lock_guard lock(mu_);
    auto it = children_.find(label_values);
    if (it == children_.end()) it = children_.emplace(label_values, make_()).first;
    return *it->second;
  }
  T& with() { return with(std::vector<std::string>{}); }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  template <typename F>
  void for_each(F&& f) const {
    std::lock_guard lock(mu_);
    for (const auto& [k, v] : children_) f(k, *v);
  }

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::function<std::unique_ptr<T>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

// One registry per process (owned by main, passed to components).
class Registry {
 public:
  Family<Counter>& counter(std::string name, std::string help,
                           std::vector<std::string> labels = {});
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  Family<Histogram>& histogram(std::string name, std::string help, std::vector<std::string> labels,
                               std::vector<double> bounds);
  // Called at render time to refresh gauges that are computed on demand.
  void on_collect(std::function<void()> f);
  std::string render() const;
  // Sum of the children of the counter or gauge family `name` whose labels include every pair of
  // `match` (all children when empty); 0 when there is no such family. For status pages: it does
  // not run the on_collect callbacks.
  double sum(const std::string& name, const Labels& match = {}) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
  std::vector<std::function<void()>> collectors_;
};

}  // namespace relais::metrics
