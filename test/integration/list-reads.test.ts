import { print, type GraphQLObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toSegmentSummary } from '../../src/domain/segments/service.js';
import { getTenant } from '../../src/domain/tenants.js';
import { buildSchema } from '../../src/schema/index.js';
import { createLoaders } from '../../src/schema/loaders.js';
import type { Role } from '../../src/domain/keys.js';
import { deleteTenantAndNamespace } from '../../src/sql/tenants.js';
import { listRestSegmentPage } from '../../src/sql/segments.js';
import { ListSegments } from '../../src/rest/operations.js';
import { createGraphQLRunner } from '../../src/rest/graphql.js';
import { isAdmin } from '../../src/schema/rules.js';
import type { GraphQLContext } from '../../src/schema/context.js';
import { pageBody, type Connection } from '../../src/rest/pages.js';
import { gql, startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { restCall } from '../support/rest.js';
import { createShopSchemas } from '../support/segments.js';

/**
 * The list reads' fast paths against what they stand in for: the tenant's
 * segment counter against count(*), and compiled execution (from a
 * document's second run) against graphql-js (its first).
 */

let gw: TestGateway;
let tenant: string;
let keys: Record<Role, string>;
let schemas: { customers: string; orders: string };

beforeAll(async () => {
  gw = await startTestGateway();
  tenant = uniqueTenant('lists');
  keys = await gw.tenantWithKeys(tenant);
  schemas = await createShopSchemas(gw.url, keys.editor);
});

afterAll(() => gw?.close());

const db = () => gw.services.database.db;

async function counted(tenantId: string): Promise<{ counter: number | null; actual: number }> {
  return db().one(
    `SELECT (SELECT segments::int FROM segment_counts WHERE tenant_id = $1) AS counter,
            (SELECT count(*)::int FROM segments WHERE tenant_id = $1) AS actual`,
    [tenantId],
  );
}

async function restTotal(key: string, query = ''): Promise<number> {
  const r = await restCall<{ pagination: { total: number } }>(gw.url, key, 'GET', `/api/v1/segments?limit=1${query}`);
  expect(r.status).toBe(200);
  return r.body.pagination.total;
}

const createRest = (key: string, name: string, status = 'active') =>
  restCall<{ id: string }>(gw.url, key, 'POST', '/api/v1/segments', {
    json: { name, baseSchemaId: schemas.customers, status, filters: [{ field: 'lifetime_value', operator: 'gt', value: 1 }] },
  });

describe("the tenant's segment counter", () => {
  it('follows concurrent creates and deletes, and stands in for count(*) in unfiltered totals only', async () => {
    const created = await Promise.all(Array.from({ length: 12 }, (_, i) => createRest(keys.editor, `c_${i}`, i % 3 ? 'active' : 'draft')));
    expect(created.map((r) => r.status)).toEqual(Array(12).fill(201));
    expect(await counted(tenant)).toEqual({ counter: 12, actual: 12 });
    expect(await restTotal(keys.viewer)).toBe(12);

    const gone = created.slice(0, 5).map((r) => r.body.id);
    const deleted = await Promise.all(gone.map((id) => restCall(gw.url, keys.editor, 'DELETE', `/api/v1/segments?id=${id}`)));
    expect(deleted.map((r) => r.status)).toEqual(Array(5).fill(204));
    expect(await counted(tenant)).toEqual({ counter: 7, actual: 7 });

    const totals = await gql<{ all: { totalCount: number }; drafts: { totalCount: number } }>(
      gw.url,
      keys.viewer,
      '{ all: segments(first: 1) { totalCount } drafts: segments(first: 1, status: draft) { totalCount } }',
    );
    const { drafts } = await db().one<{ drafts: number }>(
      `SELECT count(*)::int AS drafts FROM segments WHERE tenant_id = $1 AND status = 'draft'`,
      [tenant],
    );
    expect(totals.data).toEqual({ all: { totalCount: 7 }, drafts: { totalCount: drafts } });
    expect(await restTotal(keys.viewer, '&status=draft')).toBe(drafts);
  });

  it('changes only when a transaction that creates or deletes commits', async () => {
    const before = await counted(tenant);
    await expect(
      db().tx(async (t) => {
        await t.none(
          `INSERT INTO segments (tenant_id, id, name, base_schema_id, view_name) VALUES ($1, 'seg_rolledback', 'rolled back', $2, 'rolled_back')`,
          [tenant, schemas.customers],
        );
        throw new Error('abandon');
      }),
    ).rejects.toThrow('abandon');
    expect(await counted(tenant)).toEqual(before);
    const failed = await createRest(keys.editor, 'c_9');
    expect(failed.status).toBe(409);
    expect(await counted(tenant)).toEqual(before);
  });

  it('starts at zero for a new tenant and goes with a deleted one', async () => {
    const other = uniqueTenant('lists-other');
    const otherKeys = await gw.tenantWithKeys(other, ['editor']);
    expect(await restTotal(otherKeys.editor)).toBe(0);
    await createShopSchemas(gw.url, otherKeys.editor);
    expect(await deleteTenantAndNamespace(db(), other)).toBe(true);
    expect(await counted(other)).toEqual({ counter: null, actual: 0 });
  });
});

describe('reads by id', () => {
  it('a segment and its base schema cost one statement, by id and by node id', async () => {
    const id = (await createRest(keys.editor, 'by_id')).body.id;
    for (const query of [
      `{ segment(id: "${id}") { name baseSchema { name } } }`,
      `{ node(id: "${id}") { ... on Segment { name baseSchema { name } } } }`,
    ]) {
      await gql(gw.url, keys.viewer, '{ viewer { role } }');
      const before = gw.services.database.stats.queries;
      const r = await gql<Record<string, { name: string; baseSchema: { name: string } }>>(gw.url, keys.viewer, query);
      expect(gw.services.database.stats.queries - before).toBe(1);
      expect(Object.values(r.data!)[0]).toEqual({ name: 'by_id', baseSchema: { name: 'customers' } });
    }
  });
});

describe('segments under a base schema', () => {
  it('stand on that schema, with no second lookup of it', async () => {
    await createRest(keys.editor, 'under_schema');
    const query = `{ baseSchema(id: "${schemas.customers}") { name segments(first: 100) { edges { node { name baseSchemaName baseSchema { id } } } } } }`;
    await gql(gw.url, keys.viewer, '{ viewer { role } }');
    const before = gw.services.database.stats.queries;
    const r = await gql<{ baseSchema: { name: string; segments: { edges: Array<{ node: { name: string; baseSchemaName: string; baseSchema: { id: string } } }> } } }>(
      gw.url,
      keys.viewer,
      query,
    );
    // The schema, then the page.
    expect(gw.services.database.stats.queries - before).toBe(2);
    const nodes = r.data!.baseSchema.segments.edges.map((e) => e.node);
    expect(nodes.map((n) => n.name)).toContain('under_schema');
    for (const node of nodes) expect(node).toMatchObject({ baseSchemaName: 'customers', baseSchema: { id: schemas.customers } });
  });
});

describe('compiled execution', () => {
  type Response = Awaited<ReturnType<typeof gql>>;
  const codeOf = (r: Omit<Response, 'headers'>) => r.errors?.[0]?.extensions?.code;
  const documents: Array<[string, string, Record<string, unknown> | undefined, (r: Omit<Response, 'headers'>) => void]> = [
    [
      'a list with fragments, aliases, directives and the total',
      `query List($n: Int!, $skipName: Boolean!) {
         segments(first: $n) { totalCount pageInfo { hasNextPage endCursor } ...Edges }
         first: segments(first: 2) { edges { cursor node { __typename id baseSchemaName } } }
       }
       fragment Edges on SegmentConnection { edges { node { id name @skip(if: $skipName) status customerCount createdAt baseSchema { name fields { name } } } } }`,
      { n: 3, skipName: true },
      (r) => {
        expect(r.errors).toBeUndefined();
        const page = (r.data as { segments: { edges: Array<{ node: Record<string, unknown> }> } }).segments;
        expect(page.edges).toHaveLength(3);
        expect(page.edges[0]!.node).not.toHaveProperty('name');
        expect(page.edges[0]!.node.baseSchema).toMatchObject({ name: 'customers' });
      },
    ],
    [
      'a field refused to a viewer, inside a list',
      '{ segments(first: 2) { edges { node { id preview { count } } } } }',
      undefined,
      (r) => expect(codeOf(r)).toBe('FORBIDDEN'),
    ],
    [
      'a bad variable',
      'query($status: SegmentStatus) { segments(first: 1, status: $status) { totalCount } }',
      { status: 'activ' },
      (r) => expect(r.errors?.[0]?.message).toMatch(/^Variable "\$status" got invalid value "activ"/),
    ],
    [
      'a bad cursor',
      '{ segments(first: 1, after: "not-a-cursor") { totalCount } }',
      undefined,
      (r) => expect(codeOf(r)).toBe('BAD_USER_INPUT'),
    ],
    [
      'a missing node',
      '{ a: node(id: "seg_nope") { id } b: segment(id: "seg_nope") { id } }',
      undefined,
      (r) => expect(r.data).toEqual({ a: null, b: null }),
    ],
  ];

  it.each(documents)('%s: the compiled runs answer what the first, interpreted run answered', async (_name, query, variables, check) => {
    const runs: Array<Omit<Response, 'headers'>> = [];
    for (let i = 0; i < 3; i++) {
      const { headers: _headers, ...response } = await gql(gw.url, keys.viewer, query, variables);
      runs.push(response);
    }
    check(runs[0]!);
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
  });
});

describe('lists that show no definition', () => {
  const DETAILS = 'description joins filters lastRefreshedAt updatedAt';
  const SUMMARY = 'id name status entityType baseSchemaId viewName customerCount version createdAt baseSchemaName';
  type Node = Record<string, unknown>;
  const nodesOf = (r: { data?: unknown }) =>
    (r.data as { segments: { edges: Array<{ node: Node }> } }).segments.edges.map((e) => e.node);

  async function oneStatement(query: string): Promise<Node[]> {
    await gql(gw.url, keys.viewer, '{ viewer { role } }');
    const before = gw.services.database.stats.queries;
    const r = await gql(gw.url, keys.viewer, query);
    expect(r.errors).toBeUndefined();
    // The page alone: no detail was fetched segment by segment afterwards.
    expect(gw.services.database.stats.queries - before).toBe(1);
    return nodesOf(r);
  }

  it('read summaries, and whole rows as soon as the selection holds a detail, however it is written', async () => {
    await createRest(keys.editor, 'described');
    const whole = await oneStatement(`{ segments(first: 50) { edges { node { ${SUMMARY} ${DETAILS} } } } }`);
    expect(whole.find((n) => n.name === 'described')).toMatchObject({
      filters: [{ field: 'lifetime_value', operator: 'gt', value: 1 }],
      joins: [],
    });
    const pick = (fields: string) => whole.map((n) => Object.fromEntries(fields.split(' ').map((f) => [f, n[f]])));

    expect(await oneStatement(`{ segments(first: 50) { edges { node { ${SUMMARY} } } } }`)).toEqual(pick(SUMMARY));
    for (const field of DETAILS.split(' ')) {
      const writings = [
        `{ segments(first: 50) { edges { node { id ${field} } } } }`,
        `{ segments(first: 50) { edges { node { id ...D } } } } fragment D on Segment { ${field} }`,
        `{ segments(first: 50) { edges { node { id ... on Node { ... on Segment { ${field} } } } } } }`,
        `query($no: Boolean = false) { segments(first: 50) { edges { node { id ${field} @include(if: $no) } } } }`,
      ];
      for (const query of writings) {
        const nodes = await oneStatement(query);
        const expected = query.includes('@include') ? pick('id') : pick(`id ${field}`);
        expect(nodes, `${field}: ${query}`).toEqual(expected);
      }
    }
  });

  it('carry the total on an empty page, filtered or past the last segment', async () => {
    type Page = { segments: { totalCount: number; pageInfo: { endCursor: string | null }; edges: Array<{ node: Node }> } };
    const page = (args: string) =>
      gql<Page>(gw.url, keys.viewer, `{ segments(${args}) { totalCount pageInfo { endCursor } edges { node { id baseSchema { name } } } } }`);
    const none = await page('first: 5, search: "no segment is called this"');
    // An empty page's cursors are the one it was asked with ('' for none), to resume from.
    expect(none.data?.segments).toEqual({ totalCount: 0, pageInfo: { endCursor: '' }, edges: [] });

    const all = await page('first: 100');
    const { totalCount, pageInfo } = all.data!.segments;
    expect(totalCount).toBe((await counted(tenant)).actual);
    const after = await page(`first: 5, after: "${pageInfo.endCursor}"`);
    expect(after.data?.segments).toEqual({ totalCount, pageInfo: { endCursor: pageInfo.endCursor }, edges: [] });
  });

  it('answer a detail of a summary from the whole segment, and NOT_FOUND once it is gone', async () => {
    const id = (await createRest(keys.editor, 'summarised')).body.id;
    const row = await db().one(
      `SELECT tenant_id, id, name, status, entity_type, base_schema_id, view_name, customer_count, version, created_at, filters
       FROM segments WHERE tenant_id = $1 AND id = $2`,
      [tenant, id],
    );
    const summary = toSegmentSummary(row);
    expect(summary).not.toHaveProperty('filters');
    const fields = (buildSchema().getType('Segment') as GraphQLObjectType).getFields();
    const resolveFilters = (ctx: unknown) => fields.filters!.resolve!(summary, {}, ctx, {} as never);
    const context = async () => ({ loaders: createLoaders({ services: gw.services, tenant: await getTenant(db(), tenant) }) });

    expect(await resolveFilters(await context())).toEqual(row.filters);
    expect((await restCall(gw.url, keys.editor, 'DELETE', `/api/v1/segments?id=${id}`)).status).toBe(204);
    await expect(resolveFilters(await context())).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('the REST list, written as JSON by PostgreSQL', () => {
  /**
   * What the REST list answered when it ran the GraphQL operation
   * `ListSegments` (the REST segment's definition, src/rest/operations.ts)
   * and serialised its data: the reference for the JSON PostgreSQL writes.
   */
  async function throughGraphQL(key: string, variables: Record<string, unknown>, limit: number) {
    const r = await gql<{ segments: Connection<Record<string, unknown>> }>(gw.url, key, print(ListSegments.document), variables);
    expect(r.errors).toBeUndefined();
    return pageBody(r.data!.segments, limit);
  }

  const restPage = async (key: string, query: string) => {
    const r = await restCall<{ data: Array<Record<string, unknown>>; pagination: { cursor: string | null } }>(
      gw.url,
      key,
      'GET',
      `/api/v1/segments?${query}`,
    );
    expect(r.status, r.text).toBe(200);
    return r;
  };

  /** Pages whose bytes were compared whole. */
  let compactPages = 0;

  /** Every page of `filter` both ways, `limit` at a time: the same JSON values, fields in the same order. */
  async function samePages(key: string, limit: number, filter: Record<string, string> = {}): Promise<number> {
    let cursor: string | null = null;
    let seen = 0;
    do {
      const query = new URLSearchParams({ limit: String(limit), ...filter, ...(cursor ? { cursor } : {}) });
      const rest = await restPage(key, query.toString());
      const expected = await throughGraphQL(key, { first: limit, ...(cursor ? { after: cursor } : {}), ...filter }, limit);
      expect(rest.body).toEqual(expected);
      expect(JSON.stringify(rest.body)).toBe(JSON.stringify(expected));
      // Compact, as JSON.stringify writes it, but for jsonb values (joins, filters) that are not empty.
      if (rest.body.data.every((item) => JSON.stringify([item.joins, item.filters]) === '[[],[]]')) {
        expect(rest.text).toBe(JSON.stringify(expected));
        compactPages += 1;
      }
      seen += rest.body.data.length;
      cursor = rest.body.pagination.cursor;
    } while (cursor);
    return seen;
  }

  let own: Record<Role, string>;
  let ownTenant: string;

  beforeAll(async () => {
    ownTenant = uniqueTenant('rest-json');
    own = await gw.tenantWithKeys(ownTenant);
    const shop = await createShopSchemas(gw.url, own.editor);
    const create = async (json: Record<string, unknown>) => {
      const r = await restCall<{ id: string }>(gw.url, own.editor, 'POST', '/api/v1/segments', {
        json: { baseSchemaId: shop.customers, ...json },
      });
      expect(r.status, r.text).toBe(201);
      return r.body.id;
    };
    await create({
      name: 'Grüße "quoted" \\ back\\slash',
      description: 'line\nbreak, tab\t, control \u0001, emoji \u{1F600}, separator \u2028, </script>',
      status: 'active',
      filters: [
        { field: 'lifetime_value', operator: 'gt', value: 10000.5 },
        { any: [{ field: 'country', operator: 'in', value: ['DE', 'Ünïcode', 'a"b'] }, { field: 'email', operator: 'is_null' }] },
      ],
    });
    await create({
      name: 'with a join',
      status: 'paused',
      joins: [{ schemaId: shop.orders, type: 'left', localField: 'id', foreignField: 'customer_id' }],
      filters: [{ field: 'lifetime_value', operator: 'between', value: [0.1, 12345678.25] }],
    });
    const updated = await create({ name: 'updated', status: 'draft' });
    expect(
      (await restCall(gw.url, own.editor, 'PUT', '/api/v1/segments', { json: { id: updated, description: null, status: 'archived' } })).status,
    ).toBe(200);
    const exotic = await create({ name: 'exotic times', description: '' });
    // Microseconds (the API writes milliseconds) and a segment never counted.
    await db().none(
      `UPDATE segments SET created_at = '2024-02-29 23:59:59.999999+00', updated_at = '2025-06-30 12:00:00.000500+00',
       last_refreshed_at = NULL WHERE tenant_id = $1 AND id = $2`,
      [ownTenant, exotic],
    );
    for (let i = 0; i < 7; i++) await create({ name: `plain ${i}`, status: i % 2 ? 'active' : 'draft' });
  });

  it('pages through the same segments as the GraphQL operation, every field the same value, in the same order', async () => {
    expect(await samePages(own.viewer, 3)).toBe(11);
    expect(await samePages(own.viewer, 100)).toBe(11);
    expect(await samePages(own.viewer, 2, { status: 'active' })).toBeGreaterThan(1);
    expect(await samePages(own.viewer, 2, { search: 'PLAIN' })).toBe(7);
    expect(compactPages).toBeGreaterThan(3);
    expect(await samePages(own.viewer, 5, { search: 'no such segment' })).toBe(0);
  });

  it('shows each segment as GET /segments/{id} does', async () => {
    const { body } = await restPage(own.viewer, 'limit=100');
    for (const item of body.data) {
      const one = await restCall(gw.url, own.viewer, 'GET', `/api/v1/segments/${item.id as string}`);
      expect(JSON.stringify(item)).toBe(JSON.stringify(one.body));
    }
  });

  it("writes instants in UTC whatever the session's time zone", async () => {
    const page = { limit: 100, inverted: false };
    const plain = await listRestSegmentPage(db(), ownTenant, {}, page);
    for (const zone of ['Asia/Kathmandu', 'America/St_Johns', 'Pacific/Kiritimati']) {
      const zoned = await db().tx((t) => t.none('SET LOCAL TIME ZONE $1', [zone]).then(() => listRestSegmentPage(t, ownTenant, {}, page)));
      // The segments and their cursors.
      expect(zoned.rows).toEqual(plain.rows);
    }
  });

  it('cannot skip a rule: a field of the REST segment with a rule of its own makes the check refuse to stand in', async () => {
    const schema = gw.app.schema;
    const joins = (schema.getType('Segment') as GraphQLObjectType).getFields().joins!;
    const options = joins.extensions.pothosOptions as { shield?: unknown };
    options.shield = isAdmin;
    try {
      const runner = createGraphQLRunner(schema);
      await expect(runner.check(ListSegments, { first: 1 }, {} as GraphQLContext)).rejects.toThrow(/Segment\.joins/);
    } finally {
      delete options.shield;
    }
  });

  it('is one statement, and refuses what the GraphQL operation refuses, with the REST names', async () => {
    await restPage(own.viewer, 'limit=5');
    const before = gw.services.database.stats.queries;
    await restPage(own.viewer, 'limit=5&status=active&search=plain');
    expect(gw.services.database.stats.queries - before).toBe(1);

    const bad = await restCall<{ error: { details: Array<{ path: string }> } }>(gw.url, own.viewer, 'GET', '/api/v1/segments?status=activ');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d) => d.path)).toEqual(['status']);
    const cursor = await restCall<{ error: { details: Array<{ path: string }> } }>(gw.url, own.viewer, 'GET', '/api/v1/segments?cursor=bm90LWpzb24');
    expect(cursor.status).toBe(400);
    expect(cursor.body.error.details.map((d) => d.path)).toEqual(['cursor']);
    expect((await restCall(gw.url, null, 'GET', '/api/v1/segments')).status).toBe(401);
  });
});
