// Labels for people in English, French, Dutch and German: alert types, quality codes, problem
// titles and error messages (data/labels/labels.yaml, compiled in), and the choice of a language
// from an Accept-Language header (RFC 9110 §12.5.4). Pure: no I/O at run time.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace relais::labels {

enum class Lang { en = 0, fr = 1, nl = 2, de = 3 };
inline constexpr std::array<Lang, 4> kLangs{Lang::en, Lang::fr, Lang::nl, Lang::de};

std::string_view name(Lang l);
// "en", "fr", "nl", "de" (exactly, lower case); nullopt otherwise.
std::optional<Lang> parse_lang(std::string_view s);

// The language for an Accept-Language header: the supported language with the highest q-value
// (ties: the one listed first). A range matches by its primary subtag ("fr-BE" -> fr, "nl-be" ->
// nl); "*" stands for English; q=0 excludes; malformed q-values count as q=1 (RFC 9110 lets a
// server ignore a malformed field, Relais reads what it can). Nothing supported, an empty or
// absent header: English (the default, docs/clignotants.md "Languages").
Lang negotiate(std::string_view accept_language);

// section -> key -> text per language (indexed by Lang).
class Labels {
 public:
  using Texts = std::array<std::string, 4>;
  // The text of `key` in `section` in `lang`; nullptr when the key has no entry.
  const std::string* find(std::string_view section, std::string_view key, Lang lang) const;
  // find(), or `fallback` when there is no entry.
  std::string get(std::string_view section, std::string_view key, Lang lang,
                  std::string_view fallback) const;
  const std::map<std::string, Texts, std::less<>>* section(std::string_view name) const;

  std::map<std::string, std::map<std::string, Texts, std::less<>>, std::less<>> sections;
};

// Parses a labels file: `version: 1` and sections (alert_types, quality_codes, problem_titles,
// errors), each a mapping of key -> {en, fr, nl, de} (all four required, non-empty, at most 300
// bytes). An error names the source, the section, the key and the language.
std::variant<Labels, std::string> parse_labels(std::string_view yaml, std::string_view source);

// The compiled-in data/labels/labels.yaml, parsed once (a bad file is a programming error:
// std::logic_error; the unit tests parse it).
const Labels& builtin();

}  // namespace relais::labels
