import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/keys.js';
import { gql, startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { restCall } from '../support/rest.js';
import { assertViewsMatchMetadata, createShopSchemas } from '../support/segments.js';

/*
 * Arbitrary JSON thrown at the segment and schema inputs of both APIs: every
 * answer is a success or a client error in the documented shape, never a 500,
 * and the catalog holds exactly the tables and views the metadata names.
 */

let gw: TestGateway;
let keys: Record<Role, string>;
let tenant: string;
let schemas: { customers: string; orders: string };

beforeAll(async () => {
  gw = await startTestGateway({ env: { RATE_LIMIT_ENABLED: 'false' } });
  tenant = uniqueTenant('fuzz');
  keys = await gw.tenantWithKeys(tenant, ['editor']);
  schemas = await createShopSchemas(gw.url, keys.editor);
});
afterAll(() => gw.close());

const FIELDS = ['id', 'email', 'country', 'lifetime_value', 'orders.amount', 'orders.created_at', 'nope', "x'; DROP TABLE y; --"];
const OPERATORS = ['=', 'eq', '!=', '>', 'gte', 'in', 'not_in', 'between', 'contains', 'starts_with', 'is_null', 'within_last', 'bogus'];

const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('2024-01-01', '2024-01-01T00:00:00Z', '%_\\', '\u0000', 1e308, -0),
);

const leaf = fc.record(
  {
    field: fc.constantFrom(...FIELDS),
    operator: fc.constantFrom(...OPERATORS),
    value: fc.oneof(scalar, fc.array(scalar, { maxLength: 4 }), fc.record({ amount: fc.integer({ min: -5, max: 500 }), unit: fc.constantFrom('days', 'hours', 'eons') })),
  },
  { requiredKeys: ['field', 'operator'] },
);

const condition: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.record({ all: fc.array(tie('node'), { maxLength: 3 }) }),
    fc.record({ any: fc.array(tie('node'), { maxLength: 3 }) }),
    fc.record({ not: tie('node') }),
    fc.record({ segment: fc.constantFrom('seg_000000000000', 'x'), operator: fc.constantFrom('in', 'not_in', '=') }),
    fc.record({ aggregate: fc.constantFrom('count', 'sum', 'max', 'median'), join: fc.constantFrom('orders', 'x'), operator: fc.constantFrom('>=', 'gt'), value: scalar }),
    fc.jsonValue({ maxDepth: 2 }),
  ),
})).node;

const segmentBody = fc.record(
  {
    name: fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.constant(null)),
    baseSchemaId: fc.oneof(fc.constant('customers'), fc.string({ maxLength: 14 }), fc.constant(null)),
    status: fc.oneof(fc.constantFrom('draft', 'active', 'nonsense'), fc.integer()),
    joins: fc.oneof(
      fc.constant([{ schemaId: 'orders', type: 'left', localField: 'id', foreignField: 'customer_id' }]),
      fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 2 }),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    filters: fc.oneof(fc.array(condition, { maxLength: 4 }), fc.jsonValue({ maxDepth: 2 })),
    extra: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);

const schemaBody = fc.record(
  {
    name: fc.oneof(fc.constantFrom('things', 'select', 'a"b', 'x'.repeat(70), 'Thing'), fc.string({ maxLength: 10 })),
    entityType: fc.oneof(fc.constantFrom('customer', 'custom', 'alien'), fc.integer()),
    fields: fc.oneof(
      fc.array(
        fc.record(
          {
            name: fc.oneof(fc.constantFrom('id', 'v', 'order', 'na me'), fc.string({ maxLength: 8 })),
            dataType: fc.oneof(fc.constantFrom('integer', 'text', 'varchar', 'numeric', 'jsonb', 'money'), fc.integer()),
            isPrimaryKey: fc.oneof(fc.boolean(), fc.string({ maxLength: 2 })),
            length: fc.oneof(fc.integer({ min: -1, max: 20_000_000 }), fc.constant(undefined)),
            precision: fc.oneof(fc.integer({ min: -1, max: 2_000 }), fc.constant(undefined)),
          },
          { requiredKeys: ['name', 'dataType'] },
        ),
        { maxLength: 4 },
      ),
      fc.jsonValue({ maxDepth: 2 }),
    ),
  },
  { requiredKeys: [] },
);

