-- Metadata of the segment gateway. Every tenant-scoped table leads its keys
-- and indexes with tenant_id, so every statement can and does filter by it.

CREATE TABLE tenants (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  namespace   text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp())
);

-- Keys are found by their hash before any tenant is known, so this is the
-- one table whose lookup index does not start with tenant_id.
CREATE TABLE api_keys (
  id            text PRIMARY KEY,
  tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name          text,
  role          text NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
  prefix        text NOT NULL,
  hash          bytea NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at, id);

CREATE TABLE base_schemas (
  tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id            text NOT NULL,
  name          text NOT NULL,
  display_name  text NOT NULL,
  description   text,
  entity_type   text NOT NULL CHECK (entity_type IN ('customer', 'account', 'custom')),
  table_name    text NOT NULL,
  fields        jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
  updated_at    timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, name)
);
CREATE INDEX base_schemas_page ON base_schemas (tenant_id, created_at, id);

CREATE TABLE segments (
  tenant_id          text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id                 text NOT NULL,
  name               text NOT NULL,
  description        text,
  status             text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'paused', 'archived')),
  entity_type        text NOT NULL DEFAULT 'customer',
  base_schema_id     text NOT NULL,
  -- json, not jsonb: definitions are echoed exactly as they were sent
  joins              json NOT NULL DEFAULT '[]',
  filters            json NOT NULL DEFAULT '[]',
  view_name          text NOT NULL,
  customer_count     bigint NOT NULL DEFAULT 0,
  last_refreshed_at  timestamptz,
  version            integer NOT NULL DEFAULT 1,
  created_at         timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
  updated_at         timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, name),
  UNIQUE (tenant_id, view_name),
  FOREIGN KEY (tenant_id, base_schema_id) REFERENCES base_schemas (tenant_id, id)
);
CREATE INDEX segments_page ON segments (tenant_id, created_at, id);
CREATE INDEX segments_by_schema ON segments (tenant_id, base_schema_id, created_at, id);

-- What a segment's definition stands on, kept in step with its joins and
-- filters so that deletes and schema changes can be refused by the database.
CREATE TABLE segment_schema_uses (
  tenant_id   text NOT NULL,
  segment_id  text NOT NULL,
  schema_id   text NOT NULL,
  -- the fields of that schema the definition reads (filters, joins, aggregates)
  fields      text[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, segment_id, schema_id),
  FOREIGN KEY (tenant_id, segment_id) REFERENCES segments (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, schema_id) REFERENCES base_schemas (tenant_id, id)
);
CREATE INDEX segment_schema_uses_by_schema ON segment_schema_uses (tenant_id, schema_id);

CREATE TABLE segment_references (
  tenant_id      text NOT NULL,
  segment_id     text NOT NULL,
  referenced_id  text NOT NULL,
  PRIMARY KEY (tenant_id, segment_id, referenced_id),
  FOREIGN KEY (tenant_id, segment_id) REFERENCES segments (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, referenced_id) REFERENCES segments (tenant_id, id)
);
CREATE INDEX segment_references_by_referenced ON segment_references (tenant_id, referenced_id);
