// alerts::backlog (the backlog and six-month reminder list of SPP IS clignotants) against an
// independent computation over 12,000 random clignotants of several CPAS, plus the edges: the
// calendar cutoff, a reaction on the as-of day, clignotants issued after it, the renderings.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <random>
#include <set>

#include "relais/alerts/backlog.hpp"

using namespace relais;
using alerts::BacklogRow;
using validation::Date;

namespace {

Date d(const char* iso) {
  return *validation::parse_iso_date(iso);
}

// Independent: the civil calendar by hand (Howard Hinnant's days_from_civil), no std::chrono.
int days_from_civil(int y, unsigned m, unsigned dd) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int>(doe) - 719468;
}
bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}
unsigned month_length(int y, unsigned m) {
  static const unsigned len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : len[m - 1];
}
// "YYYY-MM-DD" six months earlier, by text.
int cutoff_of(const std::string& iso) {
  int y = std::stoi(iso.substr(0, 4));
  int m = std::stoi(iso.substr(5, 2));
  unsigned dd = static_cast<unsigned>(std::stoi(iso.substr(8, 2)));
  m -= 6;
  if (m <= 0) {
    m += 12;
    --y;
  }
  dd = std::min(dd, month_length(y, static_cast<unsigned>(m)));
  return days_from_civil(y, static_cast<unsigned>(m), dd);
}

const char* bucket_of(int age) {
  if (age < 30) return "0-29";
  if (age < 90) return "30-89";
  if (age < 180) return "90-179";
  if (age < 365) return "180-364";
  return "365+";
}

}  // namespace

TEST(ClignotantBacklog, SixMonthsBeforeFollowsTheCalendar) {
  EXPECT_EQ(alerts::six_months_before(d("2026-10-15")), d("2026-04-15"));
  EXPECT_EQ(alerts::six_months_before(d("2026-03-01")), d("2025-09-01"));
  EXPECT_EQ(alerts::six_months_before(d("2026-08-31")), d("2026-02-28"));
  EXPECT_EQ(alerts::six_months_before(d("2028-08-31")), d("2028-02-29"));
  EXPECT_EQ(alerts::six_months_before(d("2026-12-31")), d("2026-06-30"));
}

