-- No poison pill (docs/reliability.md): a record that PostgreSQL refuses (a value a column type
-- refuses, a constraint) is set aside here by the sink that was writing it, with the reason, and
-- the sink goes on with the others. Written by the journal sink (relais-router), the alert store
-- and the access journal (relais-api). relaisctl dead-letters lists them;
-- relais_sink_dead_letters_total{sink} counts them (alert RelaisSinkDeadLetters).
CREATE TABLE sink_dead_letters (
  id        bigserial PRIMARY KEY,
  at        timestamptz NOT NULL DEFAULT now(),
  sink      text NOT NULL,   -- journal | alert-store | access-journal | ...
  source    text,            -- topic/partition/offset of a Kafka record, NULL otherwise
  sqlstate  text NOT NULL,
  reason    text NOT NULL,   -- the database's error, its quoted values elided (pg::redacted_message)
  payload   bytea            -- the record as it was (protobuf bytes, or the access record's safe fields)
);
CREATE INDEX sink_dead_letters_at ON sink_dead_letters (at);
CREATE INDEX sink_dead_letters_sink_at ON sink_dead_letters (sink, at);

-- The access journal of an SSIN replacement call names the replaced number too.
ALTER TABLE access_journal ADD COLUMN replaces_ssin text;
