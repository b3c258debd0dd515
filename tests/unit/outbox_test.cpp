// Unit tests of the pure parts of clignotant delivery: the reaction code file,
// retry delays, the circuit breaker (injected clock), the classification of
// upstream answers, the upstream URL.
#include <gtest/gtest.h>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <set>

#include "relais/alerts/reaction_codes.hpp"
#include "relais/api/alerts.hpp"
#include "relais/outbox/policy.hpp"
#include "relais/outbox/sender.hpp"

using namespace relais;
using namespace std::chrono_literals;
using outbox::CircuitBreaker;

namespace {
std::string codes_error(std::string_view yaml) {
  auto r = alerts::parse_reaction_codes(yaml, "codes.yaml");
  auto* e = std::get_if<std::string>(&r);
  return e ? *e : std::string{};
}
const char* kGood = R"(version: 1
reaction_codes:
  - code: NO_IMPACT
    description: no impact
    labels: {fr: Pas d'impact, nl: Geen impact, de: Keine Auswirkung}
  - code: AID_REVISED
    description: revised
    labels: {fr: Aide revue, nl: Hulp herzien, de: Hilfe angepasst}
    valid_from: 2024-01-01
    valid_to: 2025-12-31
)";
}  // namespace

TEST(ReactionCodes, DefaultFileLoads) {
  auto r = alerts::load_reaction_codes(RELAIS_SOURCE_DIR "/deploy/rules/reaction-codes.yaml");
  ASSERT_TRUE(std::holds_alternative<alerts::ReactionCodes>(r)) << std::get<std::string>(r);
  const auto& codes = std::get<alerts::ReactionCodes>(r);
  for (const char* c : {"NO_IMPACT", "AID_REVISED", "RECOVERY_STARTED", "ALREADY_KNOWN",
                        "UNDER_INVESTIGATION", "NOT_APPLICABLE"}) {
    const auto* rc = codes.find(c);
    ASSERT_NE(rc, nullptr) << c;
    EXPECT_FALSE(rc->label_fr.empty());
    EXPECT_FALSE(rc->label_nl.empty());
    EXPECT_FALSE(rc->label_de.empty());
  }
  EXPECT_EQ(codes.find("no_impact"), nullptr);  // exact match only
}

TEST(ReactionCodes, ParsesAValidFile) {
  auto r = alerts::parse_reaction_codes(kGood, "codes.yaml");
  ASSERT_TRUE(std::holds_alternative<alerts::ReactionCodes>(r)) << std::get<std::string>(r);
  const auto& c = std::get<alerts::ReactionCodes>(r);
  ASSERT_EQ(c.codes.size(), 2u);
  EXPECT_EQ(c.codes[1].label_nl, "Hulp herzien");
  EXPECT_EQ(c.codes[1].label("de"), "Hilfe angepasst");
  EXPECT_EQ(c.codes[1].label("en"), "revised");  // no en label: the description
  EXPECT_EQ(c.codes[1].valid_from, "2024-01-01");
  EXPECT_EQ(c.codes[1].valid_to, "2025-12-31");
  EXPECT_TRUE(c.codes[0].valid_on("1900-01-01"));  // open-ended
  EXPECT_FALSE(c.codes[1].valid_on("2023-12-31"));
  EXPECT_TRUE(c.codes[1].valid_on("2024-01-01"));  // both bounds inclusive
  EXPECT_TRUE(c.codes[1].valid_on("2025-12-31"));
  EXPECT_FALSE(c.codes[1].valid_on("2026-01-01"));
}

