import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../../src/domain/schemas/service.js';
import type { BaseSchemaRecord } from '../../src/domain/schemas/types.js';
import {
  createSegment,
  overlapQuery,
  segmentOverlap,
  summarizeOverlap,
  type SegmentOverlap,
} from '../../src/domain/segments/service.js';
import { createTenant, type Tenant } from '../../src/domain/tenants.js';
import { findSegmentsByIds } from '../../src/sql/segments.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

/**
 * The overlap service end to end on the demo data: stored definitions with
 * joins, aggregates and references two deep, compared with what the
 * segments' views hold. Time-relative conditions are left to the
 * differential test, so that the two statements compared here agree whatever
 * the clock does between them.
 */

const OPTIONS = { queryTimeoutMs: 60_000 };

let database: TestDatabase;
let tenant: Tenant;
let customers: BaseSchemaRecord;
const ids: Record<string, string> = {};

/** The answer read from the views: each view's members tagged with a bit, grouped by customer. */
async function fromViews(names: string[]): Promise<SegmentOverlap> {
  const rows = await findSegmentsByIds(database.db, tenant.id, names.map((n) => ids[n]!));
  const ordered = names.map((n) => rows.find((r) => r.id === ids[n])!);
  const tagged = ordered
    .map((s, i) => database.db.$config.pgp.as.format('SELECT id, $3 AS bit FROM $1:name.$2:name', [tenant.namespace, s.view_name, 2 ** i]))
    .join(' UNION ALL ');
  const masks = await database.db.any<{ mask: number; n: number }>(
    `SELECT mask, count(*)::int AS n FROM (SELECT bit_or(bit)::int AS mask FROM (${tagged}) t GROUP BY id) m GROUP BY mask`,
  );
  return summarizeOverlap(ordered, masks);
}

const overlapOf = (names: string[]) => segmentOverlap(database.db, tenant, names.map((n) => ids[n]!), OPTIONS);

beforeAll(async () => {
  database = await createTestDatabase();
  tenant = await createTenant(database.db, 'overlap');
  const seeded = await seedDemo(database.db, tenant, { customers: 400 });
  customers = seeded.customers.schema;
  const orders = (type: 'inner' | 'left') => [
    { schemaId: seeded.orders.schema.id, alias: 'orders', type, localField: 'id', foreignField: 'customer_id' },
  ];
  const definitions: Record<string, { joins?: unknown[]; filters: unknown[] }> = {
    us: { filters: [{ field: 'country', operator: '=', value: 'US' }] },
    refunded: { joins: orders('left'), filters: [{ field: 'orders.status', operator: '=', value: 'refunded' }] },
    frequent: {
      joins: orders('left'),
      filters: [
        { aggregate: 'count', join: 'orders', operator: '>=', value: 3, where: [{ field: 'amount', operator: '>', value: 50 }] },
      ],
    },
    without_orders: { joins: orders('left'), filters: [{ field: 'orders.id', operator: 'is_null' }] },
    buyers: { joins: orders('inner'), filters: [{ field: 'plan', operator: 'in', value: ['pro', 'enterprise'] }] },
  };
  for (const [name, def] of Object.entries(definitions)) {
    ids[name] = (await createSegment(database.db, tenant, { name, baseSchemaId: customers.id, ...def }, OPTIONS)).id;
  }
  // References two deep: vip_refunded → refunded; not_vip_refunded → vip_refunded (→ refunded).
  const reference = async (name: string, filters: unknown[], joins: unknown[] = []) => {
    ids[name] = (await createSegment(database.db, tenant, { name, baseSchemaId: customers.id, joins, filters }, OPTIONS)).id;
  };
  await reference('vip_refunded', [{ segment: ids.refunded, operator: 'in' }, { field: 'vip', operator: '=', value: true }]);
  await reference(
    'not_vip_refunded',
    [
      { segment: ids.vip_refunded, operator: 'not_in' },
      { any: [{ field: 'age', operator: '<', value: 40 }, { aggregate: 'sum', join: 'orders', field: 'amount', operator: '>', value: 2000 }] },
    ],
    orders('left'),
  );
}, 120_000);

afterAll(async () => {
  await database?.destroy();
});

describe('segment overlap in one pass', () => {
  it('gives the sizes, pairs and union that the views hold, for joins, aggregates and references', async () => {
    const names = Object.keys(ids);
    expect(names).toHaveLength(7);
    const answer = await overlapOf(names);
    expect(answer).toEqual(await fromViews(names));
    // Not a trivial agreement: every segment has members and none holds everyone.
    for (const s of answer.segments) expect(s.size).toBeGreaterThan(0);
    for (const s of answer.segments) expect(s.size).toBeLessThan(answer.totalUniqueCustomers);
  });

  it('follows references through segments that are not compared themselves', async () => {
    const names = ['us', 'not_vip_refunded'];
    expect(await overlapOf(names)).toEqual(await fromViews(names));
  });

  it('reads the base table once, segments reached only through references included', async () => {
    const rows = await findSegmentsByIds(database.db, tenant.id, [ids.us!, ids.not_vip_refunded!]);
    const select = await overlapQuery(database.db, tenant, customers, rows);
    const [plan] = await database.db.any<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${select}`);
    expect(JSON.stringify(plan).match(/"Relation Name":"ds_customers"/g)).toHaveLength(1);
  });

  it('reads a segment from its view when its stored definition no longer validates', async () => {
    // Stored JSON that no release of the validator would accept; the view still answers for the segment.
    await database.db.none(`UPDATE segments SET filters = '[{"field": "no_such_field", "operator": "is_null"}]' WHERE id = $1`, [
      ids.refunded,
    ]);
    const names = ['us', 'refunded', 'vip_refunded'];
    expect(await overlapOf(names)).toEqual(await fromViews(names));
  });
});
