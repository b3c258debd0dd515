// A service configuration file (--config FILE), read by relais::config::Config::load with the
// options every service declares (common, HTTP, Kafka) plus one of each value type. The input is
// the YAML text, written to a scratch file since the loader reads a path.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "fuzz_util.hpp"
#include "relais/common/config.hpp"
#include "relais/service/runtime.hpp"

using namespace relais;

namespace {

std::vector<config::Option> spec() {
  auto s = config::common_options();
  for (auto& o : service::http_options("127.0.0.1:8080")) s.push_back(o);
  for (auto& o : service::kafka_options()) s.push_back(o);
  s.push_back({"fuzz.count", config::Type::integer, "1", "an integer"});
  s.push_back({"fuzz.enabled", config::Type::boolean, "false", "a boolean"});
  s.push_back({"fuzz.ratio", config::Type::number, "0.5", "a number"});
  s.push_back({"fuzz.secret_token", config::Type::string, "", "a secret"});
  return s;
}

struct Scratch {
  std::string path;
  Scratch() {
    char name[] = "/tmp/relais-fuzz-config-XXXXXX";
    int fd = mkstemp(name);
    if (fd < 0) fuzz::fail("mkstemp");
    close(fd);
    path = name;
  }
  ~Scratch() { unlink(path.c_str()); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto options = spec();
  static const Scratch scratch;
  FILE* f = std::fopen(scratch.path.c_str(), "wb");
  if (!f) fuzz::fail("cannot write the scratch file");
  if (size > 0 && std::fwrite(data, 1, size, f) != size) fuzz::fail("short write");
  std::fclose(f);

  static char env_level[] = "RELAIS_LOG_LEVEL=debug";
  static char* env[] = {env_level, nullptr};
  config::Config cfg;
  auto err = config::Config::load(options, scratch.path, env, cfg);
  if (err) {
    RELAIS_FUZZ_CHECK(!err->empty());
    return 0;
  }
  RELAIS_FUZZ_CHECK(cfg.str("log.level") == "debug");
  (void)cfg.integer("fuzz.count");
  (void)cfg.boolean("fuzz.enabled");
  (void)cfg.number("fuzz.ratio");
  (void)cfg.describe();
  return 0;
}
