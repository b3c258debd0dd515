-- Clignotants raised by the router are journaled too (kind 'alert', reason =
-- alert type, alert_id set).
ALTER TABLE journal DROP CONSTRAINT journal_kind_check;
ALTER TABLE journal ADD CONSTRAINT journal_kind_check
  CHECK (kind IN ('accepted', 'routed', 'dropped', 'duplicate', 'dead_letter', 'alert'));
ALTER TABLE journal ADD COLUMN alert_id text;
ALTER TABLE journal DROP CONSTRAINT journal_ticket_kind_cpas_cbe_source_key;
ALTER TABLE journal ADD CONSTRAINT journal_entry_key UNIQUE NULLS NOT DISTINCT (ticket, kind, cpas_cbe, source, alert_id);
