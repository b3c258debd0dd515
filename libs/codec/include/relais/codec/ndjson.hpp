// Zero-copy NDJSON line splitting for batch bodies: views into the body, no allocation per line.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "relais/validation/error.hpp"

namespace relais::codec {

struct Line {
  std::size_t number = 0;  // 1-based physical line number in the body
  std::string_view text;   // without the '\n' and a trailing '\r'

  friend bool operator==(const Line&, const Line&) = default;
};

// Iterates the non-blank lines of `body`: splits on '\n', strips one trailing '\r', skips lines
// that are empty or only spaces / tabs / '\r', and keeps the physical line numbers. After
// `max_lines` non-blank lines, a further non-blank line stops the iteration with error()
// set (TOO_MANY_ITEMS).
class LineSplitter {
 public:
  explicit LineSplitter(std::string_view body,
                        std::size_t max_lines = static_cast<std::size_t>(-1)) noexcept
      : rest_(body), max_lines_(max_lines) {}

  // The next non-blank line; std::nullopt at the end of the body or when over the limit.
  std::optional<Line> next();

  // Set once the limit is exceeded.
  const std::optional<validation::Error>& error() const noexcept { return error_; }

 private:
  std::string_view rest_;
  std::size_t max_lines_;
  std::size_t number_ = 0;  // physical lines consumed
  std::size_t yielded_ = 0;
  bool done_ = false;
  std::optional<validation::Error> error_;
};

// All non-blank lines at once; TOO_MANY_ITEMS (and `out` cleared) when more than `max_lines`.
// Lets a caller refuse an oversized batch before acting on any line.
std::optional<validation::Error> split_lines(std::string_view body, std::size_t max_lines,
                                             std::vector<Line>& out);

}  // namespace relais::codec
