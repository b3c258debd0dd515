#include "relais/api/access.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <limits>
#include <random>
#include <variant>

#include "relais/common/log.hpp"
#include "relais/directory/identity.hpp"
#include "relais/manageaccess/manageaccess.hpp"
#include "relais/validation/ids.hpp"
#include "relais/validation/text.hpp"

namespace relais::api {
namespace asio = boost::asio;
namespace json = boost::json;
using auth::Refusal;
namespace {
const log::Logger logger{"access"};

bool request_id_ok(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == ':'))
      return false;
  return true;
}

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

bool looks_like_ssin(std::string_view s) {
  return s.size() == 11 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::string> ssin_in_json(std::string_view body, std::string_view key = "ssin") {
  if (body.empty() || body.size() > std::size_t{64} * 1024) return std::nullopt;
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto* s = v.as_object().if_contains(key);
  if (!s || !s->is_string() || !looks_like_ssin(s->as_string())) return std::nullopt;
  return std::string(s->as_string());
}

Problem unauthenticated(Refusal r, const std::string& realm) {
  std::string code = "INVALID_TOKEN", message = "the bearer token is not valid";
  std::string challenge = "Bearer realm=\"" + realm + "\"";
  switch (r) {
    case Refusal::missing_credentials:
      code = "UNAUTHENTICATED";
      message = "this API needs a bearer token: Authorization: Bearer rls_<id>_<secret>";
      break;
    case Refusal::malformed:
      message =
          "the Authorization header does not hold a Relais bearer token (Bearer rls_<id>_<secret>)";
      break;
    case Refusal::revoked:
      code = "TOKEN_REVOKED";
      message = "this token has been revoked";
      break;
    case Refusal::expired:
      code = "TOKEN_EXPIRED";
      message = "this token has expired";
      break;
    default:
      break;
  }
  if (r != Refusal::missing_credentials) challenge += ", error=\"invalid_token\"";
  auto p = problem(errc::unauthenticated, code, message);
  p.headers.emplace_back("WWW-Authenticate", std::move(challenge));
  return p;
}

// Runs a matched route's handler: the captures and the route label first.
asio::awaitable<http::Response> run(const RouteTable::Match& m, http::Request& req,
                                    const Caller& caller) {
  req.route = m.pattern;
  for (const auto& [k, v] : m.params) req.params[k] = v;
  // Named, not temporaries inside the co_await expression: GCC 12 mishandles those.
  Reply reply = co_await m.route->handler(req, caller);
  co_return to_response(std::move(reply));
}

}  // namespace

bool records_ssin_replacement(std::string_view json_body) {
  if (json_body.empty() || json_body.size() > std::size_t{64} * 1024) return false;
  boost::system::error_code ec;
  auto v = json::parse(json_body, ec);
  if (ec || !v.is_object()) return false;
  const auto* q = v.as_object().if_contains("quality_code");
  if (!q) return false;
  if (q->is_int64()) return q->as_int64() == 999;
  if (q->is_uint64()) return q->as_uint64() == 999;
  return false;
}

std::optional<Refused> authorize(const RouteSpec& route, const Caller& caller,
                                 const std::map<std::string, std::string>& params,
                                 const http::Request& req) {
  if (route.policy == Policy::operator_only && !caller.op)
    return Refused{problem(errc::forbidden, "OPERATOR_ONLY",
                           "this route is for the data centre's operator credentials"),
                   Refusal::operator_only};
  if (route.policy == Policy::cpas) {
    auto it = params.find("cbe");
    if (it == params.end() || !caller.may_act_on(it->second))
      return Refused{problem(errc::forbidden, "FORBIDDEN_CPAS",
                             "this credential is not scoped to this CPAS", "cbe"),
                     Refusal::cpas_out_of_scope};
  }
  if (route.operator_only_when == OperatorOnlyWhen::records_ssin_replacement && !caller.op &&
      req.content_type() == "application/json" && records_ssin_replacement(req.body))
    return Refused{
        problem(errc::forbidden, "REPLACEMENT_OPERATOR_ONLY",
                "quality code 999 (SSIN replaced) is recorded from the National Register's "
                "SSIN_REPLACED notification or by the data centre's operator, never by a CPAS",
                "quality_code"),
        Refusal::replacement_operator_only};
  return std::nullopt;
}

struct AccessControl::Call {
  auth::AccessRecord rec;
  std::shared_ptr<const auth::Credential> cred;
  std::string token;
};

