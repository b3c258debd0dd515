#include <gtest/gtest.h>

#include "relais/directory/replacements.hpp"
#include "relais/routing/route.hpp"

using namespace relais;
using directory::Directory;
using directory::Entry;
using directory::kOpenEnd;
using routing::Decision;
using routing::DropReason;

class RoutingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a = d.cpas_index("0212344876");
    b = d.cpas_index("0207350189");
    c = d.cpas_index("0216480532");
    // Person 100: A from day 10 to 20 (quality 2), B open from day 15 (quality 5).
    d.bulk_add({100, 1, a, 2, 10, 20});
    d.bulk_add({100, 2, b, 5, 15, kOpenEnd});
    // Person 200: C, two covering lines (quality 1 then 2 from day 30).
    d.bulk_add({200, 3, c, 1, 0, kOpenEnd});
    d.bulk_add({200, 4, c, 2, 30, kOpenEnd});
    // Person 300 (BIS number later replaced by 301): A.
    d.bulk_add({300, 5, a, 3, 0, kOpenEnd});
    d.finish_bulk();
  }
  std::vector<std::string> route(std::uint64_t ssin, std::int32_t day, std::optional<std::uint64_t> rep = {}) {
    routing::decide(ssin, rep, day, d, out);
    std::vector<std::string> cbes;
    for (const auto& t : out.targets) cbes.push_back(d.cpas(t.cpas).cbe);
    return cbes;
  }
  Directory d;
  std::uint16_t a{}, b{}, c{};
  Decision out;
};

TEST_F(RoutingTest, PeriodEdgesAreInclusive) {
  EXPECT_TRUE(route(100, 9).empty());
  EXPECT_EQ(out.drop, DropReason::outside_period);
  EXPECT_EQ(route(100, 10), std::vector<std::string>{"0212344876"});
  EXPECT_EQ(route(100, 14), std::vector<std::string>{"0212344876"});
  EXPECT_EQ(route(100, 20), (std::vector<std::string>{"0212344876", "0207350189"}));
  EXPECT_EQ(route(100, 21), std::vector<std::string>{"0207350189"});
  EXPECT_EQ(route(100, 100000), std::vector<std::string>{"0207350189"});  // open end
}

TEST_F(RoutingTest, FanOutToSeveralCpasOncePerCpas) {
  EXPECT_EQ(route(100, 16).size(), 2u);
  EXPECT_EQ(out.drop, DropReason::none);
  // Two covering lines at C: one record, the line that started last.
  EXPECT_EQ(route(200, 40), std::vector<std::string>{"0216480532"});
  ASSERT_EQ(out.targets.size(), 1u);
  EXPECT_EQ(out.targets[0].integration.quality, 2);
  EXPECT_EQ(out.targets[0].qualities, (std::vector<std::uint16_t>{1, 2}));  // every covering line, for the rules
  EXPECT_EQ(route(200, 5), std::vector<std::string>{"0216480532"});
  EXPECT_EQ(out.targets[0].integration.quality, 1);
}

TEST_F(RoutingTest, UnknownPersonIsNotIntegrated) {
  EXPECT_TRUE(route(999, 10).empty());
  EXPECT_EQ(out.drop, DropReason::not_integrated);
}

TEST_F(RoutingTest, ReplacedSsinFollowsThePerson) {
  // A notification for the new number carrying replaces_ssin reaches the CPAS of the old one.
  EXPECT_TRUE(route(301, 10).empty());
  EXPECT_EQ(route(301, 10, 300), std::vector<std::string>{"0212344876"});
  // Once the replacement is recorded, the new number alone is enough, and the old one too.
  d.add_replacement(300, 301);
  EXPECT_EQ(route(301, 10), std::vector<std::string>{"0212344876"});
  d.upsert({301, 9, b, 2, 0, kOpenEnd});
  EXPECT_EQ(route(300, 10), (std::vector<std::string>{"0212344876", "0207350189"}));
}

TEST_F(RoutingTest, ReplacesSsinIsFollowedOnlyWhenTheRegisterAnnouncesTheReplacement) {
  // 300 is integrated by A only; a notification about 301 names 300 as the number it replaces.
  auto subject = [&](bool announced, std::int32_t day = 10) {
    routing::decide(routing::Subject{301, 300, announced}, day, d, out);
    std::vector<std::string> cbes;
    for (const auto& t : out.targets) cbes.push_back(d.cpas(t.cpas).cbe);
    return cbes;
  };
  // notify-person SSIN_REPLACED: the register announces it, A (the old number's CPAS) is told.
  EXPECT_EQ(subject(true), std::vector<std::string>{"0212344876"});
  // Any other event (a NATIONALITY_CHANGE carrying replaces_ssin): the sender's claim is not
  // followed, nothing recorded links 301 to 300, A hears nothing.
  EXPECT_TRUE(subject(false).empty());
  EXPECT_EQ(out.drop, DropReason::not_integrated);
  // Once the replacement is recorded, every event follows it.
  d.add_replacement(300, 301);
  EXPECT_EQ(subject(false), std::vector<std::string>{"0212344876"});
  // A claim naming another CPAS's person on an ordinary event adds nobody.
  routing::decide(routing::Subject{301, 100, false}, 16, d, out);
  ASSERT_EQ(out.targets.size(), 1u);
  EXPECT_EQ(d.cpas(out.targets[0].cpas).cbe, "0212344876");
}

