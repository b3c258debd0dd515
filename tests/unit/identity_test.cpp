// Unit tests of the CPAS identity rules (relais/directory/identity.hpp), pure parts.
#include "relais/directory/identity.hpp"

#include <gtest/gtest.h>

using namespace relais::directory;

TEST(CpasIdentity, ReferenceKindByLength) {
  EXPECT_EQ(cpas_ref_kind("0212344876"), CpasRef::cbe);
  EXPECT_EQ(cpas_ref_kind("45068"), CpasRef::nis);
  for (const char* bad :
       {"", "4506", "450680", "021234487", "02123448761", "4506a", "45 68", "-4506"})
    EXPECT_EQ(cpas_ref_kind(bad), CpasRef::invalid) << bad;
}

TEST(CpasIdentity, NormalizesCodesThroughTheMergers) {
  CpasIdentity id;
  // Kruishoutem and Zingem (2019 -> Kruisem), Kruisem itself, Brussels: two municipalities.
  ASSERT_EQ(normalize_identity({"45017", "45057", "45068", "21004"}, id), std::nullopt);
  EXPECT_EQ(id.nis, (std::vector<std::uint32_t>{21004, 45068}));
  ASSERT_EQ(normalize_identity({"11007"}, id), std::nullopt);  // Borsbeek -> Antwerpen (2025)
  EXPECT_EQ(id.nis, (std::vector<std::uint32_t>{11002}));
  ASSERT_EQ(normalize_identity({}, id), std::nullopt);
  EXPECT_TRUE(id.nis.empty());
}

TEST(CpasIdentity, RefusesBadCodesAndPairs) {
  CpasIdentity id;
  auto e = normalize_identity({"21004", "99999"}, id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "UNKNOWN_NIS_CODE");
  EXPECT_EQ(e->field, "nis_codes[1]");
  e = normalize_identity({"2100"}, id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "INVALID_NIS_CODE");
  EXPECT_EQ(e->field, "nis_codes[0]");
  e = normalize_identity(std::vector<std::string>(51, "21004"), id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "TOO_MANY_ITEMS");
  id.sector = 17;
  e = normalize_identity({"21004"}, id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "INCONSISTENT");
  EXPECT_EQ(e->field, "institution");
  id.institution = 1000;
  e = normalize_identity({"21004"}, id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "institution");
  id.institution = 999;
  EXPECT_EQ(normalize_identity({"21004"}, id), std::nullopt);
}

TEST(CpasIdentity, ServingFollowsMergersBothWays) {
  const std::vector<NisServed> served{
      {45068, "0212344876"}, {21004, "0207350189"}, {23023, "0216480532"}};
  // An old code finds the CPAS of its merged municipality.
  auto s = serving_cpas(45017, served);
  EXPECT_EQ(s.cbes, std::vector<std::string>{"0212344876"});
  EXPECT_EQ(s.municipality, 45068u);
  EXPECT_EQ(serving_cpas(45068, served).cbes, std::vector<std::string>{"0212344876"});
  // A code stored before a merger (Galmaarden) answers for the merged municipality and its other
  // parts.
  EXPECT_EQ(serving_cpas(23106, served).cbes, std::vector<std::string>{"0216480532"});
  EXPECT_EQ(serving_cpas(23024, served).cbes, std::vector<std::string>{"0216480532"});
  // Not served, unknown.
  s = serving_cpas(44083, served);
  EXPECT_TRUE(s.cbes.empty());
  EXPECT_EQ(s.municipality, 44083u);
  s = serving_cpas(99999, served);
  EXPECT_TRUE(s.cbes.empty());
  EXPECT_EQ(s.municipality, 0u);
  // Two CPAS that each served a part of what a merger joined: ambiguous, both named.
  const std::vector<NisServed> split{{23023, "0216480532"}, {23032, "0212344876"}};
  EXPECT_EQ(serving_cpas(23106, split).cbes,
            (std::vector<std::string>{"0212344876", "0216480532"}));
}
