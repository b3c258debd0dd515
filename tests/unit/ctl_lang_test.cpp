// relaisctl's labels for people (issue 16, "Languages"): --lang, else ctl.lang (RELAIS_CTL_LANG),
// else English; alert types (early signals and SPP IS clignotant types), reaction codes and
// error texts in French, Dutch and German next to their codes; the backlog report with its type
// labels. Fails when a label is missing or when the language asked for is ignored.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <sstream>

#include "relais/alerts/rules.hpp"
#include "relais/ctl/cli.hpp"
#include "relais/ctl/lang.hpp"
#include "relais/refdata/refdata.hpp"

using namespace relais;
using labels::Lang;

namespace {

const std::string kRepo = RELAIS_SOURCE_DIR;

// Every alert type relaisctl may print: the rule file's early signals and the SPP IS types.
std::set<std::string> every_alert_type() {
  std::set<std::string> types;
  auto r = alerts::load_rules(kRepo + "/deploy/rules/clignotants.yaml");
  EXPECT_TRUE(std::holds_alternative<alerts::Ruleset>(r));
  if (auto* rs = std::get_if<alerts::Ruleset>(&r))
    for (const auto& rule : rs->rules) types.insert(rule.alert_type);
  for (const auto& t : refdata::sppis_clignotant_types()) types.insert(std::string(t.code));
  return types;
}

struct Run {
  int rc;
  std::string out, err;
};

Run run(std::vector<std::string> words, std::vector<std::string> env = {}) {
  words.insert(words.begin(), "relaisctl");
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::ostringstream out, err;
  int rc = ctl::run(static_cast<int>(words.size()), argv.data(), envp.data(), out, err);
  return {rc, out.str(), err.str()};
}

alerts::BacklogRow row(std::string id, std::string type, int issued_days) {
  alerts::BacklogRow r;
  r.alert_id = "00000000-0000-4000-8000-00000000000" + id;
  r.sppis_id = "CLG-" + id;
  r.type = std::move(type);
  r.ssin = "68060105329";
  r.issued = validation::Date{issued_days};
  return r;
}

}  // namespace

TEST(CtlLang, FlagThenSettingThenNothingElse) {
  EXPECT_EQ(ctl::choose_lang(std::string("nl"), "fr"), Lang::nl);  // --lang wins
  EXPECT_EQ(ctl::choose_lang(std::nullopt, "de"), Lang::de);       // else ctl.lang
  EXPECT_EQ(ctl::choose_lang(std::nullopt, "en"), Lang::en);
  EXPECT_FALSE(ctl::choose_lang(std::string("es"), "en"));
  EXPECT_FALSE(ctl::choose_lang(std::string("FR"), "en"));  // exactly fr, nl, de, en
}

TEST(CtlLang, EveryAlertTypeHasALabelInEachLanguage) {
  const auto types = every_alert_type();
  ASSERT_GE(types.size(), 18u);  // 7 early-signal types, 11 SPP IS clignotant types
  for (const auto& t : types) {
    std::set<std::string> seen;
    for (Lang l : labels::kLangs) {
      const auto label = ctl::alert_type_label(t, l);
      EXPECT_NE(label, t) << t << " has no " << labels::name(l) << " label";
      EXPECT_FALSE(label.empty()) << t;
      seen.insert(label);
    }
    // French, Dutch and German are translations: never all the same text as the English one.
    EXPECT_GE(seen.size(), 3u) << t;
  }
  EXPECT_EQ(ctl::alert_type_label("NOT_A_TYPE", Lang::fr), "NOT_A_TYPE");  // the code itself
}

TEST(CtlLang, ErrorTextsForPeople) {
  EXPECT_EQ(ctl::error_text("INVALID_SSIN_CHECKSUM", "check digits wrong", Lang::en),
            "check digits wrong");
  EXPECT_EQ(ctl::error_text("INVALID_SSIN_CHECKSUM", "check digits wrong", Lang::fr),
            "Les chiffres de contrôle du NISS sont erronés.");
  EXPECT_EQ(ctl::error_text("INVALID_QUALITY_CODE", "x", Lang::nl),
            "Dit is geen gekende hoedanigheidscode.");
  EXPECT_EQ(ctl::error_text("NO_SUCH_CODE", "as written", Lang::de), "as written");
}

TEST(CtlLang, LabelColumnGoesNextToItsCode) {
  ctl::Rows rows;
  rows.columns = {"reaction", "code", "status"};
  rows.rows = {{"r1", "AID_REVISED", "SENT"}, {"r2", std::nullopt, "PENDING"}};
  ctl::add_label_column(rows, "code", "code_label", [](const std::string& c) { return "L:" + c; });
  ASSERT_EQ(rows.columns, (std::vector<std::string>{"reaction", "code", "code_label", "status"}));
  EXPECT_EQ(rows.rows[0][2], "L:AID_REVISED");
  EXPECT_EQ(rows.rows[0][3], "SENT");
  EXPECT_FALSE(rows.rows[1][2].has_value());
  EXPECT_EQ(rows.rows[1][3], "PENDING");
}

