// Read-only queries and the reaction retry, over PostgreSQL (parameterised SQL only).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "relais/pg/pg.hpp"

namespace relais::ctl {

// A table of text cells (SQL NULL = empty cell, null in JSON).
struct Rows {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
};
std::string render_table(const Rows& r);
std::string render_json(const Rows& r);  // a JSON array of objects

struct JournalQuery {
  std::optional<std::string> ticket, ssin, cpas, since, until, kind;
  int limit = 100;
};
// Returns an error message for an invalid filter (checked before any SQL runs).
std::optional<std::string> validate(const JournalQuery& q);
Rows query_journal(pg::Connection& db, const JournalQuery& q);

struct ReactionQuery {
  std::optional<std::string> cpas, status;  // status: PENDING | FAILING | FAILED | SENT
  int limit = 100;
};
std::optional<std::string> validate(const ReactionQuery& q);
Rows query_reactions(pg::Connection& db, const ReactionQuery& q);

// Makes the pending or failed (refused) outbox rows of one reaction (or of every FAILING or FAILED
// reaction when `reaction_id` is empty) pending and due now, with their backoff reset (attempts =
// 0); a FAILED reaction becomes FAILING. Rows leased by a
// sender right now are left alone. Returns the number of outbox rows made due.
long long retry_reactions(pg::Connection& db, const std::string& reaction_id);

// SSIN replacements to review (docs/operations.md "Reviewing SSIN replacements"): the rows
// recorded through the former CPAS path (source legacy_cpas) and those a register SSIN_REPLACED
// contradicted (conflicting_ssin), with the CPAS that integrated each number; `all`: every
// active replacement.
struct ReplacementAudit {
  bool all = false;
  int limit = 1000;
};
Rows audit_replacements(pg::Connection& db, const ReplacementAudit& q);

// An operator's review of one replacement, journaled by trigger in directory_journal with the
// actor and the reason. confirm: keep it (clears needs_review and a register conflict); drop:
// the routers stop following it (active = false). False when old_ssin has no active replacement
// (for confirm: none that needs review).
enum class ReviewAction { confirm, drop };
bool review_replacement(pg::Connection& db, ReviewAction action, const std::string& old_ssin,
                        const std::string& actor, const std::string& reason);

bool is_uuid(const std::string& s);
// RFC 3339 timestamp or YYYY-MM-DD (midnight UTC).
bool is_timestamp(const std::string& s);

}  // namespace relais::ctl
