#include "relais/validation/notification.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "relais/validation/date.hpp"
#include "relais/validation/ids.hpp"
#include "relais/validation/source_codes.hpp"
#include "relais/validation/text.hpp"

namespace relais::validation {
namespace {

namespace pb = google::protobuf;
using relais::v1::EcarmedCalculation;
using relais::v1::Flow;
using relais::v1::Notification;
using relais::v1::NotifyFamilyComposition;
using relais::v1::NotifyPerson;
using relais::v1::PensionRegisterMutation;
using relais::v1::PersonnelFile;
using relais::v1::SelfEmployedCareer;
using relais::v1::SppIsClignotant;

using Result = std::optional<Error>;

std::string join(std::string_view prefix, std::string_view name) {
  std::string out;
  out.reserve(prefix.size() + name.size());
  out.append(prefix).append(name);
  return out;
}

// How many values of field `f` of `m` the checks below look at: the values of a repeated field,
// a field with presence when set, and a field without presence always (at its default, "" or 0,
// it passes every check, where Reflection::ListFields would leave it out). The same outcome as
// walking ListFields, without building and sorting that list for every message of every
// notification (about a twentieth of relais-ingest's CPU).
int present_values(const pb::Message& m, const pb::Reflection* r, const pb::FieldDescriptor* f) {
  if (f->is_repeated()) return r->FieldSize(m, f);
  if (f->has_presence()) return r->HasField(m, f) ? 1 : 0;
  return 1;
}

// Every string length and every enum value, recursively (binary protobuf can carry enum
// numbers the schema does not know: proto3 enums are open).
Result check_strings_and_enums(const pb::Message& m, const Limits& limits,
                               std::string_view prefix) {
  const pb::Descriptor* d = m.GetDescriptor();
  const pb::Reflection* r = m.GetReflection();
  std::string scratch;
  for (int fi = 0; fi < d->field_count(); ++fi) {
    const pb::FieldDescriptor* f = d->field(fi);
    const int count = present_values(m, r, f);
    for (int i = 0; i < count; ++i) {
      auto path = [&] {
        std::string p = join(prefix, f->name());
        if (f->is_repeated()) p.append("[").append(std::to_string(i)).append("]");
        return p;
      };
      switch (f->cpp_type()) {
        case pb::FieldDescriptor::CPPTYPE_STRING: {
          const std::string& v = f->is_repeated() ? r->GetRepeatedStringReference(m, f, i, &scratch)
                                                  : r->GetStringReference(m, f, &scratch);
          if (v.empty()) break;  // "" passes every rule below
          // Every string of every flow is single-line text (validation/text.hpp): UTF-8, no NUL,
          // no control or bidi character, bounded. The one exception is notify-person's
          // nr_raw_value, the register's own text: longer, and line breaks allowed.
          const bool raw = f->number() == NotifyPerson::kNrRawValueFieldNumber &&
                           f->containing_type() == NotifyPerson::descriptor();
          const TextRules rules =
              raw ? TextRules{limits.max_raw_value, true} : TextRules{limits.max_string, false};
          if (auto e = validate_text(v, "", rules)) {
            e->field = path();
            return e;
          }
          break;
        }
        case pb::FieldDescriptor::CPPTYPE_ENUM: {
          const int v = f->is_repeated() ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f);
          if (f->enum_type()->FindValueByNumber(v) == nullptr) {
            return make_error(code::kInvalidEnum,
                              "unknown " + f->enum_type()->name() + " value " + std::to_string(v),
                              path());
          }
          break;
        }
        case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
          const pb::Message& sub =
              f->is_repeated() ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f);
          if (auto e = check_strings_and_enums(sub, limits, path() + ".")) return e;
          break;
        }
        default:
          break;
      }
    }
  }
  return std::nullopt;
}

Result missing(std::string_view field, std::string_view what = "is required") {
  return make_error(code::kMissingField, std::string(field) + " " + std::string(what),
                    std::string(field));
}

// A required date: MISSING_FIELD when empty, INVALID_DATE when not a YYYY-MM-DD calendar day.
Result required_date(std::string_view value, std::string_view field, std::optional<Date>& out) {
  if (value.empty()) return missing(field);
  out = parse_iso_date(value);
  if (!out) {
    return make_error(code::kInvalidDate, "not a valid YYYY-MM-DD date", std::string(field));
  }
  return std::nullopt;
}

