// Labels for people (libs/labels): the Accept-Language choice, the labels file's checks, and
// LabelsCoverage: every code Relais shows to people has an en/fr/nl/de label (a new alert type,
// quality code, validation error code or problem kind without one fails here).
#include "relais/labels/labels.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "relais/alerts/reaction_codes.hpp"
#include "relais/alerts/rules.hpp"
#include "relais/api/problem.hpp"
#include "relais/refdata/refdata.hpp"
#include "relais/validation/ids.hpp"

using namespace relais;
using labels::Lang;

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::string labels_error(std::string_view yaml) {
  auto r = labels::parse_labels(yaml, "labels.yaml");
  auto* e = std::get_if<std::string>(&r);
  return e ? *e : std::string{};
}
void expect_labelled(std::string_view section, const std::string& key) {
  for (Lang l : labels::kLangs) {
    const auto* t = labels::builtin().find(section, key, l);
    EXPECT_TRUE(t && !t->empty()) << section << ": " << key << " has no " << labels::name(l)
                                  << " label (data/labels/labels.yaml)";
  }
}
}  // namespace

TEST(AcceptLanguage, QValuesAndSubtagsAreHonoured) {
  EXPECT_EQ(labels::negotiate(""), Lang::en);
  EXPECT_EQ(labels::negotiate("fr"), Lang::fr);
  EXPECT_EQ(labels::negotiate("nl-BE"), Lang::nl);
  EXPECT_EQ(labels::negotiate("DE-be"), Lang::de);
  EXPECT_EQ(labels::negotiate("fr;q=0.5, nl;q=0.8"), Lang::nl);
  EXPECT_EQ(labels::negotiate("fr-BE, nl;q=0.9, en;q=0.1"), Lang::fr);
  EXPECT_EQ(labels::negotiate("es, it;q=0.9"), Lang::en);      // nothing supported: English
  EXPECT_EQ(labels::negotiate("es, de;q=0.2"), Lang::de);      // the supported one, however low
  EXPECT_EQ(labels::negotiate("fr;q=0, de;q=0.1"), Lang::de);  // q=0: not acceptable
  EXPECT_EQ(labels::negotiate("fr;q=0"), Lang::en);
  EXPECT_EQ(labels::negotiate("nl;q=0.7, de;q=0.7"), Lang::nl);  // a tie: the first listed
  EXPECT_EQ(labels::negotiate("*;q=0.9, fr;q=0.5"), Lang::en);   // "*" is English
  EXPECT_EQ(labels::negotiate("nl;q=abc, fr;q=0.9"), Lang::nl);  // a malformed q counts as 1
  EXPECT_EQ(labels::negotiate(" , ;q=1, fr "), Lang::fr);
}

TEST(Labels, FileErrorsNameSectionKeyAndLanguage) {
  EXPECT_NE(labels_error("version: 2\n").find("version"), std::string::npos);
  auto missing = labels_error("version: 1\nerrors:\n  X: {en: a, fr: b, nl: c}\n");
  EXPECT_NE(missing.find("labels.yaml: errors: X: missing label \"de\""), std::string::npos)
      << missing;
  auto lang = labels_error("version: 1\nerrors:\n  X: {en: a, fr: b, nl: c, de: d, es: e}\n");
  EXPECT_NE(lang.find("errors: X: unknown language \"es\""), std::string::npos) << lang;
  auto sec = labels_error("version: 1\ncolours:\n  X: {en: a, fr: b, nl: c, de: d}\n");
  EXPECT_NE(sec.find("unknown section \"colours\""), std::string::npos) << sec;
  auto ok = labels::parse_labels("version: 1\nerrors:\n  X: {en: a, fr: b, nl: c, de: d}\n", "l");
  ASSERT_TRUE(std::holds_alternative<labels::Labels>(ok));
  EXPECT_EQ(*std::get<labels::Labels>(ok).find("errors", "X", Lang::nl), "c");
  EXPECT_EQ(std::get<labels::Labels>(ok).get("errors", "Y", Lang::nl, "fallback"), "fallback");
}

TEST(LabelsCoverage, EveryAlertTypeOfTheRuleFile) {
  auto r = alerts::load_rules(RELAIS_SOURCE_DIR "/deploy/rules/clignotants.yaml");
  ASSERT_TRUE(std::holds_alternative<alerts::Ruleset>(r)) << std::get<std::string>(r);
  std::set<std::string> types;
  for (const auto& rule : std::get<alerts::Ruleset>(r).rules) types.insert(rule.alert_type);
  ASSERT_GE(types.size(), 7u);
  for (const auto& t : types) expect_labelled("alert_types", t);
}

