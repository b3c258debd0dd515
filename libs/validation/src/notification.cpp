#include "relais/validation/notification.hpp"
#include "relais/validation/text.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <string>
#include <string_view>
#include <vector>

#include "relais/validation/date.hpp"
#include "relais/validation/ids.hpp"

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

using Result = std::optional<Error>;

std::string join(std::string_view prefix, std::string_view name) {
  std::string out;
  out.reserve(prefix.size() + name.size());
  out.append(prefix).append(name);
  return out;
}

// Every string length and every enum value, recursively (binary protobuf can carry enum
// numbers the schema does not know: proto3 enums are open).
Result check_strings_and_enums(const pb::Message& m, const Limits& limits,
                               std::string_view prefix) {
  const pb::Reflection* r = m.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  std::string scratch;
  for (const pb::FieldDescriptor* f : fields) {
    const int count = f->is_repeated() ? r->FieldSize(m, f) : 1;
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
          // Every string of every flow is single-line text (validation/text.hpp): UTF-8, no NUL,
          // no control or bidi character, bounded.
          if (auto e = validate_text(v, "", TextRules{limits.max_string, false})) {
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

Result nis_code(std::string_view value, std::string_view field) {
  if (value.empty() || is_valid_nis_code(value)) return std::nullopt;
  return make_error(code::kInvalidNisCode, "a NIS code is 5 digits, the first one 1-9",
                    std::string(field));
}

Result country_code(std::string_view value, std::string_view field) {
  if (value.empty() || is_valid_country_code(value)) return std::nullopt;
  return make_error(code::kInvalidCountryCode,
                    "a country code is ISO 3166-1 alpha-2: two uppercase letters",
                    std::string(field));
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
  std::optional<Date> effective;
  if (auto e = required_date(b.effective_date(), "effective_date", effective)) return e;
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

Result check_flow(const NotifyPerson& b, const Limits&) {
  if (b.has_address()) {
    const auto& a = b.address();
    if (auto e = nis_code(a.municipality_nis_code(), "address.municipality_nis_code")) return e;
    if (auto e = country_code(a.country_code(), "address.country_code")) return e;
  }
  if (auto e = country_code(b.nationality_code(), "nationality_code")) return e;
  std::optional<Date> death;
  if (auto e = optional_date(b.date_of_death(), "date_of_death", death)) return e;

  switch (b.event()) {
    case NotifyPerson::ADDRESS_CHANGE:
      if (!b.has_address()) return missing("address");
      if (b.address().municipality_nis_code().empty()) {
        return missing("address.municipality_nis_code");
      }
      if (!b.address().country_code().empty() && b.address().country_code() != "BE") {
        return make_error(code::kInconsistent, "ADDRESS_CHANGE is a main residence in Belgium",
                          "address.country_code");
      }
      break;
    case NotifyPerson::ADDRESS_ABROAD:
      if (!b.has_address()) return missing("address");
      if (b.address().country_code().empty()) return missing("address.country_code");
      if (b.address().country_code() == "BE") {
        return make_error(code::kInconsistent, "ADDRESS_ABROAD needs a country other than BE",
                          "address.country_code");
      }
      break;
    case NotifyPerson::CIVIL_STATUS_CHANGE:
      if (b.civil_status() == NotifyPerson::CIVIL_STATUS_UNSPECIFIED) {
        return missing("civil_status");
      }
      break;
    case NotifyPerson::NAME_CHANGE:
      if (b.last_name().empty()) return missing("last_name");
      break;
    case NotifyPerson::NATIONALITY_CHANGE:
      if (b.nationality_code().empty()) return missing("nationality_code");
      break;
    case NotifyPerson::DEATH:
      if (b.date_of_death().empty()) return missing("date_of_death");
      break;
    case NotifyPerson::SSIN_REPLACED:
      if (b.replaces_ssin().empty()) return missing("replaces_ssin");
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
    if (m.role() == NotifyFamilyComposition::ROLE_UNSPECIFIED) return missing(prefix + "role");
    std::optional<Date> since;
    if (auto e = optional_date(m.since(), prefix + "since", since)) return e;
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

Result check_flow(const PersonnelFile& b, const Limits&) {
  if (auto e = validate_cbe(b.employer_cbe(), "employer_cbe")) return e;
  if (b.worker_type() == PersonnelFile::WORKER_TYPE_UNSPECIFIED) return missing("worker_type");
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

template <class Body>
Result check_body(const Body& b, const Notification& n, const Limits& limits) {
  if (auto e = check_strings_and_enums(b, limits, "")) return e;
  if (auto e = check_envelope(b, n)) return e;
  return check_flow(b, limits);
}


}  // namespace

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
    case Notification::BODY_NOT_SET:
      break;
  }
  return relais::v1::FLOW_UNSPECIFIED;
}

}  // namespace relais::validation
