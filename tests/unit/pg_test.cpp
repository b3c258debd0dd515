// pg::redacted_message: what an Error says, without the row's values (logs, status pages).
#include "relais/pg/pg.hpp"

#include <gtest/gtest.h>

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
