-- The notification journal: copied from relais.journal.v1 (written by the
-- router inside its Kafka transactions) by the journal sink. The unique key
-- makes the copy idempotent, so a sink crash between the PostgreSQL commit
-- and the Kafka offset commit only re-inserts nothing.
CREATE TABLE journal (
  id             bigserial PRIMARY KEY,
  at             timestamptz NOT NULL,
  kind           text NOT NULL CHECK (kind IN ('accepted', 'routed', 'dropped', 'duplicate', 'dead_letter')),
  ticket         text NOT NULL,
  ssin           char(11),
  flow           text,
  event          text,
  effective_date date,
  cpas_cbe       char(10),
  quality_code   integer,
  reason         text,
  accepted_at    timestamptz,
  source         text NOT NULL,
  recorded_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE NULLS NOT DISTINCT (ticket, kind, cpas_cbe, source)
);
CREATE INDEX journal_ticket ON journal (ticket);
CREATE INDEX journal_ssin ON journal (ssin);
CREATE INDEX journal_cpas_at ON journal (cpas_cbe, at);
CREATE INDEX journal_kind_at ON journal (kind, at);
