// Unit tests of relais::validation: identifiers, dates and per-flow notification rules.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "relais/validation/date.hpp"
#include "relais/validation/error.hpp"
#include "relais/validation/ids.hpp"
#include "relais/validation/notification.hpp"

namespace {

using namespace relais::validation;
using relais::v1::Notification;

const std::vector<std::string> kSsinVectors = {"68060105329", "12060105317", "12060105346",
                                               "02040500244", "93051822361"};

// An SSIN built from its first 9 digits by the check rule (2000s rule when `born_2000s`).
std::string make_ssin(const std::string& first9, bool born_2000s) {
  const long long base = std::stoll(first9) + (born_2000s ? 2'000'000'000LL : 0);
  char check[8];
  std::snprintf(check, sizeof check, "%02lld", 97 - base % 97);
  return first9 + check;
}

// A CBE number built from its first 8 digits by the check rule.
std::string make_cbe(const std::string& first8) {
  char check[8];
  std::snprintf(check, sizeof check, "%02lld", 97 - std::stoll(first8) % 97);
  return first8 + check;
}

// ---- SSIN -------------------------------------------------------------------------------------

TEST(Ssin, TestVectorsAreValid) {
  for (const auto& s : kSsinVectors) {
    EXPECT_EQ(check_ssin(s, 2025), SsinCheck::ok) << s;
    EXPECT_TRUE(is_valid_ssin(s)) << s;
    EXPECT_EQ(ssin_kind(s), SsinKind::national_register) << s;
    EXPECT_EQ(validate_ssin(s, "ssin"), std::nullopt) << s;
  }
}

TEST(Ssin, SingleDigitMutationsFail) {
  // Two mutations are themselves valid SSINs of people born in the 2000s (2018 and 2008):
  // the check digits cannot tell them from a typo, so they must be accepted.
  const std::set<std::string> valid_in_their_own_right = {"18060105346", "08040500244"};
  int rejected = 0;
  for (const auto& s : kSsinVectors) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      for (char d = '0'; d <= '9'; ++d) {
        if (d == s[i]) continue;
        std::string m = s;
        m[i] = d;
        if (valid_in_their_own_right.count(m)) {
          EXPECT_EQ(check_ssin(m, 2025), SsinCheck::ok) << m;
          continue;
        }
        EXPECT_NE(check_ssin(m, 2025), SsinCheck::ok) << m << " mutated from " << s;
        ++rejected;
      }
    }
  }
  EXPECT_EQ(rejected, 5 * 11 * 9 - 2);
}

TEST(Ssin, FutureBirthYearRefusesThe2000sReading) {
  // 62060105329 only checks under the 2000s rule: born 2062, impossible today.
  EXPECT_EQ(check_ssin("62060105329", 2025), SsinCheck::bad_checksum);
  EXPECT_EQ(check_ssin("62060105329", 2062), SsinCheck::ok);
  // 02040500244 is a 2002 birth: refused when the current year is 2001.
  EXPECT_EQ(check_ssin("02040500244", 2001), SsinCheck::bad_checksum);
  EXPECT_EQ(check_ssin("02040500244", 2002), SsinCheck::ok);
  EXPECT_EQ(ssin_kind("02040500244", 2001), std::nullopt);
  EXPECT_EQ(ssin_kind("02040500244", 2002), SsinKind::national_register);
}

TEST(Ssin, BothCenturies) {
  EXPECT_EQ(check_ssin("12060105317", 2025), SsinCheck::ok);  // 1912
  EXPECT_EQ(check_ssin("12060105346", 2025), SsinCheck::ok);  // 2012
  EXPECT_EQ(make_ssin("120601053", false), "12060105317");
  EXPECT_EQ(make_ssin("120601053", true), "12060105346");
  EXPECT_EQ(make_ssin("020405002", true), "02040500244");
  // The 1900s reading of the 2002 vector does not check.
  EXPECT_NE(make_ssin("020405002", false), "02040500244");
}

TEST(Ssin, BisMonths) {
  for (int month = 0; month <= 99; ++month) {
    char first9[16];
    std::snprintf(first9, sizeof first9, "85%02d15123", month);
    const std::string s = make_ssin(first9, false);
    const bool nr = month <= 12;
    const bool bis = (month >= 20 && month <= 32) || (month >= 40 && month <= 52);
    if (nr || bis) {
      EXPECT_EQ(check_ssin(s, 2025), SsinCheck::ok) << s;
      EXPECT_EQ(ssin_kind(s), nr ? SsinKind::national_register : SsinKind::bis) << s;
    } else {
      EXPECT_EQ(check_ssin(s, 2025), SsinCheck::bad_format) << s;
      EXPECT_EQ(ssin_kind(s), std::nullopt) << s;
    }
  }
  // A BIS number of someone born in 2003 (month 4 + 40: sex known).
  const std::string bis_2003 = make_ssin("034410271", true);
  EXPECT_EQ(check_ssin(bis_2003, 2025), SsinCheck::ok);
  EXPECT_EQ(ssin_kind(bis_2003), SsinKind::bis);
}

