#include "relais/codec/samples.hpp"

#include <array>
#include <string_view>

#include "relais/codec/encode.hpp"
#include "relais/codec/flow.hpp"
#include "relais/validation/date.hpp"

namespace relais::codec {
namespace {

using relais::v1::Notification;

// Fictitious enterprise numbers, valid by the CBE rule.
constexpr std::string_view kCpasCbe = "0212000032";
constexpr std::string_view kEmployerCbe = "0851234584";
constexpr std::string_view kEnterpriseCbe = "0417497106";
// A fictitious NSSO registration number, valid by the NSSO rule (mod 97 = 96).
constexpr std::string_view kEmployerNsso = "123456749";

// Verified SSINs (docs/domain.md) for other household members.
constexpr std::array<std::string_view, 3> kOtherSsins{"68060105329", "93051822361", "12060105346"};

template <class Body>
void fill_envelope(Body& b, std::string ticket, std::string ssin, const std::string& date) {
  b.set_ticket(std::move(ticket));
  b.set_ssin(std::move(ssin));
  b.set_effective_date(date);
  b.set_sent_at(date + "T06:00:00Z");
}

// effective_date + days, or effective_date itself when it does not parse.
std::string plus_days(const std::string& date, int days) {
  const auto d = validation::parse_iso_date(date);
  if (!d) return date;
  return validation::to_string(validation::Date{d->days + days});
}

}  // namespace

Notification sample_notification(relais::v1::Flow flow, std::string ticket, std::string ssin,
                                 std::string date) {
  Notification n;
  switch (flow) {
    case relais::v1::FLOW_NOTIFY_PERSON: {
      auto& b = *n.mutable_notify_person();
      b.set_event(relais::v1::NotifyPerson::ADDRESS_CHANGE);
      auto& a = *b.mutable_address();
      a.set_street("Rue Haute");
      a.set_house_number("298");
      a.set_box("A");
      a.set_postal_code("1000");
      a.set_municipality("Bruxelles");
      a.set_municipality_nis_code("21004");
      a.set_current_municipality_nis_code("21004");
      a.set_country_nr_code(150);  // the National Register's code; "BE" is derived from it
      a.set_country_code("BE");
      b.set_nr_information_type("IT020");
      b.set_nr_raw_value(
          "<MainAddress><Municipality><Code>21004</Code></Municipality></MainAddress>");
      break;
    }
    case relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION: {
      auto& b = *n.mutable_notify_family_composition();
      b.set_event(relais::v1::NotifyFamilyComposition::COMPOSITION_CHANGED);
      b.set_household_id("HH-21004-000042");
      b.set_reference_person_ssin(ssin);
      b.set_municipality_nis_code("21004");
      auto* head = b.add_members();
      head->set_ssin(ssin);
      head->set_role_code(1);  // Tx25 FamilyRole 01; the relais.v1 role is derived from it
      head->set_role(relais::v1::NotifyFamilyComposition::REFERENCE_PERSON);
      relais::v1::NotifyFamilyComposition::Role roles[] = {
          relais::v1::NotifyFamilyComposition::SPOUSE, relais::v1::NotifyFamilyComposition::CHILD};
      const std::uint32_t role_codes[] = {2, 3};
      int added = 0;
      for (std::string_view other : kOtherSsins) {
        if (other == ssin || added == 2) continue;
        auto* m = b.add_members();
        m->set_ssin(std::string(other));
        m->set_role_code(role_codes[added]);
        m->set_role(roles[added++]);
        m->set_since(date);
      }
      break;
    }
    case relais::v1::FLOW_PENSION_REGISTER_MUTATION: {
      auto& b = *n.mutable_pension_register_mutation();
      b.set_event(relais::v1::PensionRegisterMutation::RIGHT_GRANTED);
      b.set_regime(relais::v1::PensionRegisterMutation::EMPLOYEE);
      b.set_pension_type(relais::v1::PensionRegisterMutation::RETIREMENT);
      b.set_right_start_date(date);
      b.set_monthly_gross_amount_cents(158'734);
      b.set_paying_institution("SFP-FPD");
      break;
    }
    case relais::v1::FLOW_PERSONNEL_FILE: {
      auto& b = *n.mutable_personnel_file();
      b.set_event(relais::v1::PersonnelFile::DIMONA_IN);
      b.set_employer_cbe(std::string(kEmployerCbe));
      b.set_employer_nsso_number(std::string(kEmployerNsso));
      b.set_employer_name("Boulangerie Dupont SRL");
      b.set_dimona_worker_type("OTH");  // DIMONA's code; the relais.v1 worker_type is derived
      b.set_worker_type(relais::v1::PersonnelFile::OTHER);
      b.set_joint_committee("118");
      b.set_period_start_date(date);
      b.set_dimona_period_id("DMN-2024-0001234567");
      break;
    }
    case relais::v1::FLOW_SELF_EMPLOYED_CAREER: {
      auto& b = *n.mutable_self_employed_career();
      b.set_event(relais::v1::SelfEmployedCareer::CAREER_STARTED);
      b.set_category(relais::v1::SelfEmployedCareer::MAIN_ACTIVITY);
      b.set_period_start_date(date);
      b.set_enterprise_cbe(std::string(kEnterpriseCbe));
      b.set_social_insurance_fund("Liantis");
      break;
    }
    case relais::v1::FLOW_ECARMED_CALCULATION: {
      auto& b = *n.mutable_ecarmed_calculation();
      b.set_event(relais::v1::EcarmedCalculation::CALCULATION_CREATED);
      b.set_decision_number("MED-2024-004711");
      b.set_decision_cpas_cbe(std::string(kCpasCbe));
      b.set_calculation_id("CALC-000815");
      b.set_care_period_start(date);
      b.set_care_period_end(plus_days(date, 30));
      b.set_amount_claimed_cents(48'250);
      b.set_amount_covered_cents(41'010);
      b.set_amount_cpas_cents(7'240);
      b.set_care_provider_id("1-23456-78-901");
      break;
    }
    case relais::v1::FLOW_SPPIS_CLIGNOTANT: {
      auto& b = *n.mutable_sppis_clignotant();
      b.set_event(relais::v1::SppIsClignotant::ISSUED);
      b.set_sppis_id("CLG-2024-0004711");
      b.set_type_code("WORK_INCOME");
      b.set_cpas_cbe(std::string(kCpasCbe));
      b.set_period_end(plus_days(date, 30));
      b.set_amount_declared_cents(0);
      b.set_amount_observed_cents(182'500);
      auto* src = b.add_sources();
      src->set_source("DIMONA");
      src->set_reference("DMN-2024-0001234567");
      b.set_issued_date(plus_days(date, 60));
      b.set_deadline_date(plus_days(date, 120));
      break;
    }
    default:
      return n;
  }
  n.set_flow(flow);
  switch (n.body_case()) {
    case Notification::kNotifyPerson:
      fill_envelope(*n.mutable_notify_person(), std::move(ticket), std::move(ssin), date);
      break;
    case Notification::kNotifyFamilyComposition:
      fill_envelope(*n.mutable_notify_family_composition(), std::move(ticket), std::move(ssin),
                    date);
      break;
    case Notification::kPensionRegisterMutation:
      fill_envelope(*n.mutable_pension_register_mutation(), std::move(ticket), std::move(ssin),
                    date);
      break;
    case Notification::kPersonnelFile:
      fill_envelope(*n.mutable_personnel_file(), std::move(ticket), std::move(ssin), date);
      break;
    case Notification::kSelfEmployedCareer:
      fill_envelope(*n.mutable_self_employed_career(), std::move(ticket), std::move(ssin), date);
      break;
    case Notification::kEcarmedCalculation:
      fill_envelope(*n.mutable_ecarmed_calculation(), std::move(ticket), std::move(ssin), date);
      break;
    case Notification::kSppisClignotant:
      fill_envelope(*n.mutable_sppis_clignotant(), std::move(ticket), std::move(ssin), date);
      break;
    case Notification::BODY_NOT_SET:
      break;
  }
  sync_envelope(n);
  return n;
}

std::string sample_json(relais::v1::Flow flow, std::string ticket, std::string ssin,
                        std::string effective_date) {
  const Notification n =
      sample_notification(flow, std::move(ticket), std::move(ssin), std::move(effective_date));
  const google::protobuf::Message* b = body(n);
  return b == nullptr ? std::string() : to_json(*b);
}

std::string sample_protobuf(relais::v1::Flow flow, std::string ticket, std::string ssin,
                            std::string effective_date) {
  const Notification n =
      sample_notification(flow, std::move(ticket), std::move(ssin), std::move(effective_date));
  const google::protobuf::Message* b = body(n);
  return b == nullptr ? std::string() : b->SerializeAsString();
}

}  // namespace relais::codec
