-- Incomplete effective dates (CommonV3 t_IncompleteDate, Tx25 dates): "yyyy-mm-00" and
-- "yyyy-00-00" are what the National Register sends when the day, or the month and the day, are
-- unknown. The journal and the alerts keep the date as the source said it, so the column is text
-- holding exactly that shape (the router has already checked it is a real day or period).
ALTER TABLE journal ALTER COLUMN effective_date TYPE text USING to_char(effective_date, 'YYYY-MM-DD');
ALTER TABLE journal ADD CONSTRAINT journal_effective_date_shape
  CHECK (effective_date ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$');
ALTER TABLE alerts ALTER COLUMN effective_date TYPE text USING to_char(effective_date, 'YYYY-MM-DD');
ALTER TABLE alerts ADD CONSTRAINT alerts_effective_date_shape
  CHECK (effective_date ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$');