TEST(Ssin, FormatRules) {
  EXPECT_EQ(check_ssin(make_ssin("850000123", false), 2025), SsinCheck::ok);  // unknown date
  EXPECT_EQ(check_ssin(make_ssin("850132123", false), 2025), SsinCheck::bad_format);  // day 32
  EXPECT_EQ(check_ssin(make_ssin("850230123", false), 2025), SsinCheck::ok);  // no calendar check
  EXPECT_EQ(check_ssin(make_ssin("850015123", false), 2025), SsinCheck::ok);  // month unknown
  EXPECT_EQ(check_ssin(make_ssin("851300123", false), 2025), SsinCheck::bad_format);  // month 13
  // Serials as the CommonV3 SsinType has them (docs/validation.md): National Register 001-999,
  // BIS any serial 000-999.
  EXPECT_EQ(check_ssin(make_ssin("850115000", false), 2025), SsinCheck::bad_format);  // serial 0
  EXPECT_EQ(check_ssin(make_ssin("850000000", false), 2025), SsinCheck::bad_format);
  for (const char* nr_ok : {"850115001", "850115997", "850115998", "850115999", "850000999"}) {
    EXPECT_EQ(check_ssin(make_ssin(nr_ok, false), 2025), SsinCheck::ok) << nr_ok;
  }
  for (const char* bis_ok : {"852115000", "854115000", "852000000", "854000999", "853231999"}) {
    const std::string s = make_ssin(bis_ok, false);
    EXPECT_EQ(check_ssin(s, 2025), SsinCheck::ok) << s;
    EXPECT_EQ(ssin_kind(s), SsinKind::bis) << s;
  }
  EXPECT_EQ(check_ssin(make_ssin("052115000", true), 2025), SsinCheck::ok);   // BIS 2005, serial 0
  EXPECT_EQ(check_ssin(make_ssin("853215123", false), 2025), SsinCheck::ok);  // BIS month 12 + 20
  EXPECT_EQ(check_ssin(make_ssin("853315123", false), 2025), SsinCheck::bad_format);
  EXPECT_EQ(check_ssin(make_ssin("854132000", false), 2025), SsinCheck::bad_format);  // day 32
  for (const char* bad : {"", "6806010532", "680601053290", "68060105A29", "68.06.01-053.29",
                          " 68060105329", "6806010532 "}) {
    EXPECT_EQ(check_ssin(bad, 2025), SsinCheck::bad_format) << bad;
  }
}

TEST(Ssin, ErrorsNameCodeAndField) {
  EXPECT_EQ(validate_ssin("68060105328", "members[1].ssin"),
            make_error(code::kInvalidSsinChecksum, "the SSIN check digits do not match",
                       "members[1].ssin"));
  const auto format = validate_ssin("6806010532", "ssin");
  ASSERT_TRUE(format);
  EXPECT_EQ(format->code, code::kInvalidSsin);
  EXPECT_EQ(format->field, "ssin");
  const auto empty = validate_ssin("", "replaces_ssin");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->code, code::kMissingField);
  EXPECT_EQ(empty->field, "replaces_ssin");
}

// ---- CBE, NIS, country, ticket ---------------------------------------------------------------

TEST(Cbe, KnownGoodNumbersFollowTheRule) {
  // 0202.239.951 (a real, published enterprise number) and fictitious ones.
  for (const char* good : {"0202239951", "0212000032", "0417497106", "0851234584"}) {
    EXPECT_EQ(make_cbe(std::string(good, 8)), good);
    EXPECT_TRUE(is_valid_cbe(good)) << good;
    EXPECT_EQ(validate_cbe(good, "employer_cbe"), std::nullopt);
  }
  EXPECT_TRUE(is_valid_cbe("0000000097"));  // first eight divisible by 97: check digits 97
}

TEST(Cbe, RandomPrefixes) {
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int> digit(0, 9);
  for (int n = 0; n < 200; ++n) {
    std::string prefix(1, static_cast<char>('0' + n % 2));
    for (int i = 0; i < 7; ++i) prefix.push_back(static_cast<char>('0' + digit(rng)));
    const std::string cbe = make_cbe(prefix);
    EXPECT_TRUE(is_valid_cbe(cbe)) << cbe;
    std::string wrong = cbe;
    wrong[9] = wrong[9] == '9' ? '0' : static_cast<char>(wrong[9] + 1);
    EXPECT_FALSE(is_valid_cbe(wrong)) << wrong;
    std::string swapped_digit = cbe;
    swapped_digit[3] = swapped_digit[3] == '9' ? '0' : static_cast<char>(swapped_digit[3] + 1);
    EXPECT_FALSE(is_valid_cbe(swapped_digit)) << swapped_digit;
  }
}

TEST(Cbe, Invalid) {
  const std::string starts_with_2 = make_cbe("22120000");
  EXPECT_FALSE(is_valid_cbe(starts_with_2));
  for (const char* bad : {"", "212000032", "02120000320", "0212.000.032", "02120000a2"}) {
    EXPECT_FALSE(is_valid_cbe(bad)) << bad;
  }
  const auto e = validate_cbe("0212000033", "decision_cpas_cbe");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, code::kInvalidCbe);
  EXPECT_EQ(e->field, "decision_cpas_cbe");
}

TEST(NisCode, Shape) {
  EXPECT_TRUE(is_valid_nis_code("21004"));
  EXPECT_TRUE(is_valid_nis_code("92094"));
  for (const char* bad : {"", "01000", "2100", "210045", "2100a", " 2100"}) {
    EXPECT_FALSE(is_valid_nis_code(bad)) << bad;
  }
}

TEST(CountryCode, Shape) {
  EXPECT_TRUE(is_valid_country_code("BE"));
  EXPECT_TRUE(is_valid_country_code("FR"));
  for (const char* bad : {"", "be", "B", "BEL", "B1", "Be"}) {
    EXPECT_FALSE(is_valid_country_code(bad)) << bad;
  }
}

TEST(Ticket, CanonicalUuid) {
  EXPECT_TRUE(is_valid_ticket("123e4567-e89b-12d3-a456-426614174000"));
  EXPECT_TRUE(is_valid_ticket("123E4567-E89B-12D3-A456-426614174000"));
  for (const char* bad :
       {"", "123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400",
        "123e4567-e89b-12d3-a456-4266141740000", "123e4567-e89b-12d3-a456_426614174000",
        "g23e4567-e89b-12d3-a456-426614174000", "{123e4567-e89b-12d3-a456-426614174000}"}) {
    EXPECT_FALSE(is_valid_ticket(bad)) << bad;
  }
  EXPECT_EQ(normalize_ticket("123E4567-E89B-12D3-A456-42661417400F"),
            "123e4567-e89b-12d3-a456-42661417400f");
}

