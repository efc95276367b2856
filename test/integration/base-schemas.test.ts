import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Conflict, NotFound } from '../../src/domain/errors.js';
import {
  countBaseSchemas,
  createBaseSchema,
  deleteBaseSchema,
  getBaseSchema,
  getBaseSchemasByIds,
  listBaseSchemaPage,
  loadCsv,
  loadRows,
  readRows,
  updateBaseSchema,
  type SegmentViewsHook,
} from '../../src/domain/schemas/service.js';
import { RESERVED_WORDS } from '../../src/domain/schemas/validate.js';
import type { BaseSchemaRecord } from '../../src/domain/schemas/types.js';
import { createTenant, type Tenant } from '../../src/domain/tenants.js';
import type { Db } from '../../src/sql/db.js';
import type { LoadTarget } from '../../src/sql/schemas.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { invalidDetails, rejection } from '../support/errors.js';

let database: TestDatabase;
let db: Db;
let target: LoadTarget;

beforeAll(async () => {
  database = await createTestDatabase();
  db = database.db;
  target = { db, pglite: database.pglite };
});
afterAll(async () => {
  await database?.destroy();
});

function newTenant(): Promise<Tenant> {
  return createTenant(db, `acme-${randomBytes(4).toString('hex')}`);
}

async function tablesIn(namespace: string): Promise<string[]> {
  return db.map(
    `SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1`,
    [namespace],
    (r: { relname: string }) => r.relname,
  );
}

interface ColumnInfo {
  column_name: string;
  data_type: string;
  is_nullable: 'YES' | 'NO';
  character_maximum_length: number | null;
  numeric_precision: number | null;
  numeric_scale: number | null;
}

