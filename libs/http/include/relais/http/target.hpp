// Request-target parsing shared by the server and the router (public for the fuzz targets;
// handlers use Request::path, Request::query and Request::params instead).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relais::http::detail {

struct ParsedTarget {
  std::string path;                                        // decoded
  std::vector<std::string> segments;                       // decoded, one per '/'-separated segment
  std::vector<std::pair<std::string, std::string>> query;  // decoded, '+' as space
};

// Accepts origin-form ("/a/b?x=1") and absolute-form ("http://h/a/b?x=1"); anything else, or
// invalid percent-encoding, yields nullopt.
std::optional<ParsedTarget> parse_target(std::string_view target, bool want_segments);

}  // namespace relais::http::detail
