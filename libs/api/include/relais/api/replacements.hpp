// relais-api's SSIN replacement routes (operator only, docs/security.md §7):
//   PUT /v1/ssin-replacements/{old_ssin}  {"replaced_by", "reason", "correct"?}
//   GET /v1/ssin-replacements/{old_ssin}
// A CPAS never records a replacement (quality code 999 on its integrations route is refused by
// AccessControl); the register's SSIN_REPLACED is recorded by the router's journal sink. The
// rule (no silent overwrite, no loop) is directory::judge_replacement(); this file maps its
// verdicts to HTTP.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "relais/api/problem.hpp"
#include "relais/directory/replacements.hpp"
#include "relais/validation/error.hpp"

namespace relais::api {

struct ReplacementRequest {
  std::string replaced_by;
  std::string reason;    // mandatory, 1-500 bytes after trimming
  bool correct = false;  // replace a different recorded replacement of old_ssin
};

// Validates the path's old_ssin and the JSON body. Pure.
std::optional<validation::Error> parse_replacement_request(std::string_view old_ssin,
                                                           std::string_view body,
                                                           ReplacementRequest& out);

// The 409 of a refused verdict (conflict, cycle), naming the numbers; nullopt for the others.
std::optional<Problem> replacement_refusal(directory::ReplacementVerdict v,
                                           std::string_view old_ssin, std::string_view new_ssin,
                                           const directory::ReplacementState& s);

}  // namespace relais::api