AccessControl::AccessControl(AccessOptions o, const RouteTable& routes, pg::Pool& pool,
                             auth::JournalWriter& journal, metrics::Registry& m)
    : o_(std::move(o)),
      routes_(routes),
      pool_(pool),
      journal_(journal),
      cache_(o_.cache_ttl, o_.cache_max),
      decisions_(m.counter("relais_api_access_total",
                           "relais-api calls by access decision (allowed or the refusal)",
                           {"decision"})),
      lookups_(m.counter("relais_api_credential_lookups_total",
                         "Credential lookups in PostgreSQL (cache misses)")
                   .with()) {}

http::Handler AccessControl::handler() {
  return [this](http::Request& req) { return handle(req); };
}

asio::awaitable<Refusal> AccessControl::authenticate(const http::Request& req, Call& call) {
  auto h = req.header("Authorization");
  if (h.empty()) co_return Refusal::missing_credentials;
  auto tok = auth::bearer_token(h);
  if (!tok) co_return Refusal::malformed;
  auto id = auth::token_id(*tok);
  if (!id) co_return Refusal::malformed;
  call.token = std::string(*tok);
  call.rec.credential_id = *id;  // claimed until the secret matches
  auto now = std::chrono::steady_clock::now();
  auth::CredentialCache::Entry entry;
  if (auto cached = cache_.get(*id, now)) {
    entry = *cached;
  } else {
    lookups_.inc();
    std::string key = *id;
    // A named job: GCC 12 mishandles temporaries inside co_await expressions.
    auto job = [key](pg::Connection& c) -> auth::CredentialCache::Entry {
      auto cr = auth::load_credential(c, key, true);
      return cr ? std::make_shared<const auth::Credential>(std::move(*cr)) : nullptr;
    };
    entry = co_await pool_.run<auth::CredentialCache::Entry>(std::move(job));
    cache_.put(key, entry, now);
  }
  auto verdict = auth::check_token(entry.get(), call.token, std::chrono::system_clock::now());
  if (verdict == Refusal::revoked || verdict == Refusal::expired || verdict == Refusal::none)
    call.rec.credential_name = entry->name;  // the secret matched: this is who it is
  if (verdict == Refusal::none) call.cred = entry;
  co_return verdict;
}

