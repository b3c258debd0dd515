// The journal's rows from its entries (migration 0019): one row per routing outcome.
//
// The router journals, per notification, an ACCEPTED entry, then per routing outcome a ROUTED
// (per CPAS) or DROPPED entry, and an ALERT entry per alert raised for a routed one. Stored as
// they come, that is 2.2 rows per notification, and PostgreSQL's cost is per row (heap tuple,
// WAL, one insertion per index). fold_journal() folds the entries of one journal record into
// one row per outcome: the ACCEPTED entry into the outcome that follows it (`accepted`), the
// ALERT entries into the ROUTED entry they follow (`alerts`). It folds an entry only when the
// row already says everything the entry's own row would (time, ticket, SSIN, flow, event,
// effective date, accepted_at, source; for an alert the CPAS and quality code too, and an alert
// id and type); any other entry is a row of its own, as before. The `journal` view unfolds the
// rows back into one row per entry, so nothing is lost. Pure: the same record always folds the
// same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "relais/v1/records.pb.h"

namespace relais::router {

struct JournalRow {
  const v1::JournalEntry* entry = nullptr;      // the row's columns (its kind, CPAS, reason …)
  bool accepted = false;                        // it also records the notification's acceptance
  std::vector<const v1::JournalEntry*> alerts;  // ALERT entries folded in (alert_id, reason)
};

// Appends the rows of one record's entries (in entry order) to `out`; never folds an entry into
// a row already in `out` before the call (a record folds alone, whatever batch it is read in).
// The rows point into `entries`, which must outlive them.
void fold_journal(const google::protobuf::RepeatedPtrField<v1::JournalEntry>& entries,
                  std::vector<JournalRow>& out);

// Whether `e` carries nothing its outcome row `outcome` does not (the folding's conditions).
bool acceptance_folds_into(const v1::JournalEntry& e, const v1::JournalEntry& outcome);
bool alert_folds_into(const v1::JournalEntry& e, const v1::JournalEntry& routed);

// The order in which the sink copies rows: by CPAS (rows without one first), then time, else as
// given (stable). The (CPAS, time) index then takes each CPAS's rows of a batch one after the
// other at the end of that CPAS's range, on pages it has just read, instead of a CPAS in turn at
// each row: 0.69x to 0.92x of the journal's PostgreSQL CPU at a million notifications
// (docs/performance.md, "The journal's rows in (CPAS, time) order"). The rows' contents, and the
// readers' order (time, then id), do not change.
std::vector<std::size_t> copy_order(const std::vector<JournalRow>& rows);

}  // namespace relais::router

namespace relais::router {

// The journal sink's exactly-once bookkeeping (migration 0020), in place of a unique key on every
// row: per partition of relais.journal.v1, the next offset whose entries PostgreSQL does not hold
// yet, stored in the same transaction as the rows (journal_sink_offsets). A record below its
// partition's mark was journaled already (a replay after a crash between PostgreSQL's commit and
// Kafka's, a rebalance, a replica that lost its partitions) and is skipped. A partition with no
// mark yet (kNoMark: the first batch after migration 0020, or a new partition) is `unchecked`:
// its rows are compared with the table's, entry by entry, as the unique key did.
inline constexpr std::int64_t kNoMark = -1;

enum class RecordFate { fresh, skip, unchecked };

struct MarkedRecord {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
};

struct JournalMarks {
  std::vector<RecordFate> fate;               // per record, in the batch's order
  std::map<std::int32_t, std::int64_t> next;  // the marks after the batch
  std::size_t skipped = 0;                    // records of fate `skip`
};

// Pure. `recorded`: each partition's mark as read under its row lock (kNoMark when none). A
// record below its partition's running mark (the recorded one, then past each record taken) is
// skipped: held already, or read twice in the same batch (a consumer fetches a partition again
// from its committed offset after a rebalance). The marks after the batch are past its highest
// record of each partition (never moved back).
JournalMarks mark_journal(const std::vector<MarkedRecord>& records,
                          const std::map<std::int32_t, std::int64_t>& recorded);

}  // namespace relais::router