TEST(Rfc3339, ValidAndInvalid) {
  for (const char* good :
       {"2024-03-01T12:34:56Z", "2024-03-01T12:34:56.123456+01:00", "2024-02-29t23:59:60z",
        "2024-03-01T00:00:00.123456789-11:30", "1999-12-31T23:59:59+23:59"}) {
    EXPECT_TRUE(is_valid_rfc3339(good)) << good;
  }
  for (const char* bad :
       {"", "2024-03-01", "2024-03-01T12:34Z", "2024-03-01 12:34:56Z", "2024-03-01T24:00:00Z",
        "2024-03-01T12:60:00Z", "2024-03-01T12:00:61Z", "2024-03-01T12:00:00",
        "2024-03-01T12:00:00+01", "2024-03-01T12:00:00+24:00", "2024-03-01T12:00:00+01:60",
        "2024-03-01T12:00:00.Z", "2024-03-01T12:00:00.1234567890Z", "2023-02-29T12:00:00Z",
        "2024-03-01T12:00:00Zjunk", "2024-03-01T12:00:00z ", "2024-03-01T1:00:00Z"}) {
    EXPECT_FALSE(is_valid_rfc3339(bad)) << bad;
  }
}

TEST(Rfc3339, Instant) {
  EXPECT_EQ(parse_rfc3339_us("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339_us("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parse_rfc3339_us("1969-12-31T23:00:00-01:00"), 0);
  EXPECT_EQ(parse_rfc3339_us("2000-01-01T00:00:00.5Z"), 946'684'800'500'000);
  EXPECT_EQ(parse_rfc3339_us("2000-01-01T00:00:00.0000019Z"), 946'684'800'000'001);
  EXPECT_EQ(parse_rfc3339_us("bad"), std::nullopt);
}

TEST(QualityCode, KnownCodesAndLabels) {
  const std::set<int> known = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 20, 21, 40, 902, 999};
  for (int c = -5; c <= 1000; ++c) {
    EXPECT_EQ(is_known_quality_code(c), known.count(c) == 1) << c;
  }
  const auto ris = quality_code_label(2);
  ASSERT_TRUE(ris);
  EXPECT_EQ(ris->fr, "Revenu d'intégration");
  EXPECT_EQ(ris->nl, "Leefloon");
  const auto heating = quality_code_label(40);
  ASSERT_TRUE(heating);
  EXPECT_EQ(heating->nl, "Begunstigde verwarmingstoelage");
  ASSERT_TRUE(quality_code_label(kQualitySsinReplaced));
  EXPECT_EQ(quality_code_label(10), std::nullopt);
}

// ---- Date -------------------------------------------------------------------------------------

TEST(Date, ParsesRealCalendarDays) {
  EXPECT_EQ(parse_iso_date("1970-01-01"), Date{0});
  EXPECT_EQ(parse_iso_date("1970-01-02"), Date{1});
  EXPECT_EQ(parse_iso_date("1969-12-31"), Date{-1});
  EXPECT_EQ(parse_iso_date("2000-03-01")->days - parse_iso_date("2000-02-28")->days, 2);
  for (const char* good : {"2024-02-29", "2000-02-29", "1800-01-01", "2199-12-31", "2023-12-31"}) {
    const auto d = parse_iso_date(good);
    ASSERT_TRUE(d) << good;
    EXPECT_EQ(to_string(*d), good);
  }
  for (const char* bad :
       {"2023-02-29", "1900-02-29", "2100-02-29", "2024-04-31", "2024-13-01", "2024-00-10",
        "2024-01-00", "2024-1-01", "2024/01/01", "20240101", " 2024-01-01", "2024-01-01 ",
        "1799-12-31", "2200-01-01", "", "2024-01-0a", "+024-01-01", "2024-01-01T00:00:00Z"}) {
    EXPECT_EQ(parse_iso_date(bad), std::nullopt) << bad;
  }
}

TEST(Date, CompareAndToday) {
  EXPECT_LT(*parse_iso_date("2023-12-31"), *parse_iso_date("2024-01-01"));
  EXPECT_EQ(make_date(2024, 2, 29), parse_iso_date("2024-02-29"));
  EXPECT_EQ(make_date(2023, 2, 29), std::nullopt);
  const Date today = today_utc();
  EXPECT_GE(today, *parse_iso_date("2024-01-01"));
  EXPECT_EQ(parse_iso_date(to_string(today)), today);
}

// ---- Notifications ----------------------------------------------------------------------------

constexpr const char* kTicket = "0f8fad5b-d9cb-469f-a165-70867728950e";
constexpr const char* kSsin = "68060105329";

template <class Body>
void envelope(Body& b) {
  b.set_ticket(kTicket);
  b.set_ssin(kSsin);
  b.set_effective_date("2024-05-01");
  b.set_sent_at("2024-05-01T23:10:00+02:00");
  b.set_source_file_id("F-20240501-01");
  b.set_sequence_number(7);
}

