#include "relais/validation/source_codes.hpp"

#include <array>
#include <string>
#include <utility>

#include "relais/refdata/refdata.hpp"

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

// Tx25 FamilyRole codes (libs/refdata: the codes of the public sample replies) and the relais.v1
// role each derives. A code derives its role when the code's meaning falls inside the role
// (10 sister-in-law is an OTHER_RELATIVE); a role maps back to a code only where that code is the
// one code of the role (`exact`): the register's list is not public, so OTHER_RELATIVE,
// NON_RELATIVE, PARENT (06 is a mother only) and LEGAL_COHABITANT have no exact code.
struct RoleCode {
  std::uint32_t code;
  relais::v1::NotifyFamilyComposition::Role role;
  bool exact;
};
constexpr std::array<RoleCode, 6> kRoles{{
    {1, relais::v1::NotifyFamilyComposition::REFERENCE_PERSON, true},
    {2, relais::v1::NotifyFamilyComposition::SPOUSE, true},
    {3, relais::v1::NotifyFamilyComposition::CHILD, true},
    {6, relais::v1::NotifyFamilyComposition::PARENT, false},
    {10, relais::v1::NotifyFamilyComposition::OTHER_RELATIVE, false},
    {12, relais::v1::NotifyFamilyComposition::NON_RELATIVE, false},
}};

std::optional<std::uint32_t> nis_number(std::string_view nis) noexcept {
  if (nis.size() != 5 || nis[0] < '1' || nis[0] > '9') return std::nullopt;
  std::uint32_t v = 0;
  for (char c : nis) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return v;
}

}  // namespace

bool is_country_nr_code(std::uint32_t code) {
  return refdata::country(code).has_value();
}

std::optional<std::string_view> iso2_for_country(std::uint32_t nr_code) {
  const auto c = refdata::country(nr_code);
  if (!c || c->iso2.empty()) return std::nullopt;
  return c->iso2;
}

std::optional<std::uint32_t> country_for_iso2(std::string_view iso2) {
  return refdata::country_code_for_iso2(iso2);
}

bool is_known_nis_code(std::string_view nis) {
  const auto n = nis_number(nis);
  return n && refdata::municipality(*n).has_value();
}

std::string current_nis_code(std::string_view nis) {
  const auto n = nis_number(nis);
  if (!n) return {};
  const auto current = refdata::current_municipality(*n);
  return current ? std::to_string(*current) : std::string();
}

bool is_household_role_code(std::uint32_t code) {
  return refdata::is_household_role_code(code);
}

std::optional<relais::v1::NotifyFamilyComposition::Role> role_for_code(
    std::uint32_t code) noexcept {
  for (const auto& r : kRoles) {
    if (r.code == code) return r.role;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> code_for_role(
    relais::v1::NotifyFamilyComposition::Role role) noexcept {
  for (const auto& r : kRoles) {
    if (r.role == role && r.exact) return r.code;
  }
  return std::nullopt;
}

bool is_sppis_clignotant_type(std::string_view code) {
  return refdata::sppis_clignotant_type(code).has_value();
}

bool is_dimona_worker_type(std::string_view code) {
  // libs/refdata ships no DIMONA list yet (data/refdata/README.md): while it knows not even OTH,
  // a code is checked by its shape, three upper-case letters or digits (OTH, STU, A17...).
  if (refdata::dimona_worker_type("OTH")) return refdata::dimona_worker_type(code).has_value();
  if (code.size() != 3) return false;
  for (char ch : code) {
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) return false;
  }
  return true;
}

bool is_gender_code(std::uint32_t code) {
  return refdata::is_gender_code(code);
}

bool is_civil_status_code(std::uint32_t code) {
  return refdata::is_civil_status_code(code);
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
    case NotifyPerson::ADDRESS_CHANGE:
      return kItAddress;
    case NotifyPerson::ADDRESS_ABROAD:
      return kItAbroad;
    case NotifyPerson::CIVIL_STATUS_CHANGE:
      return kItCivil;
    case NotifyPerson::NAME_CHANGE:
      return kItName;
    case NotifyPerson::NATIONALITY_CHANGE:
      return kItNationality;
    case NotifyPerson::DEATH:
      return kItDeath;
    case NotifyPerson::REFERENCE_ADDRESS:
      return kItReference;
    case NotifyPerson::LEGAL_COHABITATION_START:
    case NotifyPerson::LEGAL_COHABITATION_END:
      return kItCohabitation;
    case NotifyPerson::HOUSEHOLD_HEAD_CHANGE:
      return kItHead;
    case NotifyPerson::REGISTER_CHANGE:
      return kItRegister;
    case NotifyPerson::TEMPORARY_ABSENCE:
      return kItAbsence;
    default:
      return {};
  }
}

bool is_register_code(std::uint32_t code) noexcept {
  return code >= 1 && code <= 99;
}

}  // namespace relais::validation
