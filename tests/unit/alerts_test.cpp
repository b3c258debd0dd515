#include <gtest/gtest.h>

#include <regex>

#include "relais/alerts/rules.hpp"
#include "relais/codec/samples.hpp"

using namespace relais;
using alerts::Rule;

namespace {
alerts::Ruleset default_rules() {
  auto r = alerts::load_rules(RELAIS_SOURCE_DIR "/deploy/rules/clignotants.yaml");
  if (auto* err = std::get_if<std::string>(&r)) ADD_FAILURE() << *err;
  return std::get<alerts::Ruleset>(std::move(r));
}

v1::Notification make(v1::Flow flow) {
  return codec::sample_notification(flow, "123e4567-e89b-12d3-a456-426614174000", "68060105329",
                                    "2026-11-01");
}

std::vector<std::string> fire(const alerts::Ruleset& rs, const v1::Notification& n,
                              std::vector<std::uint16_t> q,
                              std::vector<std::string> territory = {"21004"}) {
  std::vector<const Rule*> out;
  alerts::evaluate(rs, alerts::Context{n, q, territory}, out);
  std::vector<std::string> ids;
  for (const auto* r : out) ids.push_back(r->id);
  return ids;
}

std::string error_of(std::string_view yaml) {
  auto r = alerts::parse_rules(yaml, "test.yaml");
  auto* e = std::get_if<std::string>(&r);
  return e ? *e : std::string{};
}
}  // namespace

TEST(Rules, DefaultFileLoads) {
  auto rs = default_rules();
  EXPECT_EQ(rs.rules.size(), 8u);
}

TEST(Rules, EmploymentStartedOnlyForRisQualitiesAndNotArticle60) {
  auto rs = default_rules();
  auto n = make(v1::FLOW_PERSONNEL_FILE);
  n.mutable_personnel_file()->set_event(v1::PersonnelFile::DIMONA_IN);
  n.mutable_personnel_file()->set_worker_type(v1::PersonnelFile::OTHER);
  EXPECT_EQ(fire(rs, n, {2}), std::vector<std::string>{"employment-started"});
  EXPECT_EQ(fire(rs, n, {1, 3}), std::vector<std::string>{"employment-started"});
  EXPECT_TRUE(fire(rs, n, {5}).empty());
  // Article 60 is the CPAS's own flag beside DIMONA's worker type (docs/domain-model.md).
  n.mutable_personnel_file()->set_dimona_worker_type("OTH");
  n.mutable_personnel_file()->set_cpas_article_60(true);
  EXPECT_TRUE(fire(rs, n, {2}).empty());
  n.mutable_personnel_file()->set_cpas_article_60(false);
  n.mutable_personnel_file()->set_event(v1::PersonnelFile::DIMONA_OUT);
  EXPECT_TRUE(fire(rs, n, {2}).empty());
}

TEST(Rules, PensionSelfEmploymentHousehold) {
  auto rs = default_rules();
  auto p = make(v1::FLOW_PENSION_REGISTER_MUTATION);
  p.mutable_pension_register_mutation()->set_event(v1::PensionRegisterMutation::RIGHT_CHANGED);
  EXPECT_EQ(fire(rs, p, {3}), std::vector<std::string>{"pension-right-changed"});
  p.mutable_pension_register_mutation()->set_event(v1::PensionRegisterMutation::RIGHT_ENDED);
  EXPECT_TRUE(fire(rs, p, {3}).empty());
  auto s = make(v1::FLOW_SELF_EMPLOYED_CAREER);
  s.mutable_self_employed_career()->set_event(v1::SelfEmployedCareer::CAREER_STARTED);
  EXPECT_EQ(fire(rs, s, {2}), std::vector<std::string>{"self-employment-started"});
  EXPECT_TRUE(fire(rs, s, {7}).empty());
  auto h = make(v1::FLOW_NOTIFY_FAMILY_COMPOSITION);
  EXPECT_EQ(fire(rs, h, {5}), std::vector<std::string>{"household-changed"});
  EXPECT_TRUE(fire(rs, h, {4}).empty());
}

TEST(Rules, DeathForAnyQualityAndMoves) {
  auto rs = default_rules();
  auto n = make(v1::FLOW_NOTIFY_PERSON);
  auto* b = n.mutable_notify_person();
  b->set_event(v1::NotifyPerson::DEATH);
  EXPECT_EQ(fire(rs, n, {40}), std::vector<std::string>{"person-deceased"});
  b->set_event(v1::NotifyPerson::ADDRESS_CHANGE);
  // The rule reads the municipality as it is today (after the mergers), which Relais derives.
  b->mutable_address()->set_current_municipality_nis_code("21004");
  EXPECT_TRUE(fire(rs, n, {2}, {"21004", "21015"}).empty());
  b->mutable_address()->set_current_municipality_nis_code("44021");
  EXPECT_EQ(fire(rs, n, {2}, {"21004", "21015"}),
            std::vector<std::string>{"moved-out-of-territory"});
  b->set_event(v1::NotifyPerson::ADDRESS_ABROAD);
  EXPECT_EQ(fire(rs, n, {2}), std::vector<std::string>{"moved-abroad"});
}

