-- Issue 16: two kinds of alert. EARLY_SIGNAL: raised by relais-router from the rule file, never
-- sent upstream. SPPIS_CLIGNOTANT: a clignotant issued by SPP IS (flow sppis-clignotant), with
-- SPP IS's own identifier, the only kind a PCSAAAlertReaction goes upstream for. Alerts stored
-- before this migration are early signals.
ALTER TABLE alerts
  ADD COLUMN kind text NOT NULL DEFAULT 'EARLY_SIGNAL'
    CHECK (kind IN ('EARLY_SIGNAL', 'SPPIS_CLIGNOTANT')),
  ADD COLUMN sppis_id text,                 -- SPP IS's identifier; null for early signals
  ADD COLUMN period_end date,               -- last day of the period concerned (effective_date = first)
  ADD COLUMN issued_date date,              -- SPPIS_CLIGNOTANT: the day SPP IS issued it
  -- The link between an early signal and the SPP IS clignotant for the same person and fact
  -- (docs/clignotants.md, "Matching"): set on both rows by the alert store.
  ADD COLUMN linked_alert_id uuid REFERENCES alerts (alert_id),
  ADD COLUMN lead_days int,                 -- on the clignotant: issued_date - early signal's raised day
  -- The social worker's notes (PUT /v1/cpas/{cbe}/alerts/{id}/notes); carried over from an early
  -- signal to the clignotant it is linked to when the clignotant has none.
  ADD COLUMN notes text CHECK (char_length(notes) <= 4000),
  ADD CONSTRAINT alerts_sppis_id_by_kind
    CHECK ((kind = 'SPPIS_CLIGNOTANT') = (sppis_id IS NOT NULL));

-- Deduplicated by SPP IS's identifier (whatever ticket or CPAS a repeat names).
CREATE UNIQUE INDEX alerts_sppis_id ON alerts (sppis_id) WHERE sppis_id IS NOT NULL;
-- The matching rule's lookup: a CPAS's unlinked early signals about one person.
CREATE INDEX alerts_early_unlinked ON alerts (cpas_cbe, ssin)
  WHERE kind = 'EARLY_SIGNAL' AND linked_alert_id IS NULL;
-- The backlog report: a CPAS's SPP IS clignotants by status.
CREATE INDEX alerts_sppis_cpas_status ON alerts (cpas_cbe, status, issued_date)
  WHERE kind = 'SPPIS_CLIGNOTANT';
