-- The directory: our mirror of the BCSS reference directory (domain.md,
-- "The integrated-NISS repository"). PostgreSQL is its source of truth; the
-- router keeps an in-memory copy current by reading rows whose change_seq is
-- above the last one it saw.

CREATE SEQUENCE directory_change_seq;

-- Every directory write takes this transaction-scoped lock before taking its
-- change_seq values, so change_seq order is commit order and a reader that
-- asks for "change_seq > last seen" can never miss a row committed late.
CREATE FUNCTION directory_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(7317001);
  NEW.change_seq := nextval('directory_change_seq');
  NEW.updated_at := now();
  RETURN NEW;
END $$;

CREATE TABLE cpas (
  cbe            char(10) PRIMARY KEY CHECK (cbe ~ '^[01][0-9]{9}$'),
  name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  municipalities text[] NOT NULL DEFAULT '{}',
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  updated_by     text NOT NULL,
  change_seq     bigint NOT NULL DEFAULT 0
);
CREATE TRIGGER cpas_stamp BEFORE INSERT OR UPDATE ON cpas
  FOR EACH ROW EXECUTE FUNCTION directory_stamp();
CREATE INDEX cpas_change_seq ON cpas (change_seq);

CREATE TABLE integrations (
  id           bigserial PRIMARY KEY,
  ssin         char(11) NOT NULL CHECK (ssin ~ '^[0-9]{11}$'),
  cbe          char(10) NOT NULL REFERENCES cpas (cbe),
  quality_code integer NOT NULL,
  start_date   date NOT NULL,
  end_date     date,
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   text NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  updated_by   text NOT NULL,
  change_seq   bigint NOT NULL DEFAULT 0,
  -- end_date = start_date - 1 means "cancelled before it started".
  CHECK (end_date IS NULL OR end_date >= start_date - 1),
  UNIQUE (cbe, ssin, quality_code, start_date)
);
CREATE TRIGGER integrations_stamp BEFORE INSERT OR UPDATE ON integrations
  FOR EACH ROW EXECUTE FUNCTION directory_stamp();
CREATE INDEX integrations_change_seq ON integrations (change_seq);
CREATE INDEX integrations_ssin ON integrations (ssin);

-- SSIN replacements (quality code 999, or a notify-person SSIN_REPLACED):
-- mutations for either number follow the person.
CREATE TABLE ssin_replacements (
  old_ssin   char(11) PRIMARY KEY CHECK (old_ssin ~ '^[0-9]{11}$'),
  new_ssin   char(11) NOT NULL CHECK (new_ssin ~ '^[0-9]{11}$' AND new_ssin <> old_ssin),
  source     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  change_seq bigint NOT NULL DEFAULT 0
);
CREATE TRIGGER ssin_replacements_stamp BEFORE INSERT OR UPDATE ON ssin_replacements
  FOR EACH ROW EXECUTE FUNCTION directory_stamp();
CREATE INDEX ssin_replacements_change_seq ON ssin_replacements (change_seq);

-- Who changed what in the directory, written by trigger in the same
-- transaction as the change itself.
CREATE TABLE directory_journal (
  id         bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  actor      text NOT NULL,
  action     text NOT NULL,
  cbe        char(10),
  ssin       char(11),
  detail     jsonb NOT NULL
);
CREATE INDEX directory_journal_cbe_at ON directory_journal (cbe, at);

CREATE FUNCTION directory_journal_integrations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO directory_journal (actor, action, cbe, ssin, detail)
  VALUES (NEW.updated_by,
          CASE WHEN TG_OP = 'INSERT' THEN 'register'
               WHEN NEW.end_date IS DISTINCT FROM OLD.end_date THEN 'unregister'
               ELSE 'update' END,
          NEW.cbe, NEW.ssin,
          jsonb_build_object('id', NEW.id, 'quality_code', NEW.quality_code,
                             'start_date', NEW.start_date, 'end_date', NEW.end_date,
                             'previous_end_date', CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD.end_date) END));
  RETURN NULL;
END $$;
CREATE TRIGGER integrations_journal AFTER INSERT OR UPDATE ON integrations
  FOR EACH ROW EXECUTE FUNCTION directory_journal_integrations();

CREATE FUNCTION directory_journal_cpas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO directory_journal (actor, action, cbe, detail)
  VALUES (NEW.updated_by, CASE WHEN TG_OP = 'INSERT' THEN 'cpas-create' ELSE 'cpas-update' END, NEW.cbe,
          jsonb_build_object('name', NEW.name, 'municipalities', NEW.municipalities));
  RETURN NULL;
END $$;
CREATE TRIGGER cpas_journal AFTER INSERT OR UPDATE ON cpas
  FOR EACH ROW EXECUTE FUNCTION directory_journal_cpas();
