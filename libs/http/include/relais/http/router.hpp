// Maps method + path pattern to handlers.
//
// Pattern: "/"-separated segments. A segment is either a literal ("integrations") or contains one
// capture "{name}", optionally with a literal prefix/suffix ("{flow}:batch"). A capture matches one
// non-empty percent-decoded path segment (minus prefix/suffix). When several patterns match a path,
// the most specific wins, comparing segments left to right: literal > capture with prefix/suffix >
// bare capture. So "/v1/notifications/{flow}:batch" wins over "/v1/notifications/{flow}" for
// ".../notify-person:batch". Matching is exact: no trailing-slash or case folding.
//
// No path match → 404 {"code":"NOT_FOUND"}; path match without the method → 405
// {"code":"METHOD_NOT_ALLOWED"} with an Allow header. HEAD falls back to the GET handler (the
// server drops the body). The matched pattern goes to Request::route (metrics label), captures to
// Request::params.
#pragma once

#include <map>
#include <memory>
#include <relais/http/server.hpp>
#include <string>
#include <vector>

namespace relais::http {

class Router {
 public:
  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  // Throws std::invalid_argument on a malformed pattern, a duplicate method for a pattern, or two
  // patterns of the same shape with different capture names. Setup-time only.
  void add(verb method, std::string pattern, Handler handler);
  // The dispatching handler. It holds an immutable snapshot: routes added later are not seen by
  // handlers obtained earlier. Safe to call concurrently from several threads.
  Handler handler() const;

  // What dispatching would do for `req` (method, target), without running anything:
  // status 200 (`handler` and `method` set; `method` is GET for a HEAD served by GET), 400 (bad
  // target), 404 (no path match) or 405 (`allow` set). `route` and `params` are set from 405 on.
  struct Match {
    unsigned status = 404;
    verb method = verb::unknown;
    std::string route;
    std::map<std::string, std::string> params;
    Handler handler;
    std::string allow;
  };
  Match match(const Request& req) const;
  // The routes, (method, pattern), in the order they were added.
  std::vector<std::pair<verb, std::string>> list() const;

  struct Table;

 private:
  std::shared_ptr<Table> table_;
};

}  // namespace relais::http
