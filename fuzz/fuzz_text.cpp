// The text rule of every boundary (relais/validation/text.hpp), on arbitrary bytes. Properties:
// check_text agrees with an independent reference decoder (written here from RFC 3629, without
// sharing code with the library); sanitize_text always returns acceptable text of at most its
// bound, equal to the input when the input was acceptable and short enough; utf8_prefix returns
// a prefix that never ends inside a character of valid input.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "relais/validation/text.hpp"

using namespace relais::validation;

namespace {

// Reference: a valid scalar value list, or false. Table-driven per RFC 3629 section 4.
bool reference_decode(std::string_view s, std::u32string& out) {
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    int n;
    char32_t cp;
    if (b <= 0x7F)
      n = 1, cp = b;
    else if (b >= 0xC2 && b <= 0xDF)
      n = 2, cp = b & 0x1F;
    else if (b >= 0xE0 && b <= 0xEF)
      n = 3, cp = b & 0x0F;
    else if (b >= 0xF0 && b <= 0xF4)
      n = 4, cp = b & 0x07;
    else
      return false;
    if (i + n > s.size()) return false;
    for (int k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      // RFC 3629's second-byte ranges for E0, ED, F0, F4; 80-BF otherwise.
      unsigned lo = 0x80, hi = 0xBF;
      if (k == 1 && b == 0xE0) lo = 0xA0;
      if (k == 1 && b == 0xED) hi = 0x9F;
      if (k == 1 && b == 0xF0) lo = 0x90;
      if (k == 1 && b == 0xF4) hi = 0x8F;
      if (c < lo || c > hi) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    out.push_back(cp);
    i += static_cast<std::size_t>(n);
  }
  return true;
}

bool reference_acceptable(std::string_view s, bool multiline) {
  std::u32string cps;
  if (!reference_decode(s, cps)) return false;
  for (char32_t c : cps) {
    const bool line_break = c == U'\t' || c == U'\n' || c == U'\r';
    if (c < 0x20 && !(multiline && line_break)) return false;
    if (c == 0x7F || (c >= 0x80 && c <= 0x9F)) return false;
    if ((c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t bound = data[0] % 64;  // small bounds exercise the cuts
  const std::string_view s(reinterpret_cast<const char*>(data + 1), size - 1);
  for (bool multiline : {false, true}) {
    const auto p = check_text(s, {1u << 20, multiline});
    if ((p == TextProblem::none) != reference_acceptable(s, multiline)) std::abort();
  }
  const std::string safe = sanitize_text(s, bound);
  if (safe.size() > bound || check_text(safe, {bound, false}) != TextProblem::none) std::abort();
  if (s.size() <= bound && check_text(s, {bound, false}) == TextProblem::none && safe != s)
    std::abort();
  if (reference_acceptable(s, true)) {
    const auto prefix = utf8_prefix(s, bound);
    if (prefix.size() > bound || s.substr(0, prefix.size()) != prefix) std::abort();
    if (!reference_acceptable(prefix, true)) std::abort();  // never ends inside a character
    if (s.size() > bound && prefix.size() + 4 <= bound)
      std::abort();  // does not cut more than a character
  }
  return 0;
}