TEST_F(RoutingTest, ChainsOfReplacementsAreFollowedBothWays) {
  // 300 (A) -> 301 -> 302, and 302 is integrated by C: each number reaches A and C.
  d.add_replacement(300, 301);
  d.add_replacement(301, 302);
  d.upsert({302, 11, c, 2, 0, kOpenEnd});
  for (std::uint64_t n : {300, 301, 302}) EXPECT_EQ(route(n, 10), (std::vector<std::string>{"0212344876", "0216480532"})) << n;
  // An operator drops 301 -> 302: 302 is C's alone again, 300 and 301 A's.
  d.remove_replacement(301);
  EXPECT_EQ(route(302, 10), std::vector<std::string>{"0216480532"});
  EXPECT_EQ(route(301, 10), std::vector<std::string>{"0212344876"});
  // Corrected: 300 -> 302 replaces 300 -> 301.
  d.add_replacement(300, 302);
  EXPECT_TRUE(route(301, 10).empty());
  EXPECT_EQ(route(302, 10), (std::vector<std::string>{"0212344876", "0216480532"}));
  d.remove_replacement(999'999);  // unknown: nothing happens
}

TEST(Replacements, NeverSilentlyOverwrittenAndNeverALoop) {
  using directory::judge_replacement;
  using directory::ReplacementState;
  using V = directory::ReplacementVerdict;
  const std::string y = "85441012345", x = "85011512345", w = "90010112345", z = "70010112345";
  // Nothing known about Y: record.
  EXPECT_EQ(judge_replacement(y, x, ReplacementState{std::nullopt, {x}}, false), V::record);
  // Y -> X known: the same again is unchanged (idempotent replays of the register's notification).
  EXPECT_EQ(judge_replacement(y, x, ReplacementState{x, {x}}, false), V::unchanged);
  EXPECT_EQ(judge_replacement(y, x, ReplacementState{x, {x}}, true), V::unchanged);
  // Y -> Z while Y -> X is known: a conflict, unless an operator corrects it explicitly.
  EXPECT_EQ(judge_replacement(y, z, ReplacementState{x, {z}}, false), V::conflict);
  EXPECT_EQ(judge_replacement(y, z, ReplacementState{x, {z}}, true), V::correct);
  // Chain Y -> X -> W: recording W -> Y would close a loop (the chain from Y reaches W).
  EXPECT_EQ(judge_replacement(w, y, ReplacementState{std::nullopt, {y, x, w}}, false), V::cycle);
  EXPECT_EQ(judge_replacement(w, y, ReplacementState{std::nullopt, {y, x, w}}, true), V::cycle);
  // Extending the chain is fine: W -> Z.
  EXPECT_EQ(judge_replacement(w, z, ReplacementState{std::nullopt, {z}}, false), V::record);
  EXPECT_EQ(judge_replacement(y, y, ReplacementState{}, false), V::cycle);
  EXPECT_EQ(directory::verdict_name(V::conflict), "conflict");
}

TEST_F(RoutingTest, ReplacementsAmongManyOthers) {
  // Many unrelated replacements (the filter in front of the maps is resized
  // several times): the ones that matter are still followed, others are not.
  for (std::uint64_t i = 0; i < 5'000; ++i) d.add_replacement(1'000'000 + 2 * i, 1'000'001 + 2 * i);
  d.add_replacement(200, 201);
  EXPECT_EQ(route(201, 40), std::vector<std::string>{"0216480532"});
  EXPECT_EQ(route(200, 40), std::vector<std::string>{"0216480532"});
  EXPECT_EQ(route(100, 16), (std::vector<std::string>{"0212344876", "0207350189"}));
  EXPECT_TRUE(route(1'000'001, 40).empty());
  EXPECT_EQ(out.drop, DropReason::not_integrated);
  d.add_replacement(1'000'001, 100);
  EXPECT_EQ(route(1'000'000, 16), (std::vector<std::string>{"0212344876", "0207350189"}));
}

TEST_F(RoutingTest, DirectoryChangeChangesRouting) {
  EXPECT_TRUE(route(400, 50).empty());
  d.upsert({400, 10, a, 2, 50, kOpenEnd});
  EXPECT_EQ(route(400, 50), std::vector<std::string>{"0212344876"});
  d.upsert({400, 10, a, 2, 50, 49});  // cancelled
  EXPECT_TRUE(route(400, 50).empty());
}
