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
};

struct ReactionCodes {
  std::vector<ReactionCode> codes;  // file order
  std::string source;
  const ReactionCode* find(std::string_view code) const;
};

// Parses and validates a reaction code file. Returns the set or an error
// message naming the source, the entry and the key. Rules: a `version: 1`
// and a non-empty `reaction_codes` list; each entry has exactly `code`,
// `description` and `labels: {fr, nl}` (all non-empty, at most 200 bytes);
// codes are unique; unknown keys are errors.
std::variant<ReactionCodes, std::string> parse_reaction_codes(std::string_view yaml,
                                                              std::string_view source);
std::variant<ReactionCodes, std::string> load_reaction_codes(const std::string& path);

}  // namespace relais::alerts
