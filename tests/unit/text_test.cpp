// validation/text.hpp: the one rule for text at every boundary, and sanitize_text for journals.
#include "relais/validation/text.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace relais::validation;
using namespace std::string_literals;

namespace {
TextProblem check(std::string_view s, bool multiline = false, std::size_t max = 1 << 20) {
  return check_text(s, {max, multiline});
}
}  // namespace

TEST(Text, AcceptsOrdinaryNamesInEveryScript) {
  EXPECT_EQ(check("Dupont"), TextProblem::none);
  EXPECT_EQ(check("Van den Bossche-D'Hondt"), TextProblem::none);
  EXPECT_EQ(check("Müller Øster ĆĐ"), TextProblem::none);
  EXPECT_EQ(check("محمد"), TextProblem::none);  // right to left, no override needed
  EXPECT_EQ(check("张伟 👩‍⚕️"),
            TextProblem::none);  // CJK, emoji with ZWJ (4-byte sequences)
  EXPECT_EQ(check(""), TextProblem::none);
}

TEST(Text, RefusesNulAndControls) {
  EXPECT_EQ(check("a\0b"s), TextProblem::nul);
  EXPECT_EQ(check("a\x01"), TextProblem::control);
  EXPECT_EQ(check("a\x1b[31m"), TextProblem::control);  // terminal escape
  EXPECT_EQ(check("a\x7f"), TextProblem::control);      // DEL
  EXPECT_EQ(check("a\xc2\x85"), TextProblem::control);  // U+0085 NEL, a C1 control
  EXPECT_EQ(check("a\xc2\x9f"), TextProblem::control);  // U+009F
  EXPECT_EQ(check("a\nb"), TextProblem::control);
  EXPECT_EQ(check("a\tb\r\nc", true), TextProblem::none);  // line breaks only where allowed
  EXPECT_EQ(check("a\0b"s, true), TextProblem::nul);       // never NUL
  EXPECT_EQ(check("a\x0b", true), TextProblem::control);   // vertical tab is not a line break here
}

TEST(Text, RefusesBidiOverridesAndIsolates) {
  for (const char* s :
       {"\xe2\x80\xaa", "\xe2\x80\xab", "\xe2\x80\xac", "\xe2\x80\xad", "\xe2\x80\xae",
        "\xe2\x81\xa6", "\xe2\x81\xa7", "\xe2\x81\xa8", "\xe2\x81\xa9"})
    EXPECT_EQ(check("x"s + s + "y"), TextProblem::bidi_control) << s;
  EXPECT_EQ(check("x\xe2\x80\x8fy"), TextProblem::none);  // U+200F RLM is a mark, not an override
}

TEST(Text, RefusesEveryKindOfInvalidUtf8) {
  EXPECT_EQ(check("\xff"), TextProblem::invalid_utf8);
  EXPECT_EQ(check("\x80"), TextProblem::invalid_utf8);              // lone continuation
  EXPECT_EQ(check("\xc3"), TextProblem::invalid_utf8);              // truncated
  EXPECT_EQ(check("\xe2\x82"), TextProblem::invalid_utf8);          // truncated
  EXPECT_EQ(check("\xc0\xaf"), TextProblem::invalid_utf8);          // overlong '/'
  EXPECT_EQ(check("\xc1\xbf"), TextProblem::invalid_utf8);          // overlong
  EXPECT_EQ(check("\xe0\x80\xaf"), TextProblem::invalid_utf8);      // overlong 3-byte
  EXPECT_EQ(check("\xf0\x80\x80\xaf"), TextProblem::invalid_utf8);  // overlong 4-byte
  EXPECT_EQ(check("\xc0\x80"), TextProblem::invalid_utf8);          // "modified UTF-8" NUL
  EXPECT_EQ(check("\xed\xa0\x80"), TextProblem::invalid_utf8);      // lone high surrogate U+D800
  EXPECT_EQ(check("\xed\xbf\xbf"), TextProblem::invalid_utf8);      // lone low surrogate U+DFFF
  EXPECT_EQ(check("\xf4\x90\x80\x80"), TextProblem::invalid_utf8);  // U+110000
  EXPECT_EQ(check("\xf5\x80\x80\x80"), TextProblem::invalid_utf8);
  EXPECT_EQ(check("\xef\xbf\xbd"), TextProblem::none);      // U+FFFD itself is fine
  EXPECT_EQ(check("\xf4\x8f\xbf\xbf"), TextProblem::none);  // U+10FFFF
}

TEST(Text, BoundsLengthInBytes) {
  EXPECT_EQ(check(std::string(256, 'a'), false, 256), TextProblem::none);
  EXPECT_EQ(check(std::string(257, 'a'), false, 256), TextProblem::too_long);
  auto e = validate_text(std::string(300, 'a'), "last_name", {256, false});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "FIELD_TOO_LONG");
  EXPECT_EQ(e->field, "last_name");
}

TEST(Text, ErrorNamesTheFieldNeverTheBytes) {
  auto e = validate_text("Jean\0Secret"s, "first_name", {});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "INVALID_TEXT");
  EXPECT_EQ(e->field, "first_name");
  EXPECT_EQ(e->message.find("Secret"), std::string::npos);
  EXPECT_FALSE(validate_text("Jean", "first_name", {}));
}

TEST(Text, PrefixCutsOnCharacterBoundaries) {
  const std::string euros =
      "€€€€€€€€€€€";  // 11 x 3 bytes: the access journal's old 32-byte cut split one
  auto p = utf8_prefix(euros, 32);
  EXPECT_EQ(p.size(), 30u);
  EXPECT_EQ(check(p), TextProblem::none);
  EXPECT_EQ(utf8_prefix("abc", 32), "abc");
  EXPECT_EQ(utf8_prefix("ab\xf0\x9f\x98\x80", 4), "ab");  // a 4-byte emoji does not fit
  EXPECT_EQ(utf8_prefix("ab\xf0\x9f\x98\x80", 6), "ab\xf0\x9f\x98\x80");
}

TEST(Text, SanitizedTextIsAlwaysAcceptable) {
  const std::string hostile[] = {
      "\0"s,      "\xff\xfe",       "a\x1b]0;x\x07",           "\xed\xa0\x80",
      "\xc0\x80", "x\xe2\x80\xaey", std::string(1000, '\x01'), "€€€€€€€€€€€",
      "ok"};
  for (const auto& h : hostile) {
    auto s = sanitize_text(h, 32);
    EXPECT_LE(s.size(), 32u);
    EXPECT_EQ(check(s), TextProblem::none) << "from " << h.size() << " bytes";
  }
  EXPECT_EQ(sanitize_text("Dupont", 32), "Dupont");
  EXPECT_EQ(sanitize_text("a\0b"s, 32),
            "a\xef\xbf\xbd"
            "b");
}

// Every 1- and 2-byte string: check_text and sanitize_text agree with a reference decoder.
TEST(Text, ExhaustiveTwoBytes) {
  for (int a = 0; a < 256; ++a)
    for (int b = -1; b < 256; ++b) {
      std::string s(1, static_cast<char>(a));
      if (b >= 0) s.push_back(static_cast<char>(b));
      auto p = check(s, true);
      auto safe = sanitize_text(s, 16);
      ASSERT_EQ(check(safe), TextProblem::none);
      if (p == TextProblem::none && s.find_first_of("\t\r\n") == std::string::npos) {
        ASSERT_EQ(safe, s);
      }
    }
}
