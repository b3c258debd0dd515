#include "relais/auth/credentials.hpp"

#include <algorithm>
#include <stdexcept>

#include "relais/validation/ids.hpp"

namespace relais::auth {
namespace {

#define RELAIS_AUTH_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

Clock::time_point from_us(long long us) {
  return Clock::time_point(std::chrono::microseconds(us));
}

std::string pg_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (const auto& s : items)
    out += (out.size() > 1 ? "," : "") + s;  // scope strings: [a-z0-9:] only
  return out + "}";
}

// "a,b,c" (array_to_string of the scopes: no comma inside an item) → items.
std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto c = s.find(',');
    if (c != 0) out.emplace_back(s.substr(0, c));
    if (c == std::string_view::npos) break;
    s.remove_prefix(c + 1);
  }
  return out;
}

}  // namespace

std::string_view to_string(Refusal r) {
  switch (r) {
    case Refusal::none:
      return "";
    case Refusal::missing_credentials:
      return "missing_credentials";
    case Refusal::malformed:
      return "malformed_credentials";
    case Refusal::unknown_credential:
      return "unknown_credential";
    case Refusal::bad_secret:
      return "bad_secret";
    case Refusal::revoked:
      return "revoked";
    case Refusal::expired:
      return "expired";
    case Refusal::cpas_out_of_scope:
      return "cpas_out_of_scope";
    case Refusal::operator_only:
      return "operator_only";
    case Refusal::replacement_operator_only:
      return "replacement_operator_only";
    case Refusal::journal_unavailable:
      return "journal_unavailable";
  }
  return "unknown";
}

Refusal check_token(const Credential* stored, std::string_view token, Clock::time_point now) {
  if (!stored) return Refusal::unknown_credential;
  if (!hash_equal(stored->hash, hash_token(token))) return Refusal::bad_secret;
  if (stored->revoked_at && *stored->revoked_at <= now) return Refusal::revoked;
  if (stored->expires_at <= now) return Refusal::expired;
  return Refusal::none;
}

std::optional<Credential> load_credential(pg::Connection& db, const std::string& id, bool touch) {
  const std::string cols =
      "id, name, encode(token_sha256, 'hex'), array_to_string(scopes, ','), "
      "(extract(epoch FROM expires_at) * 1000000)::bigint, (extract(epoch FROM revoked_at) * "
      "1000000)::bigint";
  auto r =
      touch ? db.exec("UPDATE credentials SET last_used_at = now() WHERE id = $1 RETURNING " + cols,
                      {id})
            : db.exec("SELECT " + cols + " FROM credentials WHERE id = $1", {id});
  if (r.rows() == 0) return std::nullopt;
  Credential c;
  c.id = r.str(0, 0);
  c.name = r.str(0, 1);
  auto h = hash_from_hex(r.get(0, 2));
  if (!h) throw std::runtime_error("credential " + c.id + ": bad stored hash");
  c.hash = *h;
  auto sc = parse_scopes(split_commas(r.get(0, 3)));
  // A row with a bad scope (edited by hand) grants nothing rather than failing every call.
  if (auto* ok = std::get_if<Scopes>(&sc)) c.scopes = std::move(*ok);
  c.expires_at = from_us(r.integer(0, 4));
  if (!r.is_null(0, 5)) c.revoked_at = from_us(r.integer(0, 5));
  return c;
}

std::optional<CredentialCache::Entry> CredentialCache::get(
    const std::string& id, std::chrono::steady_clock::time_point now) const {
  std::lock_guard lock(mu_);
  auto it = map_.find(id);
  if (it == map_.end() || now - it->second.at >= ttl_) return std::nullopt;
  return it->second.entry;
}

void CredentialCache::put(const std::string& id, Entry e,
                          std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mu_);
  if (map_.size() >= max_ && !map_.contains(id)) {
    // Drop what is stale, then (under a flood of made-up ids) the oldest half.
    std::erase_if(map_, [&](const auto& kv) { return now - kv.second.at >= ttl_; });
    if (map_.size() >= max_) {
      std::vector<std::chrono::steady_clock::time_point> ats;
      for (const auto& kv : map_) ats.push_back(kv.second.at);
      std::nth_element(ats.begin(), ats.begin() + static_cast<std::ptrdiff_t>(ats.size() / 2),
                       ats.end());
      auto median = ats[ats.size() / 2];
      std::erase_if(map_, [&](const auto& kv) { return kv.second.at <= median; });
    }
  }
  map_[id] = Slot{std::move(e), now};
}

std::size_t CredentialCache::size() const {
  std::lock_guard lock(mu_);
  return map_.size();
}

bool is_credential_id(std::string_view s) {
  if (s.size() != kIdChars) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::optional<std::string> validate(const NewCredential& c) {
  if (c.name.empty() || c.name.size() > 64) return "the name is 1 to 64 characters";
  for (char ch : c.name)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.' ||
          ch == '@'))
      return "the name is letters, digits and - _ . @ only";
  if (c.lifetime_seconds <= 0 || c.lifetime_seconds > 3LL * 366 * 86400)
    return "the lifetime is between 1 second and 3 years";
  if (!c.scopes.op && c.scopes.cpas.empty()) return "a credential needs at least one scope";
  return std::nullopt;
}

