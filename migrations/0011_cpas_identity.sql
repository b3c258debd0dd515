-- CPAS identity in the BCSS network (bcss-schemas.md §4 "v3 OrganizationIdentification",
-- §7(f)): besides its CBE number, a CPAS is known by the NIS code(s) of the municipality (or
-- municipalities, after mergers) it serves and by its sector + institution number. Operator data
-- (PUT /v1/cpas/{cbe}/identity, relaisctl directory identity set), journaled in
-- directory_journal (action cpas-identity) with the actor and the reason.
CREATE TABLE cpas_identity (
  cbe              char(10) PRIMARY KEY REFERENCES cpas (cbe),
  bcss_sector      integer CHECK (bcss_sector BETWEEN 0 AND 999),
  bcss_institution integer CHECK (bcss_institution BETWEEN 0 AND 999),
  reason           text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  updated_by       text NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((bcss_sector IS NULL) = (bcss_institution IS NULL)),
  UNIQUE (bcss_sector, bcss_institution)
);

-- One CPAS per municipality: a NIS code addresses at most one CPAS. The codes are stored as the
-- municipality's current code at the time of writing (an old code is replaced by its merger's).
CREATE TABLE cpas_nis (
  nis char(5) PRIMARY KEY CHECK (nis ~ '^[0-9]{5}$'),
  cbe char(10) NOT NULL REFERENCES cpas_identity (cbe) ON DELETE CASCADE
);
CREATE INDEX cpas_nis_cbe ON cpas_nis (cbe);