TEST(ReactionCodes, ValidityAndLabelErrorsNameTheEntryAndTheKey) {
  // One entry (its keys after "code: NO_IMPACT, description: x, ") and the error it must give.
  const std::pair<const char*, const char*> cases[] = {
      {"labels: {fr: a, nl: b}",
       "codes.yaml: reaction_codes[0] (NO_IMPACT): labels: missing key \"de\""},
      {"labels: {fr: a, nl: b, de: c}, valid_from: 2024-02-30",
       "reaction_codes[0] (NO_IMPACT): \"valid_from\" must be a date YYYY-MM-DD"},
      {"labels: {fr: a, nl: b, de: c}, valid_from: 2025-01-01, valid_to: 2024-01-01",
       "\"valid_to\" (2024-01-01) is before \"valid_from\" (2025-01-01)"},
      {"labels: {fr: a, nl: b, de: c, es: d}", "unknown language \"es\""},
  };
  for (const auto& [entry, want] : cases) {
    auto err = codes_error(std::string("version: 1\nreaction_codes: [{code: NO_IMPACT, "
                                       "description: x, ") +
                           entry + "}]\n");
    EXPECT_NE(err.find(want), std::string::npos) << entry << " -> " << err;
  }
}

TEST(ReactionCodes, AReactionCodeIsCheckedAgainstTheReactionsDate) {
  auto c = std::get<alerts::ReactionCodes>(alerts::parse_reaction_codes(kGood, "codes.yaml"));
  EXPECT_FALSE(api::check_reaction_code(c, "AID_REVISED", "2025-06-01"));
  EXPECT_FALSE(api::check_reaction_code(c, "NO_IMPACT", "2030-01-01"));
  auto late = api::check_reaction_code(c, "AID_REVISED", "2026-01-01");
  ASSERT_TRUE(late);
  EXPECT_EQ(late->code, "REACTION_CODE_NOT_VALID");
  EXPECT_EQ(late->field, "code");
  EXPECT_EQ(late->message,
            "reaction code AID_REVISED is valid from 2024-01-01 until 2025-12-31, not on "
            "2026-01-01; valid codes: NO_IMPACT");
  auto unknown = api::check_reaction_code(c, "SOMETHING", "2025-06-01");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->code, "INVALID_REACTION_CODE");
  EXPECT_NE(unknown->message.find("valid codes: NO_IMPACT, AID_REVISED"), std::string::npos);
}

TEST(ReactionCodes, RefusesBadFilesWithAClearError) {
  EXPECT_NE(codes_error("version: 1\nreaction_codes: []\n").find("non-empty list"),
            std::string::npos);
  EXPECT_NE(
      codes_error("reaction_codes: [{code: A1, description: x, labels: {fr: a, nl: b, de: c}}]\n")
          .find("version"),
      std::string::npos);
  EXPECT_NE(codes_error("version: 1\ncodes: []\n").find("unknown key \"codes\""),
            std::string::npos);
  auto dup = codes_error(R"(version: 1
reaction_codes:
  - {code: NO_IMPACT, description: x, labels: {fr: a, nl: b, de: c}}
  - {code: NO_IMPACT, description: y, labels: {fr: a, nl: b, de: c}}
)");
  EXPECT_NE(dup.find("duplicate code \"NO_IMPACT\""), std::string::npos) << dup;
  EXPECT_NE(dup.find("reaction_codes[1]"), std::string::npos) << dup;
  auto lower = codes_error(
      "version: 1\nreaction_codes: [{code: no_impact, description: x, labels: {fr: a, nl: b, de: "
      "c}}]\n");
  EXPECT_NE(lower.find("code must be"), std::string::npos) << lower;
  auto nl = codes_error(
      "version: 1\nreaction_codes: [{code: NO_IMPACT, description: x, labels: {fr: a}}]\n");
  EXPECT_NE(nl.find("missing key \"nl\""), std::string::npos) << nl;
  auto extra = codes_error(
      "version: 1\nreaction_codes: [{code: NO_IMPACT, description: x, labels: {fr: a, nl: b, de: "
      "c}, "
      "deadline: 3}]\n");
  EXPECT_NE(extra.find("unknown key \"deadline\""), std::string::npos) << extra;
  EXPECT_NE(codes_error("version: 1\nreaction_codes: [{code: NO_IMPACT}\n").find("not valid YAML"),
            std::string::npos);
  auto missing = alerts::load_reaction_codes("/nonexistent/codes.yaml");
  EXPECT_NE(std::get<std::string>(missing).find("cannot open"), std::string::npos);
}

