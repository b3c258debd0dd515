#include <gtest/gtest.h>

#include "relais/directory/replacements.hpp"
#include "relais/routing/route.hpp"
#include "relais/validation/date.hpp"

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
  std::vector<std::string> route(std::uint64_t ssin, std::int32_t day,
                                 std::optional<std::uint64_t> rep = {}) {
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
  EXPECT_EQ(out.targets[0].qualities,
            (std::vector<std::uint16_t>{1, 2}));  // every covering line, for the rules
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
  for (std::uint64_t n : {300, 301, 302})
    EXPECT_EQ(route(n, 10), (std::vector<std::string>{"0212344876", "0216480532"})) << n;
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

// ---- Incomplete effective dates (CommonV3 t_IncompleteDate)
// --------------------------------------

namespace {

std::int32_t day_of(const char* iso) {
  return relais::validation::parse_iso_date(iso)->days;
}

routing::Days days_of(const char* incomplete) {
  const auto d = relais::validation::parse_incomplete_date(incomplete);
  EXPECT_TRUE(d) << incomplete;
  return {d->first_day().days, d->last_day().days};
}

}  // namespace

class IncompleteDateRouting : public ::testing::Test {
 protected:
  // One person per integration, so that each case reads one period alone.
  std::uint64_t person(const char* start, const char* end) {
    const auto ssin = next_++;
    d.bulk_add({ssin, static_cast<std::uint32_t>(ssin), a, 1, day_of(start),
                end ? day_of(end) : kOpenEnd});
    return ssin;
  }
  std::vector<std::string> route(std::uint64_t ssin, const char* date) {
    routing::decide(routing::Subject{ssin, std::nullopt, false}, days_of(date), d, out);
    std::vector<std::string> cbes;
    for (const auto& t : out.targets) cbes.push_back(d.cpas(t.cpas).cbe);
    return cbes;
  }
  Directory d;
  std::uint16_t a = d.cpas_index("0212344876");
  std::uint64_t next_ = 1000;
  Decision out;
};

TEST_F(IncompleteDateRouting, MonthOnlyNeedsTheWholeMonth) {
  const auto from_1st = person("2024-05-01", nullptr);
  const auto from_2nd = person("2024-05-02", nullptr);
  const auto to_last = person("2024-01-01", "2024-05-31");
  const auto to_day_before = person("2024-01-01", "2024-05-30");
  const auto feb_leap = person("2024-02-01", "2024-02-29");
  const auto feb_common = person("2023-02-01", "2023-02-28");
  const std::vector<std::string> to_a{"0212344876"};
  d.finish_bulk();

  EXPECT_EQ(route(from_1st, "2024-05-00"), to_a);
  EXPECT_EQ(route(from_2nd, "2024-05-00"), std::vector<std::string>{});
  EXPECT_EQ(out.drop, DropReason::incomplete_date_not_covered);
  EXPECT_EQ(routing::reason_name(out.drop), "incomplete_date_not_covered");
  EXPECT_EQ(route(from_2nd, "2024-06-00"), to_a);  // the next month is wholly covered
  EXPECT_EQ(route(from_2nd, "2024-04-00"), std::vector<std::string>{});
  EXPECT_EQ(out.drop, DropReason::outside_period);  // no part of April is covered
  EXPECT_EQ(route(to_last, "2024-05-00"), to_a);
  EXPECT_EQ(route(to_day_before, "2024-05-00"), std::vector<std::string>{});
  EXPECT_EQ(out.drop, DropReason::incomplete_date_not_covered);
  EXPECT_EQ(route(to_day_before, "2024-04-00"), to_a);
  EXPECT_EQ(route(to_day_before, "2024-06-00"), std::vector<std::string>{});
  EXPECT_EQ(out.drop, DropReason::outside_period);
  EXPECT_EQ(route(feb_leap, "2024-02-00"), to_a);
  EXPECT_EQ(route(feb_common, "2023-02-00"), to_a);
  // The complete dates inside a partly covered month still route.
  EXPECT_EQ(route(from_2nd, "2024-05-02"), to_a);
  EXPECT_EQ(route(from_2nd, "2024-05-01"), std::vector<std::string>{});
  EXPECT_EQ(out.drop, DropReason::outside_period);
}

TEST_F(IncompleteDateRouting, YearOnlyNeedsTheWholeYear) {
  const auto open_from_jan1 = person("2024-01-01", nullptr);
  const auto open_from_jan2 = person("2024-01-02", nullptr);
  const auto to_dec31 = person("2020-06-15", "2024-12-31");
  const auto to_dec30 = person("2020-06-15", "2024-12-30");
  const std::vector<std::string> to_a{"0212344876"};
  d.finish_bulk();

  EXPECT_EQ(route(open_from_jan1, "2024-00-00"), to_a);
  EXPECT_EQ(route(open_from_jan1, "2199-00-00"), to_a);  // open end
  EXPECT_EQ(route(open_from_jan1, "2023-00-00"), std::vector<std::string>{});
  EXPECT_EQ(out.drop, DropReason::outside_period);
  EXPECT_EQ(route(open_from_jan2, "2024-00-00"), std::vector<std::string>{});
  EXPECT_EQ(out.drop, DropReason::incomplete_date_not_covered);
  EXPECT_EQ(route(open_from_jan2, "2025-00-00"), to_a);
  EXPECT_EQ(route(to_dec31, "2024-00-00"), to_a);
  EXPECT_EQ(route(to_dec31, "2020-00-00"), std::vector<std::string>{});
  EXPECT_EQ(out.drop, DropReason::incomplete_date_not_covered);
  EXPECT_EQ(route(to_dec30, "2024-00-00"), std::vector<std::string>{});
  EXPECT_EQ(out.drop, DropReason::incomplete_date_not_covered);
  EXPECT_EQ(route(to_dec30, "2024-12-00"), std::vector<std::string>{});
  EXPECT_EQ(route(to_dec30, "2024-11-00"), to_a);
  EXPECT_EQ(route(to_dec30, "2025-00-00"), std::vector<std::string>{});
  EXPECT_EQ(out.drop, DropReason::outside_period);
  EXPECT_EQ(route(999999, "2024-00-00"), std::vector<std::string>{});
  EXPECT_EQ(out.drop, DropReason::not_integrated);
}

TEST_F(IncompleteDateRouting, ConsecutiveLinesOfOneCpasDoNotAddUp) {
  // Two lines of the same CPAS, one ending on 15 May, the next starting on 16 May: the month is
  // covered only jointly, and the rule asks for one integration covering all of it.
  const auto ssin = next_++;
  d.bulk_add({ssin, 1, a, 1, day_of("2024-01-01"), day_of("2024-05-15")});
  d.bulk_add({ssin, 2, a, 2, day_of("2024-05-16"), kOpenEnd});
  d.finish_bulk();
  EXPECT_EQ(route(ssin, "2024-05-00"), std::vector<std::string>{});
  EXPECT_EQ(out.drop, DropReason::incomplete_date_not_covered);
  EXPECT_EQ(route(ssin, "2024-05-15"), std::vector<std::string>{"0212344876"});
  EXPECT_EQ(route(ssin, "2024-06-00"), std::vector<std::string>{"0212344876"});
}

TEST_F(IncompleteDateRouting, CompleteDateGivesTheSingleDayDecision) {
  const auto ssin = person("2024-05-02", "2024-05-31");
  d.finish_bulk();
  for (const char* date : {"2024-05-01", "2024-05-02", "2024-05-31", "2024-06-01"}) {
    Decision single;
    routing::decide(routing::Subject{ssin, std::nullopt, false}, day_of(date), d, single);
    route(ssin, date);
    EXPECT_EQ(out.targets.size(), single.targets.size()) << date;
    EXPECT_EQ(out.drop, single.drop) << date;
  }
}