// The alert type of an SPP IS clignotant is its type code (docs/clignotants.md): each code of the
// default list has a label in the four languages, the English one the list's own label_en.
TEST(LabelsCoverage, EverySppIsClignotantType) {
  const auto& types = refdata::sppis_clignotant_types();
  ASSERT_GE(types.size(), 11u);
  for (const auto& t : types) {
    expect_labelled("alert_types", std::string(t.code));
    const auto* en = labels::builtin().find("alert_types", t.code, Lang::en);
    ASSERT_NE(en, nullptr) << t.code;
    EXPECT_EQ(*en, t.label) << t.code;
  }
}

TEST(LabelsCoverage, EveryQualityCode) {
  int known = 0;
  for (int code = 0; code <= 1000; ++code)
    if (validation::is_known_quality_code(code)) {
      ++known;
      expect_labelled("quality_codes", std::to_string(code));
      // fr and nl are the BCSS list's own: the same text as libs/validation's.
      auto l = validation::quality_code_label(code);
      EXPECT_EQ(*labels::builtin().find("quality_codes", std::to_string(code), Lang::fr), l->fr);
      EXPECT_EQ(*labels::builtin().find("quality_codes", std::to_string(code), Lang::nl), l->nl);
    }
  EXPECT_EQ(known, 17);
}

TEST(LabelsCoverage, EveryValidationErrorCodeAndProblemKind) {
  // The codes of libs/validation, read from their one declaration.
  auto src = slurp(RELAIS_SOURCE_DIR "/libs/validation/include/relais/validation/error.hpp");
  std::regex decl(R"re(std::string_view k\w+ = "([A-Z_]+)")re");
  int n = 0;
  for (auto it = std::sregex_iterator(src.begin(), src.end(), decl); it != std::sregex_iterator();
       ++it)
    if ((*it)[1].matched) {
      ++n;
      expect_labelled("errors", (*it)[1].str());
    }
  EXPECT_GE(n, 25);
  for (const char* c : {"INVALID_REACTION_CODE", "REACTION_CODE_NOT_VALID", "ALERT_NOT_FOUND"})
    expect_labelled("errors", c);
  for (auto kind :
       {errc::invalid, errc::unauthenticated, errc::forbidden, errc::not_found,
        errc::method_not_allowed, errc::conflict, errc::too_large, errc::unsupported_media_type,
        errc::rate_limited, errc::unavailable, errc::timeout, errc::refused, errc::internal}) {
    auto t = api::type_of(kind);
    std::string key = t.substr(t.rfind(':') + 1);
    for (auto& ch : key) ch = ch == '-' ? '_' : ch;
    expect_labelled("problem_titles", key);
    EXPECT_EQ(*labels::builtin().find("problem_titles", key, Lang::en), api::title_of(kind));
  }
}

TEST(LabelsCoverage, EveryReactionCodeOfTheDefaultList) {
  auto r = alerts::load_reaction_codes(RELAIS_SOURCE_DIR "/deploy/rules/reaction-codes.yaml");
  ASSERT_TRUE(std::holds_alternative<alerts::ReactionCodes>(r)) << std::get<std::string>(r);
  for (const auto& c : std::get<alerts::ReactionCodes>(r).codes)
    for (auto l : {"fr", "nl", "de"}) EXPECT_FALSE(c.label(l).empty()) << c.code << " " << l;
}

TEST(Problem, LocalizedTitleAndDetailKeepTheStableMembers) {
  auto p = api::problem(errc::invalid, "INVALID_SSIN", "ssin: 12 digits", "ssin");
  auto en = api::localize(api::to_response(p), Lang::en);
  EXPECT_NE(en.body.find("\"title\":\"Invalid request\""), std::string::npos) << en.body;
  EXPECT_NE(en.body.find("\"detail\":\"ssin: 12 digits\""), std::string::npos) << en.body;
  auto nl = api::localize(api::to_response(p), Lang::nl);
  EXPECT_NE(nl.body.find("\"title\":\"Ongeldig verzoek\""), std::string::npos) << nl.body;
  EXPECT_NE(nl.body.find("\"detail\":\"Dit is geen geldig INSZ (11 cijfers).\""), std::string::npos)
      << nl.body;
  EXPECT_NE(nl.body.find("\"message\":\"ssin: 12 digits\""), std::string::npos);  // unchanged
  EXPECT_NE(nl.body.find("\"code\":\"INVALID_SSIN\""), std::string::npos);
  EXPECT_NE(nl.body.find("\"field\":\"ssin\""), std::string::npos);
  EXPECT_NE(nl.body.find("\"lang\":\"nl\""), std::string::npos);
  bool content_language = false;
  for (const auto& [k, v] : nl.headers) content_language |= k == "Content-Language" && v == "nl";
  EXPECT_TRUE(content_language);
  // A code without a label of its own keeps its English detail, with the title translated.
  auto other = api::localize(
      api::to_response(api::problem(errc::conflict, "SOMETHING_NEW", "what happened")), Lang::de);
  EXPECT_NE(other.body.find("\"title\":\"Konflikt\""), std::string::npos) << other.body;
  EXPECT_NE(other.body.find("\"detail\":\"what happened\""), std::string::npos) << other.body;
}
