-- The journal sink's idempotence by exactly-once bookkeeping instead of a unique key on every row
-- (issue 19: the journal's PostgreSQL cost per notification).
--
-- Until now a replayed journal record (the sink's crash between PostgreSQL's commit and Kafka's
-- offset commit, a rebalance) inserted nothing because of the unique key journal_entry_key
-- (ticket, kind, cpas_cbe, source, alert_id): a wide key at a random place of its B-tree, checked
-- by a speculative insertion for every row, 10 of the 25 µs a notification cost. Now the sink
-- keeps, per partition of relais.journal.v1, the next offset PostgreSQL does not hold yet, and
-- moves it in the same transaction as the rows it writes (under the row's lock): a record below
-- its partition's mark was written already and is skipped, so the rows are copied straight into
-- journal_rows. A partition with no mark yet (next_offset -1: the first batch after this
-- migration, or a new partition) has its rows compared with the table's, entry for entry, as the
-- unique key did (libs/router/README.md, "Exactly once into PostgreSQL").
CREATE TABLE journal_sink_offsets (
  topic text NOT NULL,
  partition integer NOT NULL CHECK (partition >= 0),
  next_offset bigint NOT NULL CHECK (next_offset >= -1),  -- -1: no mark yet
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, partition)
);
COMMENT ON TABLE journal_sink_offsets IS
  'Per partition of the journal topic, the next offset whose entries journal_rows does not hold yet (the journal sink''s exactly-once bookkeeping, migration 0020)';

-- The lookups by ticket (relaisctl journal --ticket, the sink's comparisons) were served by the
-- unique key's leading column; by SSIN by a B-tree. Both are equality lookups of random keys
-- (UUID tickets, SSINs): a hash index serves them for less per insertion (bench part `journal`,
-- docs/performance.md). The (CPAS, time) and rare-kind indexes stay B-trees (ranges, order).
CREATE INDEX journal_rows_ticket ON journal_rows USING hash (ticket);
ALTER TABLE journal_rows DROP CONSTRAINT journal_entry_key;
DROP INDEX journal_ssin;
CREATE INDEX journal_rows_ssin ON journal_rows USING hash (ssin);
