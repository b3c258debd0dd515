// The one error type of validation and decoding: a stable code, a human message, and the
// snake_case path of the offending field (as in the JSON body, e.g. "members[2].ssin").
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace relais::validation {

struct Error {
  std::string code;     // one of the constants in namespace code
  std::string message;  // for humans; not part of the contract
  std::string field;    // JSON path of the field, empty when not about one field

  friend bool operator==(const Error&, const Error&) = default;
};

// Stable error codes (UPPER_SNAKE). They appear in HTTP answers and in journals: never rename.
namespace code {
inline constexpr std::string_view kMalformedJson = "MALFORMED_JSON";
inline constexpr std::string_view kMalformedProtobuf = "MALFORMED_PROTOBUF";
inline constexpr std::string_view kBodyTooLarge = "BODY_TOO_LARGE";
inline constexpr std::string_view kUnknownField = "UNKNOWN_FIELD";
inline constexpr std::string_view kWrongType = "WRONG_TYPE";
inline constexpr std::string_view kInvalidEnum = "INVALID_ENUM";
inline constexpr std::string_view kMissingField = "MISSING_FIELD";
inline constexpr std::string_view kInvalidSsin = "INVALID_SSIN";
inline constexpr std::string_view kInvalidSsinChecksum = "INVALID_SSIN_CHECKSUM";
inline constexpr std::string_view kInvalidDate = "INVALID_DATE";
inline constexpr std::string_view kInvalidTimestamp = "INVALID_TIMESTAMP";
inline constexpr std::string_view kInvalidCbe = "INVALID_CBE";
inline constexpr std::string_view kInvalidTicket = "INVALID_TICKET";
inline constexpr std::string_view kInvalidNisCode = "INVALID_NIS_CODE";
inline constexpr std::string_view kInvalidCountryCode = "INVALID_COUNTRY_CODE";
inline constexpr std::string_view kInvalidAmount = "INVALID_AMOUNT";
inline constexpr std::string_view kFieldTooLong = "FIELD_TOO_LONG";
inline constexpr std::string_view kInvalidText = "INVALID_TEXT";  // validation/text.hpp
inline constexpr std::string_view kTooManyItems = "TOO_MANY_ITEMS";
inline constexpr std::string_view kDateOrder = "DATE_ORDER";
inline constexpr std::string_view kInconsistent = "INCONSISTENT";
inline constexpr std::string_view kDepthExceeded = "DEPTH_EXCEEDED";
inline constexpr std::string_view kInvalidQualityCode = "INVALID_QUALITY_CODE";
// A code outside its source code list (civil status, gender, household role, DIMONA worker type,
// IT code, register code: docs/domain-model.md).
inline constexpr std::string_view kInvalidCode = "INVALID_CODE";
// Only a deprecated relais.v1 field was sent and it has no exact source code (e.g. worker_type
// APPRENTICE, an ISO country the National Register list does not carry).
inline constexpr std::string_view kNotMappable = "NOT_MAPPABLE";
inline constexpr std::string_view kInvalidNssoNumber = "INVALID_NSSO_NUMBER";
// An SPP IS clignotant identifier outside [A-Z0-9][A-Z0-9./_-]{3,39} (sppis-clignotant flow).
inline constexpr std::string_view kInvalidSppisId = "INVALID_SPPIS_ID";
}  // namespace code

inline Error make_error(std::string_view c, std::string message, std::string field = {}) {
  return Error{std::string(c), std::move(message), std::move(field)};
}

}  // namespace relais::validation
