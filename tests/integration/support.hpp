// Shared helpers of the integration tier: the real PostgreSQL and Kafka of a
// local stack (scripts/run-tests.sh sets RELAIS_TEST_PG_DSN and
// RELAIS_TEST_KAFKA). The stack is shared and never reset between tests, so
// every test makes its own data: unique CBEs, SSINs, topics and group ids.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "relais/http/server.hpp"
#include "relais/kafka/client.hpp"
#include "relais/kafka/security.hpp"
#include "relais/kafka/transaction.hpp"
#include "relais/pg/pg.hpp"
#include "relais/v1/records.pb.h"

namespace relais::itest {

using namespace std::chrono_literals;

inline std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string{};
}

inline std::string pg_dsn() {
  return env("RELAIS_TEST_PG_DSN");
}
inline std::string kafka_brokers() {
  return env("RELAIS_TEST_KAFKA");
}

// The credentials `deploy/local/stack.sh env` exports (RELAIS_KAFKA_SECURITY_PROTOCOL,
// RELAIS_KAFKA_SASL_*): the stack's administrator, a super user, so that the tests' own clients
// may use any topic, group or transactional id. `principal` picks another of the stack's users
// (its password file in RELAIS_KAFKA_SECRETS_DIR).
inline kafka::Security kafka_security(const std::string& principal = {}) {
  kafka::Security s;
  if (auto p = env("RELAIS_KAFKA_SECURITY_PROTOCOL"); !p.empty()) s.protocol = p;
  if (auto m = env("RELAIS_KAFKA_SASL_MECHANISM"); !m.empty()) s.mechanism = m;
  s.username = env("RELAIS_KAFKA_SASL_USERNAME");
  s.password_file = env("RELAIS_KAFKA_SASL_PASSWORD_FILE");
  if (!principal.empty() && !s.username.empty()) {
    s.username = principal;
    s.password_file = env("RELAIS_KAFKA_SECRETS_DIR") + "/" + principal + ".password";
  }
  return s;
}

// bootstrap.servers, the credentials and `extra`.
inline kafka::Settings kafka_settings(const kafka::Settings& extra = {},
                                      const std::string& principal = {}) {
  kafka::Settings s{{"bootstrap.servers", kafka_brokers()}};
  for (const auto& [k, v] : extra) s[k] = v;
  if (auto e = kafka::apply_security(kafka_security(principal), s))
    throw std::runtime_error("kafka credentials: " + *e);
  return s;
}

// Every integration test derives from this: a missing stack is a failure, never a skip.
class IntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(pg_dsn().empty())
        << "RELAIS_TEST_PG_DSN is not set: the integration tier needs the local stack "
           "(run scripts/run-tests.sh, or deploy/local/stack.sh up and export "
           "RELAIS_TEST_PG_DSN=$RELAIS_PG_DSN)";
    ASSERT_FALSE(kafka_brokers().empty())
        << "RELAIS_TEST_KAFKA is not set: the integration tier needs the local stack "
           "(run scripts/run-tests.sh, or deploy/local/stack.sh up and export "
           "RELAIS_TEST_KAFKA=$RELAIS_KAFKA_BROKERS)";
  }
};

inline std::mt19937_64& rng() {
  static std::mt19937_64 r{
      std::random_device{}() ^ (static_cast<std::uint64_t>(::getpid()) << 32) ^
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
  return r;
}

inline std::uint64_t random_below(std::uint64_t n) {
  return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng());
}

// A string unique across runs and processes: for topic names, group ids, transactional ids.
inline std::string unique_suffix() {
  static std::atomic<int> counter{0};
  char buf[96];
  std::snprintf(
      buf, sizeof buf, "%d-%lld-%d-%llu", static_cast<int>(::getpid()),
      static_cast<long long>(std::chrono::system_clock::now().time_since_epoch().count() / 1000),
      counter.fetch_add(1), static_cast<unsigned long long>(random_below(1000000)));
  return buf;
}

// A valid enterprise number: 10 digits, first 0, last two = 97 - (first eight mod 97).
// Checked against the cpas table so that it is unused.
inline std::string make_cbe(std::uint64_t body7) {
  std::uint64_t base = body7 % 10000000;  // "0" + 7 digits
  std::uint64_t check = 97 - (base % 97);
  char buf[16];
  std::snprintf(buf, sizeof buf, "0%07llu%02llu", static_cast<unsigned long long>(base),
                static_cast<unsigned long long>(check));
  return buf;
}

inline std::string unique_cbe(pg::Connection& c) {
  for (;;) {
    auto cbe = make_cbe(1000000 + random_below(9000000));
    if (c.exec("SELECT 1 FROM cpas WHERE cbe = $1", {cbe}).rows() == 0) return cbe;
  }
}

inline std::string unique_cbe() {
  pg::Connection c(pg_dsn());
  return unique_cbe(c);
}

