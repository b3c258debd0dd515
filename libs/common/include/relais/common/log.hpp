// Structured logging: one line per event, readable text on a terminal or JSON
// in production. Thread-safe; a line is written with a single write().
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relais::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

struct Field {
  std::string_view key;
  std::string value;
  Field(std::string_view k, std::string v) : key(k), value(std::move(v)) {}
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  template <typename N>
  requires std::is_arithmetic_v<N> Field(std::string_view k, N v)
      : key(k), value(std::to_string(v)) {}
};

using Fields = std::initializer_list<Field>;

void set_level(Level level);
void set_json(bool json);
bool parse_level(std::string_view text, Level& out);
bool enabled(Level level);

void write(Level level, std::string_view component, std::string_view message, Fields fields = {});

// The last kRecentProblems warn/error lines written (text form, oldest first), for status pages.
// Only warn and error lines pay for this (one short mutex hold); other levels are untouched.
inline constexpr std::size_t kRecentProblems = 20;
std::vector<std::string> recent_problems();

// A logger bound to one module.
// A component's logger. It keeps a view of the component's name: pass a string literal, or a
// string that outlives the logger. Constructing one cannot throw, so namespace-scope loggers
// are safe static objects.
class Logger {
 public:
  constexpr explicit Logger(std::string_view component) noexcept : component_(component) {}
  void debug(std::string_view m, Fields f = {}) const { write(Level::debug, component_, m, f); }
  void info(std::string_view m, Fields f = {}) const { write(Level::info, component_, m, f); }
  void warn(std::string_view m, Fields f = {}) const { write(Level::warn, component_, m, f); }
  void error(std::string_view m, Fields f = {}) const { write(Level::error, component_, m, f); }

 private:
  std::string_view component_;
};

}  // namespace relais::log
