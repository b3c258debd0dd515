// A calendar date as days since 1970-01-01 (UTC), parsed strictly from ISO 8601 "YYYY-MM-DD".
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relais::validation {

struct Date {
  std::int32_t days = 0;  // days since 1970-01-01

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 sees the 0 of the synthesized comparisons
  friend constexpr auto operator<=>(const Date&, const Date&) = default;
};

inline constexpr int kMinYear = 1800;
inline constexpr int kMaxYear = 2199;

// Exactly "YYYY-MM-DD" (10 characters, ASCII digits), a real calendar day (leap years included),
// year within [kMinYear, kMaxYear]. Anything else is std::nullopt.
std::optional<Date> parse_iso_date(std::string_view text) noexcept;

// The date for a year, month (1-12), day (1-31); std::nullopt when not a real calendar day or
// outside [kMinYear, kMaxYear].
std::optional<Date> make_date(int year, int month, int day) noexcept;

// "YYYY-MM-DD".
std::string to_string(Date date);

// Today's date in UTC, from the system clock.
Date today_utc() noexcept;

// An incomplete date as the CommonV3 t_IncompleteDate and the National Register's Tx25 dates
// carry it: "yyyy-mm-dd" where the month, or the month and the day, may be "00" (unknown).
// The year is always known and within [kMinYear, kMaxYear]; a known day needs a known month.
struct IncompleteDate {
  int year = 0;
  int month = 0;  // 1-12, 0 = unknown
  int day = 0;    // 1-31, 0 = unknown (always 0 when the month is unknown)

  bool is_complete() const noexcept { return month != 0 && day != 0; }
  // The interval of days the date may designate: the day itself when complete, the whole month
  // when only the month is known, the whole year when only the year is known.
  Date first_day() const noexcept;
  Date last_day() const noexcept;

  friend constexpr bool operator==(const IncompleteDate&, const IncompleteDate&) = default;
};

// Exactly "YYYY-MM-DD" (10 ASCII characters): a complete real calendar day as parse_iso_date
// accepts it, or "YYYY-MM-00" (month 01-12), or "YYYY-00-00". "YYYY-00-DD" with DD != 00, year
// 0000 or outside [kMinYear, kMaxYear], and anything else are std::nullopt.
std::optional<IncompleteDate> parse_incomplete_date(std::string_view text) noexcept;

// "YYYY-MM-DD" with 00 for the unknown parts (the form parse_incomplete_date reads).
std::string to_string(const IncompleteDate& date);

}  // namespace relais::validation
