-- SSIN replacements come from the authentic source (docs/security.md §7): a notify-person
-- SSIN_REPLACED that came in through ingest ('register'), or an operator with a reason
-- ('operator'). Before this migration any CPAS credential could record one with quality code 999
-- on its integrations route, and it was global: those rows become 'legacy_cpas' and need review
-- (relaisctl directory audit-replacements). A replacement is never dropped by DELETE: `active`
-- turns false, so that the router's directory feed (change_seq) sees the change.

ALTER TABLE ssin_replacements
  ADD COLUMN recorded_by      text,
  ADD COLUMN reason           text,
  ADD COLUMN recorded_at      timestamptz,
  ADD COLUMN needs_review     boolean NOT NULL DEFAULT false,
  ADD COLUMN active           boolean NOT NULL DEFAULT true,
  ADD COLUMN updated_by       text,
  -- a register SSIN_REPLACED that named another new number than the one recorded (not applied)
  ADD COLUMN conflicting_ssin char(11) CHECK (conflicting_ssin ~ '^[0-9]{11}$');

-- The old `source` was 'notify-person' (the journal sink) or the API caller (quality code 999).
-- The stamping trigger gives every row a new change_seq: the routers re-read them (harmless).
UPDATE ssin_replacements SET
  recorded_by  = CASE WHEN source = 'notify-person' THEN 'notify-person' ELSE source END,
  needs_review = source <> 'notify-person',
  source       = CASE WHEN source = 'notify-person' THEN 'register' ELSE 'legacy_cpas' END,
  recorded_at  = created_at,
  updated_by   = 'migration 0008';

ALTER TABLE ssin_replacements
  ALTER COLUMN recorded_by SET NOT NULL,
  ALTER COLUMN recorded_at SET NOT NULL,
  ALTER COLUMN recorded_at SET DEFAULT now(),
  ALTER COLUMN updated_by SET NOT NULL,
  ADD CONSTRAINT ssin_replacements_source CHECK (source IN ('register', 'operator', 'legacy_cpas')),
  ADD CONSTRAINT ssin_replacements_operator_reason
    CHECK (source <> 'operator' OR length(btrim(coalesce(reason, ''))) > 0);

CREATE INDEX ssin_replacements_review ON ssin_replacements (old_ssin) WHERE needs_review;
CREATE INDEX ssin_replacements_new ON ssin_replacements (new_ssin);

-- Every change to a replacement is journaled, in the same transaction (the actor is updated_by).
CREATE FUNCTION directory_journal_replacements() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  act text;
BEGIN
  IF TG_OP = 'INSERT' OR (NEW.active AND NOT OLD.active) THEN act := 'replacement-record';
  ELSIF OLD.active AND NOT NEW.active THEN act := 'replacement-drop';
  ELSIF NEW.new_ssin <> OLD.new_ssin THEN act := 'replacement-correct';
  ELSIF NEW.conflicting_ssin IS NOT NULL AND NEW.conflicting_ssin IS DISTINCT FROM OLD.conflicting_ssin
    THEN act := 'replacement-conflict';
  ELSIF OLD.needs_review AND NOT NEW.needs_review THEN act := 'replacement-confirm';
  ELSE act := 'replacement-update';
  END IF;
  INSERT INTO directory_journal (actor, action, ssin, detail)
  VALUES (NEW.updated_by, act, NEW.old_ssin,
          jsonb_build_object('old_ssin', NEW.old_ssin, 'new_ssin', NEW.new_ssin,
                             'previous_new_ssin', CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD.new_ssin) END,
                             'source', NEW.source, 'recorded_by', NEW.recorded_by, 'reason', NEW.reason,
                             'active', NEW.active, 'needs_review', NEW.needs_review,
                             'conflicting_ssin', NEW.conflicting_ssin));
  RETURN NULL;
END $$;
CREATE TRIGGER ssin_replacements_journal AFTER INSERT OR UPDATE ON ssin_replacements
  FOR EACH ROW EXECUTE FUNCTION directory_journal_replacements();
