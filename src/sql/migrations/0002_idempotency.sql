-- Idempotency keys. A create sent again with the same Idempotency-Key gets
-- the first one's result instead of a second resource. The row is written in
-- the transaction of the create it records, so it exists exactly when the
-- create happened; a duplicate that arrives meanwhile waits on the primary key.
CREATE TABLE idempotency_keys (
  tenant_id    text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  key          text NOT NULL,
  -- what the key was used for (createSegment, createBaseSchema, loadRows, loadCsv)
  operation    text NOT NULL,
  -- SHA-256 of the request's payload: the same key with another payload is refused
  fingerprint  text NOT NULL,
  -- the first request's result; NULL only inside the transaction that claims the key
  result       jsonb,
  created_at   timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
  PRIMARY KEY (tenant_id, key)
);
-- Keys expire after a day; the purge finds them by age, across tenants.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
