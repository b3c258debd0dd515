-- What relaisctl re-produced from the dead-letter topic to relais.inbound.v1, so that the same
-- DLQ record is not replayed twice by accident (relaisctl refuses unless --force; a forced or
-- concurrent replay is harmless anyway: the router dedupes by ticket). Written in the same
-- PostgreSQL transaction that holds an advisory lock on the DLQ coordinates during the replay.
CREATE TABLE dlq_replays (
  id               bigserial PRIMARY KEY,
  dlq_topic        text NOT NULL,
  dlq_partition    int NOT NULL CHECK (dlq_partition >= 0),
  dlq_offset       bigint NOT NULL CHECK (dlq_offset >= 0),
  source_topic     text NOT NULL,            -- where the router read the record it dead-lettered
  source_partition int NOT NULL,
  source_offset    bigint NOT NULL,
  reason           text NOT NULL,            -- the DeadLetter's reason
  ticket           text,                     -- when the replayed bytes carry one
  corrected        boolean NOT NULL DEFAULT false,  -- an operator-supplied body replaced the original bytes
  forced           boolean NOT NULL DEFAULT false,
  target_topic     text NOT NULL,
  target_partition int NOT NULL,
  target_offset    bigint NOT NULL,
  actor            text NOT NULL,
  replayed_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dlq_replays_coord ON dlq_replays (dlq_topic, dlq_partition, dlq_offset);
CREATE INDEX dlq_replays_ticket ON dlq_replays (ticket);
