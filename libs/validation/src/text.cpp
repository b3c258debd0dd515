#include "relais/validation/text.hpp"

#include <cstdint>

namespace relais::validation {
namespace {

// Decodes one UTF-8 character at s[i]; returns its length (0 when invalid) and its code point.
std::size_t decode(std::string_view s, std::size_t i, char32_t& cp) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t len = 0;
  char32_t min = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, min = 0x80, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, min = 0x800, cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, min = 0x10000, cp = b0 & 0x07;
  } else {
    return 0;  // a continuation byte, C0/C1 (overlong 2-byte lead) or F5-FF
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

TextProblem classify(char32_t cp, bool multiline) noexcept {
  if (cp == 0) return TextProblem::nul;
  if (cp < 0x20)
    return (multiline && (cp == '\t' || cp == '\n' || cp == '\r')) ? TextProblem::none
                                                                   : TextProblem::control;
  if (cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) return TextProblem::control;
  if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
    return TextProblem::bidi_control;
  return TextProblem::none;
}

}  // namespace

TextProblem check_text(std::string_view s, const TextRules& rules) noexcept {
  if (s.size() > rules.max_bytes) return TextProblem::too_long;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t n = decode(s, i, cp);
    if (n == 0) return TextProblem::invalid_utf8;
    if (auto p = classify(cp, rules.multiline); p != TextProblem::none) return p;
    i += n;
  }
  return TextProblem::none;
}

std::string_view describe(TextProblem p) noexcept {
  switch (p) {
    case TextProblem::none:
      return "is acceptable text";
    case TextProblem::invalid_utf8:
      return "is not valid UTF-8";
    case TextProblem::nul:
      return "contains a NUL character";
    case TextProblem::control:
      return "contains a control character";
    case TextProblem::bidi_control:
      return "contains a bidirectional override or isolate character";
    case TextProblem::too_long:
      return "is too long";
  }
  return "is not acceptable text";
}

std::optional<Error> validate_text(std::string_view s, std::string_view field,
                                   const TextRules& rules) {
  const auto p = check_text(s, rules);
  if (p == TextProblem::none) return std::nullopt;
  if (p == TextProblem::too_long)
    return make_error(code::kFieldTooLong,
                      "longer than " + std::to_string(rules.max_bytes) + " bytes",
                      std::string(field));
  return make_error(code::kInvalidText, std::string(describe(p)), std::string(field));
}

std::string_view utf8_prefix(std::string_view s, std::size_t max_bytes) noexcept {
  if (s.size() <= max_bytes) return s;
  std::size_t end = max_bytes;
  // Step back over continuation bytes to the start of the character the cut falls in; keep that
  // character only if it fits whole.
  std::size_t start = end;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && end - start < 4)
    --start;
  if (start < end && (static_cast<unsigned char>(s[start]) & 0xC0) != 0x80) {
    char32_t cp = 0;
    const std::size_t n = decode(s, start, cp);
    if (n == 0 || start + n > end) end = start;
  }
  return s.substr(0, end);
}

std::string sanitize_text(std::string_view s, std::size_t max_bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(std::min(s.size(), max_bytes));
  for (std::size_t i = 0; i < s.size() && out.size() <= max_bytes;) {
    char32_t cp = 0;
    const std::size_t n = decode(s, i, cp);
    if (n == 0 || classify(cp, false) != TextProblem::none) {
      out += kReplacement;
      i += n == 0 ? 1 : n;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return std::string(utf8_prefix(out, max_bytes));
}

}  // namespace relais::validation
