// Unit tests of relais::refdata: the National Register code lists compiled from data/refdata.
#include "relais/refdata/refdata.hpp"

#include <gtest/gtest.h>

#include <set>
#include <utility>

using namespace relais::refdata;

namespace {

struct Merger {
  std::uint32_t old_nis, new_nis;
  const char* last_day;
};

// Written out from the public announcements (Statbel REFNIS end dates, the 2025 merger list), not
// read from the data file, so that a wrong row there fails here.
const Merger kMergers[] = {
    // 1 January 2019
    {12030, 12041, "2018-12-31"},
    {12034, 12041, "2018-12-31"},  // Puurs, Sint-Amands -> Puurs-Sint-Amands
    {44001, 44084, "2018-12-31"},
    {44029, 44084, "2018-12-31"},  // Aalter, Knesselare -> Aalter
    {44011, 44083, "2018-12-31"},
    {44049, 44083, "2018-12-31"},  // Deinze, Nevele -> Deinze
    {44036, 44085, "2018-12-31"},
    {44072, 44085, "2018-12-31"},
    {44080, 44085, "2018-12-31"},  // -> Lievegem
    {45017, 45068, "2018-12-31"},
    {45057, 45068, "2018-12-31"},  // Kruishoutem, Zingem -> Kruisem
    {71047, 72042, "2018-12-31"},
    {72040, 72042, "2018-12-31"},  // Opglabbeek, Meeuwen-Gruitrode -> Oudsbergen
    {72025, 72043, "2018-12-31"},
    {72029, 72043, "2018-12-31"},  // Neerpelt, Overpelt -> Pelt
    // 1 January 2025
    {11007, 11002, "2024-12-31"},  // Borsbeek -> Antwerpen
    {23023, 23106, "2024-12-31"},
    {23024, 23106, "2024-12-31"},
    {23032, 23106, "2024-12-31"},  // -> Pajottegem
    {37012, 37021, "2024-12-31"},
    {37018, 37021, "2024-12-31"},  // Ruiselede, Wingene -> Wingene
    {37007, 37022, "2024-12-31"},
    {37015, 37022, "2024-12-31"},  // Meulebeke, Tielt -> Tielt
    {44012, 44086, "2024-12-31"},
    {44048, 44086, "2024-12-31"},  // -> Nazareth-De Pinte
    {44034, 44087, "2024-12-31"},
    {44073, 44087, "2024-12-31"},  // Lochristi, Wachtebeke -> Lochristi
    {46014, 46029, "2024-12-31"},
    {44045, 46029, "2024-12-31"},  // Lokeren, Moerbeke -> Lokeren
    {44040, 44088, "2024-12-31"},
    {44043, 44088, "2024-12-31"},  // -> Merelbeke-Melle
    {46003, 46030, "2024-12-31"},
    {46013, 46030, "2024-12-31"},
    {11056, 46030, "2024-12-31"},  // -> B-K-Z
    {73006, 73110, "2024-12-31"},
    {73032, 73110, "2024-12-31"},  // -> Bilzen-Hoeselt
    {73009, 73111, "2024-12-31"},
    {73083, 73111, "2024-12-31"},  // -> Tongeren-Borgloon
    {71069, 71071, "2024-12-31"},
    {71057, 71071, "2024-12-31"},  // -> Tessenderlo-Ham
    {71022, 71072, "2024-12-31"},
    {73040, 71072, "2024-12-31"},  // Hasselt, Kortessem -> Hasselt
    {82003, 82039, "2024-12-31"},
    {82005, 82039, "2024-12-31"},  // Bastogne, Bertogne -> Bastogne
};

}  // namespace

TEST(RefdataCsv, SplitsRowsAndSkipsComments) {
  const auto rows = parse_csv("# source\nnis,name\r\n11001,Aartselaar\n\n# note\n11002,\n");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string_view>{"nis", "name"}));
  EXPECT_EQ(rows[1], (std::vector<std::string_view>{"11001", "Aartselaar"}));
  EXPECT_EQ(rows[2], (std::vector<std::string_view>{"11002", ""}));
}

