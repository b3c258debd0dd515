// Checks of the identifiers and codes that appear in BCSS flows (see docs/domain.md).
// Pure functions: no allocation except where a std::string or Error is returned.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "relais/validation/error.hpp"

namespace relais::validation {

// ---- SSIN (NISS / INSZ) ----------------------------------------------------------------------

enum class SsinKind { national_register, bis };

enum class SsinCheck {
  ok,
  bad_format,    // not 11 digits, or month / day / serial out of range
  bad_checksum,  // well formed, but the check digits match no plausible century
};

// 11 ASCII digits YYMMDD sss cc, the public CommonV3 SsinType plus the check digits
// (docs/validation.md). Month 00-12 (National Register, serial 001-999) or 20-32 / 40-52 (BIS,
// any serial 000-999); day 00-31 (00 and month 00 / 20 / 40: part of the birth date unknown; no
// calendar check); cc = 97 - (first 9 digits mod 97), or the same with "2" prefixed to the
// 9 digits for people born in 2000 or later. Either century is accepted, except that the 2000s
// reading is refused when 20YY would lie after `current_year` (nobody is born in the future).
SsinCheck check_ssin(std::string_view ssin, int current_year) noexcept;
SsinCheck check_ssin(std::string_view ssin) noexcept;  // current_year from the system clock
bool is_valid_ssin(std::string_view ssin) noexcept;

// National Register or BIS number; std::nullopt unless is_valid_ssin().
std::optional<SsinKind> ssin_kind(std::string_view ssin) noexcept;
// The same with the current year given (check_ssin(ssin, current_year) == ok).
std::optional<SsinKind> ssin_kind(std::string_view ssin, int current_year) noexcept;

// std::nullopt when valid, else INVALID_SSIN (format) or INVALID_SSIN_CHECKSUM naming `field`.
// An empty value is MISSING_FIELD.
std::optional<Error> validate_ssin(std::string_view ssin, std::string_view field);

// ---- CBE / KBO enterprise number -------------------------------------------------------------

// 10 digits, first 0 or 1, last two = 97 - (first eight mod 97).
bool is_valid_cbe(std::string_view cbe) noexcept;
std::optional<Error> validate_cbe(std::string_view cbe, std::string_view field);

// ---- NSSO employer registration number (RSZ-nummer / numéro ONSS) --------------------------

// The NSSO glossary (zone 00011 NOSSRegistrationNbr, zone 00948 ProvisionalNSSONbr): a definitive
// number written as 9 digits NNNNNNNCC in [000100006, 199999934], or a provisional one as
// 10 digits in [5000000120, 5999999989]; in both the whole number mod 97 is 96 (CC = 96 -
// (NNNNNNN x 100 mod 97)).
bool is_valid_nsso_number(std::string_view nsso) noexcept;
// std::nullopt when valid, else INVALID_NSSO_NUMBER naming `field`; empty is MISSING_FIELD.
std::optional<Error> validate_nsso_number(std::string_view nsso, std::string_view field);

// ---- NIS (INS) municipality code -------------------------------------------------------------

// Exactly 5 ASCII digits, the first one 1-9.
bool is_valid_nis_code(std::string_view nis) noexcept;

// ---- Country ---------------------------------------------------------------------------------

// ISO 3166-1 alpha-2 shape: exactly two uppercase ASCII letters.
bool is_valid_country_code(std::string_view code) noexcept;

// ---- Ticket ----------------------------------------------------------------------------------

// A UUID in canonical 8-4-4-4-12 hexadecimal form, upper or lower case.
bool is_valid_ticket(std::string_view ticket) noexcept;
// The ticket in lower case (the idempotency key form). Call on valid tickets only; other input
// is lowered as ASCII all the same.
std::string normalize_ticket(std::string_view ticket);

// ---- RFC 3339 timestamp ----------------------------------------------------------------------

// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)"; 'T' and 'Z' may be lower case (RFC 3339
// section 5.6). Ranges are checked: a real calendar date, hour 00-23, minute 00-59, second
// 00-60 (leap second), offset hours 00-23 and minutes 00-59; at most 9 fraction digits.
bool is_valid_rfc3339(std::string_view timestamp) noexcept;
// The instant as Unix microseconds (fraction truncated to the microsecond; a leap second 60
// counts as 59), or std::nullopt when not valid.
std::optional<std::int64_t> parse_rfc3339_us(std::string_view timestamp) noexcept;

// ---- Quality codes (hoedanigheid) ------------------------------------------------------------

struct QualityLabel {
  std::string_view fr;
  std::string_view nl;
};

// Sector 17 codes 1-9, 11, 12, 20, 21, 40 and the sector-independent 0, 902, 999.
bool is_known_quality_code(int code) noexcept;
// FR / NL labels; std::nullopt for an unknown code.
std::optional<QualityLabel> quality_code_label(int code) noexcept;

inline constexpr int kQualitySsinReplaced = 999;

}  // namespace relais::validation
