#include "relais/validation/ids.hpp"

#include <array>
#include <chrono>

#include "relais/validation/date.hpp"

namespace relais::validation {
namespace {

constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

constexpr bool all_digits(std::string_view s) noexcept {
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// Value of s[pos, pos + len) as decimal digits; the caller has checked they are digits.
constexpr std::int64_t digits(std::string_view s, std::size_t pos, std::size_t len) noexcept {
  std::int64_t v = 0;
  for (std::size_t i = pos; i < pos + len; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

constexpr bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int current_year_utc() noexcept {
  const std::chrono::year_month_day ymd{
      std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())};
  return static_cast<int>(ymd.year());
}

struct QualityEntry {
  int code;
  QualityLabel label;
};

// docs/domain.md: sector 17 (CPAS) table and the sector-independent codes.
constexpr std::array<QualityEntry, 17> kQualityCodes{{
    {0, {"Inscription définitive", "Definitieve inschrijving"}},
    {1, {"Dossier en examen", "Dossier in onderzoek"}},
    {2, {"Revenu d'intégration", "Leefloon"}},
    {3, {"Équivalent revenu d'intégration", "Equivalent leefloon"}},
    {4, {"Autre aide", "Andere hulp"}},
    {5, {"Cohabitant", "Inwonende"}},
    {6, {"Personne occupée par le biais d'un CPAS (art. 60)", "Tewerkgesteld via OCMW"}},
    {7, {"Médiation de dettes / guidance budgétaire", "Schuldbemiddeling / budgetbegeleiding"}},
    {8, {"Dossier de service", "Dienstendossier"}},
    {9, {"Autres formes d'accompagnement", "Andere vormen van begeleiding"}},
    {11, {"Encadrant", "Encadrant"}},
    {12, {"Participant", "Deelnemer"}},
    {20, {"Collaborateur en enquête", "Medewerker in onderzoek"}},
    {21, {"Collaborateur (définitif)", "Medewerker (definitief)"}},
    {40, {"Bénéficiaire de l'allocation de chauffage", "Begunstigde verwarmingstoelage"}},
    {902, {"Inscription provisoire", "Voorlopige inschrijving"}},
    {999, {"NISS remplacé", "INSZ vervangen"}},
}};

}  // namespace

SsinCheck check_ssin(std::string_view s, int current_year) noexcept {
  if (s.size() != 11 || !all_digits(s)) return SsinCheck::bad_format;
  const auto month = digits(s, 2, 2);
  const auto day = digits(s, 4, 2);
  const auto serial = digits(s, 6, 3);
  // CommonV3 SsinType (docs/validation.md): National Register months 00-12 with serials
  // 001-999; BIS months 20-32 (sex unknown) and 40-52 (sex known) with any serial 000-999.
  const bool national_register = month <= 12;
  const bool bis = (month >= 20 && month <= 32) || (month >= 40 && month <= 52);
  if (!(national_register || bis) || day > 31) return SsinCheck::bad_format;
  if (national_register && serial == 0) return SsinCheck::bad_format;

  const auto base = digits(s, 0, 9);
  const auto check = digits(s, 9, 2);
  if (check == 97 - base % 97) return SsinCheck::ok;
  const auto year_2000s = 2000 + digits(s, 0, 2);
  if (year_2000s <= current_year && check == 97 - (2'000'000'000 + base) % 97) {
    return SsinCheck::ok;
  }
  return SsinCheck::bad_checksum;
}

SsinCheck check_ssin(std::string_view s) noexcept {
  return check_ssin(s, current_year_utc());
}

bool is_valid_ssin(std::string_view s) noexcept {
  return check_ssin(s) == SsinCheck::ok;
}

std::optional<SsinKind> ssin_kind(std::string_view s, int current_year) noexcept {
  if (check_ssin(s, current_year) != SsinCheck::ok) return std::nullopt;
  return digits(s, 2, 2) <= 12 ? SsinKind::national_register : SsinKind::bis;
}

std::optional<SsinKind> ssin_kind(std::string_view s) noexcept {
  return ssin_kind(s, current_year_utc());
}

std::optional<Error> validate_ssin(std::string_view s, std::string_view field) {
  if (s.empty()) {
    return make_error(code::kMissingField, "an SSIN is required", std::string(field));
  }
  switch (check_ssin(s)) {
    case SsinCheck::ok:
      return std::nullopt;
    case SsinCheck::bad_format:
      return make_error(code::kInvalidSsin,
                        "an SSIN is 11 digits YYMMDDsssCC with a valid month, day and serial",
                        std::string(field));
    case SsinCheck::bad_checksum:
      break;
  }
  return make_error(code::kInvalidSsinChecksum, "the SSIN check digits do not match",
                    std::string(field));
}

bool is_valid_cbe(std::string_view s) noexcept {
  if (s.size() != 10 || !all_digits(s) || (s[0] != '0' && s[0] != '1')) return false;
  return digits(s, 8, 2) == 97 - digits(s, 0, 8) % 97;
}

std::optional<Error> validate_cbe(std::string_view s, std::string_view field) {
  if (s.empty()) {
    return make_error(code::kMissingField, "an enterprise number is required", std::string(field));
  }
  if (is_valid_cbe(s)) return std::nullopt;
  return make_error(code::kInvalidCbe,
                    "an enterprise number is 10 digits starting with 0 or 1, with valid check "
                    "digits",
                    std::string(field));
}

bool is_valid_nsso_number(std::string_view s) noexcept {
  if ((s.size() != 9 && s.size() != 10) || !all_digits(s)) return false;
  std::uint64_t value = 0;
  for (char c : s) value = value * 10 + static_cast<std::uint64_t>(c - '0');
  const bool in_range = s.size() == 9 ? value >= 100006 && value <= 199999934
                                      : value >= 5000000120 && value <= 5999999989;
  return in_range && value % 97 == 96;
}

std::optional<Error> validate_nsso_number(std::string_view s, std::string_view field) {
  if (s.empty())
    return make_error(code::kMissingField, std::string(field) + " is required", std::string(field));
  if (is_valid_nsso_number(s)) return std::nullopt;
  return make_error(code::kInvalidNssoNumber,
                    "an NSSO number is 9 digits (definitive) or 10 digits starting with 5 "
                    "(provisional), the number mod 97 being 96",
                    std::string(field));
}

bool is_valid_nis_code(std::string_view s) noexcept {
  return s.size() == 5 && all_digits(s) && s[0] != '0';
}

bool is_valid_country_code(std::string_view s) noexcept {
  return s.size() == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}

bool is_valid_ticket(std::string_view s) noexcept {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

std::string normalize_ticket(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::optional<std::int64_t> parse_rfc3339_us(std::string_view s) noexcept {
  // YYYY-MM-DDTHH:MM:SS is 19 characters, then fraction and offset.
  if (s.size() < 20) return std::nullopt;
  const auto date = parse_iso_date(s.substr(0, 10));
  if (!date || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  for (std::size_t i : {11, 12, 14, 15, 17, 18}) {
    if (!is_digit(s[i])) return std::nullopt;
  }
  const auto hour = digits(s, 11, 2);
  const auto minute = digits(s, 14, 2);
  auto second = digits(s, 17, 2);
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  if (second == 60) second = 59;

  std::size_t pos = 19;
  std::int64_t micros = 0;
  if (s[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    while (pos < s.size() && is_digit(s[pos])) {
      if (pos - start < 6) micros = micros * 10 + (s[pos] - '0');
      ++pos;
    }
    const std::size_t n = pos - start;
    if (n == 0 || n > 9) return std::nullopt;
    for (std::size_t i = n; i < 6; ++i) micros *= 10;
  }
  if (pos >= s.size()) return std::nullopt;

  std::int64_t offset_minutes = 0;
  const char zone = s[pos];
  if (zone == 'Z' || zone == 'z') {
    if (pos + 1 != s.size()) return std::nullopt;
  } else if (zone == '+' || zone == '-') {
    const auto off = s.substr(pos + 1);
    if (off.size() != 5 || !is_digit(off[0]) || !is_digit(off[1]) || off[2] != ':' ||
        !is_digit(off[3]) || !is_digit(off[4])) {
      return std::nullopt;
    }
    const auto oh = digits(off, 0, 2);
    const auto om = digits(off, 3, 2);
    if (oh > 23 || om > 59) return std::nullopt;
    offset_minutes = (zone == '+' ? 1 : -1) * (oh * 60 + om);
  } else {
    return std::nullopt;
  }

  const std::int64_t local_seconds =
      static_cast<std::int64_t>(date->days) * 86'400 + hour * 3'600 + minute * 60 + second;
  return (local_seconds - offset_minutes * 60) * 1'000'000 + micros;
}

bool is_valid_rfc3339(std::string_view s) noexcept {
  return parse_rfc3339_us(s).has_value();
}

bool is_known_quality_code(int c) noexcept {
  return quality_code_label(c).has_value();
}

std::optional<QualityLabel> quality_code_label(int c) noexcept {
  for (const auto& e : kQualityCodes) {
    if (e.code == c) return e.label;
  }
  return std::nullopt;
}

}  // namespace relais::validation
