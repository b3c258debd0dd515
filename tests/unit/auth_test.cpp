// relais::auth without I/O: token format, parsing, hashing, scopes, the token verdict, the
// credential cache; relais-api's SSIN replacement request (the route table: api_routes_test.cpp).
#include <gtest/gtest.h>

#include <set>

#include "relais/api/access.hpp"
#include "relais/api/replacements.hpp"
#include "relais/auth/credentials.hpp"
#include "relais/auth/token.hpp"

namespace relais::auth {
namespace {

using namespace std::chrono_literals;

TEST(AuthToken, GeneratedTokensHaveThePrefixTheIdAndA256BitSecret) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto t = generate_token();
    ASSERT_EQ(t.token.size(), kTokenChars);
    EXPECT_TRUE(t.token.starts_with("rls_" + t.id + "_"));
    EXPECT_EQ(t.token.size() - t.token.rfind('_') - 1, 64u);  // 32 bytes of CSPRNG output, hex
    EXPECT_EQ(token_id(t.token), t.id);
    EXPECT_TRUE(hash_equal(t.hash, hash_token(t.token)));
    EXPECT_TRUE(seen.insert(t.token).second);
  }
}

TEST(AuthToken, AnythingElseIsNotAToken) {
  auto good = generate_token().token;
  EXPECT_FALSE(token_id(""));
  EXPECT_FALSE(token_id("rls_"));
  EXPECT_FALSE(token_id(good.substr(1)));
  EXPECT_FALSE(token_id(good + "0"));
  EXPECT_FALSE(token_id("xyz_" + good.substr(4)));
  auto upper = good;
  upper[10] = 'A';
  EXPECT_FALSE(token_id(upper));
  auto sep = good;
  sep[4 + 16] = '-';
  EXPECT_FALSE(token_id(sep));
  auto nonhex = good;
  nonhex.back() = 'g';
  EXPECT_FALSE(token_id(nonhex));
}

TEST(AuthToken, BearerHeader) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer   abc  "), "abc");
  EXPECT_EQ(bearer_token("BEARER abc"), "abc");
  EXPECT_FALSE(bearer_token("Basic dXNlcjpwdw=="));
  EXPECT_FALSE(bearer_token("Bearer"));
  EXPECT_FALSE(bearer_token("Bearer    "));
  EXPECT_FALSE(bearer_token("Bearerabc"));
}

TEST(AuthToken, HashHexRoundTripAndConstantTimeCompare) {
  auto h = hash_token("rls_x");
  auto hex = to_hex(h);
  EXPECT_EQ(hex.size(), 64u);
  EXPECT_EQ(hash_from_hex(hex), h);
  EXPECT_EQ(hash_from_hex("\\x" + hex), h);  // bytea text output
  EXPECT_FALSE(hash_from_hex(hex.substr(2)));
  auto other = h;
  other[31] ^= 1;
  EXPECT_FALSE(hash_equal(h, other));
  // Known answer: SHA-256("abc").
  EXPECT_EQ(to_hex(hash_token("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AuthScopes, ParseAndAllow) {
  auto s = std::get<Scopes>(parse_scopes({"cpas:0212344876", "cpas:0207446871"}));
  EXPECT_FALSE(s.op);
  EXPECT_TRUE(s.allows_cpas("0212344876"));
  EXPECT_TRUE(s.allows_cpas("0207446871"));
  EXPECT_FALSE(s.allows_cpas("0201234567"));
  EXPECT_EQ(s.describe(), "cpas:0207446871,cpas:0212344876");
  auto op = std::get<Scopes>(parse_scopes({"operator"}));
  EXPECT_TRUE(op.op && op.allows_cpas("0201234567"));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_scopes({})));
  EXPECT_TRUE(
      std::holds_alternative<std::string>(parse_scopes({"cpas:0212344877"})));  // check digits
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_scopes({"admin"})));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_scopes({"cpas:"})));
}

TEST(AuthScopes, Durations) {
  EXPECT_EQ(parse_duration_seconds("90d"), 90 * 86400);
  EXPECT_EQ(parse_duration_seconds("12h"), 12 * 3600);
  EXPECT_EQ(parse_duration_seconds("30m"), 1800);
  EXPECT_EQ(parse_duration_seconds("45s"), 45);
  EXPECT_EQ(parse_duration_seconds("0"), 0);
  EXPECT_FALSE(parse_duration_seconds("10"));
  EXPECT_FALSE(parse_duration_seconds("d"));
  EXPECT_FALSE(parse_duration_seconds("-1d"));
  EXPECT_FALSE(parse_duration_seconds("1w"));
}

TEST(AuthVerdict, SecretFirstThenRevocationThenExpiry) {
  auto t = generate_token();
  auto now = Clock::now();
  Credential c;
  c.id = t.id;
  c.hash = t.hash;
  c.expires_at = now + 1h;
  EXPECT_EQ(check_token(nullptr, t.token, now), Refusal::unknown_credential);
  EXPECT_EQ(check_token(&c, t.token, now), Refusal::none);
  auto wrong = t.token;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  EXPECT_EQ(check_token(&c, wrong, now), Refusal::bad_secret);
  c.expires_at = now;
  EXPECT_EQ(check_token(&c, t.token, now), Refusal::expired);
  c.revoked_at = now - 1s;
  EXPECT_EQ(check_token(&c, t.token, now), Refusal::revoked);
  // A wrong secret learns nothing about revocation or expiry.
  EXPECT_EQ(check_token(&c, wrong, now), Refusal::bad_secret);
}

