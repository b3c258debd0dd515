// The National Register's code lists (and SPP IS's clignotant types), as data shipped in the
// repository (data/refdata/*.csv) and compiled into the library: countries and nationalities,
// municipalities with the 2019 and 2025 mergers, civil status, gender and household-role codes.
// Pure lookups, no I/O at run time.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace relais::refdata {

struct Country {
  std::uint32_t nr_code = 0;  // National Register code (t_NISCode), 150 = Belgium
  std::string_view iso2;      // ISO 3166-1 alpha-2, empty when none
  std::string_view name_fr, name_nl, name_de;
};

// The country or nationality of a National Register code; std::nullopt for an unknown code.
std::optional<Country> country(std::uint32_t nr_code);
// The National Register code for an ISO 3166-1 alpha-2 code (upper case). When the list gives
// several codes for one ISO code (an older and a newer entry of the same state), the lowest.
std::optional<std::uint32_t> country_code_for_iso2(std::string_view iso2);
// Every country of the list, ordered by code.
const std::vector<Country>& countries();

struct Municipality {
  std::uint32_t nis = 0;  // NIS/INS (REFNIS) code, 5 digits
  std::string_view name_nl, name_fr;
  std::string_view valid_from;  // "YYYY-MM-DD": first day of a code a merger created; empty = older
  std::string_view valid_until;  // "YYYY-MM-DD" (last day), empty = current
  std::uint32_t successor = 0;   // the municipality it merged into, from the next day; 0 = none
  bool current() const { return valid_until.empty(); }
};

// Any municipality of the list, current or ended by a merger; std::nullopt when unknown.
std::optional<Municipality> municipality(std::uint32_t nis);
// The municipality a code designates on `on_date` ("YYYY-MM-DD"; empty = today's list): the code
// itself while it is valid, otherwise the end of its merger chain as of that day. std::nullopt
// when the code is unknown, did not exist yet on that day, or `on_date` is not a date.
std::optional<std::uint32_t> current_municipality(std::uint32_t nis, std::string_view on_date = {});
// The codes that merged into `nis` (directly or along a chain), not `nis` itself.
std::vector<std::uint32_t> predecessors(std::uint32_t nis);
// Every municipality of the list (current and ended), ordered by code.
const std::vector<Municipality>& municipalities();
// How many municipalities were valid on `on_date` ("YYYY-MM-DD").
std::size_t municipality_count_on(std::string_view on_date);

struct Code {
  unsigned code = 0;
  std::string_view
      label;  // English (the household roles also carry the register's own German label)
};

bool is_civil_status_code(unsigned code);  // t_CivilStateCode: 10 20 25 26 30 40 41 50 51 60
std::string_view civil_status_label(unsigned code);  // empty when unknown or unlabelled
const std::vector<Code>& civil_status_codes();

bool is_gender_code(unsigned code);  // GenderCodeType: 0 unknown, 1 male, 2 female
std::string_view gender_label(unsigned code);

bool is_household_role_code(unsigned code);  // Tx25 FamilyRole codes found in public sources only
std::string_view household_role_label(unsigned code);
std::string_view household_role_label_de(unsigned code);

struct WorkerType {
  std::string_view code;
  std::string_view label;
};
// DIMONA worker types: no public list was found in the sources available to the project (see
// README.md), so the list is empty and every code is unknown until one is shipped as data.
std::optional<WorkerType> dimona_worker_type(std::string_view code);

// SPP IS clignotant types (data/refdata/sppis_clignotant_types.csv: SPP IS's list is not public,
// the file is Relais's default) and the early-signal alert types each one corresponds to.
struct SppIsClignotantType {
  std::string_view code;
  std::vector<std::string_view> early_signal_types;  // alert types of the rule file; may be empty
  std::string_view label;                            // English
};
std::optional<SppIsClignotantType> sppis_clignotant_type(std::string_view code);
const std::vector<SppIsClignotantType>& sppis_clignotant_types();

// Splits one data file as they are written: '#' comment lines skipped, then the header line and
// the rows, fields separated by ',' (the files hold no quoted field). Exposed for tests.
std::vector<std::vector<std::string_view>> parse_csv(std::string_view text);

// The embedded data files, as read at build time (for tests).
std::string_view data_file(std::string_view name);  // "countries", "municipalities", ...

}  // namespace relais::refdata
