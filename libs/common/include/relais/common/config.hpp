// Service configuration: a declared set of options, read from a YAML file and
// overridden by environment variables (RELAIS_<KEY>, dots become underscores:
// kafka.brokers -> RELAIS_KAFKA_BROKERS). Unknown keys and badly typed values
// are load errors that name the key and where it came from.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relais::config {

enum class Type { string, integer, boolean, number };

struct Option {
  std::string key;
  Type type;
  std::string default_value;
  std::string help;
};

class Config {
 public:
  // Returns an error message on failure. `env` is a NULL-terminated environ array.
  static std::optional<std::string> load(const std::vector<Option>& spec, const std::string& path,
                                         char** env, Config& out);

  const std::string& str(std::string_view key) const;
  std::int64_t integer(std::string_view key) const;
  bool boolean(std::string_view key) const;
  double number(std::string_view key) const;
  // "key=value (source)" lines, secrets (keys containing "password", "secret" or "token") masked.
  std::string describe() const;
  void set(std::string key, std::string value) {
    values_[std::move(key)] = {std::move(value), "override"};
  }

 private:
  struct Value {
    std::string text;
    std::string source;
  };
  std::map<std::string, Value, std::less<>> values_;
};

std::string env_name(std::string_view key);
std::string help_text(std::string_view program, std::string_view summary,
                      const std::vector<Option>& spec);

// Parses "--config FILE", "--help", "--version", "--print-config". Loads the
// config and the log settings ("log.level", "log.format" must be in spec).
// Returns an exit code to return from main, or nullopt to go on.
std::optional<int> bootstrap(int argc, char** argv, std::string_view program,
                             std::string_view summary, const std::vector<Option>& spec,
                             Config& out);

// Options every service has.
std::vector<Option> common_options();

}  // namespace relais::config
