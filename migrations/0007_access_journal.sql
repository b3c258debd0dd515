-- Every call to relais-api, accepted or refused (docs/security.md): who, from where, which route,
-- which CPAS and SSIN when there is one, the status and, for a refusal, why. Written in batches
-- by relais-api; read by operators (GET /v1/access-journal, relaisctl access-journal).
CREATE TABLE access_journal (
  id              bigserial PRIMARY KEY,
  at              timestamptz NOT NULL,
  credential_id   text,                  -- NULL when the call carried no verified credential
  credential_name text NOT NULL,         -- 'anonymous' when there is none
  client_address  text NOT NULL,
  method          text NOT NULL,
  route           text NOT NULL,         -- the route template ('none' when no route matched)
  cpas_cbe        text,
  ssin            text,
  status          int NOT NULL,
  refusal         text,                  -- NULL when the call was let through
  request_id      text NOT NULL,
  duration_ms     double precision
);
CREATE INDEX access_journal_at ON access_journal (at);
CREATE INDEX access_journal_cpas_at ON access_journal (cpas_cbe, at);
CREATE INDEX access_journal_ssin ON access_journal (ssin) WHERE ssin IS NOT NULL;
CREATE INDEX access_journal_credential_at ON access_journal (credential_id, at);
CREATE INDEX access_journal_refused_at ON access_journal (at) WHERE refusal IS NOT NULL;
