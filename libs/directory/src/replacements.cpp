#include "relais/directory/replacements.hpp"

#include <algorithm>

namespace relais::directory {

std::string_view verdict_name(ReplacementVerdict v) {
  switch (v) {
    case ReplacementVerdict::record:
      return "record";
    case ReplacementVerdict::unchanged:
      return "unchanged";
    case ReplacementVerdict::correct:
      return "correct";
    case ReplacementVerdict::conflict:
      return "conflict";
    case ReplacementVerdict::cycle:
      return "cycle";
  }
  return "unknown";
}

ReplacementVerdict judge_replacement(std::string_view old_ssin, std::string_view new_ssin,
                                     const ReplacementState& s, bool correct) {
  if (s.current && *s.current == new_ssin) return ReplacementVerdict::unchanged;
  // old -> new closes a loop when new (or a number it was replaced by) is old itself.
  if (new_ssin == old_ssin || std::find(s.chain.begin(), s.chain.end(), old_ssin) != s.chain.end())
    return ReplacementVerdict::cycle;
  if (!s.current) return ReplacementVerdict::record;
  return correct ? ReplacementVerdict::correct : ReplacementVerdict::conflict;
}

ReplacementState load_replacement_state(pg::Connection& c, const std::string& old_ssin,
                                        const std::string& new_ssin) {
  c.exec("SELECT pg_advisory_xact_lock(7317001)");  // the lock of directory_stamp (migrations/0001)
  ReplacementState s;
  auto cur =
      c.exec("SELECT new_ssin FROM ssin_replacements WHERE old_ssin = $1 AND active", {old_ssin});
  if (cur.rows() == 1) s.current = cur.str(0, 0);
  s.chain = replacement_chain(c, new_ssin);
  return s;
}

std::vector<std::string> replacement_chain(pg::Connection& c, const std::string& from) {
  // One successor per number (old_ssin is the key): a walk, bounded against loops left by old data.
  auto r = c.exec(
      "WITH RECURSIVE chain(ssin, depth) AS (SELECT $1::char(11), 0 UNION ALL "
      "SELECT r.new_ssin, c.depth + 1 FROM chain c JOIN ssin_replacements r ON r.old_ssin = c.ssin "
      "AND r.active "
      "WHERE c.depth < 64) SELECT ssin FROM chain ORDER BY depth",
      {from});
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.str(i, 0));
  return out;
}

void write_replacement(pg::Connection& c, const ReplacementWrite& w) {
  c.exec(
      "INSERT INTO ssin_replacements (old_ssin, new_ssin, source, recorded_by, reason, "
      "recorded_at, needs_review, "
      "active, updated_by, conflicting_ssin) VALUES ($1, $2, $3, $4, $5, now(), false, true, $4, "
      "NULL) "
      "ON CONFLICT (old_ssin) DO UPDATE SET new_ssin = EXCLUDED.new_ssin, source = "
      "EXCLUDED.source, "
      "recorded_by = EXCLUDED.recorded_by, reason = EXCLUDED.reason, recorded_at = now(), "
      "needs_review = false, "
      "active = true, updated_by = EXCLUDED.updated_by, conflicting_ssin = NULL",
      {w.old_ssin, w.new_ssin, w.source, w.who, w.reason});
}

void flag_replacement_conflict(pg::Connection& c, const std::string& old_ssin,
                               const std::string& claimed_new, const std::string& who) {
  // Once per claim: a re-read journal batch does not flag (nor journal) it again.
  c.exec(
      "UPDATE ssin_replacements SET needs_review = true, conflicting_ssin = $2, updated_by = $3 "
      "WHERE old_ssin = $1 AND active AND conflicting_ssin IS DISTINCT FROM $2",
      {old_ssin, claimed_new, who});
}

}  // namespace relais::directory
