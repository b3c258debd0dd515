// Helpers shared by relais-api's handlers (private to libs/api).
#pragma once

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "relais/api/problem.hpp"
#include "relais/http/server.hpp"
#include "relais/validation/ids.hpp"

namespace relais::api::detail {

inline http::Response reply(unsigned status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

inline http::Response reply(unsigned status, const boost::json::value& v) {
  return reply(status, boost::json::serialize(v));
}

inline Problem bad(std::string_view code, std::string_view message, std::string_view field) {
  return problem(errc::invalid, std::string(code), std::string(message), std::string(field));
}

inline Problem unsupported_media_type(std::string_view use) {
  return problem(errc::unsupported_media_type, "UNSUPPORTED_MEDIA_TYPE", "use " + std::string(use),
                 "Content-Type");
}

inline Problem cpas_not_found() {
  return problem(errc::not_found, "CPAS_NOT_FOUND", "this CPAS is not served here", "cbe");
}

inline Problem invalid_cbe() {
  return problem(errc::invalid, "INVALID_CBE",
                 "not a valid enterprise number (10 digits, check digits)", "cbe");
}

// The {cbe} path parameter, checked (10 digits, check digits).
inline std::optional<Problem> check_cbe(const http::Request& req) {
  auto it = req.params.find("cbe");
  if (it == req.params.end() || !validation::is_valid_cbe(it->second)) return invalid_cbe();
  return std::nullopt;
}

}  // namespace relais::api::detail
