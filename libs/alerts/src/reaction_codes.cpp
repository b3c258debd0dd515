#include "relais/alerts/reaction_codes.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "relais/validation/date.hpp"

namespace relais::alerts {
namespace {
// NOLINTNEXTLINE(cert-err58-cpp): a constant, valid pattern; the unit tests construct it
const std::regex kCode("^[A-Z][A-Z0-9_]{1,39}$");

std::string where_of(const YAML::Node& n) {
  auto m = n.Mark();
  return m.line >= 0 ? " (line " + std::to_string(m.line + 1) + ")" : std::string{};
}

// A required non-empty scalar string of at most 200 bytes.
bool text(const YAML::Node& parent, const char* key, std::string& out, std::string& err,
          const std::string& ctx) {
  auto n = parent[key];
  if (!n) {
    err = ctx + ": missing key \"" + key + "\"";
    return false;
  }
  if (!n.IsScalar() || n.Scalar().empty()) {
    err = ctx + ": \"" + key + "\" must be a non-empty string" + where_of(n);
    return false;
  }
  if (n.Scalar().size() > 200) {
    err = ctx + ": \"" + key + "\" is longer than 200 bytes" + where_of(n);
    return false;
  }
  out = n.Scalar();
  return true;
}
}  // namespace

bool ReactionCode::valid_on(std::string_view iso_date) const {
  // ISO dates compare as text.
  return (valid_from.empty() || valid_from <= iso_date) &&
         (valid_to.empty() || iso_date <= valid_to);
}

const std::string& ReactionCode::label(std::string_view lang) const {
  if (lang == "fr") return label_fr;
  if (lang == "nl") return label_nl;
  if (lang == "de") return label_de;
  if (lang == "en" && !label_en.empty()) return label_en;
  return description;
}

std::string ReactionCode::validity_text() const {
  std::string out;
  if (!valid_from.empty()) out = "valid from " + valid_from;
  if (!valid_to.empty()) out += (out.empty() ? "valid until " : " until ") + valid_to;
  return out;
}

const ReactionCode* ReactionCodes::find(std::string_view code) const {
  for (const auto& c : codes)
    if (c.code == code) return &c;
  return nullptr;
}

std::variant<ReactionCodes, std::string> parse_reaction_codes(std::string_view yaml,
                                                              std::string_view source) {
  const std::string src(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return src + ": not valid YAML: " + e.what();
  }
  if (!root.IsMap()) return src + ": expected a mapping with \"version\" and \"reaction_codes\"";
  for (const auto& kv : root) {
    auto k = kv.first.as<std::string>("");
    if (k != "version" && k != "reaction_codes")
      // NOLINTNEXTLINE(performance-inefficient-string-concatenation): an error message
      return src + ": unknown key \"" + k + "\"" + where_of(kv.first);
  }
  if (!root["version"] || !root["version"].IsScalar() || root["version"].Scalar() != "1")
    return src + ": \"version\" must be 1";
  auto list = root["reaction_codes"];
  if (!list || !list.IsSequence() || list.size() == 0)
    return src + ": \"reaction_codes\" must be a non-empty list";
  ReactionCodes out;
  out.source = src;
  std::set<std::string> seen;
  std::size_t i = 0;
  for (const auto& e : list) {
    std::string ctx = src + ": reaction_codes[" + std::to_string(i++) + "]";
    if (!e.IsMap()) return ctx + ": expected a mapping" + where_of(e);
    if (e["code"] && e["code"].IsScalar()) ctx += " (" + e["code"].Scalar() + ")";
    for (const auto& kv : e) {
      auto k = kv.first.as<std::string>("");
      if (k != "code" && k != "description" && k != "labels" && k != "valid_from" &&
          k != "valid_to")
        // NOLINTNEXTLINE(performance-inefficient-string-concatenation): an error message
        return ctx + ": unknown key \"" + k + "\"" + where_of(kv.first);
    }
    ReactionCode c;
    std::string err;
    if (!text(e, "code", c.code, err, ctx)) return err;
    if (!std::regex_match(c.code, kCode))
      return ctx + ": code must be 2-40 characters of A-Z, 0-9 and _, starting with a letter" +
             where_of(e["code"]);
    if (!seen.insert(c.code).second)
      return ctx + ": duplicate code \"" + c.code + "\"" + where_of(e["code"]);
    if (!text(e, "description", c.description, err, ctx)) return err;
    auto labels = e["labels"];
    if (!labels || !labels.IsMap())
      return ctx + ": \"labels\" must be a mapping with fr, nl and de";
    for (const auto& kv : labels) {
      auto k = kv.first.as<std::string>("");
      if (k != "fr" && k != "nl" && k != "de" && k != "en")
        // NOLINTNEXTLINE(performance-inefficient-string-concatenation): an error message
        return ctx + ": labels: unknown language \"" + k + "\" (fr, nl, de, en)" +
               where_of(kv.first);
    }
    if (!text(labels, "fr", c.label_fr, err, ctx + ": labels")) return err;
    if (!text(labels, "nl", c.label_nl, err, ctx + ": labels")) return err;
    if (!text(labels, "de", c.label_de, err, ctx + ": labels")) return err;
    if (labels["en"] && !text(labels, "en", c.label_en, err, ctx + ": labels")) return err;
    for (auto [key, out] : {std::pair{"valid_from", &c.valid_from}, {"valid_to", &c.valid_to}}) {
      if (!e[key]) continue;
      if (!text(e, key, *out, err, ctx)) return err;
      if (!validation::parse_iso_date(*out))
        return ctx + ": \"" + key + "\" must be a date YYYY-MM-DD, got \"" + *out + "\"" +
               where_of(e[key]);
    }
    if (!c.valid_from.empty() && !c.valid_to.empty() && c.valid_to < c.valid_from)
      return ctx + ": \"valid_to\" (" + c.valid_to + ") is before \"valid_from\" (" + c.valid_from +
             ")" + where_of(e["valid_to"]);
    out.codes.push_back(std::move(c));
  }
  if (out.codes.size() > 200) return src + ": at most 200 reaction codes";
  return out;
}

std::variant<ReactionCodes, std::string> load_reaction_codes(const std::string& path) {
  std::ifstream in(path);
  if (!in) return path + ": cannot open the reaction code file";
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_reaction_codes(ss.str(), path);
}

}  // namespace relais::alerts
