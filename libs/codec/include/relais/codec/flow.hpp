// The flow ids of the external contract (the six BCSS flows and SPP IS's clignotants) and their
// protobuf counterparts.
#pragma once

#include <array>
#include <optional>
#include <string_view>

#include "relais/v1/common.pb.h"
#include "relais/v1/records.pb.h"

namespace relais::codec {

inline constexpr std::array<relais::v1::Flow, 7> kAllFlows{
    relais::v1::FLOW_NOTIFY_PERSON,
    relais::v1::FLOW_NOTIFY_FAMILY_COMPOSITION,
    relais::v1::FLOW_PENSION_REGISTER_MUTATION,
    relais::v1::FLOW_PERSONNEL_FILE,
    relais::v1::FLOW_SELF_EMPLOYED_CAREER,
    relais::v1::FLOW_ECARMED_CALCULATION,
    relais::v1::FLOW_SPPIS_CLIGNOTANT,
};

// "notify-person" -> FLOW_NOTIFY_PERSON, ...; std::nullopt for anything else (case-sensitive).
std::optional<relais::v1::Flow> flow_from_id(std::string_view id) noexcept;

// FLOW_NOTIFY_PERSON -> "notify-person", ...; empty for FLOW_UNSPECIFIED and unknown values.
std::string_view flow_id(relais::v1::Flow flow) noexcept;

// The flow message type (e.g. relais.v1.PersonnelFile); nullptr for a non-flow value.
const google::protobuf::Descriptor* flow_descriptor(relais::v1::Flow flow);

// Sets the body oneof of `n` to `flow`'s message (clearing any other body) and returns it;
// nullptr for a non-flow value.
google::protobuf::Message* mutable_body(relais::v1::Notification& n, relais::v1::Flow flow);

// The body message, nullptr when no body is set.
const google::protobuf::Message* body(const relais::v1::Notification& n);

// The flow of the body that is set (FLOW_UNSPECIFIED when none).
relais::v1::Flow body_flow(const relais::v1::Notification& n) noexcept;

// Copies the body's envelope fields (1-7, the authoritative copy) into n.envelope.
// Does nothing when no body is set.
void sync_envelope(relais::v1::Notification& n);

}  // namespace relais::codec