// An optional date: fine when empty.
Result optional_date(std::string_view value, std::string_view field, std::optional<Date>& out) {
  if (value.empty()) return std::nullopt;
  return required_date(value, field, out);
}

// An optional incomplete date (t_IncompleteDate: MM and DD may be 00): fine when empty.
Result optional_incomplete_date(std::string_view value, std::string_view field,
                                std::optional<IncompleteDate>& out) {
  if (value.empty()) return std::nullopt;
  out = parse_incomplete_date(value);
  if (!out) {
    return make_error(code::kInvalidDate,
                      "not a valid YYYY-MM-DD date (MM and DD may be 00 when unknown)",
                      std::string(field));
  }
  return std::nullopt;
}

// DATE_ORDER on `end_field` when both dates are known and end < start.
Result ordered(const std::optional<Date>& start, const std::optional<Date>& end,
               std::string_view end_field) {
  if (start && end && *end < *start) {
    return make_error(code::kDateOrder, "ends before it starts", std::string(end_field));
  }
  return std::nullopt;
}

Result non_negative(std::int64_t amount, std::string_view field) {
  if (amount < 0) {
    return make_error(code::kInvalidAmount, "an amount cannot be negative", std::string(field));
  }
  return std::nullopt;
}

Result code_error(std::string_view field, std::string message) {
  return make_error(code::kInvalidCode, std::move(message), std::string(field));
}

// A NIS code: 5 digits, in the official list (historical codes of merged municipalities
// included). Empty is fine (the event decides whether it is required).
Result nis_code(std::string_view value, std::string_view field) {
  if (value.empty()) return std::nullopt;
  if (!is_valid_nis_code(value)) {
    return make_error(code::kInvalidNisCode, "a NIS code is 5 digits, the first one 1-9",
                      std::string(field));
  }
  if (!is_known_nis_code(value)) {
    return make_error(code::kInvalidNisCode, "not a municipality of the NIS code list",
                      std::string(field));
  }
  return std::nullopt;
}

Result country_code(std::string_view value, std::string_view field) {
  if (value.empty() || is_valid_country_code(value)) return std::nullopt;
  return make_error(code::kInvalidCountryCode,
                    "a country code is ISO 3166-1 alpha-2: two uppercase letters",
                    std::string(field));
}

// A National Register country code (`nr_field`) and its deprecated ISO twin (`iso_field`):
// the NR code in the list; the ISO code well formed; when both are sent they agree; when only
// the ISO code is sent, an NR code maps to it.
Result country_pair(std::uint32_t nr, std::string_view iso, std::string_view nr_field,
                    std::string_view iso_field) {
  if (auto e = country_code(iso, iso_field)) return e;
  if (nr != 0) {
    if (!is_country_nr_code(nr)) {
      return make_error(code::kInvalidCountryCode,
                        "not a country of the National Register code list (150 = Belgium)",
                        std::string(nr_field));
    }
    if (!iso.empty() && iso2_for_country(nr) != std::optional<std::string_view>(iso)) {
      return make_error(
          code::kInconsistent,
          "the ISO code does not match the National Register code " + std::to_string(nr),
          std::string(iso_field));
    }
  } else if (!iso.empty() && (!country_for_iso2(iso) ||
                              iso2_for_country(*country_for_iso2(iso)) != std::optional(iso))) {
    // Exact only when the ISO code maps to an NR code whose ISO code is this one again.
    return make_error(
        code::kNotMappable,
        "no National Register country code for this ISO code: send " + std::string(nr_field),
        std::string(iso_field));
  }
  return std::nullopt;
}

// The NR country code a pair stands for (0 when neither is sent).
std::uint32_t country_of(std::uint32_t nr, std::string_view iso) {
  if (nr != 0 || iso.empty()) return nr;
  return country_for_iso2(iso).value_or(0);
}

Result optional_ssin(std::string_view value, std::string_view field) {
  if (value.empty()) return std::nullopt;
  return validate_ssin(value, field);
}

