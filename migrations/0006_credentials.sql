-- relais-api credentials: bearer tokens "rls_<id>_<secret>" (docs/security.md). Only the
-- SHA-256 of the whole token is stored; the token itself is printed once by
-- `relaisctl credentials create|rotate` and never again. Each credential holds one or more
-- scopes: 'operator' (the data centre: every CPAS and the operator routes) and/or
-- 'cpas:<cbe>' (that CPAS's directory, alerts and reactions).
CREATE TABLE credentials (
  id            text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),   -- the token's public id part
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  token_sha256  bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
  scopes        text[] NOT NULL CHECK (cardinality(scopes) > 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    text NOT NULL,
  expires_at    timestamptz NOT NULL,                               -- every credential expires
  revoked_at    timestamptz,
  revoked_by    text,
  revoke_reason text,
  rotated_from  text REFERENCES credentials (id),                  -- the credential this one replaced
  last_used_at  timestamptz                                         -- refreshed at most once per cache period
);
CREATE INDEX credentials_name ON credentials (name);
CREATE INDEX credentials_scopes ON credentials USING gin (scopes);