TEST(CtlLang, BacklogReportCarriesTypeLabelsInTheLanguageAskedFor) {
  const auto as_of = *validation::parse_iso_date("2026-12-05");
  std::vector<alerts::BacklogRow> rows{row("1", "WORK_INCOME", as_of.days - 200),
                                       row("2", "PENSION", as_of.days - 10)};
  const auto b = alerts::backlog("0212344876", as_of, rows);
  for (Lang l : {Lang::fr, Lang::nl, Lang::de, Lang::en}) {
    auto doc = boost::json::parse(ctl::backlog_json_for_people(b, l)).as_object();
    EXPECT_EQ(doc.at("lang").as_string(), labels::name(l));
    EXPECT_EQ(doc.at("open").as_int64(), 2);  // the report itself is unchanged
    const auto& tl = doc.at("type_labels").as_object();
    ASSERT_EQ(tl.size(), 2u);
    EXPECT_EQ(tl.at("WORK_INCOME").as_string(), ctl::alert_type_label("WORK_INCOME", l));
    EXPECT_EQ(tl.at("PENSION").as_string(), ctl::alert_type_label("PENSION", l));
    const auto& reminder = doc.at("reminder").at("clignotants").as_array();
    ASSERT_EQ(reminder.size(), 1u);  // 200 days: on the six-month list
    EXPECT_EQ(reminder[0].at("type_label").as_string(), ctl::alert_type_label("WORK_INCOME", l));
  }
  auto fr = boost::json::parse(ctl::backlog_json_for_people(b, Lang::fr));
  EXPECT_EQ(fr.at("type_labels").at("PENSION").as_string(), "Pension non prise en compte");

  const auto csv = ctl::backlog_csv_for_people(b, Lang::nl);
  std::vector<std::string> lines;
  for (std::size_t s = 0, e; s < csv.size(); s = e + 2) {
    e = csv.find("\r\n", s);
    ASSERT_NE(e, std::string::npos);
    lines.push_back(csv.substr(s, e - s));
  }
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(lines[0].ends_with(",six_month_list,type_label")) << lines[0];
  EXPECT_TRUE(lines[1].starts_with("CLG-1,")) << lines[1];
  EXPECT_TRUE(lines[1].ends_with(",true," + ctl::alert_type_label("WORK_INCOME", Lang::nl)))
      << lines[1];
  EXPECT_TRUE(lines[2].ends_with(",false,Pensioen niet in aanmerking genomen")) << lines[2];
}

TEST(CtlLang, CommandsTakeTheFlagAndTheSetting) {
  const std::string codes = "--reaction-codes=" + kRepo + "/deploy/rules/reaction-codes.yaml";
  auto nl = run({"labels", "--lang", "nl", "--section", "alert_types", codes});
  ASSERT_EQ(nl.rc, 0) << nl.err;
  EXPECT_NE(nl.out.find("alert_types\tWORK_INCOME\tInkomsten uit arbeid"), std::string::npos)
      << nl.out;
  // ctl.lang from the environment when there is no flag; the flag wins over it.
  auto de = run({"labels", "--section", "alert_types", codes}, {"RELAIS_CTL_LANG=de"});
  ASSERT_EQ(de.rc, 0) << de.err;
  EXPECT_NE(de.out.find("alert_types\tPENSION\tRente nicht berücksichtigt"), std::string::npos)
      << de.out;
  auto fr =
      run({"labels", "--lang", "fr", "--section", "alert_types", codes}, {"RELAIS_CTL_LANG=de"});
  EXPECT_NE(fr.out.find("alert_types\tPENSION\tPension non prise en compte"), std::string::npos)
      << fr.out;
  auto reactions = run({"labels", "--lang", "fr", "--section", "reaction_codes", codes});
  ASSERT_EQ(reactions.rc, 0) << reactions.err;
  EXPECT_NE(reactions.out.find("reaction_codes\tAID_REVISED\t"), std::string::npos);

  // A language Relais has no labels for: a usage error, before any database or service is asked.
  for (const auto& cmd : std::vector<std::vector<std::string>>{
           {"alerts", "backlog", "--cpas", "0212344876", "--as-of", "2026-12-05", "--lang", "es"},
           {"reactions", "--lang", "es"},
           {"labels", "--lang", "es"},
           {"directory", "import", "0212344876", "/nonexistent.csv", "--lang", "es"}}) {
    auto r = run(cmd, {"RELAIS_PG_DSN=host=/nonexistent"});
    EXPECT_EQ(r.rc, ctl::kExitUsage) << cmd[0] << ": " << r.err;
    EXPECT_NE(r.err.find("--lang: one of fr, nl, de, en"), std::string::npos) << r.err;
  }
  auto bad_setting = run({"labels"}, {"RELAIS_CTL_LANG=es"});
  EXPECT_EQ(bad_setting.rc, ctl::kExitUsage);
  EXPECT_NE(bad_setting.err.find("ctl.lang"), std::string::npos) << bad_setting.err;
}
