// Decoding of one notification body (JSON or binary protobuf) into a relais::v1::Notification.
// No exceptions: every problem with the input is returned as a validation::Error.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "relais/v1/records.pb.h"
#include "relais/validation/error.hpp"
#include "relais/validation/notification.hpp"

namespace relais::codec {

struct Limits {
  std::size_t max_body = std::size_t{64} * 1024;  // bytes of one JSON document or protobuf message
  std::size_t max_depth = 8;        // JSON nesting of objects and arrays (the root is 1)
  validation::Limits validation{};  // used by the decode_and_validate_* functions
};

// Decodes `json`, the protobuf JSON mapping of `flow`'s message (e.g. a PersonnelFile), into
// `out`: out.flow, the body oneof, and out.envelope copied from the body's fields 1-7.
// Keys are accepted by proto field name (snake_case) and by json_name (lowerCamel). Enums are
// value names or known numbers; 64-bit integers are JSON integers or decimal strings; null
// means "not set". Errors: BODY_TOO_LARGE, MALFORMED_JSON (syntax, duplicate key, trailing
// data), DEPTH_EXCEEDED, UNKNOWN_FIELD, WRONG_TYPE, INVALID_ENUM, INCONSISTENT (flow is not a
// flow). Syntax errors win over the others; otherwise the first problem in document order is
// returned, with its JSON path in `field`. Does not validate: see decode_and_validate_json.
// On error `out` holds a partial result and must not be used.
std::optional<validation::Error> decode_json(relais::v1::Flow flow, std::string_view json,
                                             relais::v1::Notification& out,
                                             const Limits& limits = {});

// `bytes` is the serialized flow message (e.g. a PersonnelFile). It must parse completely
// (MALFORMED_PROTOBUF otherwise, invalid UTF-8 in strings included) and carry no field
// unknown to the schema, at any depth (UNKNOWN_FIELD, the field named by its number).
// Fills `out` like decode_json. Unknown enum numbers are left to validation (INVALID_ENUM).
std::optional<validation::Error> decode_protobuf(relais::v1::Flow flow, std::string_view bytes,
                                                 relais::v1::Notification& out,
                                                 const Limits& limits = {});

// decode_* followed by validation::validate(out, limits.validation) and, when valid,
// validation::complete(out): what Relais derives from the source codes is filled in.
std::optional<validation::Error> decode_and_validate_json(relais::v1::Flow flow,
                                                          std::string_view json,
                                                          relais::v1::Notification& out,
                                                          const Limits& limits = {});
std::optional<validation::Error> decode_and_validate_protobuf(relais::v1::Flow flow,
                                                              std::string_view bytes,
                                                              relais::v1::Notification& out,
                                                              const Limits& limits = {});

}  // namespace relais::codec
