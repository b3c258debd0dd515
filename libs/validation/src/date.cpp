#include "relais/validation/date.hpp"

#include <chrono>
#include <cstdio>

namespace relais::validation {
namespace {

constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

}  // namespace

std::optional<Date> make_date(int year, int month, int day) noexcept {
  if (year < kMinYear || year > kMaxYear || month < 1 || month > 12 || day < 1 || day > 31) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year{year},
                                        std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  return Date{static_cast<std::int32_t>(std::chrono::sys_days{ymd}.time_since_epoch().count())};
}

namespace {

struct Fields {
  int year, month, day;
};

// "DDDD-DD-DD" split into its three numbers, nothing checked beyond the shape.
std::optional<Fields> split_date(std::string_view s) noexcept {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!is_digit(s[i])) return std::nullopt;
  }
  auto num = [&](std::size_t pos, std::size_t len) {
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  return Fields{num(0, 4), num(5, 2), num(8, 2)};
}

}  // namespace

std::optional<Date> parse_iso_date(std::string_view s) noexcept {
  const auto f = split_date(s);
  if (!f) return std::nullopt;
  return make_date(f->year, f->month, f->day);
}

std::optional<IncompleteDate> parse_incomplete_date(std::string_view s) noexcept {
  const auto f = split_date(s);
  if (!f || f->year < kMinYear || f->year > kMaxYear) return std::nullopt;
  if (f->month == 0) {
    if (f->day != 0) return std::nullopt;
  } else if (f->month > 12 || (f->day != 0 && !make_date(f->year, f->month, f->day))) {
    return std::nullopt;
  }
  return IncompleteDate{f->year, f->month, f->day};
}

Date IncompleteDate::first_day() const noexcept {
  // Valid by construction (parse_incomplete_date); a hand-built bad value gives day 0.
  return make_date(year, month == 0 ? 1 : month, day == 0 ? 1 : day).value_or(Date{});
}

Date IncompleteDate::last_day() const noexcept {
  if (month == 0) return make_date(year, 12, 31).value_or(Date{});
  if (day != 0) return first_day();
  const std::chrono::year_month_day_last ymdl{std::chrono::year{year} /
                                              std::chrono::month{static_cast<unsigned>(month)} /
                                              std::chrono::last};
  return make_date(year, month, static_cast<int>(static_cast<unsigned>(ymdl.day())))
      .value_or(Date{});
}

std::string to_string(const IncompleteDate& date) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", date.year, date.month, date.day);
  return buf;
}

std::string to_string(Date date) {
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{date.days}}};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

Date today_utc() noexcept {
  const auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  return Date{static_cast<std::int32_t>(today.time_since_epoch().count())};
}

}  // namespace relais::validation