TEST(Backoff, CeilingDoublesUpToTheCap) {
  outbox::BackoffPolicy p{200ms, 5000ms};
  EXPECT_EQ(p.ceiling(1), 200ms);
  EXPECT_EQ(p.ceiling(2), 400ms);
  EXPECT_EQ(p.ceiling(5), 3200ms);
  EXPECT_EQ(p.ceiling(6), 5000ms);
  EXPECT_EQ(p.ceiling(1000), 5000ms);  // no overflow
  EXPECT_EQ(p.ceiling(0), 200ms);
}

TEST(Backoff, JitterStaysWithinBoundsAndSpreads) {
  outbox::BackoffPolicy p{200ms, 30000ms};
  std::mt19937_64 rng{42};
  for (int attempt = 1; attempt <= 20; ++attempt) {
    auto hi = p.ceiling(attempt);
    std::set<long long> seen;
    for (int i = 0; i < 500; ++i) {
      auto d = p.delay(attempt, rng);
      ASSERT_GE(d, hi / 10) << attempt;
      ASSERT_LE(d, hi) << attempt;
      seen.insert(d.count());
    }
    EXPECT_GT(seen.size(), 10u) << "attempt " << attempt << ": delays must be spread (jitter)";
  }
}

TEST(CircuitBreaker, OpensAfterKFailuresThenOneTrial) {
  CircuitBreaker b(3, 10s);
  auto t = outbox::Clock::time_point{} + 1h;
  EXPECT_EQ(b.acquire(t), CircuitBreaker::Permit::call);
  b.on_failure(t);
  b.on_failure(t);
  EXPECT_EQ(b.state(t), CircuitBreaker::State::closed);
  b.on_success(t);  // a success resets the count
  b.on_failure(t);
  b.on_failure(t);
  EXPECT_EQ(b.state(t), CircuitBreaker::State::closed);
  b.on_failure(t);
  EXPECT_EQ(b.state(t), CircuitBreaker::State::open);
  EXPECT_EQ(b.acquire(t + 9s), CircuitBreaker::Permit::refused);
  EXPECT_EQ(b.retry_at(t + 1s), t + 10s);
  // After T: half-open, exactly one trial at a time.
  EXPECT_EQ(b.state(t + 10s), CircuitBreaker::State::half_open);
  EXPECT_EQ(b.acquire(t + 10s), CircuitBreaker::Permit::trial);
  EXPECT_EQ(b.acquire(t + 10s), CircuitBreaker::Permit::refused);
  // The trial fails: open again for T from then.
  b.on_failure(t + 11s);
  EXPECT_EQ(b.state(t + 11s), CircuitBreaker::State::open);
  EXPECT_EQ(b.acquire(t + 20s), CircuitBreaker::Permit::refused);
  EXPECT_EQ(b.acquire(t + 21s), CircuitBreaker::Permit::trial);
  // The trial succeeds: closed, calls flow.
  b.on_success(t + 21s);
  EXPECT_EQ(b.state(t + 21s), CircuitBreaker::State::closed);
  EXPECT_EQ(b.acquire(t + 21s), CircuitBreaker::Permit::call);
  EXPECT_EQ(b.consecutive_failures(), 0);
}

TEST(CircuitBreaker, AReleasedTrialLetsAnotherCallerProbe) {
  CircuitBreaker b(1, 1s);
  auto t = outbox::Clock::time_point{} + 1h;
  b.on_failure(t);
  EXPECT_EQ(b.acquire(t + 1s), CircuitBreaker::Permit::trial);
  b.release_trial();
  EXPECT_EQ(b.acquire(t + 1s), CircuitBreaker::Permit::trial);
}

