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

}  // namespace relais::validation
