-- Clignotants in relais-api: the alerts copied from cpas.<cbe>.alerts.v1 by
-- the alert store (idempotent on alert_id), the CPAS's reactions, the outbox
-- that carries each reaction to its destinations (PCSAAAlertReaction upstream,
-- cpas.<cbe>.alert-reactions.v1), and the journal of every delivery attempt.

CREATE TABLE alerts (
  alert_id       uuid PRIMARY KEY,             -- derived from (ticket, CPAS, rule) by the router
  seq            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- list order and cursor
  cpas_cbe       char(10) NOT NULL CHECK (cpas_cbe ~ '^[01][0-9]{9}$'),
  type           text NOT NULL,
  severity       text NOT NULL,
  rule_id        text NOT NULL,
  ssin           char(11) NOT NULL,
  ticket         text NOT NULL,
  flow           text NOT NULL,
  event          text,
  effective_date date,
  quality_codes  int[] NOT NULL DEFAULT '{}',
  deadline_days  int,
  description    text,
  raised_at      timestamptz NOT NULL,
  due_date       date,
  status         text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'REACTED', 'SENT')),
  notification   jsonb,                        -- the RoutedNotification that caused it (JSON mapping)
  source         text NOT NULL,                -- topic/partition/offset it was read from
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_cpas_seq ON alerts (cpas_cbe, seq);
CREATE INDEX alerts_cpas_status_seq ON alerts (cpas_cbe, status, seq);
CREATE INDEX alerts_cpas_type_seq ON alerts (cpas_cbe, type, seq);
CREATE INDEX alerts_open_due ON alerts (cpas_cbe, due_date) WHERE status = 'OPEN';
CREATE INDEX alerts_ssin ON alerts (ssin);

-- One row per reaction; seq 1 is the reaction, 2.. are explicit amendments.
CREATE TABLE reactions (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),  -- also the Idempotency-Key upstream
  alert_id        uuid NOT NULL REFERENCES alerts (alert_id),
  cpas_cbe        char(10) NOT NULL,
  seq             int NOT NULL CHECK (seq >= 1),
  code            text NOT NULL,
  comment         text CHECK (char_length(comment) <= 1000),
  amendment       boolean NOT NULL DEFAULT false,
  actor           text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  delivery_status text NOT NULL DEFAULT 'PENDING' CHECK (delivery_status IN ('PENDING', 'SENT', 'FAILING')),
  attempts        int NOT NULL DEFAULT 0,
  last_error      text,
  sent_at         timestamptz,
  UNIQUE (alert_id, seq)
);
CREATE INDEX reactions_cpas_created ON reactions (cpas_cbe, created_at);
CREATE INDEX reactions_not_sent ON reactions (delivery_status) WHERE delivery_status <> 'SENT';

-- Written in the same transaction as the reaction; one row per destination.
-- A sender claims due rows with FOR UPDATE SKIP LOCKED and commits a lease
-- (lease_until) before delivering, so no row lock is held during HTTP calls
-- and a crashed sender's rows come back when the lease expires.
CREATE TABLE outbox (
  id              bigserial PRIMARY KEY,
  reaction_id     uuid NOT NULL REFERENCES reactions (id),
  destination     text NOT NULL CHECK (destination IN ('upstream', 'kafka')),
  payload         text NOT NULL,              -- the AlertReaction, protobuf JSON mapping
  idempotency_key text NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
  attempts        int NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_until     timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  done_at         timestamptz,
  UNIQUE (reaction_id, destination)
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';

-- Every delivery attempt, whatever its outcome.
CREATE TABLE reaction_attempts (
  id          bigserial PRIMARY KEY,
  outbox_id   bigint NOT NULL REFERENCES outbox (id),
  reaction_id uuid NOT NULL,
  destination text NOT NULL,
  attempt     int NOT NULL,
  at          timestamptz NOT NULL DEFAULT now(),
  outcome     text NOT NULL,   -- sent | http_5xx | http_4xx | http_429 | timeout | connect_error | reset | io_error | breaker_open | kafka_error
  http_status int,
  duration_ms int,
  error       text,
  instance    text
);
CREATE INDEX reaction_attempts_reaction ON reaction_attempts (reaction_id, at);
CREATE INDEX reaction_attempts_at ON reaction_attempts (at);