// The common envelope fields 1-8, identical in every flow message.
template <class Body>
Result check_envelope(const Body& b, const Notification& n) {
  if (b.ticket().empty()) return missing("ticket");
  if (!is_valid_ticket(b.ticket())) {
    return make_error(code::kInvalidTicket, "a ticket is a UUID (8-4-4-4-12 hexadecimal)",
                      "ticket");
  }
  if (auto e = validate_ssin(b.ssin(), "ssin")) return e;
  if (!b.replaces_ssin().empty()) {
    if (auto e = validate_ssin(b.replaces_ssin(), "replaces_ssin")) return e;
    if (b.replaces_ssin() == b.ssin()) {
      return make_error(code::kInconsistent, "an SSIN cannot replace itself", "replaces_ssin");
    }
  }
  // The National Register's flows carry t_IncompleteDate event dates (month, or month and day,
  // 00 when unknown); routing::decide defines how an incomplete date is routed. The other
  // sources always date their events to the day.
  constexpr bool national_register =
      std::is_same_v<Body, NotifyPerson> || std::is_same_v<Body, NotifyFamilyComposition>;
  if constexpr (national_register) {
    if (b.effective_date().empty()) return missing("effective_date");
    std::optional<IncompleteDate> effective;
    if (auto e = optional_incomplete_date(b.effective_date(), "effective_date", effective))
      return e;
  } else {
    std::optional<Date> effective;
    if (auto e = required_date(b.effective_date(), "effective_date", effective)) return e;
  }
  if (!b.sent_at().empty() && !is_valid_rfc3339(b.sent_at())) {
    return make_error(code::kInvalidTimestamp, "not an RFC 3339 timestamp", "sent_at");
  }
  if (b.event() == 0) return missing("event");

  if (n.has_envelope()) {
    const relais::v1::Envelope& env = n.envelope();
    auto differs = [](std::string_view field) {
      return make_error(code::kInconsistent, "the envelope differs from the body",
                        "envelope." + std::string(field));
    };
    if (env.ticket() != b.ticket()) return differs("ticket");
    if (env.ssin() != b.ssin()) return differs("ssin");
    if (env.replaces_ssin() != b.replaces_ssin()) return differs("replaces_ssin");
    if (env.effective_date() != b.effective_date()) return differs("effective_date");
    if (env.sent_at() != b.sent_at()) return differs("sent_at");
    if (env.source_file_id() != b.source_file_id()) return differs("source_file_id");
    if (env.sequence_number() != b.sequence_number()) return differs("sequence_number");
  }
  return std::nullopt;
}

Result check_address(const relais::v1::Address& a) {
  if (auto e = nis_code(a.municipality_nis_code(), "address.municipality_nis_code")) return e;
  if (auto e = country_pair(a.country_nr_code(), a.country_code(), "address.country_nr_code",
                            "address.country_code")) {
    return e;
  }
  if (!a.current_municipality_nis_code().empty() &&
      a.current_municipality_nis_code() != current_nis_code(a.municipality_nis_code())) {
    return make_error(code::kInconsistent,
                      "is derived by Relais from municipality_nis_code through the mergers",
                      "address.current_municipality_nis_code");
  }
  return std::nullopt;
}

// An address in Belgium with its municipality (ADDRESS_CHANGE, REFERENCE_ADDRESS).
Result belgian_address(const NotifyPerson& b, std::string_view event) {
  if (!b.has_address()) return missing("address");
  const auto& a = b.address();
  if (a.municipality_nis_code().empty()) return missing("address.municipality_nis_code");
  const std::uint32_t country = country_of(a.country_nr_code(), a.country_code());
  if (country != 0 && country != kBelgium) {
    return make_error(
        code::kInconsistent, std::string(event) + " is an address in Belgium (country 150, BE)",
        a.country_nr_code() != 0 ? "address.country_nr_code" : "address.country_code");
  }
  return std::nullopt;
}

Result check_information_type(const NotifyPerson& b) {
  const std::string& it = b.nr_information_type();
  if (it.empty()) return std::nullopt;
  if (!is_information_type(it)) {
    return code_error("nr_information_type", "an information type is IT followed by 3 digits");
  }
  const auto allowed = information_types_for(b.event());
  if (allowed.empty()) return std::nullopt;
  for (std::string_view a : allowed) {
    if (a == it) return std::nullopt;
  }
  std::string list;
  for (std::string_view a : allowed) list.append(list.empty() ? "" : ", ").append(a);
  return make_error(code::kInconsistent,
                    "this event is carried by " + list + " in the National Register",
                    "nr_information_type");
}

