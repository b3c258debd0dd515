// PUT/GET /v1/cpas/{cbe}/identity, GET /v1/cpas-identities: a CPAS's identity in the BCSS
// network (directory/identity.hpp). The {cbe} may be a NIS code: AccessControl has already
// resolved it to the CBE of the CPAS serving that municipality.
#include "relais/directory/identity.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "handlers.hpp"
#include "relais/api/service.hpp"
#include "relais/refdata/refdata.hpp"
#include "relais/validation/ids.hpp"

namespace relais::api {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

std::string nis_text(std::uint32_t n) {
  auto s = std::to_string(n);
  return std::string(s.size() < 5 ? 5 - s.size() : 0, '0') + s;
}

json::object identity_json(const directory::CpasIdentity& id) {
  json::array nis;
  for (auto n : id.nis) {
    auto m = refdata::municipality(n);
    nis.push_back(json::object{{"nis_code", nis_text(n)},
                               {"name_nl", m ? std::string(m->name_nl) : std::string()},
                               {"name_fr", m ? std::string(m->name_fr) : std::string()}});
  }
  auto opt = [](const std::optional<unsigned>& v) {
    return v ? json::value(*v) : json::value(nullptr);
  };
  return json::object{{"cbe", id.cbe},
                      {"municipalities", std::move(nis)},
                      {"sector", opt(id.sector)},
                      {"institution", opt(id.institution)},
                      {"reason", id.reason},
                      {"updated_by", id.updated_by},
                      {"updated_at", id.updated_at}};
}

// The request body: {"nis_codes": [...], "sector"?, "institution"?, "reason"}.
std::optional<validation::Error> parse_identity(std::string_view body, directory::CpasIdentity& id,
                                                std::vector<std::string>& codes,
                                                std::string& reason) {
  using validation::Error;
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return Error{"MALFORMED_JSON", "expected a JSON object", ""};
  const auto& o = v.as_object();
  for (const auto& kv : o)
    if (kv.key() != "nis_codes" && kv.key() != "sector" && kv.key() != "institution" &&
        kv.key() != "reason")
      return Error{"UNKNOWN_FIELD", "unknown field", std::string(kv.key())};
  const auto* n = o.if_contains("nis_codes");
  if (!n || !n->is_array())
    return Error{"MISSING_FIELD", "required: an array of NIS codes (may be empty)", "nis_codes"};
  if (n->as_array().size() > 50)
    return Error{"TOO_MANY_ITEMS", "at most 50 NIS codes", "nis_codes"};
  std::size_t i = 0;
  for (const auto& x : n->as_array()) {
    if (!x.is_string())
      return Error{"WRONG_TYPE", "expected a string", "nis_codes[" + std::to_string(i) + "]"};
    codes.emplace_back(x.as_string());
    ++i;
  }
  for (const char* k : {"sector", "institution"}) {
    const auto* p = o.if_contains(k);
    if (!p || p->is_null()) continue;
    if (!p->is_int64() && !p->is_uint64()) return Error{"WRONG_TYPE", "expected an integer", k};
    const auto x = p->is_int64()
                       ? p->as_int64()
                       : static_cast<std::int64_t>(std::min<std::uint64_t>(p->as_uint64(), 100000));
    if (x < 0 || x > 999) return Error{"OUT_OF_RANGE", "0 to 999", k};
    (std::string_view(k) == "sector" ? id.sector : id.institution) = static_cast<unsigned>(x);
  }
  const auto* r = o.if_contains("reason");
  if (r && r->is_string()) reason = std::string(r->as_string());
  if (reason.find_first_not_of(" \t\r\n") == std::string::npos)
    return Error{"MISSING_FIELD", "required: why the operator sets this identity (journaled)",
                 "reason"};
  if (reason.size() > 500) return Error{"FIELD_TOO_LONG", "at most 500 bytes", "reason"};
  return directory::normalize_identity(codes, id);
}

}  // namespace

asio::awaitable<Reply> Service::put_identity(http::Request& req, const Caller& caller) {
  std::string cbe = req.params["cbe"];
  if (!validation::is_valid_cbe(cbe)) co_return detail::invalid_cbe();
  if (req.content_type() != "application/json")
    co_return detail::unsupported_media_type("application/json");
  directory::CpasIdentity id;
  id.cbe = cbe;
  std::vector<std::string> codes;
  std::string reason;
  if (auto e = parse_identity(req.body, id, codes, reason)) co_return problem(*e);
  std::string actor = caller.actor;
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job = [id, actor, reason](pg::Connection& c) -> Reply {
    const bool existed = !directory::load_identities(c, id.cbe).empty();
    auto conflict = directory::write_identity(c, id, actor, reason);
    switch (conflict.kind) {
      case directory::IdentityConflict::no_cpas:
        return problem(errc::not_found, "CPAS_NOT_FOUND",
                       "no CPAS with this CBE number; create it first (PUT /v1/cpas/{cbe})", "cbe");
      case directory::IdentityConflict::nis_taken:
        return problem(errc::conflict, "NIS_CODE_TAKEN",
                       "the municipality " + nis_text(conflict.nis) +
                           " is already served by CPAS " + conflict.other_cbe +
                           "; remove it from that CPAS's identity first",
                       "nis_codes");
      case directory::IdentityConflict::bcss_id_taken:
        return problem(errc::conflict, "BCSS_ID_TAKEN",
                       "this sector and institution identify CPAS " + conflict.other_cbe,
                       "institution");
      case directory::IdentityConflict::none:
        break;
    }
    auto stored = directory::load_identities(c, id.cbe);
    return detail::reply(existed ? 200 : 201,
                         json::object{{"identity", identity_json(stored.at(0))}});
  };
  auto resp = co_await pool_.run<Reply>(std::move(job));
  if (resp) changes_.with({"cpas-identity"}).inc();
  co_return resp;
}

asio::awaitable<Reply> Service::get_identity(http::Request& req, const Caller& /*caller*/) {
  std::string cbe = req.params["cbe"];
  if (!validation::is_valid_cbe(cbe)) co_return detail::invalid_cbe();
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job = [cbe](pg::Connection& c) -> Reply {
    auto ids = directory::load_identities(c, cbe);
    if (ids.empty())
      return problem(errc::not_found, "IDENTITY_NOT_FOUND", "no identity is recorded for this CPAS",
                     "cbe");
    return detail::reply(200, json::object{{"identity", identity_json(ids[0])}});
  };
  co_return co_await pool_.run<Reply>(std::move(job));
}

asio::awaitable<Reply> Service::list_identities(http::Request&, const Caller&) {
  // A named job: GCC 12 mishandles temporaries inside co_await expressions.
  auto job = [](pg::Connection& c) -> http::Response {
    json::array a;
    for (const auto& id : directory::load_identities(c)) a.push_back(identity_json(id));
    return detail::reply(200, json::object{{"identities", std::move(a)}});
  };
  co_return co_await pool_.run<http::Response>(std::move(job));
}

}  // namespace relais::api
