#include "relais/api/problem.hpp"

#include <boost/json.hpp>

namespace relais::api {
namespace json = boost::json;

Problem problem(errc kind, std::string code, std::string message, std::string field) {
  return Problem{relais::make_error(kind, std::move(code), std::move(message), std::move(field))};
}

Problem problem(const validation::Error& e, errc kind) {
  return problem(kind, e.code, e.message, e.field);
}

unsigned status_of(errc e) {
  switch (e) {
    case errc::invalid:
      return 400;
    case errc::unauthenticated:
      return 401;
    case errc::forbidden:
      return 403;
    case errc::not_found:
      return 404;
    case errc::method_not_allowed:
      return 405;
    case errc::conflict:
      return 409;
    case errc::too_large:
      return 413;
    case errc::unsupported_media_type:
      return 415;
    case errc::rate_limited:
      return 429;
    case errc::unavailable:
      return 503;
    case errc::timeout:
      return 504;
    case errc::refused:
      return 502;
    case errc::internal:
      return 500;
  }
  return 500;
}

std::string type_of(errc e) {
  std::string t = "urn:relais:problem:";
  for (char c : to_string(e)) t.push_back(c == '_' ? '-' : c);
  return t;
}

std::string_view title_of(errc e) {
  switch (e) {
    case errc::invalid:
      return "Invalid request";
    case errc::unauthenticated:
      return "Unauthenticated";
    case errc::forbidden:
      return "Forbidden";
    case errc::not_found:
      return "Not found";
    case errc::method_not_allowed:
      return "Method not allowed";
    case errc::conflict:
      return "Conflict";
    case errc::too_large:
      return "Too large";
    case errc::unsupported_media_type:
      return "Unsupported media type";
    case errc::rate_limited:
      return "Too many requests";
    case errc::unavailable:
      return "Service unavailable";
    case errc::timeout:
      return "Upstream timeout";
    case errc::refused:
      return "Upstream refused";
    case errc::internal:
      return "Internal error";
  }
  return "Internal error";
}

http::Response to_response(const Problem& p) {
  const unsigned status = p.status != 0 ? p.status : status_of(p.kind);
  json::object o;
  o["type"] = type_of(p.kind);
  o["title"] = title_of(p.kind);
  o["status"] = status;
  o["detail"] = p.message;
  o["code"] = p.code;
  o["message"] = p.message;
  if (!p.field.empty()) o["field"] = p.field;
  for (const auto& kv : p.extra)
    if (!o.contains(kv.key())) o[kv.key()] = kv.value();
  http::Response r;
  r.status = status;
  r.content_type = "application/problem+json";
  r.body = json::serialize(o);
  r.headers = p.headers;
  return r;
}

errc errc_of_status(unsigned status) {
  for (errc e : kAllErrc)
    if (status_of(e) == status) return e;
  if (status >= 500) return errc::internal;
  return errc::invalid;  // 431 header too large, 414 ...: the request is at fault
}

http::Response server_error(unsigned status, std::string_view code, std::string_view message) {
  auto p = problem(errc_of_status(status), std::string(code), std::string(message));
  if (status_of(p.kind) != status) p.status = status;
  return to_response(p);
}

http::Response localize(http::Response r, labels::Lang lang) {
  r.headers.emplace_back("Vary", "Accept-Language");
  r.headers.emplace_back("Content-Language", std::string(labels::name(lang)));
  if (lang == labels::Lang::en || r.content_type != "application/problem+json") return r;
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return r;
  auto& o = v.as_object();
  const auto& l = labels::builtin();
  if (auto* type = o.if_contains("type"); type && type->is_string()) {
    std::string kind(type->as_string());
    const std::string prefix = "urn:relais:problem:";
    if (kind.rfind(prefix, 0) == 0) kind = kind.substr(prefix.size());
    for (auto& c : kind) c = c == '-' ? '_' : c;
    if (const auto* t = l.find("problem_titles", kind, lang)) o["title"] = *t;
  }
  if (auto* code = o.if_contains("code"); code && code->is_string())
    if (const auto* d = l.find("errors", code->as_string(), lang)) o["detail"] = *d;
  o["lang"] = labels::name(lang);
  r.body = json::serialize(o);
  return r;
}

}  // namespace relais::api