TEST(ClignotantBacklog, OpenMeansNoReactionByTheDayAndIssuedByIt) {
  std::vector<BacklogRow> rows = {
      {"a1", "CLG-1", "WORK_INCOME", "68060105329", d("2026-01-10"), d("2026-03-10"), {}},
      {"a2", "CLG-2", "PENSION", "68060105329", d("2026-02-01"), {}, d("2026-10-01")},
      {"a3", "CLG-3", "PENSION", "68060105329", d("2026-02-01"), {}, d("2026-10-02")},
      {"a4", "CLG-4", "WORK_INCOME", "68060105329", d("2026-10-02"), {}, {}},
      {"a5", "CLG-5", "WORK_INCOME", "68060105329", d("2026-04-01"), {}, {}},
      {"a6", "CLG-6", "WORK_INCOME", "68060105329", d("2026-04-02"), {}, {}},
  };
  auto b = alerts::backlog("0212344876", d("2026-10-01"), rows);
  // a2 reacted on the day: closed; a3 reacted the day after: open; a4 issued after: not counted.
  ASSERT_EQ(b.open.size(), 4u);
  EXPECT_EQ(b.open[0].row->sppis_id, "CLG-1");
  EXPECT_EQ(b.open[1].row->sppis_id, "CLG-3");
  EXPECT_EQ(b.open[2].row->sppis_id, "CLG-5");
  EXPECT_EQ(b.cutoff, d("2026-04-01"));
  EXPECT_TRUE(b.open[2].reminder);   // issued on the cutoff day: six months open
  EXPECT_FALSE(b.open[3].reminder);  // one day short
  EXPECT_EQ(b.reminder_count, 3);
  EXPECT_EQ(b.by_type.at("WORK_INCOME"), 3);
  EXPECT_EQ(b.by_type.at("PENSION"), 1);
  EXPECT_EQ(b.open[0].age_days, 264);
  EXPECT_EQ(alerts::kAgeBuckets[b.open[0].bucket].label, std::string("180-364"));

  auto j = boost::json::parse(alerts::backlog_json(b)).as_object();
  EXPECT_EQ(j.at("open").as_int64(), 4);
  EXPECT_EQ(j.at("reminder").at("count").as_int64(), 3);
  EXPECT_EQ(j.at("reminder").at("cutoff").as_string(), "2026-04-01");
  EXPECT_EQ(j.at("reminder").at("clignotants").as_array().size(), 3u);
  // CLG-1 (264 days), CLG-5 (183) and CLG-6 (182) are 180-364 days old; CLG-3 (242) too.
  EXPECT_EQ(j.at("by_age").as_array()[3].at("by_type").at("WORK_INCOME").as_int64(), 3);
  EXPECT_EQ(j.at("by_age").as_array()[3].at("by_type").at("PENSION").as_int64(), 1);
  EXPECT_EQ(j.at("by_age").as_array()[3].at("open").as_int64(), 4);
  EXPECT_EQ(j.at("by_age").as_array()[4].at("max_days"), nullptr);

  auto csv = alerts::backlog_csv(b);
  EXPECT_EQ(csv.substr(0, csv.find("\r\n")),
            "sppis_id,alert_id,type,ssin,issued_date,due_date,age_days,age_bucket,six_month_list");
  EXPECT_NE(csv.find("CLG-1,a1,WORK_INCOME,68060105329,2026-01-10,2026-03-10,264,180-364,true\r\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("CLG-6,a6,WORK_INCOME,68060105329,2026-04-02,,182,180-364,false\r\n"),
            std::string::npos)
      << csv;
}

TEST(ClignotantBacklog, AgreesWithAnIndependentComputationOver12000Clignotants) {
  std::mt19937_64 rng(20261205);
  const std::vector<std::string> cpas = {"0212344876", "0207500123", "0212000032"};
  const std::vector<std::string> types = {"WORK_INCOME", "PENSION", "CADASTRAL_INCOME",
                                          "HOUSEHOLD_COMPOSITION"};
  const std::vector<std::string> as_ofs = {"2026-03-01", "2026-10-01", "2026-08-31", "2027-03-15"};
  std::map<std::string, std::vector<BacklogRow>> by_cpas;
  const int base = d("2024-01-01").days;
  for (int i = 0; i < 12000; ++i) {
    BacklogRow r;
    r.alert_id = "id-" + std::to_string(i);
    r.sppis_id = "CLG-" + std::to_string(100000 + i);
    r.type = types[rng() % types.size()];
    r.ssin = "68060105329";
    r.issued = Date{base + static_cast<int>(rng() % 1300)};
    if (rng() % 3 == 0) r.due = Date{r.issued.days + 60};
    if (rng() % 2 == 0) r.first_reaction = Date{r.issued.days + static_cast<int>(rng() % 500)};
    by_cpas[cpas[rng() % cpas.size()]].push_back(std::move(r));
  }
  for (const auto& as_of : as_ofs) {
    const int day = d(as_of.c_str()).days;
    const int cutoff = cutoff_of(as_of);
    for (const auto& [cbe, rows] : by_cpas) {
      // Independent: counts by (bucket, type) and the reminder set, straight from the rows.
      std::map<std::pair<std::string, std::string>, std::int64_t> expect_bt;
      std::set<std::string> expect_open, expect_reminder;
      for (const auto& r : rows) {
        if (r.issued.days > day) continue;
        if (r.first_reaction && r.first_reaction->days <= day) continue;
        expect_open.insert(r.sppis_id);
        ++expect_bt[{bucket_of(day - r.issued.days), r.type}];
        if (r.issued.days <= cutoff) expect_reminder.insert(r.sppis_id);
      }
      auto b = alerts::backlog(cbe, Date{day}, rows);
      ASSERT_EQ(b.cutoff.days, cutoff) << as_of;
      std::set<std::string> open, reminder;
      for (const auto& c : b.open) {
        open.insert(c.row->sppis_id);
        if (c.reminder) reminder.insert(c.row->sppis_id);
      }
      EXPECT_EQ(open, expect_open) << cbe << " " << as_of;
      EXPECT_EQ(reminder, expect_reminder) << cbe << " " << as_of;
      EXPECT_EQ(b.reminder_count, static_cast<std::int64_t>(expect_reminder.size()));
      std::map<std::pair<std::string, std::string>, std::int64_t> bt;
      for (std::size_t i = 0; i < alerts::kAgeBuckets.size(); ++i)
        for (const auto& [t, n] : b.by_bucket_type[i]) bt[{alerts::kAgeBuckets[i].label, t}] = n;
      EXPECT_EQ(bt, expect_bt) << cbe << " " << as_of;
      // The JSON rendering says the same.
      auto j = boost::json::parse(alerts::backlog_json(b)).as_object();
      EXPECT_EQ(j.at("open").as_int64(), static_cast<std::int64_t>(expect_open.size()));
      EXPECT_EQ(j.at("reminder").at("clignotants").as_array().size(), expect_reminder.size());
      EXPECT_GT(expect_open.size(), 100u);  // the data exercise the report
    }
  }
}
