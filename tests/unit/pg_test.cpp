// pg::redacted_message: what an Error says, without the row's values (logs, status pages);
// pg::CopyBinary: the bytes of a binary COPY.
#include "relais/pg/pg.hpp"

#include <gtest/gtest.h>

#include "relais/pg/copy_binary.hpp"

using relais::pg::redacted_message;

TEST(PgError, QuotedValuesAreElided) {
  auto m = redacted_message("invalid input syntax for type uuid: \"Jean Dupont\"", "alerts_in",
                            "alert_id", "", "22P02");
  EXPECT_EQ(m.find("Dupont"), std::string::npos) << m;
  EXPECT_NE(m.find("invalid input syntax for type uuid"), std::string::npos) << m;
  EXPECT_NE(m.find("[table alerts_in]"), std::string::npos) << m;
  EXPECT_NE(m.find("[column alert_id]"), std::string::npos) << m;
  EXPECT_NE(m.find("(SQLSTATE 22P02)"), std::string::npos) << m;
}

TEST(PgError, ControlCharactersAndUnterminatedQuotesAreHandled) {
  auto m = redacted_message("bad\nline \"unterminated value", "", "", "alerts_pkey", "23505");
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  EXPECT_EQ(m.find("unterminated"), std::string::npos) << m;
  EXPECT_NE(m.find("[constraint alerts_pkey]"), std::string::npos) << m;
}

TEST(PgError, MessagesWithoutValuesAreKept) {
  EXPECT_EQ(redacted_message("value too long for type character(10)", "", "", "", "22001"),
            "value too long for type character(10) (SQLSTATE 22001)");
}

// pg::CopyBinary: the bytes of COPY's binary format, checked against the format's definition
// (PostgreSQL's COPY documentation, "Binary Format"); the server's side is
// JournalSinkTest.BinaryCopyRoundTripsEveryFieldType (integration tier).
namespace {
std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}
const std::string kHeader =
    bytes({'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0, 0, 0, 0, 0, 0, 0, 0, 0});
}  // namespace

TEST(PgCopyBinary, EmptyIsHeaderAndTrailer) {
  relais::pg::CopyBinary c;
  EXPECT_EQ(c.rows(), 0u);
  EXPECT_EQ(c.finish(), kHeader + bytes({0xff, 0xff}));
}

TEST(PgCopyBinary, FieldsAreBigEndianWithTheirLength) {
  relais::pg::CopyBinary c;
  c.row(5);
  c.text("ab");
  c.null();
  c.int4(-2);
  c.boolean(true);
  c.timestamptz(946684800LL * 1000000 + 0x0102);  // 2000-01-01 00:00:00.000258 UTC
  EXPECT_EQ(c.rows(), 1u);
  // clang-format off
  EXPECT_EQ(c.finish(), kHeader + bytes({
      0, 5,                                        // fields
      0, 0, 0, 2, 'a', 'b',                        // text
      0xff, 0xff, 0xff, 0xff,                      // NULL
      0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe,          // int4 -2
      0, 0, 0, 1, 1,                               // true
      0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x01, 0x02,    // microseconds since 2000
      0xff, 0xff}));
  // clang-format on
}

TEST(PgCopyBinary, TimestampsBeforeTheServersEpochAreNegative) {
  relais::pg::CopyBinary c;
  c.row(1);
  c.timestamptz(0);  // 1970-01-01: 946,684,800 s before 2000-01-01
  const auto out = c.finish();
  const std::int64_t expected = -946684800LL * 1000000;
  std::string be;
  for (int s = 56; s >= 0; s -= 8)
    be.push_back(static_cast<char>(static_cast<std::uint64_t>(expected) >> s));
  EXPECT_EQ(out, kHeader + bytes({0, 1, 0, 0, 0, 8}) + be + bytes({0xff, 0xff}));
}

TEST(PgCopyBinary, TextArraysHaveOneDimensionOrNone) {
  relais::pg::CopyBinary c;
  c.row(2);
  c.text_array({"x", "yz"});
  c.text_array({});
  // clang-format off
  EXPECT_EQ(c.finish(), kHeader + bytes({
      0, 2,
      0, 0, 0, 31,                                 // 12 + 8 + (4 + 1) + (4 + 2)
      0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25,         // one dimension, no NULL, text
      0, 0, 0, 2, 0, 0, 0, 1,                      // its length, its lower bound
      0, 0, 0, 1, 'x', 0, 0, 0, 2, 'y', 'z',
      0, 0, 0, 12,                                 // '{}': no dimension
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25,
      0xff, 0xff}));
  // clang-format on
}

TEST(PgCopyBinary, FinishStartsAgainWithAHeader) {
  relais::pg::CopyBinary c;
  c.row(1);
  c.text("a");
  (void)c.finish();
  EXPECT_EQ(c.rows(), 0u);
  c.row(1);
  c.null();
  EXPECT_EQ(c.finish(), kHeader + bytes({0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
}
