#include "relais/codec/flow.hpp"

#include <google/protobuf/message.h>

#include "relais/validation/notification.hpp"

namespace relais::codec {
namespace {

using relais::v1::Flow;
using relais::v1::Notification;

struct FlowName {
  Flow flow;
  std::string_view id;
};

constexpr std::array<FlowName, 7> kNames{{
    {relais::v1::FLOW_NOTIFY_PERSON, "notify-person"},
    {relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION, "notify-family-composition"},
    {relais::v1::FLOW_PENSION_REGISTER_MUTATION, "pension-register-mutation"},
    {relais::v1::FLOW_PERSONNEL_FILE, "personnel-file"},
    {relais::v1::FLOW_SELF_EMPLOYED_CAREER, "self-employed-career"},
    {relais::v1::FLOW_ECARMED_CALCULATION, "ecarmed-calculation"},
    {relais::v1::FLOW_SPPIS_CLIGNOTANT, "sppis-clignotant"},
}};

template <class Body>
void copy_envelope(const Body& b, relais::v1::Envelope& e) {
  e.set_ticket(b.ticket());
  e.set_ssin(b.ssin());
  e.set_replaces_ssin(b.replaces_ssin());
  e.set_effective_date(b.effective_date());
  e.set_sent_at(b.sent_at());
  e.set_source_file_id(b.source_file_id());
  e.set_sequence_number(b.sequence_number());
}

}  // namespace

std::optional<Flow> flow_from_id(std::string_view id) noexcept {
  for (const auto& n : kNames) {
    if (n.id == id) return n.flow;
  }
  return std::nullopt;
}

std::string_view flow_id(Flow flow) noexcept {
  for (const auto& n : kNames) {
    if (n.flow == flow) return n.id;
  }
  return {};
}

const google::protobuf::Descriptor* flow_descriptor(Flow flow) {
  switch (flow) {
    case relais::v1::FLOW_NOTIFY_PERSON:
      return relais::v1::NotifyPerson::descriptor();
    case relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION:
      return relais::v1::NotifyFamilyComposition::descriptor();
    case relais::v1::FLOW_PENSION_REGISTER_MUTATION:
      return relais::v1::PensionRegisterMutation::descriptor();
    case relais::v1::FLOW_PERSONNEL_FILE:
      return relais::v1::PersonnelFile::descriptor();
    case relais::v1::FLOW_SELF_EMPLOYED_CAREER:
      return relais::v1::SelfEmployedCareer::descriptor();
    case relais::v1::FLOW_ECARMED_CALCULATION:
      return relais::v1::EcarmedCalculation::descriptor();
    case relais::v1::FLOW_SPPIS_CLIGNOTANT:
      return relais::v1::SppIsClignotant::descriptor();
    default:
      return nullptr;
  }
}

google::protobuf::Message* mutable_body(Notification& n, Flow flow) {
  switch (flow) {
    case relais::v1::FLOW_NOTIFY_PERSON:
      return n.mutable_notify_person();
    case relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION:
      return n.mutable_notify_family_composition();
    case relais::v1::FLOW_PENSION_REGISTER_MUTATION:
      return n.mutable_pension_register_mutation();
    case relais::v1::FLOW_PERSONNEL_FILE:
      return n.mutable_personnel_file();
    case relais::v1::FLOW_SELF_EMPLOYED_CAREER:
      return n.mutable_self_employed_career();
    case relais::v1::FLOW_ECARMED_CALCULATION:
      return n.mutable_ecarmed_calculation();
    case relais::v1::FLOW_SPPIS_CLIGNOTANT:
      return n.mutable_sppis_clignotant();
    default:
      return nullptr;
  }
}

const google::protobuf::Message* body(const Notification& n) {
  switch (n.body_case()) {
    case Notification::kNotifyPerson:
      return &n.notify_person();
    case Notification::kNotifyFamilyComposition:
      return &n.notify_family_composition();
    case Notification::kPensionRegisterMutation:
      return &n.pension_register_mutation();
    case Notification::kPersonnelFile:
      return &n.personnel_file();
    case Notification::kSelfEmployedCareer:
      return &n.self_employed_career();
    case Notification::kEcarmedCalculation:
      return &n.ecarmed_calculation();
    case Notification::kSppisClignotant:
      return &n.sppis_clignotant();
    case Notification::BODY_NOT_SET:
      break;
  }
  return nullptr;
}

Flow body_flow(const Notification& n) noexcept {
  return validation::body_flow(n);
}

void sync_envelope(Notification& n) {
  switch (n.body_case()) {
    case Notification::kNotifyPerson:
      return copy_envelope(n.notify_person(), *n.mutable_envelope());
    case Notification::kNotifyFamilyComposition:
      return copy_envelope(n.notify_family_composition(), *n.mutable_envelope());
    case Notification::kPensionRegisterMutation:
      return copy_envelope(n.pension_register_mutation(), *n.mutable_envelope());
    case Notification::kPersonnelFile:
      return copy_envelope(n.personnel_file(), *n.mutable_envelope());
    case Notification::kSelfEmployedCareer:
      return copy_envelope(n.self_employed_career(), *n.mutable_envelope());
    case Notification::kEcarmedCalculation:
      return copy_envelope(n.ecarmed_calculation(), *n.mutable_envelope());
    case Notification::kSppisClignotant:
      return copy_envelope(n.sppis_clignotant(), *n.mutable_envelope());
    case Notification::BODY_NOT_SET:
      break;
  }
}

}  // namespace relais::codec
