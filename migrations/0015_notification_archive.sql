-- The notification archive: every record Relais published to a CPAS topic
-- (cpas.<cbe>.notifications.v1), kept past Kafka's retention so that a CPAS application that
-- restored an old backup can ask for a replay (docs/subscribers.md section 6). Written in bulk
-- by relais-api's archive sink (COPY into a temporary table, INSERT ... ON CONFLICT DO NOTHING,
-- then the Kafka offsets); pruned after archive.retention_days.
--
-- One row per routed record. `record` is the record exactly as it was routed (key, headers,
-- value), framed and compressed by relais-api (libs/api/archive.hpp): PostgreSQL never
-- compresses it again (STORAGE EXTERNAL). The primary key is the one index: it is the replay's
-- query (one CPAS, since a time, in routing order) and makes the copy idempotent.
CREATE TABLE notification_archive (
  cpas_cbe        char(10) NOT NULL,
  routed_at       timestamptz NOT NULL,  -- RoutedNotification.routed_at_us (= the journal's `at`)
  kafka_partition int NOT NULL,
  kafka_offset    bigint NOT NULL,
  record          bytea NOT NULL,
  PRIMARY KEY (cpas_cbe, routed_at, kafka_partition, kafka_offset)
);
ALTER TABLE notification_archive ALTER COLUMN record SET STORAGE EXTERNAL;

-- Replays asked for by a CPAS application (POST /v1/cpas/{cbe}/replays, relaisctl replay):
-- relais-api's replay worker re-publishes the archive's records of one CPAS to
-- cpas.<cbe>.replay.v1, chunk by chunk, and records its progress here (the last position
-- published); a worker that dies leaves its lease to expire and another (or the restarted one)
-- continues after the last record the replay topic holds. One running replay per CPAS.
CREATE TABLE cpas_replays (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  cpas_cbe        char(10) NOT NULL,
  since           timestamptz NOT NULL,
  until           timestamptz,
  topic           text NOT NULL,
  state           text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
  total           bigint NOT NULL DEFAULT 0,   -- archived records in [since, until) when asked
  published       bigint NOT NULL DEFAULT 0,
  last_routed_at  timestamptz,                 -- the last record published (routing order)
  last_partition  int,
  last_offset     bigint,
  requested_by    text NOT NULL,
  requested_at    timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz,
  lease_owner     text,
  lease_until     timestamptz,
  error           text
);
CREATE UNIQUE INDEX cpas_replays_running ON cpas_replays (cpas_cbe) WHERE state = 'running';
CREATE INDEX cpas_replays_cpas ON cpas_replays (cpas_cbe, requested_at);
