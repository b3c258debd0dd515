-- The social worker's follow-up of an alert (issue 16: "the social worker's notes and status carry
-- over" from an early signal to the SPP IS clignotant linked to it, docs/clignotants.md). Separate
-- from `status` (OPEN, REACTED, SENT), which is the reaction's: an early signal takes no reaction,
-- yet a worker follows it up the day it arrives. `proposed_code` is the reaction code the worker
-- intends to send once SPP IS's clignotant comes (never sent by itself: the CPAS reacts).
ALTER TABLE alerts
  ADD COLUMN follow_up text NOT NULL DEFAULT 'NONE'
    CHECK (follow_up IN ('NONE', 'IN_PROGRESS', 'DONE')),
  ADD COLUMN proposed_code text CHECK (proposed_code ~ '^[A-Z][A-Z0-9_]{1,39}$');
