// relais-api's typed results and the ONE place where an error becomes an HTTP answer.
//
// Handlers and their PostgreSQL jobs return `api::result<T>`: a value, or a `Problem` (an
// `relais::errc`, a stable code, a message, the field at fault, and extension members such as
// the lines of a rejected import). `to_response()` maps a Problem to an RFC 9457 problem
// document (application/problem+json):
//   {"type": "urn:relais:problem:<errc>", "title": ..., "status": ..., "detail": message,
//    "code": ..., "message": ..., "field": ..., <extension members>}
// `code`, `message` and `field` are the members relais-api has always answered with, kept so
// that existing clients read the same values.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "relais/common/result.hpp"
#include "relais/http/server.hpp"
#include "relais/labels/labels.hpp"
#include "relais/validation/error.hpp"

namespace relais::api {

using relais::errc;

struct Problem : relais::Error {
  unsigned status = 0;        // 0: status_of(kind); else an HTTP refusal's own
  boost::json::object extra;  // extension members
  std::vector<std::pair<std::string, std::string>> headers;  // Retry-After, Allow, WWW-Authenticate
};

template <class T>
using result = relais::result<T, Problem>;

Problem problem(errc kind, std::string code, std::string message, std::string field = {});
// A validation error of the input (libs/validation): errc::invalid unless told otherwise.
Problem problem(const validation::Error& e, errc kind = errc::invalid);

// The mapping, pure: HTTP status, type URI and title of each errc.
unsigned status_of(errc e);
std::string type_of(errc e);
std::string_view title_of(errc e);

// THE mapper: every error response of relais-api is built here.
http::Response to_response(const Problem& p);

// The HTTP server's own refusals (ServerOptions::error_response): the same problem document,
// with the server's status (431, 501 ... have no errc of their own).
errc errc_of_status(unsigned status);
http::Response server_error(unsigned status, std::string_view code, std::string_view message);

// A problem document in `lang` (docs/clignotants.md "Languages"): `title` from the labels'
// problem_titles by its type, `detail` from the labels' errors by its code when there is one (the
// English `detail` otherwise), `"lang"` added; `code`, `message` and `field` are left as they are
// (English, stable for programs). Any response gets `Content-Language` and `Vary:
// Accept-Language`; other responses are returned unchanged otherwise. English: unchanged.
http::Response localize(http::Response r, labels::Lang lang);

// The handler's answer: the value, or the problem document.
inline http::Response to_response(result<http::Response> r) {
  return r ? std::move(*r) : to_response(r.error());
}

}  // namespace relais::api
