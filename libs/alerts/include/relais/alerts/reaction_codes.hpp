// The follow-up codes a CPAS may send back for a clignotant
// (PCSAAAlertReaction). They are not public, so they are configuration: a YAML
// file (deploy/rules/reaction-codes.yaml) loaded and validated once at start by
// relais-api; a reaction whose code is not in the set is refused.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace relais::alerts {

struct ReactionCode {
  std::string code;         // e.g. NO_IMPACT: [A-Z][A-Z0-9_]{1,39}
  std::string description;  // what it means, in English, for operators
  std::string label_fr;     // shown to social workers
  std::string label_nl;
  std::string label_de;
  std::string label_en;  // optional; "" = the description
  // Validity, both inclusive, "YYYY-MM-DD"; "" = open-ended. A code is accepted in a reaction only
  // on a day within them (the reaction's date, UTC).
  std::string valid_from, valid_to;

  bool valid_on(std::string_view iso_date) const;
  // The label in `lang` (fr, nl, de, en); the description for any other language.
  const std::string& label(std::string_view lang) const;
  // "valid from 2024-01-01 until 2025-12-31", "valid from 2024-01-01", "valid until ...", "".
  std::string validity_text() const;
};

struct ReactionCodes {
  std::vector<ReactionCode> codes;  // file order
  std::string source;
  const ReactionCode* find(std::string_view code) const;
};

// Parses and validates a reaction code file. Returns the set or an error
// message naming the source, the entry and the key. Rules: a `version: 1`
// and a non-empty `reaction_codes` list; each entry has `code`, `description`
// and `labels: {fr, nl, de}` (en optional; all non-empty, at most 200 bytes),
// optionally `valid_from` and `valid_to` (YYYY-MM-DD, from <= to); codes are
// unique; unknown keys are errors.
std::variant<ReactionCodes, std::string> parse_reaction_codes(std::string_view yaml,
                                                              std::string_view source);
std::variant<ReactionCodes, std::string> load_reaction_codes(const std::string& path);

}  // namespace relais::alerts