Created create_credential(pg::Connection& db, const NewCredential& c) {
  if (auto e = validate(c)) throw std::invalid_argument(*e);
  auto issued = generate_token();
  auto r = db.exec(
      "INSERT INTO credentials (id, name, token_sha256, scopes, created_by, expires_at) "
      "VALUES ($1, $2, decode($3, 'hex'), $4::text[], $5, now() + make_interval(secs => "
      "$6::bigint)) "
      "RETURNING " RELAIS_AUTH_TS("expires_at"),
      {issued.id, c.name, to_hex(issued.hash), pg_array(c.scopes.to_strings()), c.created_by,
       std::to_string(c.lifetime_seconds)});
  return Created{issued.id, c.name, issued.token, r.str(0, 0), c.scopes.describe()};
}

Rotation rotate_credential(pg::Connection& db, const std::string& id, long long grace_seconds,
                           long long lifetime_seconds, const std::string& actor) {
  if (grace_seconds < 0 || grace_seconds > 30LL * 86400)
    throw std::invalid_argument("the grace period is 0 to 30 days");
  return pg::transaction(db, [&] {
    auto old = db.exec(
        "SELECT name, array_to_string(scopes, ','), revoked_at IS NOT NULL, expires_at <= now() "
        "FROM credentials WHERE id = $1 FOR UPDATE",
        {id});
    if (old.rows() == 0) throw std::invalid_argument("no credential " + id);
    if (old.get(0, 2) == "t") throw std::invalid_argument("credential " + id + " is revoked");
    if (old.get(0, 3) == "t")
      throw std::invalid_argument("credential " + id + " has expired: create a new one");
    NewCredential n;
    n.name = old.str(0, 0);
    auto sc = parse_scopes(split_commas(old.get(0, 1)));
    if (auto* e = std::get_if<std::string>(&sc))
      throw std::invalid_argument("credential " + id + ": " + *e);
    n.scopes = std::get<Scopes>(sc);
    n.lifetime_seconds = lifetime_seconds;
    n.created_by = actor;
    Rotation rot;
    rot.created = create_credential(db, n);
    db.exec("UPDATE credentials SET rotated_from = $1 WHERE id = $2", {id, rot.created.id});
    pg::Result r = grace_seconds == 0
                       ? db.exec(
                             "UPDATE credentials SET revoked_at = now(), revoked_by = $2, "
                             "revoke_reason = 'rotated' "
                             "WHERE id = $1 RETURNING " RELAIS_AUTH_TS("revoked_at"),
                             {id, actor})
                       : db.exec(
                             "UPDATE credentials SET expires_at = LEAST(expires_at, now() + "
                             "make_interval(secs => "
                             "$2::bigint)) WHERE id = $1 RETURNING " RELAIS_AUTH_TS("expires_at"),
                             {id, std::to_string(grace_seconds)});
    rot.old_id = id;
    rot.old_valid_until = r.str(0, 0);
    return rot;
  });
}

bool revoke_credential(pg::Connection& db, const std::string& id, const std::string& actor,
                       const std::string& reason) {
  auto r = db.exec(
      "UPDATE credentials SET revoked_at = COALESCE(revoked_at, now()), revoked_by = "
      "COALESCE(revoked_by, $2), "
      "revoke_reason = COALESCE(revoke_reason, $3) WHERE id = $1",
      {id, actor, reason.empty() ? pg::Param{} : pg::Param{reason}});
  return r.affected() > 0;
}

std::vector<CredentialRow> list_credentials(pg::Connection& db, bool all,
                                            const std::optional<std::string>& cpas) {
  auto r = db.exec(
      "SELECT id, name, array_to_string(scopes, ','), " RELAIS_AUTH_TS("created_at") ", created_by, "
      RELAIS_AUTH_TS("expires_at") ", CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN expires_at <= now() "
      "THEN 'expired' ELSE 'active' END, " RELAIS_AUTH_TS("revoked_at") ", rotated_from, " RELAIS_AUTH_TS("last_used_at")
      " FROM credentials WHERE ($1::boolean OR (revoked_at IS NULL AND expires_at > now())) "
      "AND ($2::text IS NULL OR scopes @> ARRAY['cpas:' || $2]) ORDER BY created_at DESC, id",
      {all ? "true" : "false", cpas});
  std::vector<CredentialRow> out;
  auto opt = [&](int i, int c) {
    return r.is_null(i, c) ? std::nullopt : std::optional<std::string>(r.str(i, c));
  };
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i)
    out.push_back(CredentialRow{r.str(i, 0), r.str(i, 1), r.str(i, 2), r.str(i, 3), r.str(i, 4),
                                r.str(i, 5), r.str(i, 6), opt(i, 7), opt(i, 8), opt(i, 9)});
  return out;
}

}  // namespace relais::auth
