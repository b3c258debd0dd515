#include "relais/api/replacements.hpp"

#include <boost/json.hpp>

#include "handlers.hpp"
#include "relais/api/service.hpp"
#include "relais/validation/ids.hpp"

namespace relais::api {
namespace asio = boost::asio;
namespace json = boost::json;
using directory::ReplacementVerdict;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

const char* kRowCols =
    "old_ssin, new_ssin, source, recorded_by, reason, "
    "to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), needs_review, "
    "active, conflicting_ssin";

// The replacement of old_ssin as stored, with the chain of numbers it leads to; null when none.
json::value replacement_json(pg::Connection& c, const std::string& old_ssin) {
  auto r = c.exec(std::string("SELECT ") + kRowCols + " FROM ssin_replacements WHERE old_ssin = $1",
                  {old_ssin});
  if (r.rows() != 1) return nullptr;
  auto opt = [&](int col) {
    return r.is_null(0, col) ? json::value(nullptr) : json::value(r.str(0, col));
  };
  json::array chain;
  for (auto& n : directory::replacement_chain(c, old_ssin)) chain.emplace_back(n);
  return json::object{{"old_ssin", r.str(0, 0)},
                      {"replaced_by", r.str(0, 1)},
                      {"source", r.str(0, 2)},
                      {"recorded_by", r.str(0, 3)},
                      {"reason", opt(4)},
                      {"recorded_at", r.str(0, 5)},
                      {"needs_review", r.get(0, 6) == "t"},
                      {"active", r.get(0, 7) == "t"},
                      {"conflicting_ssin", opt(8)},
                      {"chain", std::move(chain)}};
}

}  // namespace

std::optional<validation::Error> parse_replacement_request(std::string_view old_ssin,
                                                           std::string_view body,
                                                           ReplacementRequest& out) {
  using validation::Error;
  if (auto e = validation::validate_ssin(old_ssin, "old_ssin")) return e;
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return Error{"MALFORMED_JSON", "expected a JSON object", ""};
  const auto& o = v.as_object();
  for (const auto& kv : o)
    if (kv.key() != "replaced_by" && kv.key() != "reason" && kv.key() != "correct")
      return Error{"UNKNOWN_FIELD", "unknown field", std::string(kv.key())};
  const auto* by = o.if_contains("replaced_by");
  if (!by || by->is_null())
    return Error{"MISSING_FIELD", "required: the number that replaces old_ssin", "replaced_by"};
  if (!by->is_string()) return Error{"WRONG_TYPE", "expected a string", "replaced_by"};
  out.replaced_by = by->as_string();
  if (auto e = validation::validate_ssin(out.replaced_by, "replaced_by")) return e;
  if (out.replaced_by == old_ssin)
    return Error{"INCONSISTENT", "a number cannot replace itself", "replaced_by"};
  const auto* reason = o.if_contains("reason");
  if (!reason || reason->is_null())
    return Error{"MISSING_FIELD", "required: why the operator records this replacement (journaled)",
                 "reason"};
  if (!reason->is_string()) return Error{"WRONG_TYPE", "expected a string", "reason"};
  auto r = trim(reason->as_string());
  if (r.empty())
    return Error{"MISSING_FIELD", "required: why the operator records this replacement (journaled)",
                 "reason"};
  if (r.size() > 500) return Error{"FIELD_TOO_LONG", "at most 500 bytes", "reason"};
  out.reason = std::string(r);
  if (const auto* c = o.if_contains("correct")) {
    if (!c->is_bool()) return Error{"WRONG_TYPE", "expected true or false", "correct"};
    out.correct = c->as_bool();
  }
  return std::nullopt;
}

std::optional<Problem> replacement_refusal(ReplacementVerdict v, std::string_view old_ssin,
                                           std::string_view new_ssin,
                                           const directory::ReplacementState& s) {
  if (v == ReplacementVerdict::conflict) {
    return problem(errc::conflict, "REPLACEMENT_CONFLICT",
                   std::string(old_ssin) + " is already replaced by " + s.current.value_or("") +
                       ", not by " + std::string(new_ssin) +
                       "; to replace the recorded one, send \"correct\": true with a reason",
                   "replaced_by");
  }
  if (v == ReplacementVerdict::cycle) {
    std::string chain;
    for (const auto& n : s.chain) chain += (chain.empty() ? "" : " -> ") + n;
    return problem(errc::conflict, "REPLACEMENT_CYCLE",
                   std::string(old_ssin) + " replaced by " + std::string(new_ssin) +
                       " would close a loop: " + chain + " is recorded",
                   "replaced_by");
  }
  return std::nullopt;
}

asio::awaitable<Reply> Service::put_replacement(http::Request& req, const Caller& caller) {
  if (req.content_type() != "application/json")
    co_return detail::unsupported_media_type("application/json");
  std::string old_ssin = req.params["old_ssin"];
  ReplacementRequest rq;
  if (auto e = parse_replacement_request(old_ssin, req.body, rq)) co_return problem(*e);
  std::string actor = caller.actor;
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job = [old_ssin, rq, actor](pg::Connection& c) {
    return pg::transaction(c, [&]() -> Reply {
      auto state = directory::load_replacement_state(c, old_ssin, rq.replaced_by);
      auto verdict = directory::judge_replacement(old_ssin, rq.replaced_by, state, rq.correct);
      if (auto refused = replacement_refusal(verdict, old_ssin, rq.replaced_by, state))
        return *refused;
      if (verdict != ReplacementVerdict::unchanged)
        directory::write_replacement(c, {old_ssin, rq.replaced_by, "operator", actor, rq.reason});
      json::object out{{"outcome", directory::verdict_name(verdict)},
                       {"replacement", replacement_json(c, old_ssin)}};
      return detail::reply(verdict == ReplacementVerdict::record ? 201 : 200, json::serialize(out));
    });
  };
  auto resp = co_await pool_.run<Reply>(std::move(job));
  if (resp) changes_.with({"ssin-replacement"}).inc();
  co_return resp;
}

asio::awaitable<Reply> Service::get_replacement(http::Request& req, const Caller& /*caller*/) {
  std::string old_ssin = req.params["old_ssin"];
  if (auto e = validation::validate_ssin(old_ssin, "old_ssin")) co_return problem(*e);
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job = [old_ssin](pg::Connection& c) {
    auto v = replacement_json(c, old_ssin);
    if (v.is_null())
      return Reply(problem(errc::not_found, "REPLACEMENT_NOT_FOUND",
                           "no replacement of this number is recorded", "old_ssin"));
    return Reply(detail::reply(200, json::serialize(json::object{{"replacement", std::move(v)}})));
  };
  co_return co_await pool_.run<Reply>(std::move(job));
}

}  // namespace relais::api