TEST(Rules, MediprimaCheckWhenNoMedicalAidQuality) {
  auto rs = default_rules();
  auto n = make(v1::FLOW_ECARMED_CALCULATION);
  n.mutable_ecarmed_calculation()->set_event(v1::EcarmedCalculation::CALCULATION_CREATED);
  EXPECT_EQ(fire(rs, n, {1}), std::vector<std::string>{"mediprima-check"});
  EXPECT_EQ(fire(rs, n, {8, 40}), std::vector<std::string>{"mediprima-check"});
  EXPECT_TRUE(fire(rs, n, {4}).empty());
  EXPECT_TRUE(fire(rs, n, {1, 2}).empty());
  n.mutable_ecarmed_calculation()->set_event(v1::EcarmedCalculation::CALCULATION_CANCELLED);
  EXPECT_TRUE(fire(rs, n, {1}).empty());
}

TEST(Rules, ErrorsNameTheRuleAndTheKey) {
  const char* head = "version: 1\nrules:\n  - id: r1\n    alert: X\n";
  EXPECT_NE(error_of(std::string(head) + "    flow: nope\n").find("rule 'r1': flow"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(head) + "    flow: personnel-file\n    events: [DIMONA_INN]\n")
                .find("\"DIMONA_INN\" is not an event of personnel-file"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(head) + "    flow: personnel-file\n    qualities: [13]\n")
                .find("13 is not a known"),
            std::string::npos);
  EXPECT_NE(
      error_of(
          std::string(head) +
          "    flow: personnel-file\n    when:\n      - field: salary\n        present: true\n")
          .find("unknown field \"salary\""),
      std::string::npos);
  EXPECT_NE(
      error_of(
          std::string(head) +
          "    flow: personnel-file\n    when:\n      - field: worker_type\n        in: [BOSS]\n")
          .find("\"BOSS\" is not a value of worker_type"),
      std::string::npos);
  EXPECT_NE(error_of(std::string(head) + "    flow: personnel-file\n    colour: red\n")
                .find("unknown key \"colour\""),
            std::string::npos);
  EXPECT_NE(error_of(std::string(head) + "    flow: personnel-file\n    deadline_days: 0\n")
                .find("deadline_days"),
            std::string::npos);
  EXPECT_NE(error_of("version: 1\nrules:\n  - {id: a, flow: personnel-file, alert: X}\n  - {id: a, "
                     "flow: personnel-file, alert: Y}\n")
                .find("duplicate id"),
            std::string::npos);
  EXPECT_NE(error_of("rules: [").find("test.yaml"), std::string::npos);
  EXPECT_NE(error_of("version: 2\nrules: []\n").find("version: 1"), std::string::npos);
}

// Found by fuzz_rules (fuzz/regressions/rules/non-scalar-key.yaml): a key that is a list or a
// mapping threw out of parse_rules (the router died at start) instead of being an error.
TEST(Rules, NonScalarKeysAreErrors) {
  EXPECT_NE(error_of("version: 1\n? [a, b]\n: x\n").find("unknown key"), std::string::npos);
  EXPECT_NE(error_of("version: 1\nrules:\n  - id: r1\n    ? {a: 1}\n    : x\n").find("unknown key"),
            std::string::npos);
  EXPECT_NE(
      error_of(
          "version: 1\nrules:\n  - {id: r1, flow: personnel-file, alert: X, when: [{? [f]: x}]}\n")
          .find("rule 'r1'"),
      std::string::npos);
}

TEST(Rules, AlertIdIsStableAndDistinct) {
  auto a = alerts::alert_id("t1", 42, "0212344876", "person-deceased");
  EXPECT_EQ(a, alerts::alert_id("t1", 42, "0212344876", "person-deceased"));
  EXPECT_NE(a, alerts::alert_id("t1", 42, "0207350189", "person-deceased"));
  EXPECT_NE(a, alerts::alert_id("t2", 42, "0212344876", "person-deceased"));
  EXPECT_NE(a, alerts::alert_id("t1", 42, "0212344876", "moved-abroad"));
  // The same ticket for other content (another person, another death): another alert,
  // never one id for two notifications (issue 21: the alert store kept only the first).
  EXPECT_NE(a, alerts::alert_id("t1", 43, "0212344876", "person-deceased"));
  EXPECT_TRUE(std::regex_match(
      a, std::regex("^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")))
      << a;
}
