// Validation of a decoded notification: identifiers, dates, per-flow and per-event required
// fields. Pure: no I/O, no clock except today's year for the SSIN century plausibility.
#pragma once

#include <cstddef>
#include <optional>

#include "relais/v1/records.pb.h"
#include "relais/validation/error.hpp"

namespace relais::validation {

struct Limits {
  std::size_t max_string = 256;  // bytes (UTF-8) of any string field, nested ones included
  std::size_t max_members = 50;  // notify-family-composition members
  // notify-person nr_raw_value: what the National Register sent, verbatim (line breaks allowed).
  std::size_t max_raw_value = 4096;
};

// Validates `n`: flow set and matching the body oneof, the body's envelope fields (1-7, the
// authoritative copy), the event, every string length and enum value, and the fields the flow
// and event need. When n.envelope is set it must equal the body's envelope fields.
// Returns the first problem found, std::nullopt when valid. Field names are JSON paths
// relative to the flow message ("address.municipality_nis_code", "members[2].ssin"), except
// "flow" and "envelope.*" which name Notification's own fields.
std::optional<Error> validate(const relais::v1::Notification& n, const Limits& limits = {});

// Completes a notification that validate() accepted with what Relais derives from the source
// codes (docs/domain-model.md), so that every consumer finds both the source codes and, during
// the relais.v1 transition, the deprecated fields: the NR country code from an ISO-only
// producer and the ISO code beside an NR code, the current municipality after the mergers, the
// civil-status code and enum, the nationality codes, the household-role code and enum, the
// DIMONA worker type and the relais.v1 worker type, the IT code the event implies. Idempotent;
// validate() accepts what it returns. Call it only on a notification validate() accepted.
void complete(relais::v1::Notification& n);

// The flow of the body that is set (FLOW_UNSPECIFIED when none).
relais::v1::Flow body_flow(const relais::v1::Notification& n) noexcept;

}  // namespace relais::validation
