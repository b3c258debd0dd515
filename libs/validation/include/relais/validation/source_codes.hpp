// The codes the National Register, BCSS and the NSSO use, against Relais's relais.v1 enums
// (docs/domain-model.md). Pure tables and mappings: which source code a deprecated relais.v1
// enum value stands for where the correspondence is exact, which enum value a source code
// derives, and which Tx25 information types (IT codes) an event may carry. The code lists
// themselves are libs/refdata's (data/refdata, each list with its source).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "relais/v1/flows.pb.h"

namespace relais::validation {

// ---- Civil status (BCSS t_CivilStateCode: 10 20 25 26 30 40 41 50 51 60) ---------------------

bool is_civil_status_code(std::uint32_t code);
// The deprecated enum value a code derives; std::nullopt for 25, 26, 41 and 51 (no exact value)
// and for unknown codes.
std::optional<relais::v1::NotifyPerson::CivilStatus> civil_status_for_code(
    std::uint32_t code) noexcept;
// The code an enum value stands for (10 SINGLE, 20 MARRIED, 30 WIDOWED, 40 DIVORCED,
// 50 SEPARATED, 60 LEGAL_COHABITATION); std::nullopt for CIVIL_STATUS_UNSPECIFIED / unknown.
std::optional<std::uint32_t> code_for_civil_status(
    relais::v1::NotifyPerson::CivilStatus s) noexcept;

// ---- Countries and nationalities (National Register numeric codes, t_NISCode) --------------

inline constexpr std::uint32_t kBelgium = 150;

bool is_country_nr_code(std::uint32_t code);
// The ISO 3166-1 alpha-2 code beside an NR code; std::nullopt when the list has none (or the
// code is unknown).
std::optional<std::string_view> iso2_for_country(std::uint32_t nr_code);
// The NR code of an ISO alpha-2 code; std::nullopt when no NR code maps to it.
std::optional<std::uint32_t> country_for_iso2(std::string_view iso2);

// ---- Municipalities (NIS / INS codes, with the 2019 and 2025 mergers) ------------------------

// A NIS code of the official list, current or historical (merged away).
bool is_known_nis_code(std::string_view nis);
// The municipality a (possibly historical) code belongs to today, "" when unknown.
std::string current_nis_code(std::string_view nis);

// ---- Household roles (Tx25 IT140 / IT141 FamilyRole codes) ----------------------------------

bool is_household_role_code(std::uint32_t code);
// The relais.v1 role a code derives (01 REFERENCE_PERSON, 02 SPOUSE, 03 CHILD, 06 PARENT,
// 10 OTHER_RELATIVE, 12 NON_RELATIVE).
std::optional<relais::v1::NotifyFamilyComposition::Role> role_for_code(std::uint32_t code) noexcept;
// The code a role stands for where it is the role's one code (REFERENCE_PERSON 01, SPOUSE 02,
// CHILD 03); std::nullopt for the others (their codes are not publicly listed).
std::optional<std::uint32_t> code_for_role(relais::v1::NotifyFamilyComposition::Role r) noexcept;

// ---- DIMONA worker-type code list -----------------------------------------------------------

// In libs/refdata's DIMONA list once it ships one; until then (no public list was found, see
// data/refdata/README.md) a code of DIMONA's shape: three upper-case letters or digits.
bool is_dimona_worker_type(std::string_view code);

// ---- SPP IS clignotant types (libs/refdata: Relais's default list, SPP IS's is not public) ----

bool is_sppis_clignotant_type(std::string_view code);

// ---- Gender (GenderCodeType: 0 unknown, 1 male, 2 female) ------------------------------------

bool is_gender_code(std::uint32_t code);

// ---- DIMONA worker types ---------------------------------------------------------------------

// The relais.v1 WorkerType a DIMONA worker-type code derives (OTH + article 60 -> ARTICLE_60,
// OTH -> OTHER, STU -> STUDENT, FLX -> FLEXI_JOB, EXT -> OCCASIONAL); WORKER_TYPE_UNSPECIFIED
// for every other code (no exact relais.v1 value).
relais::v1::PersonnelFile::WorkerType worker_type_for_dimona(std::string_view dimona,
                                                             bool cpas_article_60) noexcept;
// The DIMONA code a relais.v1 value stands for (ARTICLE_60 -> "OTH" with the article-60 flag);
// std::nullopt for APPRENTICE, INTERIM (no exact DIMONA code) and UNSPECIFIED.
std::optional<std::string_view> dimona_for_worker_type(
    relais::v1::PersonnelFile::WorkerType t) noexcept;

// ---- Tx25 information types ------------------------------------------------------------------

// "IT" followed by three digits.
bool is_information_type(std::string_view it) noexcept;
// The IT codes a notify-person event may carry, the first one being the one Relais fills in
// when the producer sends none. Empty for SSIN_REPLACED (no IT of the register says "replaced
// number": any well-formed IT code is accepted, none is filled in).
std::span<const std::string_view> information_types_for(relais::v1::NotifyPerson::Event e) noexcept;

// ---- IT210 register codes --------------------------------------------------------------------

// The Tx25 IT210 RegistrationRegister Code: xm25.xsd types it as a string with a label beside it
// and publishes no list; Relais accepts 1-99 (two digits at most) and passes the code through.
bool is_register_code(std::uint32_t code) noexcept;

}  // namespace relais::validation