// A valid notification of each flow, built by hand (independent of relais::codec's samples).
Notification valid(relais::v1::Flow flow) {
  Notification n;
  n.set_flow(flow);
  switch (flow) {
    case relais::v1::FLOW_NOTIFY_PERSON: {
      auto& b = *n.mutable_notify_person();
      envelope(b);
      b.set_event(relais::v1::NotifyPerson::ADDRESS_CHANGE);
      b.mutable_address()->set_municipality_nis_code("62063");
      b.mutable_address()->set_country_code("BE");
      b.mutable_address()->set_municipality("Liège");
      break;
    }
    case relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION: {
      auto& b = *n.mutable_notify_family_composition();
      envelope(b);
      b.set_event(relais::v1::NotifyFamilyComposition::MEMBER_ADDED);
      b.set_reference_person_ssin(kSsin);
      b.set_municipality_nis_code("62063");
      auto* m = b.add_members();
      m->set_ssin(kSsin);
      m->set_role(relais::v1::NotifyFamilyComposition::REFERENCE_PERSON);
      m = b.add_members();
      m->set_ssin("12060105346");
      m->set_role(relais::v1::NotifyFamilyComposition::CHILD);
      m->set_since("2024-05-01");
      break;
    }
    case relais::v1::FLOW_PENSION_REGISTER_MUTATION: {
      auto& b = *n.mutable_pension_register_mutation();
      envelope(b);
      b.set_event(relais::v1::PensionRegisterMutation::RIGHT_ENDED);
      b.set_regime(relais::v1::PensionRegisterMutation::SELF_EMPLOYED);
      b.set_right_start_date("2020-01-01");
      b.set_right_end_date("2024-04-30");
      b.set_monthly_gross_amount_cents(120'000);
      break;
    }
    case relais::v1::FLOW_PERSONNEL_FILE: {
      auto& b = *n.mutable_personnel_file();
      envelope(b);
      b.set_event(relais::v1::PersonnelFile::DIMONA_OUT);
      b.set_employer_cbe("0851234584");
      b.set_worker_type(relais::v1::PersonnelFile::ARTICLE_60);
      b.set_period_start_date("2023-05-01");
      b.set_period_end_date("2024-04-30");
      break;
    }
    case relais::v1::FLOW_SELF_EMPLOYED_CAREER: {
      auto& b = *n.mutable_self_employed_career();
      envelope(b);
      b.set_event(relais::v1::SelfEmployedCareer::CAREER_ENDED);
      b.set_category(relais::v1::SelfEmployedCareer::SECONDARY_ACTIVITY);
      b.set_period_start_date("2021-01-01");
      b.set_period_end_date("2024-04-30");
      b.set_enterprise_cbe("0417497106");
      break;
    }
    case relais::v1::FLOW_ECARMED_CALCULATION: {
      auto& b = *n.mutable_ecarmed_calculation();
      envelope(b);
      b.set_event(relais::v1::EcarmedCalculation::CALCULATION_UPDATED);
      b.set_decision_number("D-42");
      b.set_decision_cpas_cbe("0212000032");
      b.set_care_period_start("2024-04-01");
      b.set_care_period_end("2024-04-30");
      b.set_amount_claimed_cents(1000);
      b.set_amount_covered_cents(800);
      b.set_amount_cpas_cents(200);
      break;
    }
    case relais::v1::FLOW_SPPIS_CLIGNOTANT: {
      auto& b = *n.mutable_sppis_clignotant();
      envelope(b);
      b.set_event(relais::v1::SppIsClignotant::ISSUED);
      b.set_sppis_id("CLG-2024-000042");
      b.set_type_code("WORK_INCOME");
      b.set_cpas_cbe("0212000032");
      b.set_period_end("2024-07-31");
      b.set_amount_declared_cents(0);
      b.set_amount_observed_cents(250'000);
      auto* s = b.add_sources();
      s->set_source("DIMONA");
      s->set_reference("DMN-1");
      b.set_issued_date("2024-10-15");
      b.set_deadline_date("2024-12-15");
      break;
    }
    default:
      break;
  }
  // The envelope copy, as the codec makes it.
  auto* e = n.mutable_envelope();
  e->set_ticket(kTicket);
  e->set_ssin(kSsin);
  e->set_effective_date("2024-05-01");
  e->set_sent_at("2024-05-01T23:10:00+02:00");
  e->set_source_file_id("F-20240501-01");
  e->set_sequence_number(7);
  return n;
}

const std::vector<relais::v1::Flow> kFlows = {relais::v1::FLOW_NOTIFY_PERSON,
                                              relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION,
                                              relais::v1::FLOW_PENSION_REGISTER_MUTATION,
                                              relais::v1::FLOW_PERSONNEL_FILE,
                                              relais::v1::FLOW_SELF_EMPLOYED_CAREER,
                                              relais::v1::FLOW_ECARMED_CALCULATION,
                                              relais::v1::FLOW_SPPIS_CLIGNOTANT};

TEST(Validate, HappyPathForEveryFlow) {
  for (auto flow : kFlows) {
    const auto e = validate(valid(flow));
    EXPECT_EQ(e, std::nullopt) << relais::v1::Flow_Name(flow) << ": " << e->code << " " << e->field;
  }
}

TEST(Validate, EnvelopeIsOptionalButMustMatch) {
  for (auto flow : kFlows) {
    Notification n = valid(flow);
    n.clear_envelope();
    EXPECT_EQ(validate(n), std::nullopt);
    n = valid(flow);
    n.mutable_envelope()->set_ssin("93051822361");
    const auto e = validate(n);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code, code::kInconsistent);
    EXPECT_EQ(e->field, "envelope.ssin");
  }
}

struct Case {
  const char* name;
  relais::v1::Flow flow;
  std::function<void(Notification&)> mutate;
  std::string_view code;
  const char* field;
};

// Mutates the body's envelope field and the envelope copy together.
template <class F>
void both(Notification& n, F&& f) {
  f(*n.mutable_envelope());
  switch (n.body_case()) {
    case Notification::kNotifyPerson:
      return f(*n.mutable_notify_person());
    case Notification::kNotifyFamilyComposition:
      return f(*n.mutable_notify_family_composition());
    case Notification::kPensionRegisterMutation:
      return f(*n.mutable_pension_register_mutation());
    case Notification::kPersonnelFile:
      return f(*n.mutable_personnel_file());
    case Notification::kSelfEmployedCareer:
      return f(*n.mutable_self_employed_career());
    case Notification::kEcarmedCalculation:
      return f(*n.mutable_ecarmed_calculation());
    case Notification::kSppisClignotant:
      return f(*n.mutable_sppis_clignotant());
    default:
      return;
  }
}

using NP = relais::v1::NotifyPerson;
using FC = relais::v1::NotifyFamilyComposition;
using PR = relais::v1::PensionRegisterMutation;
using PF = relais::v1::PersonnelFile;
using SE = relais::v1::SelfEmployedCareer;
constexpr auto kPerson = relais::v1::FLOW_NOTIFY_PERSON;
constexpr auto kFamily = relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION;
constexpr auto kPension = relais::v1::FLOW_PENSION_REGISTER_MUTATION;
constexpr auto kPersonnel = relais::v1::FLOW_PERSONNEL_FILE;
constexpr auto kSelf = relais::v1::FLOW_SELF_EMPLOYED_CAREER;
constexpr auto kEcarmed = relais::v1::FLOW_ECARMED_CALCULATION;
constexpr auto kSppis = relais::v1::FLOW_SPPIS_CLIGNOTANT;
relais::v1::SppIsClignotant& clg(Notification& n) {
  return *n.mutable_sppis_clignotant();
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      // Flow and body.
      {"no flow", kPerson, [](auto& n) { n.set_flow(relais::v1::FLOW_UNSPECIFIED); },
       code::kMissingField, "flow"},
      {"unknown flow", kPerson, [](auto& n) { n.set_flow(static_cast<relais::v1::Flow>(42)); },
       code::kInvalidEnum, "flow"},
      {"body of another flow", kPerson, [](auto& n) { n.set_flow(kPersonnel); },
       code::kInconsistent, "flow"},
      {"no body", kPerson, [](auto& n) { n.clear_body(); }, code::kMissingField, ""},
      // Envelope.
      {"no ticket", kPersonnel, [](auto& n) { both(n, [](auto& b) { b.clear_ticket(); }); },
       code::kMissingField, "ticket"},
      {"bad ticket", kPersonnel,
       [](auto& n) { both(n, [](auto& b) { b.set_ticket("0f8fad5b-d9cb-469f-a165"); }); },
       code::kInvalidTicket, "ticket"},
      {"no ssin", kPension, [](auto& n) { both(n, [](auto& b) { b.clear_ssin(); }); },
       code::kMissingField, "ssin"},
      {"ssin format", kPension, [](auto& n) { both(n, [](auto& b) { b.set_ssin("6806010532"); }); },
       code::kInvalidSsin, "ssin"},
      {"ssin checksum", kEcarmed,
       [](auto& n) { both(n, [](auto& b) { b.set_ssin("68060105328"); }); },
       code::kInvalidSsinChecksum, "ssin"},
      {"replaces itself", kSelf,
       [](auto& n) { both(n, [](auto& b) { b.set_replaces_ssin(kSsin); }); }, code::kInconsistent,
       "replaces_ssin"},
      {"replaces_ssin checksum", kSelf,
       [](auto& n) { both(n, [](auto& b) { b.set_replaces_ssin("93051822362"); }); },
       code::kInvalidSsinChecksum, "replaces_ssin"},
      {"no effective_date", kFamily,
       [](auto& n) { both(n, [](auto& b) { b.clear_effective_date(); }); }, code::kMissingField,
       "effective_date"},
      {"bad effective_date", kFamily,
       [](auto& n) { both(n, [](auto& b) { b.set_effective_date("2023-02-29"); }); },
       code::kInvalidDate, "effective_date"},
      {"bad sent_at", kFamily,
       [](auto& n) { both(n, [](auto& b) { b.set_sent_at("2024-05-01 23:10:00"); }); },
       code::kInvalidTimestamp, "sent_at"},
      {"no event", kPerson, [](auto& n) { n.mutable_notify_person()->clear_event(); },
       code::kMissingField, "event"},
      {"unknown event", kPerson,
       [](auto& n) { n.mutable_notify_person()->set_event(static_cast<NP::Event>(99)); },
       code::kInvalidEnum, "event"},
      {"unknown nested enum", kFamily,
       [](auto& n) {
         n.mutable_notify_family_composition()->mutable_members(1)->set_role(
             static_cast<FC::Role>(77));
       },
       code::kInvalidEnum, "members[1].role"},
      {"string too long", kPersonnel,
       [](auto& n) { n.mutable_personnel_file()->set_employer_name(std::string(257, 'x')); },
       code::kFieldTooLong, "employer_name"},
      {"NUL in a free-text field", kPersonnel,
       [](auto& n) { n.mutable_personnel_file()->set_employer_name(std::string("ACME\0SA", 7)); },
       code::kInvalidText, "employer_name"},
      {"invalid UTF-8 in a nested field", kPerson,
       [](auto& n) { n.mutable_notify_person()->mutable_address()->set_street("Rue \xff"); },
       code::kInvalidText, "address.street"},
      {"bidi override in a nested field", kPerson,
       [](auto& n) {
         n.mutable_notify_person()->mutable_address()->set_street("Rue \xe2\x80\xae");
       },
       code::kInvalidText, "address.street"},
      {"nested string too long", kPerson,
       [](auto& n) {
         n.mutable_notify_person()->mutable_address()->set_street(std::string(300, 'x'));
       },
       code::kFieldTooLong, "address.street"},
      // notify-person.
      {"address change without address", kPerson,
       [](auto& n) { n.mutable_notify_person()->clear_address(); }, code::kMissingField, "address"},
      {"address change without NIS code", kPerson,
       [](auto& n) { n.mutable_notify_person()->mutable_address()->clear_municipality_nis_code(); },
       code::kMissingField, "address.municipality_nis_code"},
      {"bad NIS code", kPerson,
       [](auto& n) {
         n.mutable_notify_person()->mutable_address()->set_municipality_nis_code("0123");
       },
       code::kInvalidNisCode, "address.municipality_nis_code"},
      {"address change abroad", kPerson,
       [](auto& n) { n.mutable_notify_person()->mutable_address()->set_country_code("DE"); },
       code::kInconsistent, "address.country_code"},
      {"bad country code", kPerson,
       [](auto& n) { n.mutable_notify_person()->mutable_address()->set_country_code("be"); },
       code::kInvalidCountryCode, "address.country_code"},
      {"abroad in Belgium", kPerson,
       [](auto& n) { n.mutable_notify_person()->set_event(NP::ADDRESS_ABROAD); },
       code::kInconsistent, "address.country_code"},
      {"abroad without country", kPerson,
       [](auto& n) {
         n.mutable_notify_person()->set_event(NP::ADDRESS_ABROAD);
         n.mutable_notify_person()->mutable_address()->clear_country_code();
       },
       code::kMissingField, "address.country_nr_code"},
      {"death without date", kPerson,
       [](auto& n) { n.mutable_notify_person()->set_event(NP::DEATH); }, code::kMissingField,
       "date_of_death"},
      {"bad date of death", kPerson,
       [](auto& n) {
         n.mutable_notify_person()->set_event(NP::DEATH);
         n.mutable_notify_person()->set_date_of_death("2024-02-30");
       },
       code::kInvalidDate, "date_of_death"},
      {"civil status missing", kPerson,
       [](auto& n) { n.mutable_notify_person()->set_event(NP::CIVIL_STATUS_CHANGE); },
       code::kMissingField, "civil_status_code"},
      {"name change without last name", kPerson,
       [](auto& n) { n.mutable_notify_person()->set_event(NP::NAME_CHANGE); }, code::kMissingField,
       "last_name"},
      {"nationality missing", kPerson,
       [](auto& n) { n.mutable_notify_person()->set_event(NP::NATIONALITY_CHANGE); },
       code::kMissingField, "nationality_nr_code"},
      {"bad nationality", kPerson,
       [](auto& n) {
         n.mutable_notify_person()->set_event(NP::NATIONALITY_CHANGE);
         n.mutable_notify_person()->set_nationality_code("BEL");
       },
       code::kInvalidCountryCode, "nationality_code"},
      {"ssin replaced without old ssin", kPerson,
       [](auto& n) { n.mutable_notify_person()->set_event(NP::SSIN_REPLACED); },
       code::kMissingField, "replaces_ssin"},
      // notify-family-composition.
      {"no members", kFamily,
       [](auto& n) { n.mutable_notify_family_composition()->clear_members(); }, code::kMissingField,
       "members"},
      {"too many members", kFamily,
       [](auto& n) {
         auto& b = *n.mutable_notify_family_composition();
         for (int i = 0; i < 49; ++i) *b.add_members() = b.members(1);
       },
       code::kTooManyItems, "members"},
      {"member ssin", kFamily,
       [](auto& n) { n.mutable_notify_family_composition()->mutable_members(1)->set_ssin("1"); },
       code::kInvalidSsin, "members[1].ssin"},
      {"member without ssin", kFamily,
       [](auto& n) { n.mutable_notify_family_composition()->mutable_members(0)->clear_ssin(); },
       code::kMissingField, "members[0].ssin"},
      {"member role", kFamily,
       [](auto& n) { n.mutable_notify_family_composition()->mutable_members(1)->clear_role(); },
       code::kMissingField, "members[1].role_code"},
      {"member since", kFamily,
       [](auto& n) {
         n.mutable_notify_family_composition()->mutable_members(1)->set_since("2024-5-1");
       },
       code::kInvalidDate, "members[1].since"},
      {"reference person", kFamily,
       [](auto& n) {
         n.mutable_notify_family_composition()->set_reference_person_ssin("68060105330");
       },
       code::kInvalidSsinChecksum, "reference_person_ssin"},
      {"household NIS", kFamily,
       [](auto& n) { n.mutable_notify_family_composition()->set_municipality_nis_code("6206"); },
       code::kInvalidNisCode, "municipality_nis_code"},
      // pension-register-mutation.
      {"no regime", kPension,
       [](auto& n) { n.mutable_pension_register_mutation()->clear_regime(); }, code::kMissingField,
       "regime"},
      {"no start", kPension,
       [](auto& n) { n.mutable_pension_register_mutation()->clear_right_start_date(); },
       code::kMissingField, "right_start_date"},
      {"bad start", kPension,
       [](auto& n) { n.mutable_pension_register_mutation()->set_right_start_date("01/01/2020"); },
       code::kInvalidDate, "right_start_date"},
      {"ended without end", kPension,
       [](auto& n) { n.mutable_pension_register_mutation()->clear_right_end_date(); },
       code::kMissingField, "right_end_date"},
      {"ends before start", kPension,
       [](auto& n) { n.mutable_pension_register_mutation()->set_right_end_date("2019-12-31"); },
       code::kDateOrder, "right_end_date"},
      {"negative pension", kPension,
       [](auto& n) { n.mutable_pension_register_mutation()->set_monthly_gross_amount_cents(-1); },
       code::kInvalidAmount, "monthly_gross_amount_cents"},
      // personnel-file.
      {"no employer", kPersonnel, [](auto& n) { n.mutable_personnel_file()->clear_employer_cbe(); },
       code::kMissingField, "employer_cbe"},
      {"bad employer", kPersonnel,
       [](auto& n) { n.mutable_personnel_file()->set_employer_cbe("0851234585"); },
       code::kInvalidCbe, "employer_cbe"},
      {"no worker type", kPersonnel,
       [](auto& n) { n.mutable_personnel_file()->clear_worker_type(); }, code::kMissingField,
       "dimona_worker_type"},
      {"no period start", kPersonnel,
       [](auto& n) { n.mutable_personnel_file()->clear_period_start_date(); }, code::kMissingField,
       "period_start_date"},
      {"dimona out without end", kPersonnel,
       [](auto& n) { n.mutable_personnel_file()->clear_period_end_date(); }, code::kMissingField,
       "period_end_date"},
      {"bad period end", kPersonnel,
       [](auto& n) { n.mutable_personnel_file()->set_period_end_date("2024-04-31"); },
       code::kInvalidDate, "period_end_date"},
      {"dimona ends before start", kPersonnel,
       [](auto& n) { n.mutable_personnel_file()->set_period_end_date("2023-04-30"); },
       code::kDateOrder, "period_end_date"},
      // self-employed-career.
      {"no category", kSelf, [](auto& n) { n.mutable_self_employed_career()->clear_category(); },
       code::kMissingField, "category"},
      {"no career start", kSelf,
       [](auto& n) { n.mutable_self_employed_career()->clear_period_start_date(); },
       code::kMissingField, "period_start_date"},
      {"career ended without end", kSelf,
       [](auto& n) { n.mutable_self_employed_career()->clear_period_end_date(); },
       code::kMissingField, "period_end_date"},
      {"career ends before start", kSelf,
       [](auto& n) { n.mutable_self_employed_career()->set_period_end_date("2020-12-31"); },
       code::kDateOrder, "period_end_date"},
      {"bad enterprise", kSelf,
       [](auto& n) { n.mutable_self_employed_career()->set_enterprise_cbe("2417497106"); },
       code::kInvalidCbe, "enterprise_cbe"},
      // ecarmed-calculation.
      {"no decision", kEcarmed,
       [](auto& n) { n.mutable_ecarmed_calculation()->clear_decision_number(); },
       code::kMissingField, "decision_number"},
      {"bad decision CPAS", kEcarmed,
       [](auto& n) { n.mutable_ecarmed_calculation()->set_decision_cpas_cbe("212000032"); },
       code::kInvalidCbe, "decision_cpas_cbe"},
      {"no care start", kEcarmed,
       [](auto& n) { n.mutable_ecarmed_calculation()->clear_care_period_start(); },
       code::kMissingField, "care_period_start"},
      {"bad care end", kEcarmed,
       [](auto& n) { n.mutable_ecarmed_calculation()->set_care_period_end("2024-04-31"); },
       code::kInvalidDate, "care_period_end"},
      {"care ends before start", kEcarmed,
       [](auto& n) { n.mutable_ecarmed_calculation()->set_care_period_end("2024-03-31"); },
       code::kDateOrder, "care_period_end"},
      {"negative claim", kEcarmed,
       [](auto& n) { n.mutable_ecarmed_calculation()->set_amount_claimed_cents(-100); },
       code::kInvalidAmount, "amount_claimed_cents"},
      {"negative covered", kEcarmed,
       [](auto& n) { n.mutable_ecarmed_calculation()->set_amount_covered_cents(-1); },
       code::kInvalidAmount, "amount_covered_cents"},
      {"negative CPAS part", kEcarmed,
       [](auto& n) { n.mutable_ecarmed_calculation()->set_amount_cpas_cents(-1); },
       code::kInvalidAmount, "amount_cpas_cents"},
      // sppis-clignotant.
      {"no SPP IS id", kSppis, [](auto& n) { clg(n).clear_sppis_id(); }, code::kMissingField,
       "sppis_id"},
      {"SPP IS id too short", kSppis, [](auto& n) { clg(n).set_sppis_id("C-1"); },
       code::kInvalidSppisId, "sppis_id"},
      {"SPP IS id too long", kSppis, [](auto& n) { clg(n).set_sppis_id(std::string(41, 'A')); },
       code::kInvalidSppisId, "sppis_id"},
      {"SPP IS id lower case", kSppis, [](auto& n) { clg(n).set_sppis_id("clg-2024-1"); },
       code::kInvalidSppisId, "sppis_id"},
      {"SPP IS id with a space", kSppis, [](auto& n) { clg(n).set_sppis_id("CLG 2024 1"); },
       code::kInvalidSppisId, "sppis_id"},
      {"clignotant with replaces_ssin", kSppis,
       [](auto& n) { both(n, [](auto& b) { b.set_replaces_ssin("93051822361"); }); },
       code::kInconsistent, "replaces_ssin"},
      {"no clignotant type", kSppis, [](auto& n) { clg(n).clear_type_code(); },
       code::kMissingField, "type_code"},
      {"unknown clignotant type", kSppis, [](auto& n) { clg(n).set_type_code("LOTTERY_WIN"); },
       code::kInvalidCode, "type_code"},
      {"no CPAS", kSppis, [](auto& n) { clg(n).clear_cpas_cbe(); }, code::kMissingField,
       "cpas_cbe"},
      {"bad CPAS", kSppis, [](auto& n) { clg(n).set_cpas_cbe("0212000033"); }, code::kInvalidCbe,
       "cpas_cbe"},
      {"no period end", kSppis, [](auto& n) { clg(n).clear_period_end(); }, code::kMissingField,
       "period_end"},
      {"period ends before it starts", kSppis, [](auto& n) { clg(n).set_period_end("2024-04-30"); },
       code::kDateOrder, "period_end"},
      {"period over ten years", kSppis, [](auto& n) { clg(n).set_period_end("2035-01-01"); },
       code::kDateOrder, "period_end"},
      {"no issued date", kSppis, [](auto& n) { clg(n).clear_issued_date(); },
       code::kMissingField, "issued_date"},
      {"bad deadline", kSppis, [](auto& n) { clg(n).set_deadline_date("2024-13-01"); },
       code::kInvalidDate, "deadline_date"},
      {"deadline before issue", kSppis, [](auto& n) { clg(n).set_deadline_date("2024-10-14"); },
       code::kDateOrder, "deadline_date"},
      {"negative amount", kSppis, [](auto& n) { clg(n).set_amount_declared_cents(-1); },
       code::kInvalidAmount, "amount_declared_cents"},
      {"amount beyond bound", kSppis,
       [](auto& n) { clg(n).set_amount_observed_cents(100'000'000'001); }, code::kInvalidAmount,
       "amount_observed_cents"},
      {"no source", kSppis, [](auto& n) { clg(n).clear_sources(); }, code::kMissingField,
       "sources"},
      {"too many sources", kSppis,
       [](auto& n) {
         for (int i = 0; i < 20; ++i) *clg(n).add_sources() = clg(n).sources(0);
       },
       code::kTooManyItems, "sources"},
      {"bad source name", kSppis,
       [](auto& n) { clg(n).mutable_sources(0)->set_source("dimona"); }, code::kInvalidCode,
       "sources[0].source"},
      {"empty reference", kSppis, [](auto& n) { clg(n).mutable_sources(0)->clear_reference(); },
       code::kInvalidCode, "sources[0].reference"},
      {"reference with a space", kSppis,
       [](auto& n) { clg(n).mutable_sources(0)->set_reference("DMN 1"); }, code::kInvalidCode,
       "sources[0].reference"},
      {"unknown clignotant event", kSppis,
       [](auto& n) { clg(n).set_event(static_cast<relais::v1::SppIsClignotant::Event>(5)); },
       code::kInvalidEnum, "event"},
  };
  return all;
}

TEST(Validate, EachFailureHasItsCodeAndField) {
  for (const Case& c : cases()) {
    Notification n = valid(c.flow);
    ASSERT_EQ(validate(n), std::nullopt) << c.name;
    c.mutate(n);
    const auto e = validate(n);
    ASSERT_TRUE(e) << c.name << ": accepted";
    EXPECT_EQ(e->code, c.code) << c.name << ": " << e->message;
    EXPECT_EQ(e->field, c.field) << c.name;
    EXPECT_FALSE(e->message.empty()) << c.name;
  }
}

TEST(Validate, EveryFailureCodeIsExercised) {
  std::set<std::string_view> seen;
  for (const Case& c : cases()) seen.insert(c.code);
  for (auto c :
       {code::kInvalidEnum, code::kMissingField, code::kInvalidSsin, code::kInvalidSsinChecksum,
        code::kInvalidDate, code::kInvalidTimestamp, code::kInvalidCbe, code::kInvalidTicket,
        code::kInvalidNisCode, code::kInvalidCountryCode, code::kInvalidAmount, code::kFieldTooLong,
        code::kInvalidText, code::kTooManyItems, code::kDateOrder, code::kInconsistent,
        code::kInvalidSppisId}) {
    EXPECT_EQ(seen.count(c), 1u) << c;
  }
}

TEST(Validate, LimitsAreConfigurable) {
  Notification n = valid(kFamily);
  Limits strict;
  strict.max_members = 1;
  auto e = validate(n, strict);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, code::kTooManyItems);
  strict = {};
  strict.max_string = 5;
  e = validate(valid(kPersonnel), strict);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, code::kFieldTooLong);
  EXPECT_EQ(e->field, "ticket");
  n = valid(kPersonnel);
  n.mutable_personnel_file()->set_employer_name(std::string(256, 'x'));  // exactly the limit
  EXPECT_EQ(validate(n), std::nullopt);
}