TEST(RefdataCsv, EveryFileNamesItsSource) {
  for (const char* f :
       {"countries", "municipalities", "civil_status", "gender", "household_roles"}) {
    const auto text = data_file(f);
    ASSERT_FALSE(text.empty()) << f;
    EXPECT_EQ(text.substr(0, 2), "# ") << f;
    EXPECT_NE(text.find("2026-12-04"), std::string_view::npos)
        << f << ": the date the data was taken";
  }
  EXPECT_TRUE(data_file("nope").empty());
}

TEST(Municipalities, CountsBeforeAndAfterTheMergers) {
  EXPECT_EQ(municipality_count_on("2025-01-01"), 565u);
  EXPECT_EQ(municipality_count_on("2026-12-04"), 565u);
  EXPECT_EQ(municipality_count_on("2024-12-31"), 581u);
  EXPECT_EQ(municipality_count_on("2019-01-01"), 581u);
  EXPECT_EQ(municipality_count_on("2018-12-31"), 589u);
  EXPECT_EQ(municipality_count_on("not a date"), 0u);
  std::size_t current = 0;
  for (const auto& m : municipalities()) current += m.current() ? 1 : 0;
  EXPECT_EQ(current, 565u);
  EXPECT_EQ(municipalities().size(), 565u + std::size(kMergers));  // Antwerpen kept its code
}

TEST(Municipalities, EveryMergerOldToNew) {
  std::set<std::uint32_t> ended;
  for (const auto& g : kMergers) {
    const auto old_m = municipality(g.old_nis);
    ASSERT_TRUE(old_m) << g.old_nis;
    EXPECT_FALSE(old_m->current()) << g.old_nis;
    EXPECT_EQ(old_m->valid_until, g.last_day) << g.old_nis;
    EXPECT_EQ(old_m->successor, g.new_nis) << g.old_nis;
    const auto new_m = municipality(g.new_nis);
    ASSERT_TRUE(new_m) << g.new_nis;
    EXPECT_TRUE(new_m->current()) << g.new_nis;
    // Today, and from the day after the merger, the old code designates the new municipality;
    // up to its last day, itself.
    EXPECT_EQ(current_municipality(g.old_nis), g.new_nis) << g.old_nis;
    EXPECT_EQ(current_municipality(g.old_nis, "2026-01-01"), g.new_nis) << g.old_nis;
    EXPECT_EQ(current_municipality(g.old_nis, g.last_day), g.old_nis) << g.old_nis;
    const std::string next = std::string(g.last_day) == "2018-12-31" ? "2019-01-01" : "2025-01-01";
    EXPECT_EQ(current_municipality(g.old_nis, next), g.new_nis) << g.old_nis;
    const auto pre = predecessors(g.new_nis);
    EXPECT_NE(std::find(pre.begin(), pre.end(), g.old_nis), pre.end()) << g.old_nis;
    ended.insert(g.old_nis);
  }
  // No code ended that the list of mergers does not name.
  for (const auto& m : municipalities()) {
    if (!m.current()) {
      EXPECT_TRUE(ended.count(m.nis)) << m.nis;
    }
  }
}

TEST(Municipalities, NamesCodesAndUnknowns) {
  const auto kruisem = municipality(45068);
  ASSERT_TRUE(kruisem);
  EXPECT_EQ(kruisem->name_nl, "Kruisem");
  EXPECT_EQ(kruisem->valid_from, "2019-01-01");
  EXPECT_EQ(municipality(21004)->name_fr, "Bruxelles");
  EXPECT_EQ(municipality(63023)->name_nl, "Eupen");  // the OrgUnit of the BCSS ManageAccess sample
  EXPECT_EQ(current_municipality(21004), 21004u);
  EXPECT_EQ(current_municipality(11002, "2020-06-01"), 11002u);  // Antwerpen before and after 2025
  EXPECT_EQ(current_municipality(23106, "2024-06-01"),
            std::nullopt);  // Pajottegem did not exist yet
  EXPECT_EQ(current_municipality(23106, "2025-01-01"), 23106u);
  EXPECT_EQ(current_municipality(11007, "2025-13-01"), std::nullopt);
  for (std::uint32_t unknown : {0u, 150u, 10000u, 11000u, 99999u, 99991u, 123456u}) {
    EXPECT_EQ(municipality(unknown), std::nullopt) << unknown;
    EXPECT_EQ(current_municipality(unknown), std::nullopt) << unknown;
  }
  std::set<std::uint32_t> seen;
  for (const auto& m : municipalities()) {
    EXPECT_TRUE(m.nis >= 11001 && m.nis <= 93090) << m.nis;
    EXPECT_TRUE(seen.insert(m.nis).second) << "duplicate " << m.nis;
    EXPECT_FALSE(m.name_nl.empty());
    EXPECT_FALSE(m.name_fr.empty());
  }
}