Result check_flow(const NotifyPerson& b, const Limits&) {
  if (b.has_address()) {
    if (auto e = check_address(b.address())) return e;
  }
  if (auto e = country_pair(b.nationality_nr_code(), b.nationality_code(), "nationality_nr_code",
                            "nationality_code")) {
    return e;
  }
  std::optional<Date> death;
  if (auto e = optional_date(b.date_of_death(), "date_of_death", death)) return e;
  std::optional<IncompleteDate> birth, absence_end;
  if (auto e = optional_incomplete_date(b.birth_date(), "birth_date", birth)) return e;
  if (auto e = optional_incomplete_date(b.absence_end_date(), "absence_end_date", absence_end)) {
    return e;
  }
  if (!is_gender_code(b.gender_code())) {
    return code_error("gender_code", "a gender code is 0 (unknown), 1 (male) or 2 (female)");
  }
  if (b.civil_status_code() != 0) {
    if (!is_civil_status_code(b.civil_status_code())) {
      return code_error("civil_status_code",
                        "a civil status code is one of 10 20 25 26 30 40 41 50 51 60");
    }
    if (b.civil_status() != NotifyPerson::CIVIL_STATUS_UNSPECIFIED &&
        civil_status_for_code(b.civil_status_code()) != b.civil_status()) {
      return make_error(code::kInconsistent, "civil_status does not match civil_status_code",
                        "civil_status");
    }
  }
  if (auto e = optional_ssin(b.partner_ssin(), "partner_ssin")) return e;
  if (auto e = optional_ssin(b.household_head_ssin(), "household_head_ssin")) return e;
  if (b.register_code() != 0 && !is_register_code(b.register_code())) {
    return code_error("register_code", "a register code is 1-99 (Tx25 IT210)");
  }
  if (b.previous_register_code() != 0 && !is_register_code(b.previous_register_code())) {
    return code_error("previous_register_code", "a register code is 1-99 (Tx25 IT210)");
  }
  if (auto e = check_information_type(b)) return e;

  switch (b.event()) {
    case NotifyPerson::ADDRESS_CHANGE:
      return belgian_address(b, "ADDRESS_CHANGE");
    case NotifyPerson::REFERENCE_ADDRESS:
      return belgian_address(b, "REFERENCE_ADDRESS");
    case NotifyPerson::ADDRESS_ABROAD: {
      if (!b.has_address()) return missing("address");
      const auto& a = b.address();
      const std::uint32_t country = country_of(a.country_nr_code(), a.country_code());
      if (country == 0) return missing("address.country_nr_code");
      if (country == kBelgium) {
        return make_error(
            code::kInconsistent, "ADDRESS_ABROAD needs a country other than Belgium (150, BE)",
            a.country_nr_code() != 0 ? "address.country_nr_code" : "address.country_code");
      }
      break;
    }
    case NotifyPerson::CIVIL_STATUS_CHANGE:
      if (b.civil_status_code() == 0 &&
          b.civil_status() == NotifyPerson::CIVIL_STATUS_UNSPECIFIED) {
        return missing("civil_status_code");
      }
      break;
    case NotifyPerson::NAME_CHANGE:
      if (b.last_name().empty()) return missing("last_name");
      break;
    case NotifyPerson::NATIONALITY_CHANGE:
      if (b.nationality_nr_code() == 0 && b.nationality_code().empty()) {
        return missing("nationality_nr_code");
      }
      break;
    case NotifyPerson::DEATH:
      if (b.date_of_death().empty()) return missing("date_of_death");
      break;
    case NotifyPerson::SSIN_REPLACED:
      if (b.replaces_ssin().empty()) return missing("replaces_ssin");
      break;
    case NotifyPerson::LEGAL_COHABITATION_START:
    case NotifyPerson::LEGAL_COHABITATION_END:
      if (b.partner_ssin().empty()) return missing("partner_ssin");
      if (b.partner_ssin() == b.ssin()) {
        return make_error(code::kInconsistent, "a person cannot cohabit with themselves",
                          "partner_ssin");
      }
      break;
    case NotifyPerson::HOUSEHOLD_HEAD_CHANGE:
      if (b.household_head_ssin().empty()) return missing("household_head_ssin");
      break;
    case NotifyPerson::REGISTER_CHANGE:
      if (b.register_code() == 0) return missing("register_code");
      if (b.previous_register_code() == b.register_code()) {
        return make_error(code::kInconsistent, "a register change needs a different register",
                          "previous_register_code");
      }
      break;
    case NotifyPerson::TEMPORARY_ABSENCE:
      if (absence_end) {
        const auto effective = parse_incomplete_date(b.effective_date());
        if (effective && absence_end->last_day() < effective->first_day()) {
          return make_error(code::kDateOrder, "ends before it starts", "absence_end_date");
        }
      }
      break;
    default:
      break;
  }
  return std::nullopt;
}

