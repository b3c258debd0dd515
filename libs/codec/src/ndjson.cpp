#include "relais/codec/ndjson.hpp"

#include <string>

namespace relais::codec {
namespace {

bool blank(std::string_view s) noexcept {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

}  // namespace

std::optional<Line> LineSplitter::next() {
  while (!done_) {
    std::string_view line;
    const std::size_t nl = rest_.find('\n');
    if (nl == std::string_view::npos) {
      line = rest_;
      rest_ = {};
      done_ = true;
      if (line.empty()) break;  // the body ended with '\n' (or was empty)
    } else {
      line = rest_.substr(0, nl);
      rest_.remove_prefix(nl + 1);
    }
    ++number_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (blank(line)) continue;
    if (yielded_ == max_lines_) {
      done_ = true;
      error_ = validation::make_error(validation::code::kTooManyItems,
                                      "more than " + std::to_string(max_lines_) + " lines");
      return std::nullopt;
    }
    ++yielded_;
    return Line{number_, line};
  }
  return std::nullopt;
}

std::optional<validation::Error> split_lines(std::string_view body, std::size_t max_lines,
                                             std::vector<Line>& out) {
  out.clear();
  LineSplitter splitter(body, max_lines);
  while (auto line = splitter.next()) out.push_back(*line);
  if (splitter.error()) {
    out.clear();
    return splitter.error();
  }
  return std::nullopt;
}

}  // namespace relais::codec
