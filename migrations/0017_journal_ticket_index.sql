-- The journal's index on ticket alone is redundant: the unique key journal_entry_key
-- (ticket, kind, cpas_cbe, source, alert_id) has the ticket as its leading column and serves
-- every lookup by ticket. Dropping it removes one index insertion per journal entry: 14% of the
-- journal's PostgreSQL CPU per notification (bench/journal_part.py, docs/performance.md).
DROP INDEX IF EXISTS journal_ticket;
