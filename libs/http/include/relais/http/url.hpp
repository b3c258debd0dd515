// The URL of an outbound HTTP call (an upstream or partner endpoint in the configuration): pure.
#pragma once

#include <optional>
#include <string>

namespace relais::http {

struct HttpUrl {
  bool https = false;
  std::string host;
  unsigned short port = 80;  // 443 by default for https
  std::string target = "/";  // the path (and query), "/" when the URL has none
};

// "http://host[:port][/path]" or "https://host[:port][/path]"; nullopt and `error` (naming the
// URL) for another scheme, no host, a bad port (not 1-65535), or user info ("user@host").
std::optional<HttpUrl> parse_http_url(const std::string& url, std::string& error);

}  // namespace relais::http
