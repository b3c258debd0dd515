-- A reaction that the PCSAAAlertReaction upstream refused (a 4xx other than 408, 409 and 429) is
-- not retried blindly: its upstream outbox row becomes 'failed' and the reaction FAILED, with the
-- upstream's answer in last_error, until an operator retries it (relaisctl reactions retry), which
-- makes the row pending again (docs/clignotants.md, docs/operations.md).
ALTER TABLE reactions DROP CONSTRAINT reactions_delivery_status_check;
ALTER TABLE reactions ADD CONSTRAINT reactions_delivery_status_check
  CHECK (delivery_status IN ('PENDING', 'SENT', 'FAILING', 'FAILED'));
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'done', 'failed'));