Result check_flow(const NotifyFamilyComposition& b, const Limits& limits) {
  if (b.members_size() == 0) return missing("members", "needs at least one member");
  if (static_cast<std::size_t>(b.members_size()) > limits.max_members) {
    return make_error(code::kTooManyItems,
                      "more than " + std::to_string(limits.max_members) + " members", "members");
  }
  for (int i = 0; i < b.members_size(); ++i) {
    const auto& m = b.members(i);
    std::string prefix = "members[";
    prefix.append(std::to_string(i)).append("].");
    if (auto e = validate_ssin(m.ssin(), prefix + "ssin")) return e;
    if (m.role_code() != 0) {
      if (!is_household_role_code(m.role_code())) {
        return code_error(prefix + "role_code",
                          "not a household role code of the Tx25 FamilyRole list");
      }
      if (m.role() != NotifyFamilyComposition::ROLE_UNSPECIFIED &&
          role_for_code(m.role_code()) != m.role()) {
        return make_error(code::kInconsistent, "role does not match role_code", prefix + "role");
      }
    } else if (m.role() == NotifyFamilyComposition::ROLE_UNSPECIFIED) {
      return missing(prefix + "role_code");
    } else if (!code_for_role(m.role())) {
      return make_error(code::kNotMappable,
                        "this role has no exact household role code: send role_code",
                        prefix + "role");
    }
    std::optional<IncompleteDate> since;
    if (auto e = optional_incomplete_date(m.since(), prefix + "since", since)) return e;
  }
  if (!b.reference_person_ssin().empty()) {
    if (auto e = validate_ssin(b.reference_person_ssin(), "reference_person_ssin")) return e;
  }
  return nis_code(b.municipality_nis_code(), "municipality_nis_code");
}

Result check_flow(const PensionRegisterMutation& b, const Limits&) {
  if (b.regime() == PensionRegisterMutation::REGIME_UNSPECIFIED) return missing("regime");
  std::optional<Date> start, end;
  if (auto e = required_date(b.right_start_date(), "right_start_date", start)) return e;
  if (auto e = optional_date(b.right_end_date(), "right_end_date", end)) return e;
  if (b.event() == PensionRegisterMutation::RIGHT_ENDED && b.right_end_date().empty()) {
    return missing("right_end_date");
  }
  if (auto e = ordered(start, end, "right_end_date")) return e;
  return non_negative(b.monthly_gross_amount_cents(), "monthly_gross_amount_cents");
}

Result check_worker_type(const PersonnelFile& b) {
  const std::string& dimona = b.dimona_worker_type();
  if (!dimona.empty()) {
    if (!is_dimona_worker_type(dimona)) {
      return code_error("dimona_worker_type", "not a DIMONA worker type code");
    }
    if (b.worker_type() != PersonnelFile::WORKER_TYPE_UNSPECIFIED &&
        worker_type_for_dimona(dimona, b.cpas_article_60()) != b.worker_type()) {
      return make_error(code::kInconsistent,
                        "worker_type does not match dimona_worker_type and cpas_article_60",
                        "worker_type");
    }
    return std::nullopt;
  }
  if (b.worker_type() == PersonnelFile::WORKER_TYPE_UNSPECIFIED) {
    return missing("dimona_worker_type");
  }
  const auto derived = dimona_for_worker_type(b.worker_type());
  if (!derived) {
    return make_error(code::kNotMappable,
                      "this worker type has no exact DIMONA worker type: send dimona_worker_type",
                      "worker_type");
  }
  const bool article_60 = b.cpas_article_60() || b.worker_type() == PersonnelFile::ARTICLE_60;
  if (worker_type_for_dimona(*derived, article_60) != b.worker_type()) {
    return make_error(code::kInconsistent, "an OTH worker under article 60 is ARTICLE_60",
                      "cpas_article_60");
  }
  return std::nullopt;
}

