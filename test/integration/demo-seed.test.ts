import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Conflict, Invalid } from '../../src/domain/errors.js';
import { createBaseSchema, seedDemo, type DemoSeedResult } from '../../src/domain/schemas/service.js';
import { createTenant, type Tenant } from '../../src/domain/tenants.js';
import type { Db } from '../../src/sql/db.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const N = 3_000;
const anchor = new Date('2025-06-30T00:00:00Z');

let database: TestDatabase;
let db: Db;
let first: Tenant;
let seeded: DemoSeedResult;

beforeAll(async () => {
  database = await createTestDatabase();
  db = database.db;
  first = await newTenant();
  // Small batches: several per table, taken by both connections in turn.
  seeded = await seedDemo(db, first, { customers: N, anchor, batch: 700 });
}, 120_000);
afterAll(async () => {
  await database?.destroy();
});

function newTenant(): Promise<Tenant> {
  return createTenant(db, `acme-${randomBytes(4).toString('hex')}`);
}

/** One hash over every value of every row, in id order. */
async function fingerprint(tenant: Tenant, table: string): Promise<string> {
  const { hash } = await db.one<{ hash: string }>(
    'SELECT md5(string_agg(t::text, $3 ORDER BY t.id)) AS hash FROM $1:name.$2:name AS t',
    [tenant.namespace, table, '\n'],
  );
  return hash;
}

describe('the demo seed', () => {
  it('creates the customers and orders schemas and fills them', () => {
    expect(seeded.customers.schema).toMatchObject({ name: 'customers', tableName: 'ds_customers', entityType: 'customer' });
    expect(seeded.customers.schema.fields.map((f) => `${f.name}:${f.dataType}`)).toEqual([
      'id:bigint',
      'email:text',
      'first_name:text',
      'country:text',
      'city:text',
      'lifetime_value:numeric',
      'signup_at:timestamptz',
      'vip:boolean',
      'age:integer',
      'plan:text',
    ]);
    expect(seeded.orders.schema.fields.map((f) => f.name)).toEqual([
      'id',
      'customer_id',
      'amount',
      'currency',
      'status',
      'created_at',
    ]);
    expect(seeded.customers).toMatchObject({ inserted: N, total: N });
    expect(seeded.orders.total).toBeGreaterThan(2 * N);
    expect(seeded.orders.inserted).toBe(seeded.orders.total);
  });

  it('is deterministic: the same N and anchor give identical data in another tenant', async () => {
    const second = await newTenant();
    const again = await seedDemo(db, second, { customers: N, anchor });
    expect(again.orders.total).toBe(seeded.orders.total);
    for (const table of ['ds_customers', 'ds_orders']) {
      expect(await fingerprint(second, table)).toBe(await fingerprint(first, table));
    }
    const other = await newTenant();
    await seedDemo(db, other, { customers: N, anchor: new Date('2025-07-01T00:00:00Z') });
    expect(await fingerprint(other, 'ds_orders')).not.toBe(await fingerprint(first, 'ds_orders'));
  });

  it('looks like a real customer base: skewed countries, orders and lifetime values', async () => {
    const customers = await db.one<{ us: number; top: string; over10k: number; vip: number; ages: number[]; plans: number }>(
      `SELECT avg((country = 'US')::int)::float8 AS us,
              mode() WITHIN GROUP (ORDER BY country) AS top,
              avg((lifetime_value > 10000)::int)::float8 AS over10k,
              avg(vip::int)::float8 AS vip,
              ARRAY[min(age), max(age)] AS ages,
              count(DISTINCT plan)::int AS plans
       FROM $1:name.ds_customers`,
      [first.namespace],
    );
    expect(customers.top).toBe('US');
    expect(customers.us).toBeGreaterThan(0.3);
    expect(customers.us).toBeLessThan(0.5);
    expect(customers.over10k).toBeGreaterThan(0.005);
    expect(customers.over10k).toBeLessThan(0.08);
    expect(customers.vip).toBeGreaterThan(0);
    expect(customers.ages[0]).toBeGreaterThanOrEqual(18);
    expect(customers.ages[1]).toBeLessThanOrEqual(85);
    expect(customers.plans).toBe(4);

    const orders = await db.one<{ per_customer: number; without: number; heaviest: number; recent: number; oldest: Date; newest: Date }>(
      `WITH counts AS (
         SELECT c.id, count(o.id) AS n FROM $1:name.ds_customers c LEFT JOIN $1:name.ds_orders o ON o.customer_id = c.id GROUP BY c.id
       )
       SELECT (SELECT avg(n)::float8 FROM counts) AS per_customer,
              (SELECT avg((n = 0)::int)::float8 FROM counts) AS without,
              (SELECT max(n)::int FROM counts) AS heaviest,
              (SELECT count(*)::int FROM $1:name.ds_orders WHERE created_at > $2::timestamptz - interval '30 days') AS recent,
              (SELECT min(created_at) FROM $1:name.ds_orders) AS oldest,
              (SELECT max(created_at) FROM $1:name.ds_orders) AS newest`,
      [first.namespace, anchor],
    );
    expect(orders.per_customer).toBeGreaterThan(2);
    expect(orders.per_customer).toBeLessThan(4);
    expect(orders.without).toBeGreaterThan(0.1);
    expect(orders.heaviest).toBeGreaterThan(30);
    expect(orders.recent).toBeGreaterThan(0);
    expect(orders.newest.getTime()).toBeLessThanOrEqual(anchor.getTime());
    expect(anchor.getTime() - orders.oldest.getTime()).toBeGreaterThan(600 * 86_400_000);
  });

  it('creates the indexes demo segments use', async () => {
    const indexes = await db.map(
      'SELECT indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname',
      [first.namespace],
      (r: { indexdef: string }) => r.indexdef.replace(/^.* USING btree /, ''),
    );
    expect(indexes).toEqual(
      expect.arrayContaining(['(country)', '(lifetime_value)', '(customer_id)', '(created_at)', '(id)', '(email)']),
    );
  });

  it('is idempotent, and a larger N adds only the missing rows', async () => {
    const before = await fingerprint(first, 'ds_orders');
    const again = await seedDemo(db, first, { customers: N, anchor });
    expect(again.customers).toMatchObject({ inserted: 0, total: N });
    expect(again.orders).toMatchObject({ inserted: 0, total: seeded.orders.total });
    expect(await fingerprint(first, 'ds_orders')).toBe(before);
    expect(again.customers.schema.id).toBe(seeded.customers.schema.id);

    const more = await seedDemo(db, first, { customers: N + 500, anchor });
    expect(more.customers).toMatchObject({ inserted: 500, total: N + 500 });
    expect(more.orders.inserted).toBeGreaterThan(0);
  });

  it('refuses an existing schema that does not fit, and a bad N', async () => {
    const tenant = await newTenant();
    await createBaseSchema(db, tenant, {
      name: 'orders',
      fields: [
        { name: 'id', dataType: 'uuid', isPrimaryKey: true },
        { name: 'total', dataType: 'numeric' },
      ],
    });
    const error = await seedDemo(db, tenant, { customers: 10, anchor }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Conflict);
    expect((error as Conflict).message).toContain('"orders"');
    const { n } = await db.one<{ n: number }>('SELECT count(*)::int AS n FROM base_schemas WHERE tenant_id = $1', [tenant.id]);
    expect(n).toBe(1);
    for (const customers of [-1, 1.5, 10_000_001]) {
      expect(await seedDemo(db, tenant, { customers, anchor }).catch((e: unknown) => e)).toBeInstanceOf(Invalid);
    }
  });
});
