#include "relais/validation/source_codes.hpp"

#include <array>
#include <string>
#include <utility>

namespace relais::validation {
namespace {

using relais::v1::NotifyPerson;
using relais::v1::PersonnelFile;

// t_CivilStateCode (CommonDataTypes of the public BCSS schemas) with the relais.v1 value each
// code derives; CIVIL_STATUS_UNSPECIFIED where no relais.v1 value is exact.
constexpr std::array<std::pair<std::uint32_t, NotifyPerson::CivilStatus>, 10> kCivilStates{{
    {10, NotifyPerson::SINGLE},
    {20, NotifyPerson::MARRIED},
    {25, NotifyPerson::CIVIL_STATUS_UNSPECIFIED},
    {26, NotifyPerson::CIVIL_STATUS_UNSPECIFIED},
    {30, NotifyPerson::WIDOWED},
    {40, NotifyPerson::DIVORCED},
    {41, NotifyPerson::CIVIL_STATUS_UNSPECIFIED},
    {50, NotifyPerson::SEPARATED},
    {51, NotifyPerson::CIVIL_STATUS_UNSPECIFIED},
    {60, NotifyPerson::LEGAL_COHABITATION},
}};

constexpr std::array<std::pair<std::string_view, PersonnelFile::WorkerType>, 4> kDimonaExact{{
    {"OTH", PersonnelFile::OTHER},
    {"STU", PersonnelFile::STUDENT},
    {"FLX", PersonnelFile::FLEXI_JOB},
    {"EXT", PersonnelFile::OCCASIONAL},
}};

// Tx25 (xm25.xsd) information types per event; the first is the default.
constexpr std::array<std::string_view, 2> kItAddress{"IT020", "IT019"};
constexpr std::array<std::string_view, 2> kItAbroad{"IT022", "IT023"};
constexpr std::array<std::string_view, 1> kItCivil{"IT120"};
constexpr std::array<std::string_view, 2> kItName{"IT010", "IT013"};
constexpr std::array<std::string_view, 2> kItNationality{"IT031", "IT032"};
constexpr std::array<std::string_view, 1> kItDeath{"IT150"};
constexpr std::array<std::string_view, 1> kItReference{"IT024"};
constexpr std::array<std::string_view, 1> kItCohabitation{"IT123"};
constexpr std::array<std::string_view, 2> kItHead{"IT140", "IT141"};
constexpr std::array<std::string_view, 1> kItRegister{"IT210"};
constexpr std::array<std::string_view, 1> kItAbsence{"IT026"};

// PROVISIONAL until libs/refdata lands: the country codes bcss-schemas.md quotes (150 BE,
// 103 DE), NIS codes by shape, the FamilyRole codes of the Lino Tx25 samples, DIMONA codes by shape.
constexpr std::array<std::pair<std::uint32_t, std::string_view>, 2> kCountries{{{150, "BE"}, {103, "DE"}}};
constexpr std::array<std::pair<std::uint32_t, relais::v1::NotifyFamilyComposition::Role>, 3> kRoles{{
    {1, relais::v1::NotifyFamilyComposition::REFERENCE_PERSON},
    {2, relais::v1::NotifyFamilyComposition::SPOUSE},
    {3, relais::v1::NotifyFamilyComposition::CHILD},
}};

}  // namespace

bool is_country_nr_code(std::uint32_t code) noexcept {
  for (const auto& [c, iso] : kCountries) {
    if (c == code) return true;
  }
  return false;
}

std::optional<std::string_view> iso2_for_country(std::uint32_t nr_code) noexcept {
  for (const auto& [c, iso] : kCountries) {
    if (c == nr_code && !iso.empty()) return iso;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> country_for_iso2(std::string_view iso2) noexcept {
  for (const auto& [c, iso] : kCountries) {
    if (iso == iso2) return c;
  }
  return std::nullopt;
}

bool is_known_nis_code(std::string_view nis) noexcept {
  return nis.size() == 5 && nis[0] >= '1' && nis[0] <= '9';
}

std::string current_nis_code(std::string_view nis) {
  return is_known_nis_code(nis) ? std::string(nis) : std::string();
}

bool is_household_role_code(std::uint32_t code) noexcept { return code >= 1 && code <= 99; }

std::optional<relais::v1::NotifyFamilyComposition::Role> role_for_code(std::uint32_t code) noexcept {
  for (const auto& [c, r] : kRoles) {
    if (c == code) return r;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> code_for_role(relais::v1::NotifyFamilyComposition::Role role) noexcept {
  for (const auto& [c, r] : kRoles) {
    if (r == role) return c;
  }
  return std::nullopt;
}

bool is_dimona_worker_type(std::string_view code) noexcept {
  if (code.size() != 3) return false;
  for (char ch : code) {
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) return false;
  }
  return true;
}

bool is_civil_status_code(std::uint32_t code) noexcept {
  for (const auto& [c, s] : kCivilStates) {
    if (c == code) return true;
  }
  return false;
}

std::optional<NotifyPerson::CivilStatus> civil_status_for_code(std::uint32_t code) noexcept {
  for (const auto& [c, s] : kCivilStates) {
    if (c == code && s != NotifyPerson::CIVIL_STATUS_UNSPECIFIED) return s;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> code_for_civil_status(NotifyPerson::CivilStatus status) noexcept {
  for (const auto& [c, s] : kCivilStates) {
    if (s == status && s != NotifyPerson::CIVIL_STATUS_UNSPECIFIED) return c;
  }
  return std::nullopt;
}

bool is_gender_code(std::uint32_t code) noexcept { return code <= 2; }

PersonnelFile::WorkerType worker_type_for_dimona(std::string_view dimona,
                                                 bool cpas_article_60) noexcept {
  if (dimona == "OTH" && cpas_article_60) return PersonnelFile::ARTICLE_60;
  for (const auto& [code, type] : kDimonaExact) {
    if (code == dimona) return type;
  }
  return PersonnelFile::WORKER_TYPE_UNSPECIFIED;
}

std::optional<std::string_view> dimona_for_worker_type(PersonnelFile::WorkerType t) noexcept {
  if (t == PersonnelFile::ARTICLE_60) return std::string_view("OTH");
  for (const auto& [code, type] : kDimonaExact) {
    if (type == t) return code;
  }
  return std::nullopt;
}

bool is_information_type(std::string_view it) noexcept {
  if (it.size() != 5 || it[0] != 'I' || it[1] != 'T') return false;
  for (std::size_t i = 2; i < 5; ++i) {
    if (it[i] < '0' || it[i] > '9') return false;
  }
  return true;
}

std::span<const std::string_view> information_types_for(NotifyPerson::Event e) noexcept {
  switch (e) {
    case NotifyPerson::ADDRESS_CHANGE: return kItAddress;
    case NotifyPerson::ADDRESS_ABROAD: return kItAbroad;
    case NotifyPerson::CIVIL_STATUS_CHANGE: return kItCivil;
    case NotifyPerson::NAME_CHANGE: return kItName;
    case NotifyPerson::NATIONALITY_CHANGE: return kItNationality;
    case NotifyPerson::DEATH: return kItDeath;
    case NotifyPerson::REFERENCE_ADDRESS: return kItReference;
    case NotifyPerson::LEGAL_COHABITATION_START:
    case NotifyPerson::LEGAL_COHABITATION_END: return kItCohabitation;
    case NotifyPerson::HOUSEHOLD_HEAD_CHANGE: return kItHead;
    case NotifyPerson::REGISTER_CHANGE: return kItRegister;
    case NotifyPerson::TEMPORARY_ABSENCE: return kItAbsence;
    default: return {};
  }
}

bool is_register_code(std::uint32_t code) noexcept { return code >= 1 && code <= 99; }

}  // namespace relais::validation