TEST(Validate, PerEventRulesAcceptTheirFields) {
  Notification n = valid(kPerson);
  auto& p = *n.mutable_notify_person();
  p.set_event(NP::ADDRESS_ABROAD);
  p.mutable_address()->set_country_code("DE");
  p.mutable_address()->clear_municipality_nis_code();
  EXPECT_EQ(validate(n), std::nullopt);
  p.set_event(NP::DEATH);
  p.set_date_of_death("2024-04-29");
  EXPECT_EQ(validate(n), std::nullopt);
  p.set_event(NP::CIVIL_STATUS_CHANGE);
  p.set_civil_status(NP::LEGAL_COHABITATION);
  EXPECT_EQ(validate(n), std::nullopt);
  p.set_event(NP::NAME_CHANGE);
  p.set_last_name("Peeters");
  EXPECT_EQ(validate(n), std::nullopt);
  p.set_event(NP::NATIONALITY_CHANGE);
  p.set_nationality_code("BE");
  EXPECT_EQ(validate(n), std::nullopt);
  p.set_event(NP::SSIN_REPLACED);
  both(n, [](auto& b) { b.set_replaces_ssin(make_ssin("854410123", false)); });  // a BIS number
  EXPECT_EQ(validate(n), std::nullopt);

  n = valid(kPersonnel);
  n.mutable_personnel_file()->set_event(PF::DIMONA_IN);
  n.mutable_personnel_file()->clear_period_end_date();
  EXPECT_EQ(validate(n), std::nullopt);
  n = valid(kSelf);
  n.mutable_self_employed_career()->set_event(SE::CAREER_STARTED);
  n.mutable_self_employed_career()->clear_period_end_date();
  n.mutable_self_employed_career()->clear_enterprise_cbe();
  EXPECT_EQ(validate(n), std::nullopt);
  n = valid(kPension);
  n.mutable_pension_register_mutation()->set_event(PR::RIGHT_GRANTED);
  n.mutable_pension_register_mutation()->clear_right_end_date();
  EXPECT_EQ(validate(n), std::nullopt);
}

}  // namespace