Result check_flow(const PersonnelFile& b, const Limits&) {
  if (b.employer_cbe().empty() && b.employer_nsso_number().empty()) {
    return missing("employer_cbe", "or employer_nsso_number is required");
  }
  if (!b.employer_cbe().empty()) {
    if (auto e = validate_cbe(b.employer_cbe(), "employer_cbe")) return e;
  }
  if (!b.employer_nsso_number().empty()) {
    if (auto e = validate_nsso_number(b.employer_nsso_number(), "employer_nsso_number")) return e;
  }
  if (auto e = check_worker_type(b)) return e;
  std::optional<Date> start, end;
  if (auto e = required_date(b.period_start_date(), "period_start_date", start)) return e;
  if (auto e = optional_date(b.period_end_date(), "period_end_date", end)) return e;
  if (b.event() == PersonnelFile::DIMONA_OUT && b.period_end_date().empty()) {
    return missing("period_end_date");
  }
  return ordered(start, end, "period_end_date");
}

Result check_flow(const SelfEmployedCareer& b, const Limits&) {
  if (b.category() == SelfEmployedCareer::CATEGORY_UNSPECIFIED) return missing("category");
  std::optional<Date> start, end;
  if (auto e = required_date(b.period_start_date(), "period_start_date", start)) return e;
  if (auto e = optional_date(b.period_end_date(), "period_end_date", end)) return e;
  if (b.event() == SelfEmployedCareer::CAREER_ENDED && b.period_end_date().empty()) {
    return missing("period_end_date");
  }
  if (auto e = ordered(start, end, "period_end_date")) return e;
  if (!b.enterprise_cbe().empty()) return validate_cbe(b.enterprise_cbe(), "enterprise_cbe");
  return std::nullopt;
}

Result check_flow(const EcarmedCalculation& b, const Limits&) {
  if (b.decision_number().empty()) return missing("decision_number");
  if (auto e = validate_cbe(b.decision_cpas_cbe(), "decision_cpas_cbe")) return e;
  std::optional<Date> start, end;
  if (auto e = required_date(b.care_period_start(), "care_period_start", start)) return e;
  if (auto e = required_date(b.care_period_end(), "care_period_end", end)) return e;
  if (auto e = ordered(start, end, "care_period_end")) return e;
  if (auto e = non_negative(b.amount_claimed_cents(), "amount_claimed_cents")) return e;
  if (auto e = non_negative(b.amount_covered_cents(), "amount_covered_cents")) return e;
  return non_negative(b.amount_cpas_cents(), "amount_cpas_cents");
}

constexpr std::int32_t kMaxClignotantPeriodDays = 3660;
constexpr std::int64_t kMaxClignotantAmountCents = 100'000'000'000;
constexpr int kMaxClignotantSources = 20;

// SPP IS's identifier: its format is not public; Relais accepts what an identifier of a
// register usually is (docs/clignotants.md, "What is assumed").
bool is_sppis_id(std::string_view id) {
  if (id.size() < 4 || id.size() > 40) return false;
  auto upper_or_digit = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!upper_or_digit(id.front())) return false;
  for (char c : id)
    if (!upper_or_digit(c) && c != '.' && c != '/' && c != '_' && c != '-') return false;
  return true;
}

