// Text at every boundary (docs/validation.md, "Text"): one rule for every string that enters
// Relais from outside (ingest JSON/protobuf/NDJSON, API bodies, paths and query values, CSV and
// NDJSON imports, reaction comments) and one way to make any string safe to journal or log.
//
// A string is acceptable text when it is:
//   - valid UTF-8 (RFC 3629: no overlong form, no UTF-16 surrogate U+D800-U+DFFF, nothing above
//     U+10FFFF, no truncated sequence);
//   - free of NUL and of every other C0 control (U+0001-U+001F) and DEL (U+007F), except TAB, LF
//     and CR where the field's rules allow line breaks (`multiline`);
//   - free of C1 controls (U+0080-U+009F) and of the bidirectional embedding, override and isolate
//     controls (U+202A-U+202E, U+2066-U+2069: the "Trojan Source" class; names written right to
//     left need none of them);
//   - at most `max_bytes` bytes long.
// Every byte PostgreSQL (text, jsonb, COPY), Kafka and the JSON encoders accept; nothing that can
// end a libpq parameter early (NUL) or reorder what an auditor reads.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "relais/validation/error.hpp"

namespace relais::validation {

enum class TextProblem {
  none,
  invalid_utf8,  // not UTF-8: a bad byte, overlong form, surrogate, > U+10FFFF, truncated
  nul,           // U+0000
  control,       // another C0 control, DEL or a C1 control (line breaks unless multiline)
  bidi_control,  // U+202A-U+202E, U+2066-U+2069
  too_long,      // more than max_bytes bytes
};

struct TextRules {
  std::size_t max_bytes = 256;
  bool multiline = false;  // TAB, LF and CR allowed (free-text comments)
};

// The first problem of `s` under `rules`, TextProblem::none when it is acceptable text.
TextProblem check_text(std::string_view s, const TextRules& rules) noexcept;

// Human words for a problem ("contains a NUL character"...), for error messages.
std::string_view describe(TextProblem p) noexcept;

// std::nullopt when acceptable; else INVALID_TEXT (or FIELD_TOO_LONG) naming `field`. The message
// never repeats the offending bytes.
std::optional<Error> validate_text(std::string_view s, std::string_view field,
                                   const TextRules& rules);

// The longest prefix of `s` of at most `max_bytes` bytes that does not end inside a UTF-8
// sequence (for valid UTF-8 input: a cut on a character boundary).
std::string_view utf8_prefix(std::string_view s, std::size_t max_bytes) noexcept;

// A copy of any byte string that is acceptable single-line text: every invalid byte and every
// control or bidi character becomes U+FFFD, then the result is cut on a character boundary to at
// most `max_bytes` bytes. For journals and logs of values that failed validation: what was there
// stays visible in shape, nothing can poison the store.
std::string sanitize_text(std::string_view s, std::size_t max_bytes);

}  // namespace relais::validation
