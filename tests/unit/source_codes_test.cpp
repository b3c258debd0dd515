// Unit tests of the National Register / BCSS / NSSO codes in notifications: the code tables of
// relais::validation (source_codes.hpp), the NSSO number rule, the validation rules of the new
// relais.v1 fields and events, and validation::complete (what Relais derives from the source
// codes). Expectations are written from the public sources (docs/domain-model.md), not computed
// with the code under test.
#include "relais/validation/source_codes.hpp"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "relais/validation/error.hpp"
#include "relais/validation/ids.hpp"
#include "relais/validation/notification.hpp"

namespace {

using namespace relais::validation;
using google::protobuf::util::MessageDifferencer;
using relais::v1::Notification;
using FC = relais::v1::NotifyFamilyComposition;
using NP = relais::v1::NotifyPerson;
using PF = relais::v1::PersonnelFile;

constexpr const char* kTicket = "6b1f4a52-2c55-4f7e-9a57-3b0d2b1e8c11";
constexpr const char* kSsin = "68060105329";
constexpr const char* kOther = "93051822361";

template <class Body>
void envelope(Body& b, const char* effective = "2025-03-14") {
  b.set_ticket(kTicket);
  b.set_ssin(kSsin);
  b.set_effective_date(effective);
}

Notification person(NP::Event event) {
  Notification n;
  n.set_flow(relais::v1::FLOW_NOTIFY_PERSON);
  auto& b = *n.mutable_notify_person();
  envelope(b);
  b.set_event(event);
  return n;
}

Notification personnel() {
  Notification n;
  n.set_flow(relais::v1::FLOW_PERSONNEL_FILE);
  auto& b = *n.mutable_personnel_file();
  envelope(b);
  b.set_event(PF::DIMONA_IN);
  b.set_employer_nsso_number("123456749");
  b.set_dimona_worker_type("STU");
  b.set_period_start_date("2025-03-14");
  return n;
}

Notification family() {
  Notification n;
  n.set_flow(relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION);
  auto& b = *n.mutable_notify_family_composition();
  envelope(b, "2025-03-00");
  b.set_event(FC::MEMBER_ADDED);
  auto* m = b.add_members();
  m->set_ssin(kSsin);
  m->set_role_code(1);
  m = b.add_members();
  m->set_ssin(kOther);
  m->set_role_code(3);
  m->set_since("2025-00-00");
  return n;
}

void expect_error(const Notification& n, std::string_view code, std::string_view field,
                  const std::string& what) {
  const auto e = validate(n);
  ASSERT_TRUE(e.has_value()) << what << ": accepted";
  EXPECT_EQ(e->code, code) << what << ": " << e->message;
  EXPECT_EQ(e->field, field) << what << ": " << e->message;
}

// ---- code tables ------------------------------------------------------------------------------

TEST(SourceCodes, CivilStatusCodesAreTheSchemaList) {
  const std::vector<std::uint32_t> schema = {10, 20, 25, 26, 30, 40, 41, 50, 51, 60};
  for (std::uint32_t c = 0; c < 100; ++c) {
    const bool listed = std::find(schema.begin(), schema.end(), c) != schema.end();
    EXPECT_EQ(is_civil_status_code(c), listed) << c;
  }
  EXPECT_EQ(civil_status_for_code(10), NP::SINGLE);
  EXPECT_EQ(civil_status_for_code(20), NP::MARRIED);
  EXPECT_EQ(civil_status_for_code(30), NP::WIDOWED);
  EXPECT_EQ(civil_status_for_code(40), NP::DIVORCED);
  EXPECT_EQ(civil_status_for_code(50), NP::SEPARATED);
  EXPECT_EQ(civil_status_for_code(60), NP::LEGAL_COHABITATION);
  for (std::uint32_t no_enum : {25u, 26u, 41u, 51u, 11u}) {
    EXPECT_EQ(civil_status_for_code(no_enum), std::nullopt) << no_enum;
  }
  EXPECT_EQ(code_for_civil_status(NP::MARRIED), 20u);
  EXPECT_EQ(code_for_civil_status(NP::LEGAL_COHABITATION), 60u);
  EXPECT_EQ(code_for_civil_status(NP::CIVIL_STATUS_UNSPECIFIED), std::nullopt);
}

TEST(SourceCodes, GenderAndRegisterCodes) {
  EXPECT_TRUE(is_gender_code(0));
  EXPECT_TRUE(is_gender_code(1));
  EXPECT_TRUE(is_gender_code(2));
  EXPECT_FALSE(is_gender_code(3));
  EXPECT_FALSE(is_register_code(0));
  EXPECT_TRUE(is_register_code(1));
  EXPECT_TRUE(is_register_code(99));
  EXPECT_FALSE(is_register_code(100));
}

TEST(SourceCodes, WorkerTypesMapOnlyWhereExact) {
  EXPECT_EQ(worker_type_for_dimona("OTH", false), PF::OTHER);
  EXPECT_EQ(worker_type_for_dimona("OTH", true), PF::ARTICLE_60);
  EXPECT_EQ(worker_type_for_dimona("STU", false), PF::STUDENT);
  EXPECT_EQ(worker_type_for_dimona("STU", true), PF::STUDENT);
  EXPECT_EQ(worker_type_for_dimona("FLX", false), PF::FLEXI_JOB);
  EXPECT_EQ(worker_type_for_dimona("EXT", false), PF::OCCASIONAL);
  EXPECT_EQ(worker_type_for_dimona("A17", false), PF::WORKER_TYPE_UNSPECIFIED);
  EXPECT_EQ(dimona_for_worker_type(PF::OTHER), "OTH");
  EXPECT_EQ(dimona_for_worker_type(PF::ARTICLE_60), "OTH");
  EXPECT_EQ(dimona_for_worker_type(PF::STUDENT), "STU");
  EXPECT_EQ(dimona_for_worker_type(PF::FLEXI_JOB), "FLX");
  EXPECT_EQ(dimona_for_worker_type(PF::OCCASIONAL), "EXT");
  EXPECT_EQ(dimona_for_worker_type(PF::APPRENTICE), std::nullopt);
  EXPECT_EQ(dimona_for_worker_type(PF::INTERIM), std::nullopt);
}

TEST(SourceCodes, InformationTypes) {
  EXPECT_TRUE(is_information_type("IT024"));
  for (const char* bad : {"", "IT24", "it024", "IT0245", "IX024", "IT02A"}) {
    EXPECT_FALSE(is_information_type(bad)) << bad;
  }
  EXPECT_EQ(information_types_for(NP::REFERENCE_ADDRESS).front(), "IT024");
  EXPECT_EQ(information_types_for(NP::LEGAL_COHABITATION_START).front(), "IT123");
  EXPECT_EQ(information_types_for(NP::LEGAL_COHABITATION_END).front(), "IT123");
  EXPECT_EQ(information_types_for(NP::HOUSEHOLD_HEAD_CHANGE).front(), "IT140");
  EXPECT_EQ(information_types_for(NP::REGISTER_CHANGE).front(), "IT210");
  EXPECT_EQ(information_types_for(NP::TEMPORARY_ABSENCE).front(), "IT026");
  EXPECT_EQ(information_types_for(NP::ADDRESS_ABROAD).front(), "IT022");
  EXPECT_EQ(information_types_for(NP::ADDRESS_CHANGE).front(), "IT020");
  EXPECT_EQ(information_types_for(NP::DEATH).front(), "IT150");
  EXPECT_TRUE(information_types_for(NP::SSIN_REPLACED).empty());
}

TEST(SourceCodes, BelgiumIsOneHundredFifty) {
  EXPECT_TRUE(is_country_nr_code(150));
  EXPECT_EQ(iso2_for_country(150), "BE");
  EXPECT_EQ(country_for_iso2("BE"), 150u);
  EXPECT_EQ(iso2_for_country(103), "DE");
  EXPECT_FALSE(is_country_nr_code(0));
  EXPECT_EQ(country_for_iso2("ZZ"), std::nullopt);
}

// ---- NSSO registration number -----------------------------------------------------------------

TEST(NssoNumber, GlossaryBoundsAndCheckDigits) {
  // Zone 00011: definitive numbers in [100006, 199999934]; zone 00948: provisional numbers in
  // [5000000120, 5999999989]. Each bound is itself a valid number.
  for (const char* ok : {"000100006", "199999934", "123456749", "5000000120", "5999999989"}) {
    EXPECT_TRUE(is_valid_nsso_number(ok)) << ok;
    EXPECT_EQ(validate_nsso_number(ok, "employer_nsso_number"), std::nullopt) << ok;
  }
  for (const char* bad : {"", "12345674", "1234567490", "12345674a", "200000063", "4999999924",
                          "000000096", " 123456749"}) {
    EXPECT_FALSE(is_valid_nsso_number(bad)) << bad;
  }
  // Every single-digit change of a valid number breaks the check (mod 97 catches them all).
  const std::string valid = "123456749";
  for (std::size_t i = 0; i < valid.size(); ++i) {
    for (char d = '0'; d <= '9'; ++d) {
      if (d == valid[i]) continue;
      std::string m = valid;
      m[i] = d;
      EXPECT_FALSE(is_valid_nsso_number(m)) << m;
    }
  }
  EXPECT_EQ(validate_nsso_number("123456748", "employer_nsso_number")->code,
            code::kInvalidNssoNumber);
  EXPECT_EQ(validate_nsso_number("", "employer_nsso_number")->code, code::kMissingField);
}

// ---- validation of the new fields and events --------------------------------------------------

TEST(SourceFields, NewEventsAcceptTheirFields) {
  Notification n = person(NP::REFERENCE_ADDRESS);
  n.mutable_notify_person()->mutable_address()->set_municipality_nis_code("21004");
  n.mutable_notify_person()->mutable_address()->set_country_nr_code(150);
  n.mutable_notify_person()->set_nr_information_type("IT024");
  n.mutable_notify_person()->set_nr_raw_value(
      "<AddressReference>\n  <Date>2025-03-14</Date>\n</AddressReference>");
  EXPECT_EQ(validate(n), std::nullopt);

  n = person(NP::LEGAL_COHABITATION_START);
  n.mutable_notify_person()->set_partner_ssin(kOther);
  EXPECT_EQ(validate(n), std::nullopt);
  n.mutable_notify_person()->set_event(NP::LEGAL_COHABITATION_END);
  EXPECT_EQ(validate(n), std::nullopt);

  n = person(NP::HOUSEHOLD_HEAD_CHANGE);
  n.mutable_notify_person()->set_household_head_ssin(kSsin);  // the person becomes the head
  n.mutable_notify_person()->set_nr_information_type("IT141");
  EXPECT_EQ(validate(n), std::nullopt);

  n = person(NP::REGISTER_CHANGE);
  n.mutable_notify_person()->set_register_code(1);
  n.mutable_notify_person()->set_previous_register_code(7);
  EXPECT_EQ(validate(n), std::nullopt);

  n = person(NP::TEMPORARY_ABSENCE);
  EXPECT_EQ(validate(n), std::nullopt);                           // end optional
  n.mutable_notify_person()->set_absence_end_date("2025-03-00");  // same month: may end after
  EXPECT_EQ(validate(n), std::nullopt);

  n = person(NP::ADDRESS_ABROAD);
  n.mutable_notify_person()->mutable_address()->set_country_nr_code(103);
  n.mutable_notify_person()->set_nr_information_type("IT023");
  EXPECT_EQ(validate(n), std::nullopt);

  n = person(NP::CIVIL_STATUS_CHANGE);
  n.mutable_notify_person()->set_civil_status_code(51);  // no relais.v1 enum value: still valid
  n.mutable_notify_person()->set_birth_date("1968-06-00");
  n.mutable_notify_person()->set_gender_code(2);
  EXPECT_EQ(validate(n), std::nullopt);

  // Incomplete event dates where the National Register gives them.
  n = person(NP::NAME_CHANGE);
  n.mutable_notify_person()->set_last_name("Peeters");
  n.mutable_notify_person()->set_effective_date("2025-00-00");
  EXPECT_EQ(validate(n), std::nullopt);
  EXPECT_EQ(validate(family()), std::nullopt);
  EXPECT_EQ(validate(personnel()), std::nullopt);
}

struct Case {
  std::string name;
  std::function<Notification()> make;
  std::string_view code;
  std::string field;
};

TEST(SourceFields, EachRuleRefusesItsWrongInput) {
  auto with = [](Notification n, std::function<void(Notification&)> f) {
    return [n, f]() mutable {
      f(n);
      return n;
    };
  };
  const Notification cohab = [] {
    Notification n = person(NP::LEGAL_COHABITATION_START);
    n.mutable_notify_person()->set_partner_ssin(kOther);
    return n;
  }();
  const Notification reference = [] {
    Notification n = person(NP::REFERENCE_ADDRESS);
    n.mutable_notify_person()->mutable_address()->set_municipality_nis_code("21004");
    return n;
  }();
  const std::vector<Case> cases = {
      {"reference address without address", with(person(NP::REFERENCE_ADDRESS), [](auto&) {}),
       code::kMissingField, "address"},
      {"reference address without NIS",
       with(reference,
            [](auto& n) {
              n.mutable_notify_person()->mutable_address()->clear_municipality_nis_code();
            }),
       code::kMissingField, "address.municipality_nis_code"},
      {"reference address abroad",
       with(
           reference,
           [](auto& n) { n.mutable_notify_person()->mutable_address()->set_country_nr_code(103); }),
       code::kInconsistent, "address.country_nr_code"},
      {"cohabitation without partner", with(person(NP::LEGAL_COHABITATION_START), [](auto&) {}),
       code::kMissingField, "partner_ssin"},
      {"cohabitation end without partner", with(person(NP::LEGAL_COHABITATION_END), [](auto&) {}),
       code::kMissingField, "partner_ssin"},
      {"partner checksum",
       with(cohab, [](auto& n) { n.mutable_notify_person()->set_partner_ssin("93051822362"); }),
       code::kInvalidSsinChecksum, "partner_ssin"},
      {"partner is the person",
       with(cohab, [](auto& n) { n.mutable_notify_person()->set_partner_ssin(kSsin); }),
       code::kInconsistent, "partner_ssin"},
      {"household head missing", with(person(NP::HOUSEHOLD_HEAD_CHANGE), [](auto&) {}),
       code::kMissingField, "household_head_ssin"},
      {"household head format",
       with(person(NP::HOUSEHOLD_HEAD_CHANGE),
            [](auto& n) { n.mutable_notify_person()->set_household_head_ssin("6806010532"); }),
       code::kInvalidSsin, "household_head_ssin"},
      {"register missing", with(person(NP::REGISTER_CHANGE), [](auto&) {}), code::kMissingField,
       "register_code"},
      {"register out of range",
       with(person(NP::REGISTER_CHANGE),
            [](auto& n) { n.mutable_notify_person()->set_register_code(100); }),
       code::kInvalidCode, "register_code"},
      {"register unchanged",
       with(person(NP::REGISTER_CHANGE),
            [](auto& n) {
              n.mutable_notify_person()->set_register_code(1);
              n.mutable_notify_person()->set_previous_register_code(1);
            }),
       code::kInconsistent, "previous_register_code"},
      {"absence ends before it starts",
       with(person(NP::TEMPORARY_ABSENCE),
            [](auto& n) { n.mutable_notify_person()->set_absence_end_date("2025-02-00"); }),
       code::kDateOrder, "absence_end_date"},
      {"absence end malformed",
       with(person(NP::TEMPORARY_ABSENCE),
            [](auto& n) { n.mutable_notify_person()->set_absence_end_date("2025-00-14"); }),
       code::kInvalidDate, "absence_end_date"},
      {"abroad in Belgium by NR code",
       with(
           person(NP::ADDRESS_ABROAD),
           [](auto& n) { n.mutable_notify_person()->mutable_address()->set_country_nr_code(150); }),
       code::kInconsistent, "address.country_nr_code"},
      {"abroad without country",
       with(person(NP::ADDRESS_ABROAD),
            [](auto& n) {
              n.mutable_notify_person()->mutable_address()->set_street("Theaterstrasse");
            }),
       code::kMissingField, "address.country_nr_code"},
      {"unknown NR country",
       with(person(NP::ADDRESS_ABROAD),
            [](auto& n) { n.mutable_notify_person()->mutable_address()->set_country_nr_code(1); }),
       code::kInvalidCountryCode, "address.country_nr_code"},
      {"ISO and NR disagree",
       with(person(NP::ADDRESS_ABROAD),
            [](auto& n) {
              n.mutable_notify_person()->mutable_address()->set_country_nr_code(103);
              n.mutable_notify_person()->mutable_address()->set_country_code("BE");
            }),
       code::kInconsistent, "address.country_code"},
      {"ISO only without NR code",
       with(person(NP::ADDRESS_ABROAD),
            [](auto& n) { n.mutable_notify_person()->mutable_address()->set_country_code("ZZ"); }),
       code::kNotMappable, "address.country_code"},
      {"current municipality sent wrong",
       with(reference,
            [](auto& n) {
              n.mutable_notify_person()->mutable_address()->set_current_municipality_nis_code(
                  "44021");
            }),
       code::kInconsistent, "address.current_municipality_nis_code"},
      {"civil status code outside the list",
       with(person(NP::CIVIL_STATUS_CHANGE),
            [](auto& n) { n.mutable_notify_person()->set_civil_status_code(11); }),
       code::kInvalidCode, "civil_status_code"},
      {"civil status code and enum disagree",
       with(person(NP::CIVIL_STATUS_CHANGE),
            [](auto& n) {
              n.mutable_notify_person()->set_civil_status_code(20);
              n.mutable_notify_person()->set_civil_status(NP::DIVORCED);
            }),
       code::kInconsistent, "civil_status"},
      {"civil status 51 with an enum",
       with(person(NP::CIVIL_STATUS_CHANGE),
            [](auto& n) {
              n.mutable_notify_person()->set_civil_status_code(51);
              n.mutable_notify_person()->set_civil_status(NP::SEPARATED);
            }),
       code::kInconsistent, "civil_status"},
      {"nationality NR unknown",
       with(person(NP::NATIONALITY_CHANGE),
            [](auto& n) { n.mutable_notify_person()->set_nationality_nr_code(1000); }),
       code::kInvalidCountryCode, "nationality_nr_code"},
      {"nationality ISO and NR disagree",
       with(person(NP::NATIONALITY_CHANGE),
            [](auto& n) {
              n.mutable_notify_person()->set_nationality_nr_code(150);
              n.mutable_notify_person()->set_nationality_code("DE");
            }),
       code::kInconsistent, "nationality_code"},
      {"gender code",
       with(person(NP::DEATH), [](auto& n) { n.mutable_notify_person()->set_gender_code(3); }),
       code::kInvalidCode, "gender_code"},
      {"birth date",
       with(cohab, [](auto& n) { n.mutable_notify_person()->set_birth_date("1968-13-00"); }),
       code::kInvalidDate, "birth_date"},
      {"effective date day without month",
       with(cohab, [](auto& n) { n.mutable_notify_person()->set_effective_date("2025-00-14"); }),
       code::kInvalidDate, "effective_date"},
      {"incomplete date outside the NR flows",
       with(personnel(),
            [](auto& n) { n.mutable_personnel_file()->set_effective_date("2025-03-00"); }),
       code::kInvalidDate, "effective_date"},
      {"IT code malformed",
       with(cohab, [](auto& n) { n.mutable_notify_person()->set_nr_information_type("IT12"); }),
       code::kInvalidCode, "nr_information_type"},
      {"IT code of another event",
       with(cohab, [](auto& n) { n.mutable_notify_person()->set_nr_information_type("IT020"); }),
       code::kInconsistent, "nr_information_type"},
      {"raw value with NUL",
       with(cohab,
            [](auto& n) { n.mutable_notify_person()->set_nr_raw_value(std::string("a\0b", 3)); }),
       code::kInvalidText, "nr_raw_value"},
      {"raw value with bidi override",
       with(cohab,
            [](auto& n) { n.mutable_notify_person()->set_nr_raw_value("name \xE2\x80\xAE"); }),
       code::kInvalidText, "nr_raw_value"},
      {"raw value not UTF-8",
       with(cohab, [](auto& n) { n.mutable_notify_person()->set_nr_raw_value("Li\xE8ge"); }),
       code::kInvalidText, "nr_raw_value"},
      {"raw value too long",
       with(cohab,
            [](auto& n) { n.mutable_notify_person()->set_nr_raw_value(std::string(4097, 'x')); }),
       code::kFieldTooLong, "nr_raw_value"},
      {"member role code",
       with(family(),
            [](auto& n) {
              n.mutable_notify_family_composition()->mutable_members(1)->set_role_code(100);
            }),
       code::kInvalidCode, "members[1].role_code"},
      {"member role and code disagree",
       with(family(),
            [](auto& n) {
              n.mutable_notify_family_composition()->mutable_members(1)->set_role(FC::SPOUSE);
            }),
       code::kInconsistent, "members[1].role"},
      {"member role without code mapping",
       with(family(),
            [](auto& n) {
              n.mutable_notify_family_composition()->mutable_members(1)->clear_role_code();
              n.mutable_notify_family_composition()->mutable_members(1)->set_role(FC::NON_RELATIVE);
            }),
       code::kNotMappable, "members[1].role"},
      {"member since",
       with(family(),
            [](auto& n) {
              n.mutable_notify_family_composition()->mutable_members(1)->set_since("2025-02-30");
            }),
       code::kInvalidDate, "members[1].since"},
      {"no employer at all",
       with(personnel(), [](auto& n) { n.mutable_personnel_file()->clear_employer_nsso_number(); }),
       code::kMissingField, "employer_cbe"},
      {"NSSO number check",
       with(personnel(),
            [](auto& n) { n.mutable_personnel_file()->set_employer_nsso_number("123456794"); }),
       code::kInvalidNssoNumber, "employer_nsso_number"},
      {"CBE beside a good NSSO number",
       with(personnel(),
            [](auto& n) { n.mutable_personnel_file()->set_employer_cbe("0851234585"); }),
       code::kInvalidCbe, "employer_cbe"},
      {"DIMONA code malformed",
       with(personnel(),
            [](auto& n) { n.mutable_personnel_file()->set_dimona_worker_type("stu"); }),
       code::kInvalidCode, "dimona_worker_type"},
      {"worker type and DIMONA disagree",
       with(personnel(),
            [](auto& n) { n.mutable_personnel_file()->set_worker_type(PF::FLEXI_JOB); }),
       code::kInconsistent, "worker_type"},
      {"apprentice alone",
       with(personnel(),
            [](auto& n) {
              n.mutable_personnel_file()->clear_dimona_worker_type();
              n.mutable_personnel_file()->set_worker_type(PF::APPRENTICE);
            }),
       code::kNotMappable, "worker_type"},
      {"interim alone",
       with(personnel(),
            [](auto& n) {
              n.mutable_personnel_file()->clear_dimona_worker_type();
              n.mutable_personnel_file()->set_worker_type(PF::INTERIM);
            }),
       code::kNotMappable, "worker_type"},
      {"OTHER flagged article 60",
       with(personnel(),
            [](auto& n) {
              n.mutable_personnel_file()->clear_dimona_worker_type();
              n.mutable_personnel_file()->set_worker_type(PF::OTHER);
              n.mutable_personnel_file()->set_cpas_article_60(true);
            }),
       code::kInconsistent, "cpas_article_60"},
      {"ARTICLE_60 beside STU",
       with(personnel(),
            [](auto& n) { n.mutable_personnel_file()->set_worker_type(PF::ARTICLE_60); }),
       code::kInconsistent, "worker_type"},
  };
  for (const auto& c : cases) expect_error(c.make(), c.code, c.field, c.name);
}

// ---- completion -------------------------------------------------------------------------------

// complete() is idempotent and validate() accepts what it returns.
Notification completed(Notification n) {
  EXPECT_EQ(validate(n), std::nullopt);
  complete(n);
  EXPECT_EQ(validate(n), std::nullopt);
  Notification again = n;
  complete(again);
  EXPECT_TRUE(MessageDifferencer::Equals(again, n)) << "complete is not idempotent";
  return n;
}

TEST(Complete, DerivesDeprecatedFieldsFromSourceCodes) {
  Notification n = person(NP::CIVIL_STATUS_CHANGE);
  n.mutable_notify_person()->set_civil_status_code(40);
  n = completed(n);
  EXPECT_EQ(n.notify_person().civil_status(), NP::DIVORCED);
  EXPECT_EQ(n.notify_person().nr_information_type(), "IT120");

  n = person(NP::CIVIL_STATUS_CHANGE);
  n.mutable_notify_person()->set_civil_status_code(26);
  n = completed(n);
  EXPECT_EQ(n.notify_person().civil_status(), NP::CIVIL_STATUS_UNSPECIFIED);  // no exact value
  EXPECT_EQ(n.notify_person().civil_status_code(), 26u);

  n = person(NP::ADDRESS_ABROAD);
  n.mutable_notify_person()->mutable_address()->set_country_nr_code(103);
  n = completed(n);
  EXPECT_EQ(n.notify_person().address().country_code(), "DE");
  EXPECT_EQ(n.notify_person().nr_information_type(), "IT022");

  n = person(NP::NATIONALITY_CHANGE);
  n.mutable_notify_person()->set_nationality_nr_code(150);
  n = completed(n);
  EXPECT_EQ(n.notify_person().nationality_code(), "BE");
}

TEST(Complete, MapsDeprecatedOnlyProducersToSourceCodes) {
  Notification n = person(NP::CIVIL_STATUS_CHANGE);
  n.mutable_notify_person()->set_civil_status(NP::MARRIED);
  n = completed(n);
  EXPECT_EQ(n.notify_person().civil_status_code(), 20u);

  n = person(NP::ADDRESS_CHANGE);
  n.mutable_notify_person()->mutable_address()->set_municipality_nis_code("21004");
  n.mutable_notify_person()->mutable_address()->set_country_code("BE");
  n = completed(n);
  EXPECT_EQ(n.notify_person().address().country_nr_code(), 150u);
  EXPECT_EQ(n.notify_person().address().current_municipality_nis_code(), "21004");
  EXPECT_EQ(n.notify_person().nr_information_type(), "IT020");

  // A Belgian address without any country is in Belgium by the event's definition.
  n = person(NP::REFERENCE_ADDRESS);
  n.mutable_notify_person()->mutable_address()->set_municipality_nis_code("21004");
  n = completed(n);
  EXPECT_EQ(n.notify_person().address().country_nr_code(), 150u);
  EXPECT_EQ(n.notify_person().address().country_code(), "BE");
  EXPECT_EQ(n.notify_person().nr_information_type(), "IT024");

  n = person(NP::NATIONALITY_CHANGE);
  n.mutable_notify_person()->set_nationality_code("BE");
  n = completed(n);
  EXPECT_EQ(n.notify_person().nationality_nr_code(), 150u);

  n = personnel();
  n.mutable_personnel_file()->clear_dimona_worker_type();
  n.mutable_personnel_file()->set_worker_type(PF::ARTICLE_60);
  n = completed(n);
  EXPECT_EQ(n.personnel_file().dimona_worker_type(), "OTH");
  EXPECT_TRUE(n.personnel_file().cpas_article_60());
  EXPECT_EQ(n.personnel_file().worker_type(), PF::ARTICLE_60);

  n = personnel();
  n.mutable_personnel_file()->clear_dimona_worker_type();
  n.mutable_personnel_file()->set_worker_type(PF::OCCASIONAL);
  n = completed(n);
  EXPECT_EQ(n.personnel_file().dimona_worker_type(), "EXT");
  EXPECT_FALSE(n.personnel_file().cpas_article_60());

  n = family();
  n.mutable_notify_family_composition()->mutable_members(0)->clear_role_code();
  n.mutable_notify_family_composition()->mutable_members(0)->set_role(FC::REFERENCE_PERSON);
  n = completed(n);
  EXPECT_EQ(n.notify_family_composition().members(0).role_code(), 1u);
  EXPECT_EQ(n.notify_family_composition().members(1).role(), FC::CHILD);

  // 10 (sister-in-law) derives OTHER_RELATIVE; OTHER_RELATIVE alone has no one code.
  n = family();
  n.mutable_notify_family_composition()->mutable_members(1)->set_role_code(10);
  n = completed(n);
  EXPECT_EQ(n.notify_family_composition().members(1).role(), FC::OTHER_RELATIVE);
}

// The 2019 and 2025 mergers (Statbel REFNIS, data/refdata): an old code is accepted and the
// municipality it belongs to today is derived.
TEST(Complete, MunicipalityThroughTheMergers) {
  const std::vector<std::pair<std::string, std::string>> merged = {
      {"11007", "11002"},  // Borsbeek -> Antwerpen (2025)
      {"11056", "46030"},  // Zwijndrecht -> Beveren-Kruibeke-Zwijndrecht (2025)
      {"12034", "12041"},  // Sint-Amands -> Puurs-Sint-Amands (2019)
      {"23024", "23106"},  // Gooik -> Pajottegem (2025)
      {"21004", "21004"},  // Brussels: not merged
  };
  for (const auto& [old_code, today] : merged) {
    Notification n = person(NP::ADDRESS_CHANGE);
    n.mutable_notify_person()->mutable_address()->set_municipality_nis_code(old_code);
    n = completed(n);
    EXPECT_EQ(n.notify_person().address().current_municipality_nis_code(), today) << old_code;
    EXPECT_EQ(n.notify_person().address().municipality_nis_code(), old_code);  // as the source said
  }
  for (const char* unknown : {"99999", "21000", "10000"}) {
    Notification n = person(NP::ADDRESS_CHANGE);
    n.mutable_notify_person()->mutable_address()->set_municipality_nis_code(unknown);
    expect_error(n, code::kInvalidNisCode, "address.municipality_nis_code", unknown);
  }
}

TEST(Complete, KeepsWhatTheSourceSaid) {
  Notification n = person(NP::HOUSEHOLD_HEAD_CHANGE);
  auto& b = *n.mutable_notify_person();
  b.set_household_head_ssin(kOther);
  b.set_nr_information_type("IT141");
  const std::string raw =
      "<HeadOfFamily Type=\"141\">\n\t<FamilyRole><Code>03</Code></FamilyRole>\n</HeadOfFamily>";
  b.set_nr_raw_value(raw);
  n = completed(n);
  EXPECT_EQ(n.notify_person().nr_information_type(), "IT141");  // not replaced by the default
  EXPECT_EQ(n.notify_person().nr_raw_value(), raw);

  n = personnel();
  n.mutable_personnel_file()->set_dimona_worker_type("OTH");
  n.mutable_personnel_file()->set_cpas_article_60(true);
  n = completed(n);
  EXPECT_EQ(n.personnel_file().worker_type(), PF::ARTICLE_60);
  EXPECT_EQ(n.personnel_file().employer_nsso_number(), "123456749");
  EXPECT_TRUE(n.personnel_file().employer_cbe().empty());
}

}  // namespace