asio::awaitable<http::Response> AccessControl::handle(http::Request& req) {
  auto t0 = std::chrono::steady_clock::now();
  Call call;
  call.rec.at = std::chrono::system_clock::now();
  auto rid = req.header("X-Request-Id");
  call.rec.request_id = request_id_ok(rid) ? rid : new_request_id();
  call.rec.client_address = req.remote_address;
  call.rec.method = req.method_string.empty()
                        ? std::string(boost::beast::http::to_string(req.method))
                        : req.method_string;
  if (call.rec.method.size() > 16) call.rec.method.resize(16);

  // 1. Which route, which policy: the route table.
  auto matched = routes_.match(req);
  const Route* policy = matched.route;
  if (policy && policy->policy == Policy::open) {
    const Caller anonymous;
    co_return co_await run(matched, req, anonymous);
  }
  if (!matched.pattern.empty()) {
    req.route = matched.pattern;  // metrics label even when the handler does not run
    call.rec.route = matched.pattern;
  }
  auto& params = matched.params;
  // Whatever the caller put in the path, the journal gets storable text (validation/text.hpp):
  // a valid CBE as it is, anything else made safe and cut on a character boundary.
  if (auto it = params.find("cbe"); it != params.end())
    call.rec.cpas = validation::is_valid_cbe(it->second)
                        ? it->second
                        : validation::sanitize_text(it->second, 32);
  if (policy && policy->ssin == SsinFrom::path) {
    if (auto it = params.find("ssin"); it != params.end() && looks_like_ssin(it->second))
      call.rec.ssin = it->second;
    // PUT/GET /v1/ssin-replacements/{old_ssin}: the replaced number, and the new one of the body.
    if (auto it = params.find("old_ssin"); it != params.end() && looks_like_ssin(it->second)) {
      call.rec.replaces_ssin = it->second;
      if (req.content_type() == "application/json")
        call.rec.ssin = ssin_in_json(req.body, "replaced_by");
      if (!call.rec.ssin) call.rec.ssin = it->second;
    }
  }
  if (policy && policy->ssin == SsinFrom::query)
    if (auto s = req.query_param("ssin"); s && looks_like_ssin(*s)) call.rec.ssin = std::string(*s);
  if (policy && policy->ssin == SsinFrom::request_body &&
      req.content_type() == "application/json") {
    call.rec.ssin = ssin_in_json(req.body);
    call.rec.replaces_ssin = ssin_in_json(req.body, "replaces_ssin");
  }

  if (policy && policy->ssin == SsinFrom::manage_access_body)
    call.rec.ssin = manageaccess::ssin_of(req.body);

  // 2. Who is calling.
  Refusal refusal = Refusal::none;
  bool store_down = false;
  try {
    refusal = co_await authenticate(req, call);
  } catch (const std::exception& e) {
    store_down = true;
    logger.error("credential lookup failed",
                 {{"error", e.what()}, {"request_id", call.rec.request_id}});
  }
  // Never passed on: handlers see the verified Caller only.
  req.headers.erase("Authorization");

  auto finish = [&](const std::variant<Problem, http::Response>& answer, std::string_view reason) {
    http::Response r = answer.index() == 0 ? to_response(std::get<0>(answer)) : std::get<1>(answer);
    // Problem titles and details for people in the caller's language (Accept-Language).
    r = localize(std::move(r), labels::negotiate(req.headers["Accept-Language"]));
    r.headers.emplace_back("X-Request-Id", call.rec.request_id);
    call.rec.status = static_cast<int>(r.status);
    if (!reason.empty()) call.rec.refusal = std::string(reason);
    call.rec.duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    decisions_.with({reason.empty() ? std::string("allowed") : std::string(reason)}).inc();
    return r;
  };

  if (store_down) {
    auto p = problem(errc::unavailable, "AUTH_UNAVAILABLE",
                     "credentials cannot be checked right now; retry later");
    p.headers.emplace_back("Retry-After", "1");
    auto out = finish(p, "credential_store_unavailable");
    journal_.record(call.rec);
    co_return out;
  }
  if (refusal != Refusal::none) {
    auto out = finish(unauthenticated(refusal, o_.realm), auth::to_string(refusal));
    journal_.record(call.rec);
    co_return out;
  }

  // 3. May this credential do this.
  if (!policy) {
    // No such route (or method): 404/405, to an authenticated caller only.
    auto out = finish(no_route(matched), "");
    journal_.record(call.rec);
    co_return out;
  }
  // 3a. A CPAS addressed by the NIS code of a municipality it serves (5 digits; a CBE has 10):
  // resolved, through the municipal mergers, to the CBE of the CPAS serving it now, before any
  // scope check, so a CPAS credential is confined to its own CPAS whatever identifier it uses.
  if (auto it = params.find("cbe");
      it != params.end() && directory::cpas_ref_kind(it->second) == directory::CpasRef::nis) {
    const std::string nis = it->second;
    // A named job: GCC 12 mishandles temporaries inside co_await expressions.
    auto job = [nis](pg::Connection& c) {
      return directory::serving_cpas(static_cast<std::uint32_t>(std::stoul(nis)),
                                     directory::load_nis_served(c));
    };
    auto serving = co_await pool_.run<directory::Serving>(std::move(job));
    // The routers match the raw target: both it and the decoded path get the CBE. A segment
    // that reached the same digits another way (percent-encoded) is not resolved.
    const std::string prefix = "/v1/cpas/" + nis;
    if (!req.path.starts_with(prefix) || !req.target.starts_with(prefix)) serving.cbes.clear();
    if (serving.cbes.size() != 1) {
      auto r = serving.cbes.empty()
                   ? problem(errc::not_found, "CPAS_NOT_FOUND",
                             serving.municipality == 0
                                 ? "NIS code " + nis + " is not a municipality of the official list"
                                 : "no CPAS is recorded as serving municipality " + nis +
                                       (std::to_string(serving.municipality) == nis
                                            ? std::string()
                                            : " (now part of " +
                                                  std::to_string(serving.municipality) + ")"),
                             "cbe")
                   : problem(errc::conflict, "CPAS_AMBIGUOUS",
                             "municipality " + nis + " is recorded for several CPAS (" +
                                 serving.cbes[0] + ", " + serving.cbes[1] +
                                 "); address the CPAS by its CBE number",
                             "cbe");
      auto out = finish(std::move(r), "");
      journal_.record(call.rec);
      co_return out;
    }
    const std::string& cbe = serving.cbes[0];
    req.path = "/v1/cpas/" + cbe + req.path.substr(prefix.size());
    req.target = "/v1/cpas/" + cbe + req.target.substr(prefix.size());
    params["cbe"] = cbe;
    call.rec.cpas = cbe;
  }
  const Caller caller = Caller::of(*call.cred);
  if (auto refused = authorize(*policy, caller, params, req)) {
    auto out = finish(refused->problem, auth::to_string(refused->refusal));
    journal_.record(call.rec);
    co_return out;
  }

  // 4. Text rules on every input value (an authorised caller learns which field is wrong).
  if (auto bad = check_request_text(req, params)) {
    auto out = finish(*bad, "");
    journal_.record(call.rec);
    co_return out;
  }

  // 5. Run it, journaled: no data is served that could not be journaled.
  if (!journal_.reserve()) {
    auto p = problem(errc::unavailable, "JOURNAL_UNAVAILABLE",
                     "the access journal is full; retry later");
    p.headers.emplace_back("Retry-After", "1");
    co_return finish(p, auth::to_string(Refusal::journal_unavailable));
  }
  http::Response resp;
  try {
    resp = co_await run(matched, req, caller);
  } catch (const pg::Error& e) {
    // The database restarting or unreachable: nothing was changed (each handler's writes are one
    // transaction), and a retry later will work. 503 + Retry-After, as for every outage, not 500.
    if (!e.retryable()) {
      logger.error(
          "handler failed",
          {{"route", call.rec.route}, {"error", e.what()}, {"request_id", call.rec.request_id}});
      resp = to_response(problem(errc::internal, "INTERNAL", "internal error"));
    } else {
      logger.warn(
          "database unavailable",
          {{"route", call.rec.route}, {"error", e.what()}, {"request_id", call.rec.request_id}});
      auto p = problem(errc::unavailable, "DATABASE_UNAVAILABLE",
                       "the database is unavailable; retry later");
      p.headers.emplace_back("Retry-After", "2");
      resp = to_response(p);
    }
  } catch (const std::exception& e) {
    // The server would turn it into a 500; journal it as such.
    logger.error(
        "handler failed",
        {{"route", call.rec.route}, {"error", e.what()}, {"request_id", call.rec.request_id}});
    resp = to_response(problem(errc::internal, "INTERNAL", "internal error"));
  }
  if (policy->ssin == SsinFrom::response_body && resp.status == 200)
    call.rec.ssin = ssin_in_json(resp.body);
  if (policy->ssin == SsinFrom::alert && resp.status < 300 && call.rec.cpas) {
    std::string cbe = *call.rec.cpas, id = params["id"];
    // A named job: GCC 12 mishandles temporaries inside co_await expressions.
    auto job = [cbe, id](pg::Connection& c) -> std::string {
      auto r =
          c.exec("SELECT ssin FROM alerts WHERE alert_id = $1::uuid AND cpas_cbe = $2", {id, cbe});
      return r.rows() ? r.str(0, 0) : std::string{};
    };
    try {
      auto s = co_await pool_.run<std::string>(std::move(job));
      if (!s.empty()) call.rec.ssin = s;
    } catch (const std::exception& e) {
      logger.warn("SSIN of the alert not found for the access journal", {{"error", e.what()}});
    }
  }
  auto out = finish(std::move(resp), "");
  journal_.commit(call.rec);
  co_return out;
}