// A valid National Register SSIN of someone born 1940-1999 (so the 1900s check digits apply):
// YYMMDD sss cc, cc = 97 - (first nine mod 97).
inline std::string random_ssin() {
  auto yy = 40 + random_below(60);
  auto mm = 1 + random_below(12);
  auto dd = 1 + random_below(28);
  auto sss = 1 + random_below(997);
  std::uint64_t first9 = ((yy * 100 + mm) * 100 + dd) * 1000 + sss;
  std::uint64_t cc = 97 - (first9 % 97);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%09llu%02llu", static_cast<unsigned long long>(first9),
                static_cast<unsigned long long>(cc));
  return buf;
}

// SSINs no test has used yet in this process, and (checked) in no directory row.
inline std::string unique_ssin(pg::Connection& c) {
  for (;;) {
    auto s = random_ssin();
    if (c.exec(
             "SELECT 1 FROM integrations WHERE ssin = $1 UNION ALL SELECT 1 FROM ssin_replacements "
             "WHERE old_ssin = $1 OR new_ssin = $1",
             {s})
            .rows() == 0)
      return s;
  }
}

inline std::string uuid() {
  static const char* hex = "0123456789abcdef";
  std::string s(36, '-');
  for (int i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) continue;
    s[i] = hex[random_below(16)];
  }
  s[14] = '4';
  s[19] = hex[8 + random_below(4)];
  return s;
}

inline std::string unique_topic(const std::string& what) {
  return "itest." + what + "." + unique_suffix();
}

inline void create_topics(const std::vector<std::string>& topics, int partitions) {
  auto e = kafka::ensure_topics(kafka_settings(), topics, partitions, 1, 15s);
  ASSERT_FALSE(e.has_value()) << "ensure_topics: " << *e;
}

inline int partitions_of(const std::string& topic) {
  return kafka::partition_count(kafka_settings(), topic, 10s);
}

struct Record {
  std::string key;
  std::string value;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string flow, ticket, content_type, reason;
};

// Every committed record of `topic` (read_committed), from the beginning.
inline std::vector<Record> read_topic(const std::string& topic,
                                      std::chrono::milliseconds timeout = 20s) {
  std::vector<Record> out;
  int n = partitions_of(topic);
  EXPECT_GT(n, 0) << "topic " << topic << " not found";
  if (n <= 0) return out;
  std::vector<int32_t> parts;
  for (int i = 0; i < n; ++i) parts.push_back(i);
  auto settings = kafka_settings();
  settings["group.id"] = "itest-reader-" + unique_suffix();
  auto err = kafka::read_partitions(settings, topic, parts, timeout, [&](const kafka::Record& m) {
    Record r;
    if (m.key()) r.key = *m.key();
    r.value = m.value();
    r.partition = m.partition();
    r.offset = m.offset();
    r.flow = m.header("flow");
    r.ticket = m.header("ticket");
    r.content_type = m.header("content-type");
    r.reason = m.header("reason");
    out.push_back(std::move(r));
  });
  EXPECT_FALSE(err.has_value()) << "read_partitions(" << topic << "): " << *err;
  return out;
}

// The journal entries of a journal topic, in order, whatever the record format
// (a JournalBatch under a "batch/" key, or one JournalEntry per record).
inline std::vector<v1::JournalEntry> journal_entries(const std::string& topic) {
  std::vector<v1::JournalEntry> out;
  for (const auto& r : read_topic(topic, 10s)) {
    if (r.key.starts_with("batch/")) {
      v1::JournalBatch b;
      if (b.ParseFromString(r.value)) out.insert(out.end(), b.entries().begin(), b.entries().end());
    } else if (v1::JournalEntry j; j.ParseFromString(r.value)) {
      out.push_back(std::move(j));
    }
  }
  return out;
}

// The canonical (lower-case) text of a ticket UUID held as two 64-bit halves.
inline std::string ticket_string(std::uint64_t hi, std::uint64_t lo) {
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xffff),
                static_cast<unsigned long long>(hi & 0xffff),
                static_cast<unsigned long long>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

// Polls `cond` until it holds or the deadline passes; returns its last value.
template <typename F>
bool eventually(F&& cond, std::chrono::milliseconds limit, std::chrono::milliseconds step = 20ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(step);
  }
  return cond();
}

inline long long count(pg::Connection& c, const std::string& sql,
                       const std::vector<pg::Param>& params = {}) {
  return c.exec(sql, params).integer(0, 0);
}

// An http::Server on 127.0.0.1, ephemeral port, run by background threads.
class InProcessServer {
 public:
  InProcessServer(http::Handler handler,
                  std::function<std::size_t(const http::Request&)> body_limit = {}, int threads = 2)
      : work_(boost::asio::make_work_guard(ioc_)) {
    http::ServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.body_limit = std::move(body_limit);
    server_ = std::make_unique<http::Server>(ioc_, o, std::move(handler));
    if (auto e = server_->start()) throw std::runtime_error("server start: " + *e);
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  ~InProcessServer() {
    server_->stop(0ms);
    server_.reset();
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
  }
  unsigned short port() const { return server_->port(); }

 private:
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<http::Server> server_;
  std::vector<std::thread> threads_;
};

}  // namespace relais::itest