TEST(Countries, BelgiumAndTheIsoRoundTrip) {
  const auto be = country(150);
  ASSERT_TRUE(be);
  EXPECT_EQ(be->iso2, "BE");
  EXPECT_EQ(be->name_nl, "België");
  EXPECT_EQ(country_code_for_iso2("BE"), 150u);
  EXPECT_EQ(country_code_for_iso2("DE"), 103u);  // 103, 134 and 173 all carry DE: the lowest
  for (auto [code, iso] :
       std::initializer_list<std::pair<std::uint32_t, const char*>>{{111, "FR"},
                                                                    {113, "LU"},
                                                                    {129, "NL"},
                                                                    {128, "IT"},
                                                                    {112, "GB"},
                                                                    {127, "CH"},
                                                                    {145, "RU"}}) {
    ASSERT_TRUE(country(code)) << code;
    EXPECT_EQ(country(code)->iso2, iso) << code;
    EXPECT_EQ(country_code_for_iso2(iso), code) << iso;
  }
  // Every ISO code maps back to a code carrying it.
  std::size_t with_iso = 0;
  for (const auto& c : countries()) {
    if (c.iso2.empty()) continue;
    ++with_iso;
    EXPECT_EQ(c.iso2.size(), 2u) << c.nr_code;
    const auto back = country_code_for_iso2(c.iso2);
    ASSERT_TRUE(back) << c.iso2;
    EXPECT_EQ(country(*back)->iso2, c.iso2);
    EXPECT_LE(*back, c.nr_code);
  }
  EXPECT_GT(with_iso, 150u);
}

TEST(Countries, UnknownsRefused) {
  for (std::uint32_t code : {0u, 1u, 100u, 998u, 1000u, 99999u})
    EXPECT_EQ(country(code), std::nullopt) << code;
  for (const char* iso : {"", "B", "be", "XX", "BEL", "ZZ"})
    EXPECT_EQ(country_code_for_iso2(iso), std::nullopt) << iso;
  ASSERT_TRUE(country(999));  // "undetermined" is a code of the list, without ISO code
  EXPECT_TRUE(country(999)->iso2.empty());
}

TEST(Codes, CivilStatusGenderHouseholdRoles) {
  const std::set<unsigned> civil{10, 20, 25, 26, 30, 40, 41, 50, 51, 60};
  for (unsigned c = 0; c < 100; ++c) EXPECT_EQ(is_civil_status_code(c), civil.count(c) == 1) << c;
  EXPECT_EQ(civil_status_label(20), "Married");
  EXPECT_EQ(civil_status_label(25), "");  // in the schema, no public label
  EXPECT_EQ(civil_status_codes().size(), 10u);
  for (unsigned c = 0; c < 10; ++c) EXPECT_EQ(is_gender_code(c), c <= 2) << c;
  EXPECT_EQ(gender_label(0), "Unknown");
  EXPECT_EQ(gender_label(2), "Female");
  EXPECT_EQ(gender_label(3), "");
  for (unsigned c : {1u, 2u, 3u, 6u, 10u, 12u}) EXPECT_TRUE(is_household_role_code(c)) << c;
  for (unsigned c : {0u, 4u, 13u, 99u}) EXPECT_FALSE(is_household_role_code(c)) << c;
  EXPECT_EQ(household_role_label(2), "Spouse");
  EXPECT_EQ(household_role_label_de(12), "nicht verwandt");
  EXPECT_EQ(dimona_worker_type("STU"), std::nullopt);  // no public list shipped (README)
}
