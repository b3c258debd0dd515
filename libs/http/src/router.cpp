#include <algorithm>
#include <map>
#include <relais/http/router.hpp>
#include <relais/http/target.hpp>
#include <set>
#include <stdexcept>

namespace relais::http {

namespace {

struct Segment {
  enum Kind { bare_capture = 0, affixed_capture = 1, literal = 2 };
  Kind kind = literal;
  std::string prefix;  // literal text, or text before the capture
  std::string name;    // capture name
  std::string suffix;  // text after the capture

  bool match(const std::string& s, std::map<std::string, std::string>& params) const {
    if (kind == literal) return s == prefix;
    if (s.size() <= prefix.size() + suffix.size()) return false;  // capture must be non-empty
    if (s.compare(0, prefix.size(), prefix) != 0) return false;
    if (s.compare(s.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
    params[name] = s.substr(prefix.size(), s.size() - prefix.size() - suffix.size());
    return true;
  }
  std::string shape() const {
    return kind == literal ? "L" + prefix : "C" + prefix + "{}" + suffix;
  }
};

Segment parse_segment(const std::string& pattern, std::string_view text) {
  Segment seg;
  auto open = text.find('{');
  auto close = text.find('}');
  if (open == std::string_view::npos && close == std::string_view::npos) {
    seg.kind = Segment::literal;
    seg.prefix = std::string(text);
    return seg;
  }
  if (open == std::string_view::npos || close == std::string_view::npos || close < open + 2 ||
      text.find('{', open + 1) != std::string_view::npos ||
      text.find('}', close + 1) != std::string_view::npos)
    throw std::invalid_argument("http router: malformed capture in pattern \"" + pattern + "\"");
  seg.prefix = std::string(text.substr(0, open));
  seg.name = std::string(text.substr(open + 1, close - open - 1));
  seg.suffix = std::string(text.substr(close + 1));
  seg.kind =
      seg.prefix.empty() && seg.suffix.empty() ? Segment::bare_capture : Segment::affixed_capture;
  return seg;
}

struct Route {
  std::string pattern;
  std::string shape;
  std::vector<Segment> segments;
  std::map<verb, Handler> handlers;

  bool match(const std::vector<std::string>& path,
             std::map<std::string, std::string>& params) const {
    if (path.size() != segments.size()) return false;
    params.clear();
    for (std::size_t i = 0; i < path.size(); ++i)
      if (!segments[i].match(path[i], params)) return false;
    return true;
  }
  // Lexicographic specificity, compared segment by segment.
  bool more_specific_than(const Route& o) const {
    for (std::size_t i = 0; i < segments.size() && i < o.segments.size(); ++i) {
      if (segments[i].kind != o.segments[i].kind) return segments[i].kind > o.segments[i].kind;
    }
    return false;
  }
  std::string allow() const {
    std::set<std::string> names;
    for (const auto& [m, h] : handlers) {
      names.insert(std::string(boost::beast::http::to_string(m)));
      if (m == verb::get) names.insert("HEAD");
    }
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  }
};

}  // namespace

struct Router::Table {
  std::vector<Route> routes;
};

namespace {

boost::asio::awaitable<Response> not_found() {
  co_return json_error(404, "NOT_FOUND", "no such resource");
}

boost::asio::awaitable<Response> method_not_allowed(std::string allow) {
  Response r = json_error(405, "METHOD_NOT_ALLOWED", "method not allowed for this resource");
  r.headers.emplace_back("Allow", std::move(allow));
  co_return r;
}

Router::Match match_in(const Router::Table& table, const Request& req) {
  Router::Match m;
  std::vector<std::string> segments;
  if (auto parsed = detail::parse_target(req.target, true)) {
    segments = std::move(parsed->segments);
  } else {
    m.status = 400;
    return m;
  }
  const Route* best = nullptr;
  std::map<std::string, std::string> params;
  for (const auto& r : table.routes) {
    if (!r.match(segments, params)) continue;
    if (!best || r.more_specific_than(*best)) {
      best = &r;
      m.params.swap(params);
    }
  }
  if (!best) return m;
  m.route = best->pattern;
  m.method = req.method;
  auto it = best->handlers.find(req.method);
  if (it == best->handlers.end() && req.method == verb::head) {
    it = best->handlers.find(verb::get);
    m.method = verb::get;
  }
  if (it == best->handlers.end()) {
    m.status = 405;
    m.allow = best->allow();
    return m;
  }
  m.status = 200;
  m.handler = it->second;
  return m;
}

// Not a lambda: the table is a coroutine parameter, so it lives in the coroutine frame.
boost::asio::awaitable<Response> dispatch(std::shared_ptr<const Router::Table> table,
                                          Request& req) {
  auto m = match_in(*table, req);
  if (m.status == 400) co_return json_error(400, "BAD_REQUEST", "invalid request target");
  if (m.status == 404) co_return co_await not_found();
  req.route = m.route;
  if (m.status == 405) co_return co_await method_not_allowed(m.allow);
  for (auto& [k, v] : m.params) req.params[k] = std::move(v);
  co_return co_await m.handler(req);
}

}  // namespace

Router::Router() : table_(std::make_shared<Table>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

void Router::add(verb method, std::string pattern, Handler handler) {
  if (pattern.empty() || pattern.front() != '/')
    throw std::invalid_argument("http router: pattern must start with '/': \"" + pattern + "\"");
  if (!handler) throw std::invalid_argument("http router: empty handler for \"" + pattern + "\"");
  Route route;
  route.pattern = pattern;
  std::set<std::string> names;
  if (pattern != "/") {
    std::string_view rest(pattern);
    rest.remove_prefix(1);
    for (;;) {
      auto slash = rest.find('/');
      auto seg = parse_segment(pattern, rest.substr(0, slash));
      if (seg.kind != Segment::literal && !names.insert(seg.name).second)
        throw std::invalid_argument("http router: duplicate capture \"" + seg.name + "\" in \"" +
                                    pattern + "\"");
      route.shape += "/" + seg.shape();
      route.segments.push_back(std::move(seg));
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
  }
  // Copy-on-write: handlers obtained earlier keep their snapshot.
  auto table = std::make_shared<Table>(*table_);
  for (auto& r : table->routes) {
    if (r.shape != route.shape) continue;
    if (r.pattern != route.pattern)
      throw std::invalid_argument("http router: \"" + pattern + "\" conflicts with \"" + r.pattern +
                                  "\"");
    if (!r.handlers.emplace(method, std::move(handler)).second)
      throw std::invalid_argument("http router: duplicate " +
                                  std::string(boost::beast::http::to_string(method)) + " " +
                                  pattern);
    table_ = std::move(table);
    return;
  }
  route.handlers.emplace(method, std::move(handler));
  table->routes.push_back(std::move(route));
  table_ = std::move(table);
}

Router::Match Router::match(const Request& req) const {
  return match_in(*table_, req);
}

std::vector<std::pair<verb, std::string>> Router::list() const {
  std::vector<std::pair<verb, std::string>> out;
  for (const auto& r : table_->routes)
    for (const auto& [m, h] : r.handlers) out.emplace_back(m, r.pattern);
  return out;
}

Handler Router::handler() const {
  std::shared_ptr<const Table> table = table_;
  // Plain (non-coroutine) lambda: it only creates the dispatch coroutine.
  return [table](Request& req) { return dispatch(table, req); };
}

}  // namespace relais::http
