// SSIN replacements ("old is replaced by new": a BIS number replaced by a National Register
// number, domain.md quality code 999). A replacement is global (every CPAS's mutations follow the
// person), so only the authentic source records one: a notify-person SSIN_REPLACED that came in
// through ingest ('register'), or an operator with a reason ('operator'). Rows recorded through
// the former CPAS path are 'legacy_cpas' and wait for review (docs/security.md §7).
//
// judge_replacement() is the rule, a pure function; load/write are its PostgreSQL shell, used by
// relais-api (operator route) and the router's journal sink (register path).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relais/pg/pg.hpp"

namespace relais::directory {

// What is recorded around old -> new before recording it.
struct ReplacementState {
  std::optional<std::string> current;  // the active replacement of `old`, if any
  std::vector<std::string>
      chain;  // `new`, then the numbers reached by following recorded replacements
};

enum class ReplacementVerdict {
  record,     // `old` has no replacement yet
  unchanged,  // old -> new is already recorded
  correct,    // old -> other is recorded and the caller explicitly corrects it
  conflict,   // old -> other is recorded: refused, never silently overwritten
  cycle,      // `new` already leads back to `old`: refused
};
std::string_view verdict_name(ReplacementVerdict v);

// The rule. `correct` is an operator's explicit correction of a known replacement.
ReplacementVerdict judge_replacement(std::string_view old_ssin, std::string_view new_ssin,
                                     const ReplacementState& s, bool correct);

// --- PostgreSQL (call inside a transaction) ---

// Takes the directory's write lock (the advisory lock of directory_stamp, so that two writers
// cannot build a cycle between them) and reads the state of old -> new.
ReplacementState load_replacement_state(pg::Connection& c, const std::string& old_ssin,
                                        const std::string& new_ssin);

// `from`, then the numbers reached by following the active replacements (old -> new), bounded.
std::vector<std::string> replacement_chain(pg::Connection& c, const std::string& from);

struct ReplacementWrite {
  std::string old_ssin, new_ssin;
  std::string source;  // register | operator
  std::string who;     // notify-person:<ticket> | api:<credential>...
  std::optional<std::string> reason;
};
// Records (or, after a `correct` verdict, replaces) the active replacement of old_ssin; the
// trigger journals it in directory_journal and gives it a change_seq for the routers.
void write_replacement(pg::Connection& c, const ReplacementWrite& w);

// A register SSIN_REPLACED that conflicts with the recorded replacement: not applied; the
// recorded row is flagged for review with the register's number (journaled by trigger).
void flag_replacement_conflict(pg::Connection& c, const std::string& old_ssin,
                               const std::string& claimed_new, const std::string& who);

}  // namespace relais::directory