asio::awaitable<std::size_t> AccessControl::body_limit(const http::Request& req, std::size_t limit,
                                                       std::size_t unauthenticated_limit) {
  if (limit <= unauthenticated_limit || req.header("Authorization").empty())
    co_return std::min(limit, unauthenticated_limit);
  Call call;
  Refusal verdict = Refusal::malformed;
  try {
    verdict = co_await authenticate(req, call);
  } catch (const std::exception&) {
    // The credential store is down: the handler will answer 503; no large body meanwhile.
  }
  co_return verdict == Refusal::none ? limit : unauthenticated_limit;
}

asio::awaitable<void> AccessControl::refused_by_server(const http::Request& req, unsigned status,
                                                       std::string reason) {
  auth::AccessRecord rec;
  rec.at = std::chrono::system_clock::now();
  auto rid = req.header("X-Request-Id");
  rec.request_id = request_id_ok(rid) ? rid : new_request_id();
  rec.client_address = req.remote_address;
  rec.method = req.method_string.empty() ? std::string(boost::beast::http::to_string(req.method))
                                         : req.method_string;
  auto matched = routes_.match(req);
  if (!matched.pattern.empty()) rec.route = matched.pattern;
  if (auto it = matched.params.find("cbe"); it != matched.params.end())
    rec.cpas = validation::is_valid_cbe(it->second) ? it->second
                                                    : validation::sanitize_text(it->second, 32);
  rec.status = static_cast<int>(status);
  rec.refusal = "http_" + reason;
  decisions_.with({*rec.refusal}).inc();
  journal_.record(std::move(rec));
  co_return;
}