bool is_source_name(std::string_view s) {
  if (s.empty() || s.size() > 40 || !(s.front() >= 'A' && s.front() <= 'Z')) return false;
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

bool is_reference(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

Result check_flow(const SppIsClignotant& b, const Limits&) {
  if (b.sppis_id().empty()) return missing("sppis_id");
  if (!is_sppis_id(b.sppis_id())) {
    return make_error(
        code::kInvalidSppisId,
        "an SPP IS identifier is 4-40 characters: A-Z 0-9 first, then A-Z 0-9 . / _ -", "sppis_id");
  }
  if (!b.replaces_ssin().empty()) {
    return make_error(code::kInconsistent,
                      "a clignotant names the person by the SSIN SPP IS crossed: no replaces_ssin",
                      "replaces_ssin");
  }
  if (b.type_code().empty()) return missing("type_code");
  if (!is_sppis_clignotant_type(b.type_code())) {
    return code_error("type_code", "not a code of the SPP IS clignotant type list");
  }
  if (auto e = validate_cbe(b.cpas_cbe(), "cpas_cbe")) return e;
  std::optional<Date> start = parse_iso_date(b.effective_date()), end, issued, deadline;
  if (auto e = required_date(b.period_end(), "period_end", end)) return e;
  if (auto e = ordered(start, end, "period_end")) return e;
  if (start && end && end->days - start->days > kMaxClignotantPeriodDays) {
    return make_error(code::kDateOrder, "the period concerned is longer than ten years",
                      "period_end");
  }
  if (auto e = required_date(b.issued_date(), "issued_date", issued)) return e;
  if (auto e = required_date(b.deadline_date(), "deadline_date", deadline)) return e;
  if (auto e = ordered(issued, deadline, "deadline_date")) return e;
  for (auto [amount, field] : {std::pair{b.amount_declared_cents(), "amount_declared_cents"},
                               std::pair{b.amount_observed_cents(), "amount_observed_cents"}}) {
    if (auto e = non_negative(amount, field)) return e;
    if (amount > kMaxClignotantAmountCents) {
      return make_error(code::kInvalidAmount, "an amount is at most 1,000,000,000.00 EUR", field);
    }
  }
  if (b.sources().empty()) return missing("sources", "needs at least one source crossed");
  if (b.sources_size() > kMaxClignotantSources) {
    return make_error(code::kTooManyItems, "at most 20 sources", "sources");
  }
  for (int i = 0; i < b.sources_size(); ++i) {
    const auto& src = b.sources(i);
    const std::string at = "sources[" + std::to_string(i) + "].";
    if (!is_source_name(src.source())) {
      return code_error(at + "source", "a source is UPPER_SNAKE, 1-40 characters (e.g. DIMONA)");
    }
    if (!is_reference(src.reference())) {
      return code_error(at + "reference", "a reference is 1-64 printable ASCII characters");
    }
  }
  return std::nullopt;
}

template <class Body>
Result check_body(const Body& b, const Notification& n, const Limits& limits) {
  if (auto e = check_strings_and_enums(b, limits, "")) return e;
  if (auto e = check_envelope(b, n)) return e;
  return check_flow(b, limits);
}

// ---- completion: what Relais derives from the source codes ----------------------------------

void complete_country(std::uint32_t& nr, std::string& iso, std::uint32_t nr_value,
                      const std::string& iso_value) {
  nr = country_of(nr_value, iso_value);
  if (nr != 0 && iso_value.empty()) {
    if (auto derived = iso2_for_country(nr)) iso.assign(*derived);
  }
}

void complete_body(NotifyPerson& b) {
  if (b.has_address()) {
    auto& a = *b.mutable_address();
    const bool in_belgium =
        b.event() == NotifyPerson::ADDRESS_CHANGE || b.event() == NotifyPerson::REFERENCE_ADDRESS;
    if (in_belgium && a.country_nr_code() == 0 && a.country_code().empty()) {
      a.set_country_nr_code(kBelgium);
    }
    std::uint32_t nr = 0;
    std::string iso = a.country_code();
    complete_country(nr, iso, a.country_nr_code(), a.country_code());
    a.set_country_nr_code(nr);
    a.set_country_code(iso);
    if (!a.municipality_nis_code().empty()) {
      a.set_current_municipality_nis_code(current_nis_code(a.municipality_nis_code()));
    }
  }
  {
    std::uint32_t nr = 0;
    std::string iso = b.nationality_code();
    complete_country(nr, iso, b.nationality_nr_code(), b.nationality_code());
    b.set_nationality_nr_code(nr);
    b.set_nationality_code(iso);
  }
  if (b.civil_status_code() == 0) {
    if (auto c = code_for_civil_status(b.civil_status())) b.set_civil_status_code(*c);
  } else if (auto s = civil_status_for_code(b.civil_status_code())) {
    b.set_civil_status(*s);
  }
  if (b.nr_information_type().empty()) {
    const auto implied = information_types_for(b.event());
    if (!implied.empty()) b.set_nr_information_type(std::string(implied.front()));
  }
}

void complete_body(NotifyFamilyComposition& b) {
  for (auto& m : *b.mutable_members()) {
    if (m.role_code() == 0) {
      if (auto c = code_for_role(m.role())) m.set_role_code(*c);
    } else if (auto r = role_for_code(m.role_code())) {
      m.set_role(*r);
    }
  }
}

void complete_body(PersonnelFile& b) {
  if (b.dimona_worker_type().empty()) {
    if (auto d = dimona_for_worker_type(b.worker_type())) b.set_dimona_worker_type(std::string(*d));
    if (b.worker_type() == PersonnelFile::ARTICLE_60) b.set_cpas_article_60(true);
  } else {
    b.set_worker_type(worker_type_for_dimona(b.dimona_worker_type(), b.cpas_article_60()));
  }
}

}  // namespace

void complete(Notification& n) {
  switch (n.body_case()) {
    case Notification::kNotifyPerson:
      complete_body(*n.mutable_notify_person());
      break;
    case Notification::kNotifyFamilyComposition:
      complete_body(*n.mutable_notify_family_composition());
      break;
    case Notification::kPersonnelFile:
      complete_body(*n.mutable_personnel_file());
      break;
    default:
      break;
  }
}

std::optional<Error> validate(const Notification& n, const Limits& limits) {
  if (n.flow() == relais::v1::FLOW_UNSPECIFIED) return missing("flow");
  if (!relais::v1::Flow_IsValid(n.flow())) {
    return make_error(code::kInvalidEnum, "unknown Flow value " + std::to_string(n.flow()), "flow");
  }
  if (n.body_case() == Notification::BODY_NOT_SET) {
    return make_error(code::kMissingField, "the notification has no body", "");
  }
  if (body_flow(n) != n.flow()) {
    return make_error(code::kInconsistent, "the body does not belong to this flow", "flow");
  }
  switch (n.body_case()) {
    case Notification::kNotifyPerson:
      return check_body(n.notify_person(), n, limits);
    case Notification::kNotifyFamilyComposition:
      return check_body(n.notify_family_composition(), n, limits);
    case Notification::kPensionRegisterMutation:
      return check_body(n.pension_register_mutation(), n, limits);
    case Notification::kPersonnelFile:
      return check_body(n.personnel_file(), n, limits);
    case Notification::kSelfEmployedCareer:
      return check_body(n.self_employed_career(), n, limits);
    case Notification::kEcarmedCalculation:
      return check_body(n.ecarmed_calculation(), n, limits);
    case Notification::kSppisClignotant:
      return check_body(n.sppis_clignotant(), n, limits);
    case Notification::BODY_NOT_SET:
      break;
  }
  return std::nullopt;  // unreachable: BODY_NOT_SET was answered above
}

Flow body_flow(const Notification& n) noexcept {
  switch (n.body_case()) {
    case Notification::kNotifyPerson:
      return relais::v1::FLOW_NOTIFY_PERSON;
    case Notification::kNotifyFamilyComposition:
      return relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION;
    case Notification::kPensionRegisterMutation:
      return relais::v1::FLOW_PENSION_REGISTER_MUTATION;
    case Notification::kPersonnelFile:
      return relais::v1::FLOW_PERSONNEL_FILE;
    case Notification::kSelfEmployedCareer:
      return relais::v1::FLOW_SELF_EMPLOYED_CAREER;
    case Notification::kEcarmedCalculation:
      return relais::v1::FLOW_ECARMED_CALCULATION;
    case Notification::kSppisClignotant:
      return relais::v1::FLOW_SPPIS_CLIGNOTANT;
    case Notification::BODY_NOT_SET:
      break;
  }
  return relais::v1::FLOW_UNSPECIFIED;
}

}  // namespace relais::validation