function columnsOf(namespace: string, table: string): Promise<ColumnInfo[]> {
  return db.any<ColumnInfo>(
    `SELECT column_name, data_type, is_nullable, character_maximum_length, numeric_precision, numeric_scale
     FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
    [namespace, table],
  );
}

/** Constraint kind (p, u) → columns, from pg_catalog. */
function constraintsOf(namespace: string, table: string): Promise<{ type: string; columns: string[] }[]> {
  return db.map(
    `SELECT con.contype AS type,
            array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, i)
                  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.i)::text[] AS columns
     FROM pg_constraint con
     WHERE con.conrelid = to_regclass(format('%I.%I', $1::text, $2::text)) AND con.contype IN ('p', 'u')
     ORDER BY con.contype, 2`,
    [namespace, table],
    (r: { type: string; columns: string[] }) => r,
  );
}

async function metadataRows(tenantId: string): Promise<number> {
  const { n } = await db.one<{ n: number }>('SELECT count(*)::int AS n FROM base_schemas WHERE tenant_id = $1', [
    tenantId,
  ]);
  return n;
}

const people = {
  name: 'people',
  displayName: 'People',
  fields: [
    { name: 'id', dataType: 'bigint', isPrimaryKey: true },
    { name: 'email', dataType: 'varchar', length: 120, isUnique: true, isNullable: false },
    { name: 'score', dataType: 'numeric', precision: 8, scale: 2 },
    { name: 'ratio', dataType: 'double' },
    { name: 'born', dataType: 'date' },
    { name: 'seen_at', dataType: 'timestamptz' },
    { name: 'vip', dataType: 'boolean' },
    { name: 'extra', dataType: 'jsonb' },
    { name: 'ref', dataType: 'uuid' },
    { name: 'age', dataType: 'integer' },
    { name: 'bio', dataType: 'text' },
  ],
};

/** Simulates a segment the way the segments module records one: metadata, uses, and a view over the table. */
async function addSegment(
  tenant: Tenant,
  schema: BaseSchemaRecord,
  name: string,
  uses: { schema: BaseSchemaRecord; fields: string[] }[],
): Promise<string> {
  const id = `seg_${randomBytes(6).toString('hex')}`;
  await db.tx(async (t) => {
    await t.none(
      `INSERT INTO segments (tenant_id, id, name, base_schema_id, view_name) VALUES ($1, $2, $3, $4, $2)`,
      [tenant.id, id, name, schema.id],
    );
    for (const use of uses) {
      await t.none(
        'INSERT INTO segment_schema_uses (tenant_id, segment_id, schema_id, fields) VALUES ($1, $2, $3, $4::text[])',
        [tenant.id, id, use.schema.id, use.fields],
      );
    }
    await t.none('CREATE VIEW $1:name.$2:name AS SELECT * FROM $1:name.$3:name', [
      tenant.namespace,
      id,
      schema.tableName,
    ]);
  });
  return id;
}

/** A stand-in for the segments module: drops and recreates the views of segments on a schema. */
function viewsHook(): SegmentViewsHook & { calls: string[] } {
  const calls: string[] = [];
  const segmentsOf = (t: Parameters<SegmentViewsHook['dropFor']>[0], tenant: Tenant, schemaId: string) =>
    t.any<{ id: string; table_name: string }>(
      `SELECT s.id, b.table_name FROM segments s JOIN base_schemas b ON b.tenant_id = s.tenant_id AND b.id = s.base_schema_id
       WHERE s.tenant_id = $1 AND (s.base_schema_id = $2 OR EXISTS (
         SELECT 1 FROM segment_schema_uses u WHERE u.tenant_id = s.tenant_id AND u.segment_id = s.id AND u.schema_id = $2))`,
      [tenant.id, schemaId],
    );
  return {
    calls,
    async dropFor(t, tenant, schemaId) {
      calls.push(`drop ${schemaId}`);
      for (const s of await segmentsOf(t, tenant, schemaId)) {
        await t.none('DROP VIEW $1:name.$2:name', [tenant.namespace, s.id]);
      }
    },
    async recreateFor(t, tenant, schemaId) {
      calls.push(`recreate ${schemaId}`);
      for (const s of await segmentsOf(t, tenant, schemaId)) {
        await t.none('CREATE VIEW $1:name.$2:name AS SELECT * FROM $1:name.$3:name', [
          tenant.namespace,
          s.id,
          s.table_name,
        ]);
      }
    },
  };
}

describe('creating a base schema', () => {
  it('stores the metadata and creates the typed table with its constraints', async () => {
    const tenant = await newTenant();
    const schema = await createBaseSchema(db, tenant, people);
    expect(schema.id).toMatch(/^sch_[0-9a-f]{12}$/);
    expect(schema).toMatchObject({ tenantId: tenant.id, name: 'people', tableName: 'ds_people', entityType: 'customer' });
    expect(schema.createdAt).toBeInstanceOf(Date);
    expect(await getBaseSchema(db, tenant.id, schema.id)).toEqual(schema);

    const columns = await columnsOf(tenant.namespace, 'ds_people');
    expect(columns.map((c) => [c.column_name, c.data_type, c.is_nullable])).toEqual([
      ['id', 'bigint', 'NO'],
      ['email', 'character varying', 'NO'],
      ['score', 'numeric', 'YES'],
      ['ratio', 'double precision', 'YES'],
      ['born', 'date', 'YES'],
      ['seen_at', 'timestamp with time zone', 'YES'],
      ['vip', 'boolean', 'YES'],
      ['extra', 'jsonb', 'YES'],
      ['ref', 'uuid', 'YES'],
      ['age', 'integer', 'YES'],
      ['bio', 'text', 'YES'],
    ]);
    expect(columns[1]?.character_maximum_length).toBe(120);
    expect([columns[2]?.numeric_precision, columns[2]?.numeric_scale]).toEqual([8, 2]);
    expect(await constraintsOf(tenant.namespace, 'ds_people')).toEqual([
      { type: 'p', columns: ['id'] },
      { type: 'u', columns: ['email'] },
    ]);
  });

  it('creates a composite primary key', async () => {
    const tenant = await newTenant();
    await createBaseSchema(db, tenant, {
      name: 'memberships',
      entityType: 'account',
      fields: [
        { name: 'account_id', dataType: 'uuid', isPrimaryKey: true },
        { name: 'user_id', dataType: 'bigint', isPrimaryKey: true, isUnique: true },
        { name: 'role', dataType: 'text' },
      ],
    });
    expect(await constraintsOf(tenant.namespace, 'ds_memberships')).toEqual([
      { type: 'p', columns: ['account_id', 'user_id'] },
      { type: 'u', columns: ['user_id'] },
    ]);
  });

  it('answers Conflict for a name the tenant already uses, and changes nothing', async () => {
    const tenant = await newTenant();
    await createBaseSchema(db, tenant, people);
    const error = await rejection(createBaseSchema(db, tenant, { ...people, displayName: 'Again' }));
    expect(error).toBeInstanceOf(Conflict);
    expect((error as Conflict).message).toContain('"people" already exists');
    expect(await metadataRows(tenant.id)).toBe(1);
    // Another tenant may use the same name.
    await createBaseSchema(db, await newTenant(), people);
  });

  it.each([
    ['a"; drop table x; --', 'name'],
    ['Select', 'name'],
    ['1abc', 'name'],
    ['ÄÖ', 'name'],
    ['x'.repeat(64), 'name'],
    ['select', 'name'],
  ])('refuses the name %j with a 400 and leaves no table behind', async (name, path) => {
    const tenant = await newTenant();
    const details = await invalidDetails(createBaseSchema(db, tenant, { ...people, name }));
    expect(details.map((d) => d.path)).toEqual([path]);
    expect(await tablesIn(tenant.namespace)).toEqual([]);
    expect(await metadataRows(tenant.id)).toBe(0);
    const { n } = await db.one<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_catalog.pg_class WHERE relname IN ('x', $1)`,
      [`ds_${name}`],
    );
    expect(n).toBe(0);
  });

  it('refuses injection-shaped field names and unknown types, with their paths, and leaves no table behind', async () => {
    const tenant = await newTenant();
    const details = await invalidDetails(
      createBaseSchema(db, tenant, {
        name: 'events',
        fields: [
          { name: 'id', dataType: 'bigint', isPrimaryKey: true },
          { name: 'x"); drop table tenants; --', dataType: 'text' },
          { name: 'Kind', dataType: 'text' },
          { name: 'payload', dataType: 'json' },
          { name: 'at', dataType: 'timestamp without time zone' },
        ],
      }),
    );
    expect(details.map((d) => d.path)).toEqual(['fields[1].name', 'fields[2].name', 'fields[3].dataType', 'fields[4].dataType']);
    expect(await tablesIn(tenant.namespace)).toEqual([]);
    const { n } = await db.one<{ n: number }>(
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1`,
      [tenant.namespace],
    );
    expect(n).toBe(0);
    expect(await db.one('SELECT count(*)::int AS n FROM tenants')).toMatchObject({ n: expect.any(Number) });
  });

  it('rolls the metadata back when CREATE TABLE fails', async () => {
    const tenant = await newTenant();
    await db.none('CREATE TABLE $1:name.ds_clash (x int)', [tenant.namespace]);
    const error = await rejection(
      createBaseSchema(db, tenant, { name: 'clash', fields: [{ name: 'id', dataType: 'integer', isPrimaryKey: true }] }),
    );
    expect(error).toBeInstanceOf(Conflict);
    expect(await metadataRows(tenant.id)).toBe(0);
    expect(await columnsOf(tenant.namespace, 'ds_clash')).toHaveLength(1);
  });

  it('ships every reserved key word of the server', async () => {
    const words = await db.map(
      "SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T')",
      [],
      (r: { word: string }) => r.word,
    );
    expect(words.length).toBeGreaterThan(90);
    expect(words.filter((w: string) => !RESERVED_WORDS.has(w))).toEqual([]);
  });
});

describe('reading base schemas', () => {
  let tenant: Tenant;
  const created: BaseSchemaRecord[] = [];

  beforeAll(async () => {
    tenant = await newTenant();
    for (const name of ['alpha', 'bravo', 'charlie', 'delta', 'echo']) {
      created.push(
        await createBaseSchema(db, tenant, { name, fields: [{ name: 'id', dataType: 'integer', isPrimaryKey: true }] }),
      );
    }
  });

  it('gets several by id in one statement, leaving out unknown ids', async () => {
    const before = database.stats.queries;
    const found = await getBaseSchemasByIds(db, tenant.id, [created[3]!.id, 'sch_000000000000', created[0]!.id]);
    expect(database.stats.queries - before).toBe(1);
    expect(found.map((s) => s.name).sort()).toEqual(['alpha', 'delta']);
    expect(await getBaseSchemasByIds(db, tenant.id, [])).toEqual([]);
  });

  it('pages forwards and backwards on (createdAt, id)', async () => {
    const names = (page: BaseSchemaRecord[]) => page.map((s) => s.name);
    expect(await countBaseSchemas(db, tenant.id)).toBe(5);
    const first = await listBaseSchemaPage(db, tenant.id, { limit: 2, inverted: false });
    expect(names(first)).toEqual(['alpha', 'bravo']);
    const last = first[first.length - 1]!;
    const second = await listBaseSchemaPage(db, tenant.id, {
      after: { createdAt: last.createdAt, id: last.id },
      limit: 2,
      inverted: false,
    });
    expect(names(second)).toEqual(['charlie', 'delta']);
    const echo = created[4]!;
    const backwards = await listBaseSchemaPage(db, tenant.id, {
      before: { createdAt: echo.createdAt, id: echo.id },
      limit: 2,
      inverted: true,
    });
    expect(names(backwards)).toEqual(['delta', 'charlie']);
    const between = await listBaseSchemaPage(db, tenant.id, {
      after: { createdAt: created[0]!.createdAt, id: created[0]!.id },
      before: { createdAt: echo.createdAt, id: echo.id },
      limit: 10,
      inverted: false,
    });
    expect(names(between)).toEqual(['bravo', 'charlie', 'delta']);
  });
});

describe('changing a base schema', () => {
  it('adds, renames and drops fields, keeping the data of the others', async () => {
    const tenant = await newTenant();
    const schema = await createBaseSchema(db, tenant, people);
    await loadRows(target, tenant, schema.id, [{ id: 1, email: 'a@example.com', age: 41, bio: 'hi', vip: true }]);
    const updated = await updateBaseSchema(db, tenant, schema.id, {
      displayName: 'Persons',
      fields: [
        { name: 'id' },
        { name: 'mail', renameFrom: 'email' },
        { name: 'years', renameFrom: 'age' },
        { name: 'bio' },
        { name: 'nickname', dataType: 'varchar', length: 40 },
      ],
    });
    expect(updated.displayName).toBe('Persons');
    expect(updated.fields.map((f) => f.name)).toEqual(['id', 'mail', 'years', 'bio', 'nickname']);
    expect(updated.updatedAt.getTime()).toBeGreaterThan(schema.updatedAt.getTime());
    expect((await columnsOf(tenant.namespace, 'ds_people')).map((c) => c.column_name)).toEqual([
      'id',
      'mail',
      'years',
      'bio',
      'nickname',
    ]);
    expect((await readRows(db, tenant, schema.id)).rows).toEqual([
      { id: 1, mail: 'a@example.com', years: 41, bio: 'hi', nickname: null },
    ]);
    expect(await constraintsOf(tenant.namespace, 'ds_people')).toEqual([
      { type: 'p', columns: ['id'] },
      { type: 'u', columns: ['mail'] },
    ]);
    expect(await getBaseSchema(db, tenant.id, schema.id)).toEqual(updated);
  });

  it('adds a NOT NULL field only while the table is empty', async () => {
    const tenant = await newTenant();
    const schema = await createBaseSchema(db, tenant, { name: 'things', fields: [{ name: 'id', dataType: 'integer', isPrimaryKey: true }] });
    const withCode = await updateBaseSchema(db, tenant, schema.id, {
      fields: [{ name: 'id' }, { name: 'code', dataType: 'text', isNullable: false }],
    });
    expect(withCode.fields[1]).toMatchObject({ name: 'code', isNullable: false });
    await loadRows(target, tenant, schema.id, [{ id: 1, code: 'a' }]);
    const details = await invalidDetails(
      updateBaseSchema(db, tenant, schema.id, {
        fields: [{ name: 'id' }, { name: 'code' }, { name: 'size', dataType: 'integer', isNullable: false }],
      }),
    );
    expect(details).toEqual([
      { path: 'fields[2].isNullable', message: 'a field added to a table that has rows must be nullable' },
    ]);
    expect((await columnsOf(tenant.namespace, 'ds_things')).map((c) => c.column_name)).toEqual(['id', 'code']);
  });

  it('refuses to change a data type, with a 400 saying it is not supported', async () => {
    const tenant = await newTenant();
    const schema = await createBaseSchema(db, tenant, people);
    const details = await invalidDetails(
      updateBaseSchema(db, tenant, schema.id, { fields: people.fields.map((f) => (f.name === 'age' ? { ...f, dataType: 'bigint' } : f)) }),
    );
    expect(details).toEqual([{ path: 'fields[9].dataType', message: expect.stringContaining('not supported') }]);
  });

  it('refuses to rename or drop a field a segment uses, naming the segment', async () => {
    const tenant = await newTenant();
    const customers = await createBaseSchema(db, tenant, people);
    const orders = await createBaseSchema(db, tenant, {
      name: 'orders',
      fields: [
        { name: 'id', dataType: 'bigint', isPrimaryKey: true },
        { name: 'person_id', dataType: 'bigint' },
        { name: 'total', dataType: 'numeric' },
        { name: 'note', dataType: 'text' },
      ],
    });
    await addSegment(tenant, customers, 'Big spenders', [
      { schema: customers, fields: ['id', 'score'] },
      { schema: orders, fields: ['person_id', 'total'] },
    ]);
    const hook = viewsHook();

    const dropping = await rejection(
      updateBaseSchema(db, tenant, orders.id, { fields: [{ name: 'id' }, { name: 'person_id' }, { name: 'note' }] }, hook),
    );
    expect(dropping).toBeInstanceOf(Conflict);
    expect((dropping as Conflict).message).toContain('"Big spenders" (total)');

    const renaming = await rejection(
      updateBaseSchema(db, tenant, customers.id, {
        fields: people.fields.map((f) => (f.name === 'score' ? { name: 'points', renameFrom: 'score' } : { name: f.name })),
      }, hook),
    );
    expect(renaming).toBeInstanceOf(Conflict);
    expect((renaming as Conflict).message).toContain('Big spenders');
    expect(hook.calls).toEqual([]);
    expect((await columnsOf(tenant.namespace, 'ds_orders')).map((c) => c.column_name)).toContain('total');
  });

  it('drops and recreates segment views around a change of fields no segment reads', async () => {
    const tenant = await newTenant();
    const schema = await createBaseSchema(db, tenant, people);
    const segmentId = await addSegment(tenant, schema, 'VIPs', [{ schema, fields: ['vip'] }]);
    const hook = viewsHook();
    const keep = people.fields.filter((f) => f.name !== 'bio').map((f) => (f.name === 'age' ? { name: 'years', renameFrom: 'age' } : { name: f.name }));
    const updated = await updateBaseSchema(db, tenant, schema.id, { fields: keep }, hook);
    expect(hook.calls).toEqual([`drop ${schema.id}`, `recreate ${schema.id}`]);
    const viewColumns = await columnsOf(tenant.namespace, segmentId);
    expect(viewColumns.map((c) => c.column_name)).toContain('years');
    expect(viewColumns.map((c) => c.column_name)).not.toContain('bio');

    // Without the hook, the database itself refuses to drop a column a view depends on: 409, not 500.
    const error = await rejection(
      updateBaseSchema(db, tenant, schema.id, {
        fields: updated.fields.filter((f) => f.name !== 'ratio').map((f) => ({ name: f.name })),
      }),
    );
    expect(error).toBeInstanceOf(Conflict);
  });

  it('adds fields without touching segment views', async () => {
    const tenant = await newTenant();
    const schema = await createBaseSchema(db, tenant, people);
    await addSegment(tenant, schema, 'Everyone', [{ schema, fields: ['id'] }]);
    const hook = viewsHook();
    await updateBaseSchema(db, tenant, schema.id, { fields: [...people.fields.map((f) => ({ name: f.name })), { name: 'tier', dataType: 'text' }] }, hook);
    expect(hook.calls).toEqual([]);
  });
});

describe('deleting a base schema', () => {
  it('is refused while a segment uses it as base or through a join, naming the segments', async () => {
    const tenant = await newTenant();
    const customers = await createBaseSchema(db, tenant, people);
    const orders = await createBaseSchema(db, tenant, { name: 'orders', fields: [{ name: 'id', dataType: 'bigint', isPrimaryKey: true }] });
    await addSegment(tenant, customers, 'Recent buyers', [
      { schema: customers, fields: ['id'] },
      { schema: orders, fields: ['id'] },
    ]);
    for (const schema of [customers, orders]) {
      const error = await rejection(deleteBaseSchema(db, tenant, schema.id));
      expect(error).toBeInstanceOf(Conflict);
      expect((error as Conflict).message).toContain('"Recent buyers"');
    }
    expect(await tablesIn(tenant.namespace)).toEqual(['ds_orders', 'ds_people']);
  });

  it('drops the table and the metadata together', async () => {
    const tenant = await newTenant();
    const schema = await createBaseSchema(db, tenant, people);
    await loadRows(target, tenant, schema.id, [{ id: 1, email: 'x@example.com' }]);
    await deleteBaseSchema(db, tenant, schema.id);
    expect(await getBaseSchema(db, tenant.id, schema.id)).toBeNull();
    expect(await tablesIn(tenant.namespace)).toEqual([]);
    expect(await rejection(deleteBaseSchema(db, tenant, schema.id))).toBeInstanceOf(NotFound);
    // The name is free again.
    await createBaseSchema(db, tenant, people);
  });
});

describe('tenant isolation', () => {
  it('makes a schema of tenant A look missing to tenant B, everywhere', async () => {
    const a = await newTenant();
    const b = await newTenant();
    const schema = await createBaseSchema(db, a, people);
    await loadRows(target, a, schema.id, [{ id: 1, email: 'a@example.com' }]);

    expect(await getBaseSchema(db, b.id, schema.id)).toBeNull();
    expect(await getBaseSchemasByIds(db, b.id, [schema.id])).toEqual([]);
    expect(await listBaseSchemaPage(db, b.id, { limit: 10, inverted: false })).toEqual([]);
    expect(await countBaseSchemas(db, b.id)).toBe(0);
    const notFound = `Schema ${schema.id} not found`;
    for (const attempt of [
      () => updateBaseSchema(db, b, schema.id, { displayName: 'mine now' }),
      () => deleteBaseSchema(db, b, schema.id),
      () => loadRows(target, b, schema.id, [{ id: 2, email: 'b@example.com' }]),
      () => loadCsv(target, b, schema.id, ['id,email\n3,c@example.com\n']),
      () => readRows(db, b, schema.id, {}),
    ]) {
      const error = await rejection(attempt());
      expect(error).toBeInstanceOf(NotFound);
      expect((error as NotFound).message).toBe(notFound);
    }
    // Nothing B tried reached A's schema.
    const mine = await readRows(db, a, schema.id, {});
    expect(mine.total).toBe(1);
    expect((await getBaseSchema(db, a.id, schema.id))?.displayName).toBe('People');
  });
});
