#include "relais/http/url.hpp"

#include <charconv>

namespace relais::http {

std::optional<HttpUrl> parse_http_url(const std::string& url, std::string& error) {
  HttpUrl out;
  std::string scheme = "http://";
  if (url.starts_with("https://")) {
    scheme = "https://";
    out.https = true;
    out.port = 443;
  } else if (!url.starts_with(scheme)) {
    error = "expected http(s)://host[:port][/path], got \"" + url + "\"";
    return std::nullopt;
  }
  std::string rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  out.target = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = authority.rfind(':');
  if (colon != std::string::npos) {
    out.host = authority.substr(0, colon);
    auto p = authority.substr(colon + 1);
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc{} || ptr != p.data() + p.size() || v == 0 || v > 65535) {
      error = "bad port in \"" + url + "\"";
      return std::nullopt;
    }
    out.port = static_cast<unsigned short>(v);
  } else {
    out.host = authority;
  }
  if (out.host.empty() || out.host.find_first_of("@ ") != std::string::npos) {
    error = "bad host in \"" + url + "\"";
    return std::nullopt;
  }
  return out;
}

}  // namespace relais::http
