#include "relais/common/config.hpp"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>

#include "relais/common/log.hpp"

namespace relais::config {
namespace {

bool parse_int(std::string_view s, std::int64_t& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc{} && p == s.data() + s.size() && !s.empty();
}

bool parse_bool(std::string_view s, bool& v) {
  if (s == "true" || s == "1" || s == "yes" || s == "on") return v = true, true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return v = false, true;
  return false;
}

bool parse_double(const std::string& s, double& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

std::optional<std::string> check_type(const Option& o, const std::string& value,
                                      const std::string& source) {
  std::int64_t i{};
  bool b{};
  double d{};
  switch (o.type) {
    case Type::string:
      return std::nullopt;
    case Type::integer:
      if (parse_int(value, i)) return std::nullopt;
      return o.key + ": expected an integer, got \"" + value + "\" (" + source + ")";
    case Type::boolean:
      if (parse_bool(value, b)) return std::nullopt;
      return o.key + ": expected true or false, got \"" + value + "\" (" + source + ")";
    case Type::number:
      if (parse_double(value, d)) return std::nullopt;
      return o.key + ": expected a number, got \"" + value + "\" (" + source + ")";
  }
  return std::nullopt;
}

// A configuration has a few dozen values, two or three levels deep. Aliases can multiply them
// ("a1: &a1 {p: *a0, q: *a0}" doubles the walk at each level) or make a cycle ("a: &a {p: *a}"),
// so the walk is bounded in size and depth: a small file must not hang or crash a service.
constexpr std::size_t kMaxConfigNodes = 10000;
constexpr int kMaxConfigDepth = 16;

void flatten(const YAML::Node& node, const std::string& prefix,
             std::map<std::string, std::string>& out, std::vector<std::string>& errors,
             std::size_t& visited, int depth = 0) {
  if (!errors.empty()) return;
  if (++visited > kMaxConfigNodes) {
    errors.push_back("more than " + std::to_string(kMaxConfigNodes) + " values (nested aliases?)");
    return;
  }
  if (depth > kMaxConfigDepth) {
    errors.push_back(prefix + ": nested deeper than " + std::to_string(kMaxConfigDepth) +
                     " levels (recursive alias?)");
    return;
  }
  if (node.IsMap()) {
    for (const auto& kv : node) {
      std::string k = kv.first.as<std::string>();
      // NOLINTNEXTLINE(performance-inefficient-string-concatenation): a key, read once at start-up
      flatten(kv.second, prefix.empty() ? k : prefix + "." + k, out, errors, visited, depth + 1);
    }
  } else if (node.IsScalar()) {
    out[prefix] = node.as<std::string>();
  } else if (node.IsSequence()) {
    std::string joined;
    for (const auto& item : node) {
      if (!item.IsScalar()) {
        errors.push_back(prefix + ": lists may only hold scalars");
        return;
      }
      if (!joined.empty()) joined.push_back(',');
      joined += item.as<std::string>();
    }
    out[prefix] = joined;
  } else if (node.IsNull()) {
    out[prefix] = "";
  }
}

bool is_secret(std::string_view key) {
  return key.find("password") != std::string_view::npos ||
         key.find("secret") != std::string_view::npos ||
         key.find("token") != std::string_view::npos;
}
}  // namespace

std::string env_name(std::string_view key) {
  std::string out = "RELAIS_";
  for (char c : key) out.push_back(c == '.' || c == '-' ? '_' : static_cast<char>(std::toupper(c)));
  return out;
}

std::optional<std::string> Config::load(const std::vector<Option>& spec, const std::string& path,
                                        char** env, Config& out) {
  out.values_.clear();
  for (const auto& o : spec) out.values_[o.key] = {o.default_value, "default"};

  if (!path.empty()) {
    std::map<std::string, std::string> flat;
    std::vector<std::string> errors;
    try {
      YAML::Node root = YAML::LoadFile(path);
      if (!root.IsNull() && !root.IsMap()) return path + ": the top level must be a mapping";
      std::size_t visited = 0;
      flatten(root, "", flat, errors, visited);
    } catch (const YAML::Exception& e) {
      return path + ": " + e.what();
    }
    if (!errors.empty()) return path + ": " + errors.front();
    for (auto& [k, v] : flat) {
      auto it = out.values_.find(k);
      // NOLINTNEXTLINE(performance-inefficient-string-concatenation): an error message
      if (it == out.values_.end()) return path + ": unknown key \"" + k + "\" (see --help)";
      it->second = {v, path};
    }
  }
  if (env != nullptr) {
    for (const auto& o : spec) {
      std::string name = env_name(o.key);
      for (char** e = env; *e != nullptr; ++e) {
        if (std::strncmp(*e, name.c_str(), name.size()) == 0 && (*e)[name.size()] == '=') {
          out.values_[o.key] = {std::string(*e + name.size() + 1), "environment " + name};
        }
      }
    }
  }
  for (const auto& o : spec) {
    const auto& v = out.values_[o.key];
    if (auto err = check_type(o, v.text, v.source)) return err;
  }
  return std::nullopt;
}

const std::string& Config::str(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) {
    static const std::string empty;
    return empty;
  }
  return it->second.text;
}

std::int64_t Config::integer(std::string_view key) const {
  std::int64_t v = 0;
  parse_int(str(key), v);
  return v;
}

bool Config::boolean(std::string_view key) const {
  bool v = false;
  parse_bool(str(key), v);
  return v;
}

double Config::number(std::string_view key) const {
  double v = 0;
  parse_double(str(key), v);
  return v;
}

std::string Config::describe() const {
  std::ostringstream os;
  for (const auto& [k, v] : values_)
    os << k << "=" << (is_secret(k) && !v.text.empty() ? "****" : v.text) << " (" << v.source
       << ")\n";
  return os.str();
}

std::string help_text(std::string_view program, std::string_view summary,
                      const std::vector<Option>& spec) {
  std::ostringstream os;
  os << "Usage: " << program << " [--config FILE] [--print-config] [--version] [--help]\n\n"
     << summary << "\n\nOptions (YAML key, environment variable, default):\n";
  for (const auto& o : spec) {
    os << "  " << o.key << "  (" << env_name(o.key) << ")\n      " << o.help
       << (o.default_value.empty() ? "" : " [default: " + o.default_value + "]") << "\n";
  }
  return os.str();
}

std::vector<Option> common_options() {
  return {
      {"log.level", Type::string, "info", "debug, info, warn or error"},
      {"log.format", Type::string, "text", "text (for a terminal) or json (for log collectors)"},
  };
}

std::optional<int> bootstrap(int argc, char** argv, std::string_view program,
                             std::string_view summary, const std::vector<Option>& spec,
                             Config& out) {
  std::string path;
  bool print = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << help_text(program, summary, spec);
      return 0;
    } else if (a == "--version") {
      std::cout << program << " " << RELAIS_VERSION << "\n";
      return 0;
    } else if (a == "--print-config") {
      print = true;
    } else if (a == "--config" && i + 1 < argc) {
      path = argv[++i];
    } else if (a.starts_with("--config=")) {
      path = std::string(a.substr(9));
    } else {
      std::cerr << program << ": unknown argument \"" << a << "\" (try --help)\n";
      return 2;
    }
  }
  if (auto err = Config::load(spec, path, environ, out)) {
    std::cerr << program << ": configuration error: " << *err << "\n";
    return 2;
  }
  log::Level level{};
  if (!log::parse_level(out.str("log.level"), level)) {
    std::cerr << program << ": configuration error: log.level must be debug, info, warn or error\n";
    return 2;
  }
  log::set_level(level);
  const auto& fmt = out.str("log.format");
  if (fmt != "text" && fmt != "json") {
    std::cerr << program << ": configuration error: log.format must be text or json\n";
    return 2;
  }
  log::set_json(fmt == "json");
  if (print) {
    std::cout << out.describe();
    return 0;
  }
  return std::nullopt;
}

}  // namespace relais::config
