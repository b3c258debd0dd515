// The notification archive's record frame (libs/api/archive.hpp) and the replay request's
// validation (libs/api/replay.hpp), without PostgreSQL or Kafka.
#include "relais/api/archive.hpp"

#include <gtest/gtest.h>

#include <random>

#include "relais/api/replay.hpp"

namespace relais::api {
namespace {

ArchivedRecord sample() {
  ArchivedRecord r;
  r.key = "68060105329";
  r.headers = {{"flow", "notify-person"},
               {"ticket", "3f1c2a9e-0000-4000-8000-000000000001"},
               {"content-type", "application/x-protobuf"},
               {"raw", std::string("<soap:Envelope>\0\x01\xff</soap:Envelope>", 35)},
               {"flow", "second value of the same name"}};
  r.value = std::string("\x0a\x05hello\x12\x0a", 9) + "0212344876" + std::string(200, 'x');
  return r;
}

TEST(Archive, AFrameDecodesToTheSameRecordByteForByte) {
  auto r = sample();
  auto blob = encode_archived(r);
  EXPECT_TRUE(blob.starts_with("A1"));
  EXPECT_LT(blob.size(), r.value.size());  // deflated: the 200 'x' compress
  auto back = decode_archived(blob);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, r);
  // No key and no header: told apart from an empty key.
  ArchivedRecord bare;
  bare.value = "v";
  auto b = decode_archived(encode_archived(bare));
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->key);
  EXPECT_TRUE(b->headers.empty());
  bare.key = "";
  b = decode_archived(encode_archived(bare));
  ASSERT_TRUE(b && b->key);
  EXPECT_EQ(*b->key, "");
}

TEST(Archive, RandomRecordsRoundTrip) {
  std::mt19937 rng(18);
  auto bytes = [&](std::size_t max) {
    std::string s(rng() % (max + 1), '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 256);
    return s;
  };
  for (int i = 0; i < 300; ++i) {
    ArchivedRecord r;
    if (rng() % 2) r.key = bytes(20);
    for (unsigned h = rng() % 5; h > 0; --h) r.headers.push_back({bytes(10), bytes(300)});
    r.value = bytes(3000);
    auto back = decode_archived(encode_archived(r));
    ASSERT_TRUE(back) << i;
    EXPECT_EQ(*back, r) << i;
  }
}

TEST(Archive, CorruptOrForeignBytesAreRefused) {
  auto blob = encode_archived(sample());
  EXPECT_FALSE(decode_archived(""));
  EXPECT_FALSE(decode_archived("A2" + blob.substr(2)));            // another version
  EXPECT_FALSE(decode_archived(blob.substr(0, blob.size() - 3)));  // truncated
  auto flipped = blob;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x55);
  EXPECT_FALSE(decode_archived(flipped));  // adler-32 mismatch
  EXPECT_FALSE(decode_archived(std::string("A1\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 12)));
}

TEST(Archive, PositionsOrderAndPrint) {
  ArchivePosition a{1733390000000000, 2, 41}, b{1733390000000000, 3, 0}, c{1733390000000001, 0, 0};
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(to_string(a), "1733390000000000:2:41");
  EXPECT_EQ(parse_position("1733390000000000:2:41"), a);
  for (const char* bad : {"", "1:2", "1:2:3:4", "1:-2:3", "x:1:2", "1:2:3 ", "1::3"})
    EXPECT_FALSE(parse_position(bad)) << bad;
}

TEST(Replay, InstantsAreADayInBelgiumOrAnRfc3339Timestamp) {
  EXPECT_EQ(parse_instant("2026-12-01"), "2026-12-01 00:00:00 Europe/Brussels");
  EXPECT_EQ(parse_instant("2026-12-01T08:30:00Z"), "2026-12-01T08:30:00Z");
  EXPECT_EQ(parse_instant("2026-12-01T08:30:00.123456+01:00"), "2026-12-01T08:30:00.123456+01:00");
  for (const char* bad :
       {"", "2026-13-01", "2026-02-30", "2026-12-01T08:30:00", "2026-12-01T24:00:00Z",
        "2026-12-01T08:60:00Z", "2026-12-01T08:30:00+15:00", "yesterday",
        "2026-12-01T08:30:00Z; DROP TABLE cpas", "2026-12-01T08:30:00.1234567Z"})
    EXPECT_FALSE(parse_instant(bad)) << bad;
}

TEST(Replay, RequestsAreValidatedFieldByField) {
  ReplayRequest r;
  EXPECT_FALSE(parse_replay_request(R"({"since":"2026-12-01","until":"2026-12-02T00:00:00Z"})", r));
  EXPECT_EQ(r.since, "2026-12-01 00:00:00 Europe/Brussels");
  EXPECT_EQ(r.until, "2026-12-02T00:00:00Z");
  EXPECT_FALSE(r.again);
  ReplayRequest again;
  EXPECT_FALSE(parse_replay_request(R"({"since":"2026-12-01","until":null,"again":true})", again));
  EXPECT_TRUE(again.again);
  EXPECT_TRUE(again.until.empty());
  auto code = [](std::string_view body) {
    ReplayRequest x;
    auto e = parse_replay_request(body, x);
    return e ? e->code + "/" + e->field : std::string("ok");
  };
  EXPECT_EQ(code("{"), "INVALID_JSON/");
  EXPECT_EQ(code("[]"), "WRONG_TYPE/");
  EXPECT_EQ(code("{}"), "MISSING_FIELD/since");
  EXPECT_EQ(code(R"({"since":20261201})"), "WRONG_TYPE/since");
  EXPECT_EQ(code(R"({"since":"01/12/2026"})"), "INVALID_DATE/since");
  EXPECT_EQ(code(R"({"since":"2026-12-01","until":"soon"})"), "INVALID_DATE/until");
  EXPECT_EQ(code(R"({"since":"2026-12-01","again":"yes"})"), "WRONG_TYPE/again");
  EXPECT_EQ(code(R"({"since":"2026-12-01","cpas":"0212344876"})"), "UNKNOWN_FIELD/cpas");
  EXPECT_EQ(replay_topic("0212344876"), "cpas.0212344876.replay.v1");
}

}  // namespace
}  // namespace relais::api