TEST(Classify, UpstreamStatuses) {
  EXPECT_TRUE(outbox::classify_status(201).delivered);
  EXPECT_TRUE(outbox::classify_status(200).delivered);
  auto dup = outbox::classify_status(409);  // SPP IS: "already received" (same key twice)
  EXPECT_TRUE(dup.delivered);
  EXPECT_FALSE(dup.breaker_failure);
  EXPECT_EQ(dup.outcome, "duplicate");
  auto s5 = outbox::classify_status(503);
  EXPECT_FALSE(s5.delivered);
  EXPECT_TRUE(s5.breaker_failure);
  EXPECT_EQ(s5.outcome, "http_5xx");
  EXPECT_TRUE(outbox::classify_status(429).breaker_failure);
  EXPECT_TRUE(outbox::classify_status(408).breaker_failure);
  auto s4 = outbox::classify_status(422);
  EXPECT_FALSE(s4.delivered);
  EXPECT_FALSE(s4.breaker_failure);  // the upstream is up; it refused this one
  EXPECT_TRUE(s4.refused);           // FAILED, not retried blindly
  EXPECT_EQ(s4.outcome, "http_4xx");
  for (int st : {400, 401, 403, 404, 422}) EXPECT_TRUE(outbox::classify_status(st).refused) << st;
  for (int st : {200, 408, 409, 429, 500, 503}) EXPECT_FALSE(outbox::classify_status(st).refused);
}

TEST(Classify, TransportErrors) {
  using Stage = http::ClientError::Stage;
  namespace aerr = boost::asio::error;
  auto classify = [](Stage s, boost::system::error_code ec) {
    return outbox::classify_error(http::ClientError(s, ec, "http client h:1: " + ec.message()));
  };
  EXPECT_EQ(classify(Stage::connect, aerr::connection_refused).outcome, "connect_error");
  EXPECT_EQ(classify(Stage::resolve, aerr::host_not_found).outcome, "connect_error");
  EXPECT_EQ(classify(Stage::connect, boost::beast::error::timeout).outcome, "timeout");
  EXPECT_EQ(classify(Stage::read, boost::beast::error::timeout).outcome, "timeout");
  EXPECT_EQ(classify(Stage::read, aerr::connection_reset).outcome, "reset");
  EXPECT_EQ(classify(Stage::read, boost::beast::http::error::end_of_stream).outcome, "reset");
  EXPECT_EQ(classify(Stage::write, aerr::broken_pipe).outcome, "reset");
  EXPECT_EQ(classify(Stage::read, boost::beast::http::error::bad_version).outcome, "io_error");
  EXPECT_EQ(classify(Stage::handshake, aerr::eof).outcome, "tls_error");
  EXPECT_TRUE(classify(Stage::handshake, aerr::eof).breaker_failure);
  // The message is never read: a "timeout" in the text of another error is no timeout.
  EXPECT_EQ(outbox::classify_error(
                http::ClientError(Stage::read, aerr::connection_reset, "read: timeout?"))
                .outcome,
            "reset");
  EXPECT_TRUE(classify(Stage::read, boost::beast::http::error::bad_version).breaker_failure);
}

TEST(Comment, LengthCountsCharactersNotBytes) {
  EXPECT_EQ(api::utf8_length("abc"), 3u);
  EXPECT_EQ(api::utf8_length("été"), 3u);
  EXPECT_EQ(api::utf8_length(std::string(1000, 'x')), 1000u);
}

TEST(ClientTls, ABadFileIsNamed) {
  std::string err;
  EXPECT_FALSE(http::make_client_tls({.ca_file = "/nonexistent/ca.pem"}, err));
  EXPECT_NE(err.find("ca_file \"/nonexistent/ca.pem\""), std::string::npos) << err;
  EXPECT_FALSE(http::make_client_tls({.cert_file = "/nonexistent/c.pem"}, err));
  EXPECT_NE(err.find("cert_file and key_file go together"), std::string::npos) << err;
  EXPECT_FALSE(http::make_client_tls(
      {.cert_file = RELAIS_SOURCE_DIR "/README.md", .key_file = RELAIS_SOURCE_DIR "/README.md"},
      err));
  EXPECT_NE(err.find("cert_file \"" RELAIS_SOURCE_DIR "/README.md\""), std::string::npos) << err;
  EXPECT_TRUE(http::make_client_tls({}, err)) << err;  // the system store, no client certificate
}
