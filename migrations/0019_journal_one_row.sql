-- One journal row per routing outcome (issue 19: the journal's PostgreSQL cost is per row).
--
-- The journal sink now writes, for the entries of one relais.journal.v1 record (a JournalBatch),
-- one row per routing outcome: a `routed` or `dropped` row that also records the notification's
-- acceptance (`accepted`: no separate `accepted` row) and carries the alerts raised for it
-- (`alert_ids`, `alert_types`: no separate `alert` rows). It folds an entry only when it says
-- nothing the row does not (same time, ticket, SSIN, flow, event, date, accepted_at, source, and
-- for an alert the same CPAS and quality): anything else is written as before, one row per entry.
--
-- The table is renamed journal_rows; `journal` becomes a view with the old shape (one row per
-- entry: the accepted and alert rows are unfolded from their outcome row), so every reader asks
-- its question as before and gets the same answer. Rows already in the table are neither moved
-- nor rewritten: they are read through the view as they are (old rows have accepted = false and
-- no alert arrays, their accepted and alert entries being rows of their own).
ALTER TABLE journal RENAME TO journal_rows;
-- Constant defaults: no table rewrite (PostgreSQL 11+).
ALTER TABLE journal_rows ADD COLUMN accepted boolean NOT NULL DEFAULT false;
ALTER TABLE journal_rows ADD COLUMN alert_ids text[];
ALTER TABLE journal_rows ADD COLUMN alert_types text[];
-- Only an outcome row records an acceptance or carries alerts, one type per alert id.
ALTER TABLE journal_rows ADD CONSTRAINT journal_rows_folded_check CHECK (
  (NOT accepted OR kind IN ('routed', 'dropped'))
  AND (alert_ids IS NULL OR (kind = 'routed' AND alert_types IS NOT NULL
                             AND cardinality(alert_ids) = cardinality(alert_types)
                             AND cardinality(alert_ids) > 0))
  AND (alert_types IS NULL OR alert_ids IS NOT NULL)) NOT VALID;
ALTER TABLE journal_rows VALIDATE CONSTRAINT journal_rows_folded_check;

-- The indexes per row are the rest of the cost. Kept: the unique key (the sink's idempotence;
-- its leading column serves every lookup by ticket), journal_ssin and journal_cpas_at (the
-- auditors' questions by SSIN and by CPAS and period). The primary key on id goes: no reader
-- looks a row up by id (id stays, from its sequence, as the readers' tie-break in ORDER BY
-- at, id; the unique key is the table's key). journal_kind_at served no reader but
-- `relaisctl journal --kind` alone: it is kept for the rare kinds only (duplicate, dead_letter),
-- whose rows are few; a routed or dropped row no longer pays for it.
ALTER TABLE journal_rows DROP CONSTRAINT journal_pkey;
DROP INDEX IF EXISTS journal_kind_at;
CREATE INDEX journal_rare_kind_at ON journal_rows (kind, at) WHERE kind IN ('duplicate', 'dead_letter');

-- The journal as readers know it: one row per entry, the columns of the table before 0019 in
-- their order. An unfolded entry has its outcome row's id and recorded_at (same time `at`).
CREATE VIEW journal AS
  SELECT id, at, kind, ticket, ssin, flow, event, effective_date, cpas_cbe, quality_code, reason,
         accepted_at, source, recorded_at, alert_id
    FROM journal_rows
  UNION ALL
  SELECT id, at, 'accepted'::text, ticket, ssin, flow, event, effective_date, NULL::char(10),
         NULL::integer, NULL::text, accepted_at, source, recorded_at, NULL::text
    FROM journal_rows WHERE accepted
  UNION ALL
  SELECT r.id, r.at, 'alert'::text, r.ticket, r.ssin, r.flow, r.event, r.effective_date,
         r.cpas_cbe, r.quality_code, a.alert_type, r.accepted_at, r.source, r.recorded_at,
         a.alert_id
    FROM journal_rows r CROSS JOIN LATERAL unnest(r.alert_ids, r.alert_types) AS a(alert_id, alert_type)
    WHERE r.alert_ids IS NOT NULL;
COMMENT ON VIEW journal IS
  'The notification journal, one row per entry (accepted, routed, dropped, duplicate, dead_letter, alert), unfolded from journal_rows (migration 0019)';
