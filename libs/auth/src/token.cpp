#include "relais/auth/token.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cctype>
#include <charconv>
#include <stdexcept>

#include "relais/validation/ids.hpp"

namespace relais::auth {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string random_hex(std::size_t chars) {
  std::vector<unsigned char> b(chars / 2);
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1)
    throw std::runtime_error("RAND_bytes failed");
  std::string out;
  out.reserve(chars);
  for (auto c : b) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  OPENSSL_cleanse(b.data(), b.size());
  return out;
}

bool lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

Issued generate_token() {
  Issued i;
  i.id = random_hex(kIdChars);
  i.token = std::string(kTokenPrefix) + i.id + "_" + random_hex(kSecretChars);
  i.hash = hash_token(i.token);
  return i;
}

std::optional<std::string> token_id(std::string_view t) {
  if (t.size() != kTokenChars || !t.starts_with(kTokenPrefix)) return std::nullopt;
  auto id = t.substr(kTokenPrefix.size(), kIdChars);
  if (t[kTokenPrefix.size() + kIdChars] != '_') return std::nullopt;
  auto secret = t.substr(kTokenPrefix.size() + kIdChars + 1);
  if (!lower_hex(id) || !lower_hex(secret)) return std::nullopt;
  return std::string(id);
}

std::optional<std::string_view> bearer_token(std::string_view h) {
  constexpr std::string_view kScheme = "bearer";
  if (h.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i)
    if (static_cast<char>(std::tolower(static_cast<unsigned char>(h[i]))) != kScheme[i])
      return std::nullopt;
  if (h[kScheme.size()] != ' ') return std::nullopt;
  h.remove_prefix(kScheme.size());
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
  if (h.empty()) return std::nullopt;
  return h;
}

Hash hash_token(std::string_view token) {
  Hash h{};
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), h.data());
  return h;
}

bool hash_equal(const Hash& a, const Hash& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string to_hex(const Hash& h) {
  std::string out;
  out.reserve(h.size() * 2);
  for (auto c : h) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::optional<Hash> hash_from_hex(std::string_view hex) {
  if (hex.starts_with("\\x")) hex.remove_prefix(2);  // PostgreSQL bytea text output
  Hash h{};
  if (hex.size() != h.size() * 2 || !lower_hex(hex)) return std::nullopt;
  auto val = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (std::size_t i = 0; i < h.size(); ++i)
    h[i] = static_cast<std::uint8_t>(val(hex[2 * i]) * 16 + val(hex[2 * i + 1]));
  return h;
}

std::vector<std::string> Scopes::to_strings() const {
  std::vector<std::string> out;
  if (op) out.emplace_back("operator");
  for (const auto& c : cpas) out.push_back("cpas:" + c);
  return out;
}

std::string Scopes::describe() const {
  std::string out;
  for (const auto& s : to_strings()) out += (out.empty() ? "" : ",") + s;
  return out;
}

std::variant<Scopes, std::string> parse_scopes(const std::vector<std::string>& items) {
  Scopes s;
  if (items.empty())
    return std::string("a credential needs at least one scope (operator or cpas:<cbe>)");
  if (items.size() > 1000) return std::string("at most 1000 scopes per credential");
  for (const auto& it : items) {
    if (it == "operator") {
      s.op = true;
    } else if (it.starts_with("cpas:") && validation::is_valid_cbe(it.substr(5))) {
      s.cpas.insert(it.substr(5));
    } else {
      return "bad scope '" + it +
             "': expected operator or cpas:<cbe> (10 digits, valid check digits)";
    }
  }
  return s;
}

std::optional<long long> parse_duration_seconds(std::string_view s) {
  if (s == "0") return 0;
  if (s.size() < 2) return std::nullopt;
  long long n = 0;
  auto num = s.substr(0, s.size() - 1);
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
  if (ec != std::errc{} || p != num.data() + num.size() || n < 0 || n > 100000) return std::nullopt;
  switch (s.back()) {
    case 'd':
      return n * 86400;
    case 'h':
      return n * 3600;
    case 'm':
      return n * 60;
    case 's':
      return n;
    default:
      return std::nullopt;
  }
}

}  // namespace relais::auth