/** Fills in real ids where the arbitrary asked for them, so some inputs get deep. */
function withIds(body: Record<string, unknown>): Record<string, unknown> {
  const text = JSON.stringify(body, (_k, v) => (v === undefined ? null : v))
    .replaceAll('"customers"', JSON.stringify(schemas.customers))
    .replaceAll('"orders"', JSON.stringify(schemas.orders));
  const parsed = JSON.parse(text) as Record<string, unknown>;
  delete parsed.extra;
  return parsed;
}

function expectClientErrorShape(status: number, body: unknown): void {
  expect(status).toBeLessThan(500);
  if (status >= 400) {
    const error = (body as { error?: { code?: unknown; message?: unknown; status?: unknown } }).error;
    expect(typeof error?.code).toBe('string');
    expect(typeof error?.message).toBe('string');
    expect(error?.status).toBe(status);
  }
}

function expectNoInternalGraphQLError(result: { status: number; errors?: Array<{ extensions?: { code?: string } }> }): void {
  expect(result.status).toBeLessThan(500);
  for (const e of result.errors ?? []) expect(e.extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
}

async function assertCatalogMatchesMetadata(): Promise<void> {
  const { db } = gw.services.database;
  await assertViewsMatchMetadata(db);
  const namespace = (await db.one('SELECT namespace FROM tenants WHERE id = $1', [tenant])).namespace as string;
  const tables = await db.map(
    `SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1`,
    [namespace],
    (r: { tablename: string }) => r.tablename,
  );
  const declared = await db.map(
    'SELECT table_name FROM base_schemas WHERE tenant_id = $1 ORDER BY 1',
    [tenant],
    (r: { table_name: string }) => r.table_name,
  );
  expect(tables).toEqual(declared);
}

describe('fuzzing both APIs', () => {
  it('segment inputs: REST and GraphQL answer 2xx or 4xx, never 500', async () => {
    await fc.assert(
      fc.asyncProperty(segmentBody, fc.boolean(), async (raw, viaRest) => {
        const body = withIds(raw as Record<string, unknown>);
        if (viaRest) {
          const response = await restCall(gw.url, keys.editor, 'POST', '/api/v1/segments', { json: body });
          expectClientErrorShape(response.status, response.body);
        } else {
          const result = await gql(gw.url, keys.editor, 'mutation($input: CreateSegmentInput!) { createSegment(input: $input) { segment { id } } }', {
            input: body,
          });
          expectNoInternalGraphQLError(result);
        }
      }),
      { numRuns: 300 },
    );
    await assertCatalogMatchesMetadata();
  }, 120_000);

  it('schema inputs: REST and GraphQL answer 2xx or 4xx, never 500, and leave no stray table', async () => {
    await fc.assert(
      fc.asyncProperty(schemaBody, fc.boolean(), async (body, viaRest) => {
        if (viaRest) {
          const response = await restCall(gw.url, keys.editor, 'POST', '/api/v1/schemas', { json: body });
          expectClientErrorShape(response.status, response.body);
        } else {
          const result = await gql(gw.url, keys.editor, 'mutation($input: CreateBaseSchemaInput!) { createBaseSchema(input: $input) { baseSchema { id } } }', {
            input: body,
          });
          expectNoInternalGraphQLError(result);
        }
      }),
      { numRuns: 200 },
    );
    await assertCatalogMatchesMetadata();
  }, 120_000);

  it('arbitrary bytes as a REST body are a 400, not a crash', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (text) => {
        const response = await restCall(gw.url, keys.editor, 'POST', '/api/v1/segments', {
          body: text,
          headers: { 'content-type': 'application/json' },
        });
        expectClientErrorShape(response.status, response.body);
      }),
      { numRuns: 50 },
    );
  }, 60_000);
});