namespace {
constexpr std::size_t kMaxParamBytes = 256;
constexpr std::size_t kMaxBodyText =
    std::numeric_limits<std::size_t>::max();  // bodies are bounded by body_limit

std::optional<validation::Error> check_json_text(const json::value& v, std::string_view key,
                                                 int depth) {
  if (depth > 32)
    return validation::make_error("DEPTH_EXCEEDED", "nested too deeply", std::string(key));
  auto field = validation::sanitize_text(key, 64);
  switch (v.kind()) {
    case json::kind::string: {
      const bool free_text = key == "comment" || key == "reason";
      return validation::validate_text(v.get_string(), field, {kMaxBodyText, free_text});
    }
    case json::kind::array:
      for (const auto& x : v.get_array())
        if (auto e = check_json_text(x, key, depth + 1)) return e;
      return std::nullopt;
    case json::kind::object:
      for (const auto& kv : v.get_object()) {
        if (auto e = validation::validate_text(kv.key(), "", {kMaxParamBytes, false})) {
          e->message = "a key " + e->message;
          return e;
        }
        if (auto e = check_json_text(kv.value(), kv.key(), depth + 1)) return e;
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

Problem text_error(const validation::Error& e) {
  return problem(e);
}
}  // namespace

std::optional<Problem> check_request_text(const http::Request& req,
                                          const std::map<std::string, std::string>& params) {
  for (const auto& [k, v] : params)
    if (auto e = validation::validate_text(v, k, {kMaxParamBytes, false})) return text_error(*e);
  for (const auto& [k, v] : req.query) {
    if (auto e = validation::validate_text(k, "", {kMaxParamBytes, false})) {
      e->message = "a query parameter name " + e->message;
      return text_error(*e);
    }
    if (auto e = validation::validate_text(v, k, {kMaxParamBytes, false})) return text_error(*e);
  }
  if (req.body.empty()) return std::nullopt;
  auto ct = req.content_type();
  if (ct == "application/json") {
    boost::system::error_code ec;
    auto v = json::parse(req.body, ec);
    if (ec) return std::nullopt;  // the handler answers MALFORMED_JSON
    if (auto e = check_json_text(v, "", 0)) return text_error(*e);
    return std::nullopt;
  }
  // CSV and NDJSON imports (and any other text body): line-structured text.
  if (auto e = validation::validate_text(req.body, "body", {kMaxBodyText, true}))
    return text_error(*e);
  return std::nullopt;
}

void AccessControl::add_routes(RouteTable& r) {
  r.add({http::verb::get, "/v1/access-journal", Policy::operator_only},
        [this](http::Request& q, const Caller&) { return query_journal(q); });
}

asio::awaitable<Reply> AccessControl::query_journal(http::Request& req) {
  auth::AccessQuery q;
  for (const auto& [k, v] : req.query) {
    if (k == "credential")
      q.credential = v;
    else if (k == "cpas")
      q.cpas = v;
    else if (k == "ssin")
      q.ssin = v;
    else if (k == "since")
      q.since = v;
    else if (k == "until")
      q.until = v;
    else if (k == "status")
      q.status = v;
    else if (k == "after" || k == "limit") {
      long long n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc{} || p != v.data() + v.size() || n < 0 || n > (1LL << 53))
        co_return problem(errc::invalid, "INVALID_PARAMETER", "expected a non-negative integer", k);
      if (k == "after")
        q.after = n;
      else
        q.limit = static_cast<int>(std::min<long long>(n, auth::kAccessQueryMaxLimit + 1));
    } else {
      co_return problem(
          errc::invalid, "UNKNOWN_PARAMETER",
          "known parameters: credential, cpas, ssin, since, until, status, after, limit", k);
    }
  }
  if (auto e = auth::validate(q)) {
    auto colon = e->find(':');
    co_return problem(errc::invalid, "INVALID_PARAMETER", *e, e->substr(0, colon));
  }
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job = [q](pg::Connection& c) {
    auto r = auth::query_access_journal(c, q);
    const auto& cols = auth::access_journal_columns();
    json::array a;
    for (int i = 0; i < r.rows(); ++i) {
      json::object o;
      for (int c2 = 0; c2 < r.columns(); ++c2) {
        const auto& name = cols[static_cast<std::size_t>(c2)];
        if (r.is_null(i, c2))
          o[name] = nullptr;
        else if (name == "id" || name == "status")
          o[name] = r.integer(i, c2);
        else if (name == "duration_ms")
          o[name] = std::strtod(r.str(i, c2).c_str(), nullptr);
        else
          o[name] = r.str(i, c2);
      }
      a.push_back(std::move(o));
    }
    json::object out{{"entries", std::move(a)}};
    if (r.rows() == q.limit && r.rows() > 0) out["next_after"] = r.integer(r.rows() - 1, 0);
    return json::serialize(out);
  };
  http::Response resp;
  resp.body = co_await pool_.run<std::string>(std::move(job));
  co_return resp;
}

}  // namespace relais::api
