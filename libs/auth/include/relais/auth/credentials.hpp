// The credential store (PostgreSQL table `credentials`, migrations/0006) and the decision
// "may this token be used now", with a small cache so that relais-api does not query the
// database on every call while a revocation still takes effect within the cache period.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "relais/auth/token.hpp"
#include "relais/pg/pg.hpp"

namespace relais::auth {

using Clock = std::chrono::system_clock;

struct Credential {
  std::string id;
  std::string name;
  Scopes scopes;
  Hash hash{};
  Clock::time_point expires_at{};
  std::optional<Clock::time_point> revoked_at;
};

// Why a call was refused. `none` = let through.
enum class Refusal {
  none,
  missing_credentials,  // no Authorization header
  malformed,            // not "Bearer rls_<id>_<secret>"
  unknown_credential,   // well formed, but no such id
  bad_secret,           // the id exists, the token's hash differs
  revoked,
  expired,
  cpas_out_of_scope,          // valid credential, another CPAS's resource
  operator_only,              // valid CPAS credential on an operator route
  replacement_operator_only,  // valid CPAS credential recording an SSIN replacement (quality code
                              // 999)
  journal_unavailable,        // the access journal cannot take the record (fail closed)
};
std::string_view to_string(Refusal r);

// The verdict on a presented token given the stored credential for its id (nullopt: unknown).
// Expiry and revocation are only revealed after the secret matched.
Refusal check_token(const Credential* stored, std::string_view token, Clock::time_point now);

// Loads one credential. With `touch`, also sets last_used_at = now() (done when the API
// (re)loads it into its cache, so last_used_at is precise to the cache period).
std::optional<Credential> load_credential(pg::Connection& db, const std::string& id, bool touch);

// Verified lookups kept for `ttl` (positive and negative), at most `max_entries` ids (the
// oldest half is dropped beyond). Thread-safe.
class CredentialCache {
 public:
  using Entry = std::shared_ptr<const Credential>;  // null = no such credential
  CredentialCache(std::chrono::milliseconds ttl, std::size_t max_entries)
      : ttl_(ttl), max_(max_entries) {}
  // Fresh entry for `id`, or std::nullopt when the database must be asked.
  std::optional<Entry> get(const std::string& id, std::chrono::steady_clock::time_point now) const;
  void put(const std::string& id, Entry e, std::chrono::steady_clock::time_point now);
  std::size_t size() const;
  std::chrono::milliseconds ttl() const { return ttl_; }

 private:
  struct Slot {
    Entry entry;
    std::chrono::steady_clock::time_point at;
  };
  std::chrono::milliseconds ttl_;
  std::size_t max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Slot> map_;
};

// ---- administration (relaisctl)

struct NewCredential {
  std::string name;
  Scopes scopes;
  long long lifetime_seconds = 90LL * 86400;
  std::string created_by;
};

struct Created {
  std::string id;
  std::string name;
  std::string token;       // printed once
  std::string expires_at;  // RFC 3339, UTC
  std::string scopes;
};

// Returns an error message for a bad name or lifetime (checked before any SQL runs).
std::optional<std::string> validate(const NewCredential& c);
Created create_credential(pg::Connection& db, const NewCredential& c);

// A new token with the same name and scopes (rotated_from = old id); the old one stays valid
// for `grace_seconds` (0 = revoked at once). `lifetime_seconds` of the new one. Throws
// std::invalid_argument when `id` does not exist or is already revoked or expired.
struct Rotation {
  Created created;
  std::string old_id;
  std::string old_valid_until;  // RFC 3339
};
Rotation rotate_credential(pg::Connection& db, const std::string& id, long long grace_seconds,
                           long long lifetime_seconds, const std::string& actor);

// Revokes `id`. Returns false when there is no such credential; revoking twice keeps the first
// revocation.
bool revoke_credential(pg::Connection& db, const std::string& id, const std::string& actor,
                       const std::string& reason);

struct CredentialRow {
  std::string id, name, scopes, created_at, created_by, expires_at,
      state;  // state: active|expired|revoked
  std::optional<std::string> revoked_at, rotated_from, last_used_at;
};
// Newest first; without `all`, only credentials that are neither revoked nor expired.
std::vector<CredentialRow> list_credentials(pg::Connection& db, bool all,
                                            const std::optional<std::string>& cpas);

bool is_credential_id(std::string_view s);

}  // namespace relais::auth
