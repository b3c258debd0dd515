#include "relais/common/config.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

using namespace relais::config;

namespace {
std::vector<Option> spec() {
  return {{"kafka.brokers", Type::string, "localhost:9092", "brokers"},
          {"http.threads", Type::integer, "2", "threads"},
          {"journal.enabled", Type::boolean, "true", "journal"},
          {"pg.password", Type::string, "", "secret"}};
}
std::string write_file(const std::string& text) {
  char name[] = "/tmp/relais-config-XXXXXX";
  int fd = mkstemp(name);
  ::close(fd);
  std::ofstream(name) << text;
  return name;
}
}  // namespace

TEST(Config, DefaultsFileThenEnvironment) {
  auto path = write_file("kafka:\n  brokers: b1:1\nhttp:\n  threads: 4\n");
  std::string env1 = "RELAIS_HTTP_THREADS=8";
  char* env[] = {env1.data(), nullptr};
  Config c;
  ASSERT_FALSE(Config::load(spec(), path, env, c));
  EXPECT_EQ(c.str("kafka.brokers"), "b1:1");
  EXPECT_EQ(c.integer("http.threads"), 8);
  EXPECT_TRUE(c.boolean("journal.enabled"));
  std::remove(path.c_str());
}

TEST(Config, UnknownKeyAndBadTypeAreErrors) {
  auto path = write_file("kafka:\n  brokerz: x\n");
  Config c;
  auto e = Config::load(spec(), path, nullptr, c);
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("kafka.brokerz"), std::string::npos);
  std::remove(path.c_str());
  std::string bad = "RELAIS_HTTP_THREADS=many";
  char* env[] = {bad.data(), nullptr};
  e = Config::load(spec(), "", env, c);
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("http.threads"), std::string::npos);
  EXPECT_NE(e->find("RELAIS_HTTP_THREADS"), std::string::npos);
}

TEST(Config, SecretsAreMaskedInDescribe) {
  std::string pw = "RELAIS_PG_PASSWORD=hunter2";
  char* env[] = {pw.data(), nullptr};
  Config c;
  ASSERT_FALSE(Config::load(spec(), "", env, c));
  EXPECT_EQ(c.str("pg.password"), "hunter2");
  EXPECT_EQ(c.describe().find("hunter2"), std::string::npos);
}

TEST(Config, MalformedYamlNamesTheFile) {
  auto path = write_file("kafka: [unclosed\n");
  Config c;
  auto e = Config::load(spec(), path, nullptr, c);
  ASSERT_TRUE(e);
  EXPECT_NE(e->find(path), std::string::npos);
  std::remove(path.c_str());
}

// A fuzz_config timeout (fuzz/regressions/config/alias-bomb.yaml): aliases doubling the values at
// each level made the loader walk 2^26 nodes for a 1 KiB file.
TEST(Config, NestedAliasesAreBounded) {
  std::string text = "x0: &a0 {p: 1, q: 1}\n";
  for (int i = 1; i <= 26; ++i)
    text += "x" + std::to_string(i) + ": &a" + std::to_string(i) + " {p: *a" +
            std::to_string(i - 1) + ", q: *a" + std::to_string(i - 1) + "}\n";
  auto path = write_file(text);
  Config c;
  auto e = Config::load(spec(), path, nullptr, c);
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("aliases"), std::string::npos);
  std::remove(path.c_str());
}

// Found by fuzz_config (fuzz/regressions/config/recursive-alias.yaml): an alias inside its own
// anchor made the walk recurse until the stack overflowed.
TEST(Config, RecursiveAliasIsAnError) {
  auto path = write_file("kafka: &k {brokers: x, again: *k}\n");
  Config c;
  auto e = Config::load(spec(), path, nullptr, c);
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("recursive alias"), std::string::npos);
  std::remove(path.c_str());
}
