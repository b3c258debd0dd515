#include "relais/labels/labels.hpp"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <stdexcept>

namespace relais::labels {
namespace files {
std::string_view labels();
}

namespace {
const std::array<std::string_view, 4> kSections{"alert_types", "quality_codes", "problem_titles",
                                                "errors"};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "q=0.5" -> 500 (thousandths); malformed -> 1000.
int qvalue(std::string_view param) {
  param = trim(param);
  if (param.size() < 2 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=') return 1000;
  auto v = param.substr(2);
  if (v.empty() || (v[0] != '0' && v[0] != '1')) return 1000;
  int q = (v[0] - '0') * 1000;
  if (v.size() > 1) {
    if (v[1] != '.' || v.size() > 5) return 1000;
    int scale = 100;
    for (char c : v.substr(2)) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return 1000;
      q += (c - '0') * scale;
      scale /= 10;
    }
  }
  return q > 1000 ? 1000 : q;
}
}  // namespace

std::string_view name(Lang l) {
  static constexpr std::array<std::string_view, 4> names{"en", "fr", "nl", "de"};
  return names[static_cast<int>(l)];
}

std::optional<Lang> parse_lang(std::string_view s) {
  for (Lang l : kLangs)
    if (s == name(l)) return l;
  return std::nullopt;
}

Lang negotiate(std::string_view header) {
  Lang best = Lang::en;
  int best_q = 0;
  while (!header.empty()) {
    auto comma = header.find(',');
    auto item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    auto semi = item.find(';');
    auto range = lower(trim(item.substr(0, semi)));
    const int q = semi == std::string_view::npos ? 1000 : qvalue(item.substr(semi + 1));
    if (range.empty() || q <= 0) continue;
    auto primary = range.substr(0, range.find('-'));
    std::optional<Lang> l = primary == "*" ? std::optional<Lang>(Lang::en) : parse_lang(primary);
    if (l && q > best_q) {
      best = *l;
      best_q = q;
    }
  }
  return best;
}

const std::map<std::string, Labels::Texts, std::less<>>* Labels::section(std::string_view n) const {
  auto it = sections.find(n);
  return it == sections.end() ? nullptr : &it->second;
}

const std::string* Labels::find(std::string_view s, std::string_view key, Lang lang) const {
  const auto* sec = section(s);
  if (!sec) return nullptr;
  auto it = sec->find(key);
  return it == sec->end() ? nullptr : &it->second[static_cast<int>(lang)];
}

std::string Labels::get(std::string_view s, std::string_view key, Lang lang,
                        std::string_view fallback) const {
  const auto* t = find(s, key, lang);
  return t ? *t : std::string(fallback);
}

std::variant<Labels, std::string> parse_labels(std::string_view yaml, std::string_view source) {
  const std::string src(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return src + ": not valid YAML: " + e.what();
  }
  if (!root.IsMap()) return src + ": expected a mapping";
  if (!root["version"] || !root["version"].IsScalar() || root["version"].Scalar() != "1")
    return src + ": \"version\" must be 1";
  Labels out;
  for (const auto& kv : root) {
    auto sec = kv.first.as<std::string>("");
    if (sec == "version") continue;
    bool known = false;
    for (auto k : kSections) known = known || sec == k;
    if (!known)
      // NOLINTNEXTLINE(performance-inefficient-string-concatenation): an error message
      return src + ": unknown section \"" + sec +
             "\" (alert_types, quality_codes, problem_titles, errors)";
    std::string at = src;  // "<source>: <section>: ", how this section's messages start
    at.append(": ").append(sec).append(": ");
    if (!kv.second.IsMap()) return at + "expected a mapping of key -> labels";
    auto& dst = out.sections[sec];
    for (const auto& e : kv.second) {
      auto key = e.first.as<std::string>("");
      const std::string ctx = at + key;
      if (!e.second.IsMap()) return ctx + ": expected {en, fr, nl, de}";
      for (const auto& t : e.second)
        if (!parse_lang(t.first.as<std::string>("")))
          return ctx + ": unknown language \"" + t.first.as<std::string>("") +
                 "\" (en, fr, nl, de)";
      Labels::Texts texts;
      for (Lang l : kLangs) {
        auto n = e.second[std::string(name(l))];
        if (!n || !n.IsScalar() || n.Scalar().empty())
          return ctx + ": missing label \"" + std::string(name(l)) + "\"";
        if (n.Scalar().size() > 300)
          return ctx + ": label \"" + std::string(name(l)) + "\" is longer than 300 bytes";
        texts[static_cast<int>(l)] = n.Scalar();
      }
      if (!dst.emplace(key, std::move(texts)).second) return ctx + ": duplicate key";
    }
  }
  return out;
}

const Labels& builtin() {
  static const Labels labels = [] {
    auto r = parse_labels(files::labels(), "data/labels/labels.yaml");
    if (auto* e = std::get_if<std::string>(&r)) throw std::logic_error(*e);
    return std::get<Labels>(std::move(r));
  }();
  return labels;
}

}  // namespace relais::labels
