#include "relais/common/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <mutex>

namespace relais::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::info)};
std::atomic<bool> g_json{false};

constexpr std::string_view level_name(Level l) {
  switch (l) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "info";
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  return false;
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// Bounded ring of the last warn/error lines (always in text form, whatever the output format).
std::mutex g_recent_mu;
std::deque<std::string>& recent_ring() {
  static std::deque<std::string> ring;
  return ring;
}

// "ts level  component: message key=value ..." (the terminal format).
void append_text(std::string& line, std::string_view ts, Level level, std::string_view component,
                 std::string_view message, Fields fields) {
  line += ts;
  line.push_back(' ');
  std::string_view ln = level_name(level);
  line += ln;
  line.append(6 - ln.size(), ' ');
  line += component;
  line += ": ";
  line += message;
  for (const auto& f : fields) {
    line.push_back(' ');
    line += f.key;
    line.push_back('=');
    if (needs_quotes(f.value))
      append_json_string(line, f.value);
    else
      line += f.value;
  }
}

void remember_problem(std::string_view ts, Level level, std::string_view component,
                      std::string_view message, Fields fields) {
  std::string line;
  line.reserve(96 + message.size());
  append_text(line, ts, level, component, message, fields);
  if (line.size() > 2000) line.resize(2000);
  std::lock_guard lock(g_recent_mu);
  auto& ring = recent_ring();
  ring.push_back(std::move(line));
  while (ring.size() > kRecentProblems) ring.pop_front();
}
}  // namespace

std::vector<std::string> recent_problems() {
  std::lock_guard lock(g_recent_mu);
  const auto& ring = recent_ring();
  return {ring.begin(), ring.end()};
}

void set_level(Level level) {
  g_level.store(static_cast<int>(level));
}
void set_json(bool json) {
  g_json.store(json);
}
bool enabled(Level level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

bool parse_level(std::string_view text, Level& out) {
  for (Level l : {Level::debug, Level::info, Level::warn, Level::error}) {
    if (text == level_name(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

void write(Level level, std::string_view component, std::string_view message, Fields fields) {
  if (!enabled(level)) return;
  std::string line;
  line.reserve(128);
  const std::string ts = timestamp();
  if (level >= Level::warn) remember_problem(ts, level, component, message, fields);
  if (g_json.load(std::memory_order_relaxed)) {
    line += "{\"ts\":\"";
    line += ts;
    line += "\",\"level\":\"";
    line += level_name(level);
    line += "\",\"component\":";
    append_json_string(line, component);
    line += ",\"msg\":";
    append_json_string(line, message);
    for (const auto& f : fields) {
      line.push_back(',');
      append_json_string(line, f.key);
      line.push_back(':');
      append_json_string(line, f.value);
    }
    line += "}\n";
  } else {
    append_text(line, ts, level, component, message, fields);
    line.push_back('\n');
  }
  // One write() per line keeps lines whole when several threads log.
  std::size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace relais::log