TEST(AuthCache, EntriesExpireAndUnknownIdsAreCachedToo) {
  CredentialCache cache(100ms, 4);
  auto t0 = std::chrono::steady_clock::now();
  auto c = std::make_shared<const Credential>(Credential{"a", "n", {}, {}, {}, {}});
  cache.put("a", c, t0);
  cache.put("b", nullptr, t0);
  ASSERT_TRUE(cache.get("a", t0 + 50ms));
  EXPECT_EQ(cache.get("a", t0 + 50ms)->get(), c.get());
  ASSERT_TRUE(cache.get("b", t0 + 50ms));
  EXPECT_EQ(*cache.get("b", t0 + 50ms), nullptr);
  EXPECT_FALSE(cache.get("a", t0 + 100ms));
  EXPECT_FALSE(cache.get("zz", t0));
}

TEST(AuthCache, BoundedUnderAFloodOfIds) {
  CredentialCache cache(1h, 100);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10000; ++i)
    cache.put(std::to_string(i), nullptr, t0 + std::chrono::milliseconds(i));
  EXPECT_LE(cache.size(), 100u);
  EXPECT_TRUE(cache.get("9999", t0 + 10s));  // the newest stay
}

TEST(ApiReplacements, TheOperatorsRequestNeedsAValidPairAndAReason) {
  using api::parse_replacement_request;
  const std::string old_ssin = "93051822361", by = "68060105329";
  api::ReplacementRequest r;
  EXPECT_FALSE(parse_replacement_request(
      old_ssin, R"({"replaced_by":"68060105329","reason":"RN ticket 42"})", r));
  EXPECT_EQ(r.replaced_by, by);
  EXPECT_EQ(r.reason, "RN ticket 42");
  EXPECT_FALSE(r.correct);
  EXPECT_FALSE(parse_replacement_request(
      old_ssin, R"({"replaced_by":"68060105329","reason":" x ","correct":true})", r));
  EXPECT_TRUE(r.correct);
  EXPECT_EQ(r.reason, "x");
  auto field = [&](std::string_view old_n, std::string_view body) {
    api::ReplacementRequest q;
    auto e = parse_replacement_request(old_n, body, q);
    return e ? e->code + ":" + e->field : std::string("ok");
  };
  EXPECT_EQ(field(old_ssin, R"({"replaced_by":"68060105329"})"), "MISSING_FIELD:reason");
  EXPECT_EQ(field(old_ssin, R"({"replaced_by":"68060105329","reason":"  "})"),
            "MISSING_FIELD:reason");
  EXPECT_EQ(field(old_ssin, R"({"reason":"r"})"), "MISSING_FIELD:replaced_by");
  EXPECT_EQ(field(old_ssin, R"({"replaced_by":"93051822361","reason":"r"})"),
            "INCONSISTENT:replaced_by");
  EXPECT_EQ(field(old_ssin, R"({"replaced_by":"68060105328","reason":"r"})"),
            "INVALID_SSIN_CHECKSUM:replaced_by");
  EXPECT_EQ(field("93051822362", R"({"replaced_by":"68060105329","reason":"r"})"),
            "INVALID_SSIN_CHECKSUM:old_ssin");
  EXPECT_EQ(field(old_ssin, R"({"replaced_by":"68060105329","reason":"r","correct":"yes"})"),
            "WRONG_TYPE:correct");
  EXPECT_EQ(field(old_ssin, R"({"replaced_by":"68060105329","reason":"r","cbe":"0212344876"})"),
            "UNKNOWN_FIELD:cbe");
  EXPECT_EQ(field(old_ssin, "[]"), "MALFORMED_JSON:");
}

TEST(ApiReplacements, RefusalsNameBothNumbers) {
  using V = directory::ReplacementVerdict;
  directory::ReplacementState s{std::string("68060105329"), {"12060105317"}};
  auto r = api::replacement_refusal(V::conflict, "93051822361", "12060105317", s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, errc::conflict);
  EXPECT_EQ(r->code, "REPLACEMENT_CONFLICT");
  EXPECT_NE(r->message.find("68060105329"), std::string::npos);
  EXPECT_NE(r->message.find("12060105317"), std::string::npos);
  s = {std::nullopt, {"68060105329", "93051822361"}};
  r = api::replacement_refusal(V::cycle, "93051822361", "68060105329", s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, "REPLACEMENT_CYCLE");
  EXPECT_FALSE(api::replacement_refusal(V::record, "93051822361", "68060105329", s));
  EXPECT_FALSE(api::replacement_refusal(V::unchanged, "93051822361", "68060105329", s));
}

}  // namespace
}  // namespace relais::auth
