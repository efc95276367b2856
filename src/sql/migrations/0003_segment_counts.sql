-- How many segments each tenant has, kept by the database itself so that a
-- list can answer its total without counting the tenant's segments on every
-- request. The trigger is deferred to commit: a transaction that creates or
-- deletes a segment holds the tenant's counter row only while it commits,
-- so slow creates (a view counted over millions of rows) never queue behind
-- each other on it.

CREATE TABLE segment_counts (
  tenant_id  text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  segments   bigint NOT NULL CHECK (segments >= 0)
);

CREATE FUNCTION count_tenant_segments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    -- A tenant deleted later in the same transaction has no counter to keep.
    INSERT INTO segment_counts AS c (tenant_id, segments)
      SELECT NEW.tenant_id, 1 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = NEW.tenant_id)
      ON CONFLICT (tenant_id) DO UPDATE SET segments = c.segments + 1;
  ELSE
    UPDATE segment_counts SET segments = segments - 1 WHERE tenant_id = OLD.tenant_id;
  END IF;
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER segments_counted
  AFTER INSERT OR DELETE ON segments
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION count_tenant_segments();

INSERT INTO segment_counts (tenant_id, segments)
  SELECT tenant_id, count(*) FROM segments GROUP BY tenant_id;
