// CPAS identity in the BCSS network (bcss-schemas.md §4 "v3 OrganizationIdentification", §7(f)):
// besides its CBE number, a CPAS is known by the NIS code(s) of the municipality (or
// municipalities, after mergers) it serves and by its sector + institution number. The mapping
// is operator data (PUT /v1/cpas/{cbe}/identity, relaisctl directory identity), journaled in
// directory_journal. The directory can be addressed by either: a 5-digit NIS code in the place of
// a CBE number is resolved, through the municipal mergers, to the CPAS serving it now.
//
// normalize_identity() and serving_cpas() are the rules, pure; load/write are their PostgreSQL
// shell.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relais/pg/pg.hpp"
#include "relais/validation/error.hpp"

namespace relais::directory {

struct CpasIdentity {
  std::string cbe;
  std::vector<std::uint32_t> nis;       // current NIS codes of the municipalities served, sorted
  std::optional<unsigned> sector;       // BCSS sector (0-999), with
  std::optional<unsigned> institution;  // the institution number (0-999): both or neither
  std::string reason, updated_by, updated_at;  // as stored (empty before the first write)
};

// How a path segment addresses a CPAS: 10 characters = a CBE number, 5 = a NIS code (the two
// lengths never meet, so the reading is unambiguous); anything else is neither.
enum class CpasRef { cbe, nis, invalid };
CpasRef cpas_ref_kind(std::string_view text);

// The rule for a requested identity, before it is stored: every NIS code is a known municipality
// (refdata, current or ended) and is replaced by the municipality it designates today (an old
// code becomes its merger's code); duplicates after that are one; at most 50 codes; sector and
// institution both or neither, each 0-999 (CommonV3 OrganizationIdentificationType). `codes` are
// the texts as given (for the error's field, `nis_codes[i]`).
std::optional<validation::Error> normalize_identity(const std::vector<std::string>& codes,
                                                    CpasIdentity& out);

// One stored "NIS code -> CPAS" pair.
struct NisServed {
  std::uint32_t nis = 0;
  std::string cbe;
};

struct Serving {
  std::vector<std::string>
      cbes;  // none: not served; one: the CPAS; several: ambiguous (a later merger joined them)
  std::uint32_t municipality =
      0;  // the current municipality the asked code designates (0: unknown code)
};
// Which CPAS serve the municipality a NIS code designates today: the stored codes and the asked
// one are both followed through the mergers, so an old code finds the CPAS of its new
// municipality and a code stored before a merger still answers after it.
Serving serving_cpas(std::uint32_t nis, const std::vector<NisServed>& served);

// --- PostgreSQL ---

// Every stored NIS code and its CPAS.
std::vector<NisServed> load_nis_served(pg::Connection& c);
// The identities, of one CPAS (`cbe`) or of all, ordered by CBE. A CPAS without identity is absent.
std::vector<CpasIdentity> load_identities(pg::Connection& c,
                                          const std::optional<std::string>& cbe = {});

struct IdentityConflict {
  enum Kind { none, no_cpas, nis_taken, bcss_id_taken } kind = none;
  std::uint32_t nis = 0;  // nis_taken: the code
  std::string other_cbe;  // nis_taken / bcss_id_taken: the CPAS that holds it
};
// Replaces the identity of id.cbe (its NIS codes, sector and institution) in one transaction,
// under the directory's write lock, and journals it in directory_journal (action cpas-identity,
// the actor and the reason). Refused, nothing written, when the CPAS does not exist or when a
// NIS code (followed through mergers) or the sector/institution pair belongs to another CPAS.
IdentityConflict write_identity(pg::Connection& c, const CpasIdentity& id, const std::string& actor,
                                const std::string& reason);

}  // namespace relais::directory
