// relais-api bearer tokens and scopes, without I/O.
//
// A token is "rls_<id>_<secret>": a recognisable prefix (secret scanners, logs), a 16 hex
// digit public id (64 random bits: finds the credential without revealing anything) and a
// 64 hex digit secret (256 bits from OpenSSL's CSPRNG). Only the SHA-256 of the whole token is
// stored: the secret has full entropy, so a fast hash is enough (no dictionary to defend
// against), and the hashes are compared in constant time.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace relais::auth {

inline constexpr std::string_view kTokenPrefix = "rls_";
inline constexpr std::size_t kIdChars = 16;
inline constexpr std::size_t kSecretChars = 64;
inline constexpr std::size_t kTokenChars = kTokenPrefix.size() + kIdChars + 1 + kSecretChars;

using Hash = std::array<std::uint8_t, 32>;

struct Issued {
  std::string id;
  std::string token;  // shown once to whoever creates the credential, never stored
  Hash hash{};
};

// A fresh id and secret from RAND_bytes. Throws std::runtime_error if the CSPRNG fails.
Issued generate_token();

// The id part of a well-formed token; std::nullopt for anything else (wrong prefix, length,
// separator, upper-case or non-hex digits).
std::optional<std::string> token_id(std::string_view token);

// The token of an "Authorization: Bearer <token>" header value ("Bearer" is case-insensitive,
// one or more spaces). std::nullopt when the header is not a bearer credential.
std::optional<std::string_view> bearer_token(std::string_view authorization);

Hash hash_token(std::string_view token);
bool hash_equal(const Hash& a, const Hash& b);  // constant time
std::string to_hex(const Hash& h);
std::optional<Hash> hash_from_hex(std::string_view hex);

// Scopes of a credential: "operator" and/or "cpas:<cbe>" (a valid enterprise number).
struct Scopes {
  bool op = false;
  std::set<std::string> cpas;

  // An operator credential may act on every CPAS.
  bool allows_cpas(std::string_view cbe) const { return op || cpas.contains(std::string(cbe)); }
  std::vector<std::string> to_strings() const;
  std::string describe() const;  // "operator,cpas:0212344876"
};

// Parses and validates scope strings; returns an error message for a bad or empty list.
std::variant<Scopes, std::string> parse_scopes(const std::vector<std::string>& items);

// Durations for credential lifetimes and grace periods: "90d", "12h", "30m", "45s", "0".
std::optional<long long> parse_duration_seconds(std::string_view s);

}  // namespace relais::auth
