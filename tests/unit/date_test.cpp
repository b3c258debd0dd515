// Unit tests of relais::validation incomplete dates (CommonV3 t_IncompleteDate, Tx25 dates).
#include "relais/validation/date.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

using namespace relais::validation;

namespace {

std::string ymd(int y, int m, int d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
  return buf;
}

// Month lengths written out, not computed by the code under test.
int month_length(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

TEST(IncompleteDate, CompleteDatesAreTheIsoDays) {
  const auto d = parse_incomplete_date("2024-02-29");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->is_complete());
  EXPECT_EQ(*d, (IncompleteDate{2024, 2, 29}));
  EXPECT_EQ(d->first_day(), *parse_iso_date("2024-02-29"));
  EXPECT_EQ(d->last_day(), *parse_iso_date("2024-02-29"));
  EXPECT_EQ(to_string(*d), "2024-02-29");
}

TEST(IncompleteDate, EveryMonthOfLeapAndCommonYears) {
  for (int y : {1800, 1900, 1999, 2000, 2023, 2024, 2100, 2199}) {
    for (int m = 1; m <= 12; ++m) {
      const auto d = parse_incomplete_date(ymd(y, m, 0));
      ASSERT_TRUE(d) << ymd(y, m, 0);
      EXPECT_FALSE(d->is_complete());
      EXPECT_EQ(d->first_day(), *parse_iso_date(ymd(y, m, 1)));
      EXPECT_EQ(d->last_day(), *parse_iso_date(ymd(y, m, month_length(y, m)))) << ymd(y, m, 0);
      EXPECT_EQ(d->last_day().days - d->first_day().days + 1, month_length(y, m));
      EXPECT_EQ(to_string(*d), ymd(y, m, 0));
      // The last real day is accepted complete, the day after is refused.
      EXPECT_TRUE(parse_incomplete_date(ymd(y, m, month_length(y, m))));
      EXPECT_FALSE(parse_incomplete_date(ymd(y, m, month_length(y, m) + 1)))
          << ymd(y, m, month_length(y, m) + 1);
    }
  }
}

TEST(IncompleteDate, YearOnly) {
  for (int y : {1800, 1900, 2000, 2023, 2024, 2199}) {
    const auto d = parse_incomplete_date(ymd(y, 0, 0));
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, (IncompleteDate{y, 0, 0}));
    EXPECT_FALSE(d->is_complete());
    EXPECT_EQ(d->first_day(), *parse_iso_date(ymd(y, 1, 1)));
    EXPECT_EQ(d->last_day(), *parse_iso_date(ymd(y, 12, 31)));
    const bool leap = month_length(y, 2) == 29;
    EXPECT_EQ(d->last_day().days - d->first_day().days + 1, leap ? 366 : 365) << y;
  }
}

TEST(IncompleteDate, RefusesGarbage) {
  for (const char* bad : {"",
                          "2024",
                          "2024-00",
                          "2024-01",
                          "0000-00-00",
                          "0000-01-01",
                          "1799-12-31",
                          "1799-00-00",
                          "2200-00-00",
                          "2024-00-01",
                          "2024-00-15",
                          "2024-13-00",
                          "2024-99-00",
                          "2023-02-29",
                          "2024-02-30",
                          "2024-04-31",
                          "2024-1-00",
                          "24-01-00",
                          "2024/01/00",
                          "2024-01-00 ",
                          " 2024-01-00",
                          "2024-01-0a",
                          "2024-0a-00",
                          "abcd-00-00",
                          "2024-01-000",
                          "+024-01-00",
                          "2024--1-00",
                          "2024-01-32"}) {
    EXPECT_EQ(parse_incomplete_date(bad), std::nullopt) << '"' << bad << '"';
  }
}

TEST(IncompleteDate, CompleteFunctionsStillRefuseTheZeroForms) {
  EXPECT_EQ(parse_iso_date("2024-00-00"), std::nullopt);
  EXPECT_EQ(parse_iso_date("2024-05-00"), std::nullopt);
  EXPECT_EQ(make_date(2024, 0, 0), std::nullopt);
}

TEST(IncompleteDate, IntervalsAreOrderedAndAdjacent) {
  // December of one year ends the day before the next year's January starts.
  for (int y = 1800; y < 2199; ++y) {
    const auto dec = *parse_incomplete_date(ymd(y, 12, 0));
    const auto jan = *parse_incomplete_date(ymd(y + 1, 1, 0));
    ASSERT_EQ(dec.last_day().days + 1, jan.first_day().days) << y;
    const auto year = *parse_incomplete_date(ymd(y, 0, 0));
    ASSERT_EQ(year.last_day(), dec.last_day());
  }
}
