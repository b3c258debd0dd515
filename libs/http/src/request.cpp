#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <relais/http/server.hpp>
#include <relais/http/target.hpp>

namespace relais::http {

std::optional<std::string_view> Request::query_param(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

std::string Request::header(std::string_view name) const {
  auto it = headers.find(boost::beast::string_view(name.data(), name.size()));
  if (it == headers.end()) return {};
  auto v = it->value();
  return std::string(v.data(), v.size());
}

std::string Request::content_type() const {
  std::string v = header("Content-Type");
  auto semi = v.find(';');
  if (semi != std::string::npos) v.resize(semi);
  auto is_space = [](unsigned char c) { return c == ' ' || c == '\t'; };
  while (!v.empty() && is_space(static_cast<unsigned char>(v.back()))) v.pop_back();
  std::size_t start = 0;
  while (start < v.size() && is_space(static_cast<unsigned char>(v[start]))) ++start;
  v.erase(0, start);
  std::transform(v.begin(), v.end(), v.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return v;
}

Response json_error(unsigned status, std::string_view code, std::string_view message,
                    std::string_view field) {
  boost::json::object o;
  o["code"] = boost::json::string_view(code.data(), code.size());
  o["message"] = boost::json::string_view(message.data(), message.size());
  if (!field.empty()) o["field"] = boost::json::string_view(field.data(), field.size());
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = boost::json::serialize(o);
  return r;
}

namespace detail {

std::optional<ParsedTarget> parse_target(std::string_view target, bool want_segments) {
  namespace urls = boost::urls;
  urls::string_view t(target.data(), target.size());
  urls::result<urls::url_view> rv;
  if (!target.empty() && target.front() == '/')
    rv = urls::parse_origin_form(t);
  else
    rv = urls::parse_absolute_uri(t);
  if (!rv) return std::nullopt;
  const urls::url_view& u = *rv;
  ParsedTarget out;
  out.path = u.path();
  if (out.path.empty()) out.path = "/";
  if (want_segments) {
    for (auto seg : u.segments()) out.segments.push_back(seg);
  }
  if (u.has_query()) {
    for (auto p : u.params(urls::encoding_opts(true))) out.query.emplace_back(p.key, p.value);
  }
  return out;
}

}  // namespace detail
}  // namespace relais::http
