import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/keys.js';
import { gql, startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { assertViewsMatchMetadata, createShopSchemas, loadRowsGql } from '../support/segments.js';

let gw: TestGateway;
let keys: Record<Role, string>;
let tenant: string;
let schemas: { customers: string; orders: string };

const SEGMENT_FIELDS = `id tenantId name description status entityType baseSchemaId baseSchemaName customerCount
  joins filters viewName lastRefreshedAt createdAt updatedAt version baseSchema { id name }`;

const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();

beforeAll(async () => {
  gw = await startTestGateway();
  tenant = uniqueTenant('seg');
  keys = await gw.tenantWithKeys(tenant);
  schemas = await createShopSchemas(gw.url, keys.editor);
  await loadRowsGql(gw.url, keys.editor, schemas.customers, [
    { id: 1, email: 'ann@example.com', country: 'US', lifetime_value: 15000 },
    { id: 2, email: 'bob@example.com', country: 'US', lifetime_value: 12000 },
    { id: 3, email: 'cid@example.com', country: 'DE', lifetime_value: 50000 },
    { id: 4, email: 'dee@example.com', country: 'US', lifetime_value: 500 },
    { id: 5, email: 'eve@example.com', country: 'US', lifetime_value: null },
  ]);
  await loadRowsGql(gw.url, keys.editor, schemas.orders, [
    // Ann: 3 recent orders, Bob: 2 recent + 1 old, Cid: 4 recent, Dee: 3 recent
    { id: 1, customer_id: 1, amount: 100, created_at: daysAgo(1) },
    { id: 2, customer_id: 1, amount: 200, created_at: daysAgo(10) },
    { id: 3, customer_id: 1, amount: 300, created_at: daysAgo(80) },
    { id: 4, customer_id: 2, amount: 100, created_at: daysAgo(5) },
    { id: 5, customer_id: 2, amount: 100, created_at: daysAgo(6) },
    { id: 6, customer_id: 2, amount: 100, created_at: daysAgo(200) },
    { id: 7, customer_id: 3, amount: 10, created_at: daysAgo(2) },
    { id: 8, customer_id: 3, amount: 10, created_at: daysAgo(3) },
    { id: 9, customer_id: 3, amount: 10, created_at: daysAgo(4) },
    { id: 10, customer_id: 3, amount: 10, created_at: daysAgo(5) },
    { id: 11, customer_id: 4, amount: 70, created_at: daysAgo(1) },
    { id: 12, customer_id: 4, amount: 70, created_at: daysAgo(2) },
    { id: 13, customer_id: 4, amount: 70, created_at: daysAgo(3) },
  ]);
});
afterEach(() => assertViewsMatchMetadata(gw.services.database.db));
afterAll(() => gw.close());

async function create(input: Record<string, unknown>, key = keys.editor) {
  return gql<{ createSegment: { segment: Record<string, unknown> & { id: string; customerCount: number; version: number } } }>(
    gw.url,
    key,
    `mutation($input: CreateSegmentInput!) { createSegment(input: $input) { segment { ${SEGMENT_FIELDS} } } }`,
    { input },
  );
}

async function directCount(viewName: string): Promise<number> {
  const ns = (await gw.services.database.db.one('SELECT namespace FROM tenants WHERE id = $1', [tenant])).namespace;
  const row = await gw.services.database.db.one('SELECT count(*)::int AS n FROM $1:name.$2:name', [ns, viewName]);
  return row.n;
}

describe('segments through GraphQL', () => {
  it('an editor builds US high-value customers with 3+ orders in 90 days, sees the exact count and first rows, refines, compares and deletes it', async () => {
    const created = await create({
      name: 'us_high_value_frequent',
      baseSchemaId: schemas.customers,
      status: 'active',
      joins: [{ schemaId: schemas.orders, type: 'left', localField: 'id', foreignField: 'customer_id' }],
      filters: [
        { field: 'country', operator: '=', value: 'US' },
        { field: 'lifetime_value', operator: '>', value: 10000 },
        {
          aggregate: 'count',
          join: 'orders',
          operator: '>=',
          value: 3,
          where: [{ field: 'created_at', operator: 'within_last', value: { amount: 90, unit: 'days' } }],
        },
      ],
    });
    expect(created.errors).toBeUndefined();
    const segment = created.data!.createSegment.segment;
    // Ann only: Bob has 2 recent orders, Cid is in DE, Dee's value is low.
    expect(segment.customerCount).toBe(1);
    expect(segment.customerCount).toBe(await directCount(String(segment.viewName)));
    expect(segment).toMatchObject({
      tenantId: tenant,
      status: 'active',
      entityType: 'customer',
      baseSchemaName: 'customers',
      baseSchema: { id: schemas.customers, name: 'customers' },
      version: 1,
    });
    expect(String(segment.viewName)).toMatch(/^seg_[0-9a-f]{12}$/);

    const preview = await gql<{ segment: { preview: { rows: Array<{ id: number }>; count: number } } }>(
      gw.url,
      keys.editor,
      'query($id: ID!) { segment(id: $id) { preview { rows count } } }',
      { id: segment.id },
    );
    expect(preview.data!.segment.preview).toEqual({
      count: 1,
      rows: [{ id: 1, email: 'ann@example.com', country: 'US', lifetime_value: 15000 }],
    });

    const refined = await gql<{ updateSegment: { segment: { customerCount: number; version: number } } }>(
      gw.url,
      keys.editor,
      'mutation($input: UpdateSegmentInput!) { updateSegment(input: $input) { segment { customerCount version } } }',
      {
        input: {
          id: segment.id,
          version: 1,
          filters: [
            { field: 'country', operator: 'eq', value: 'US' },
            { field: 'lifetime_value', operator: 'gte', value: 10000 },
            { aggregate: 'count', join: 'orders', operator: 'gte', value: 2, where: [{ field: 'created_at', operator: 'within_last', value: { amount: 90, unit: 'days' } }] },
          ],
        },
      },
    );
    expect(refined.errors).toBeUndefined();
    expect(refined.data!.updateSegment.segment).toEqual({ customerCount: 2, version: 2 });
    expect(await directCount(String(segment.viewName))).toBe(2);

    const us = await create({ name: 'us', baseSchemaId: schemas.customers, filters: [{ field: 'country', operator: '=', value: 'US' }] });
    const overlap = await gql<{ segmentOverlap: Record<string, unknown> }>(
      gw.url,
      keys.editor,
      'query($ids: [ID!]!) { segmentOverlap(ids: $ids) { segments { id name size } overlaps { segments count percent } totalUniqueCustomers } }',
      { ids: [segment.id, us.data!.createSegment.segment.id] },
    );
    expect(overlap.data!.segmentOverlap).toEqual({
      segments: [
        { id: segment.id, name: 'us_high_value_frequent', size: 2 },
        { id: us.data!.createSegment.segment.id, name: 'us', size: 4 },
      ],
      overlaps: [{ segments: [segment.id, us.data!.createSegment.segment.id], count: 2, percent: 100 }],
      totalUniqueCustomers: 4,
    });

    for (const id of [segment.id, us.data!.createSegment.segment.id]) {
      const deleted = await gql(gw.url, keys.editor, 'mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }', { id });
      expect(deleted.data).toEqual({ deleteSegment: { deletedId: id } });
    }
    expect((await gql(gw.url, keys.viewer, 'query($id: ID!) { segment(id: $id) { id } }', { id: segment.id })).data).toEqual({ segment: null });
  });

  it('a customer with many orders is counted once', async () => {
    const created = await create({
      name: 'ordered_anything',
      baseSchemaId: schemas.customers,
      joins: [{ schemaId: schemas.orders, type: 'inner', localField: 'id', foreignField: 'customer_id' }],
      filters: [{ field: 'orders.amount', operator: '>', value: 0 }],
    });
    expect(created.data!.createSegment.segment.customerCount).toBe(4);
    await gql(gw.url, keys.editor, 'mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }', { id: created.data!.createSegment.segment.id });
  });

  it('invalid definitions are refused with every problem and its path, and leave nothing behind', async () => {
    const result = await create({
      name: 'broken',
      baseSchemaId: schemas.customers,
      filters: [
        { field: 'lifetime_value', operator: '>', value: 'lots' },
        { any: [{ field: 'no_such_field', operator: '=', value: 1 }] },
      ],
    });
    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const paths = (result.errors?.[0]?.extensions?.details as Array<{ path: string }>).map((d) => d.path);
    expect(paths).toContain('filters[0].value');
    expect(paths.some((p) => p.startsWith('filters[1].any[0]'))).toBe(true);
    const count = await gw.services.database.db.one('SELECT count(*)::int AS n FROM segments WHERE tenant_id = $1 AND name = $2', [tenant, 'broken']);
    expect(count.n).toBe(0);
  });

  it('a stale version is refused with CONFLICT; of two updates with the same version exactly one wins', async () => {
    const created = await create({ name: 'versioned', baseSchemaId: schemas.customers, filters: [] });
    const id = created.data!.createSegment.segment.id;
    const update = (name: string) =>
      gql(gw.url, keys.editor, 'mutation($input: UpdateSegmentInput!) { updateSegment(input: $input) { segment { version name } } }', {
        input: { id, version: 1, name },
      });
    const results = await Promise.all([update('first'), update('second')]);
    const codes = results.map((r) => r.errors?.[0]?.extensions?.code ?? 'OK').sort();
    expect(codes).toEqual(['CONFLICT', 'OK']);
    const stale = await update('third');
    expect(stale.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    await gql(gw.url, keys.editor, 'mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }', { id });
  });

  it('names are unique per tenant', async () => {
    const first = await create({ name: 'dup', baseSchemaId: schemas.customers });
    const second = await create({ name: 'dup', baseSchemaId: schemas.customers });
    expect(second.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    await gql(gw.url, keys.editor, 'mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }', { id: first.data!.createSegment.segment.id });
  });

  it('a referenced segment cannot be deleted, and references follow the referenced definition', async () => {
    const base = await create({ name: 'us_base', baseSchemaId: schemas.customers, filters: [{ field: 'country', operator: '=', value: 'US' }] });
    const baseId = base.data!.createSegment.segment.id;
    const derived = await create({
      name: 'us_rich',
      baseSchemaId: schemas.customers,
      filters: [{ segment: baseId, operator: 'in' }, { field: 'lifetime_value', operator: '>', value: 1000 }],
    });
    expect(derived.errors).toBeUndefined();
    const derivedId = derived.data!.createSegment.segment.id;
    expect(derived.data!.createSegment.segment.customerCount).toBe(2);

    const refused = await gql(gw.url, keys.editor, 'mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }', { id: baseId });
    expect(refused.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(refused.errors?.[0]?.message).toContain('us_rich');

    await gql(gw.url, keys.editor, 'mutation($input: UpdateSegmentInput!) { updateSegment(input: $input) { segment { id } } }', {
      input: { id: baseId, filters: [{ field: 'country', operator: 'in', value: ['US', 'DE'] }] },
    });
    const refreshed = await gql<{ refreshSegment: { segment: { customerCount: number; lastRefreshedAt: string } } }>(
      gw.url,
      keys.editor,
      'mutation($id: ID!) { refreshSegment(id: $id) { segment { customerCount lastRefreshedAt } } }',
      { id: derivedId },
    );
    expect(refreshed.data!.refreshSegment.segment.customerCount).toBe(3);

    const cycle = await gql(gw.url, keys.editor, 'mutation($input: UpdateSegmentInput!) { updateSegment(input: $input) { segment { id } } }', {
      input: { id: baseId, filters: [{ segment: derivedId, operator: 'in' }] },
    });
    expect(cycle.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    for (const id of [derivedId, baseId]) {
      await gql(gw.url, keys.editor, 'mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }', { id });
    }
  });

  it('joins and filters are echoed exactly as they were sent, key order included', async () => {
    const filters = [{ value: 10000, operator: '>', field: 'lifetime_value' }, { any: [{ field: 'country', operator: 'eq', value: 'US' }] }];
    const created = await create({ name: 'echoed', baseSchemaId: schemas.customers, filters });
    expect(JSON.stringify(created.data!.createSegment.segment.filters)).toBe(JSON.stringify(filters));
    await gql(gw.url, keys.editor, 'mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }', { id: created.data!.createSegment.segment.id });
  });

  it('node(id) takes the same prefixed ids as REST', async () => {
    const created = await create({ name: 'noded', baseSchemaId: schemas.customers });
    const id = created.data!.createSegment.segment.id;
    const node = await gql<{ node: { __typename: string; id: string; name: string } }>(
      gw.url,
      keys.viewer,
      'query($id: ID!) { node(id: $id) { __typename id ... on Segment { name } } schema: node(id: "' + schemas.customers + '") { __typename } }',
      { id },
    );
    expect(node.data).toMatchObject({ node: { __typename: 'Segment', id, name: 'noded' }, schema: { __typename: 'BaseSchema' } });
    await gql(gw.url, keys.editor, 'mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }', { id });
  });
});

describe('roles and tenants', () => {
  const ops = {
    list: { doc: '{ segments(first: 5) { totalCount edges { node { id } } } }', allowed: ['admin', 'editor', 'viewer'] },
    get: { doc: '{ segment(id: "seg_000000000000") { id } }', allowed: ['admin', 'editor', 'viewer'] },
    schemas: { doc: '{ baseSchemas { totalCount } }', allowed: ['admin', 'editor', 'viewer'] },
    create: { doc: 'mutation { createSegment(input: { name: "x", baseSchemaId: "sch_000000000000" }) { segment { id } } }', allowed: ['admin', 'editor'] },
    update: { doc: 'mutation { updateSegment(input: { id: "seg_000000000000", name: "y" }) { segment { id } } }', allowed: ['admin', 'editor'] },
    delete: { doc: 'mutation { deleteSegment(id: "seg_000000000000") { deletedId } }', allowed: ['admin', 'editor'] },
    refresh: { doc: 'mutation { refreshSegment(id: "seg_000000000000") { segment { id } } }', allowed: ['admin', 'editor'] },
    overlap: { doc: '{ segmentOverlap(ids: ["seg_000000000000", "seg_000000000001"]) { totalUniqueCustomers } }', allowed: ['admin', 'editor'] },
  } as const;

  it.each(Object.entries(ops))('%s follows the role table', async (_name, { doc, allowed }) => {
    for (const role of ['admin', 'editor', 'viewer'] as Role[]) {
      const result = await gql(gw.url, keys[role], doc);
      const code = result.errors?.[0]?.extensions?.code;
      if ((allowed as readonly string[]).includes(role)) expect(code === undefined || code === 'NOT_FOUND' || code === 'BAD_USER_INPUT', `${role}: ${code}`).toBe(true);
      else expect(code, role).toBe('FORBIDDEN');
    }
  });

  it('preview is for admins and editors only', async () => {
    const created = await create({ name: 'previewable', baseSchemaId: schemas.customers });
    const id = created.data!.createSegment.segment.id;
    const asViewer = await gql(gw.url, keys.viewer, 'query($id: ID!) { segment(id: $id) { name preview { count } } }', { id });
    expect(asViewer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const asAdmin = await gql<{ segment: { preview: { count: number } } }>(gw.url, keys.admin, 'query($id: ID!) { segment(id: $id) { preview { count } } }', { id });
    expect(asAdmin.data!.segment.preview.count).toBe(5);
    await gql(gw.url, keys.editor, 'mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }', { id });
  });

  it('another tenant’s segment answers exactly like a missing one, on every field and mutation', async () => {
    const mine = await create({ name: 'private', baseSchemaId: schemas.customers });
    const id = mine.data!.createSegment.segment.id;
    const other = await gw.tenantWithKeys(uniqueTenant('intruder'));
    const missing = 'seg_ffffffffffff';
    const probes = [
      ['query($id: ID!) { segment(id: $id) { id } }', (r: { data?: unknown }) => r.data],
      ['query($id: ID!) { node(id: $id) { id } }', (r: { data?: unknown }) => r.data],
      ['mutation($id: ID!) { refreshSegment(id: $id) { segment { id } } }', (r: { errors?: Array<{ extensions?: { code?: string } }> }) => r.errors?.[0]?.extensions?.code],
      ['mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }', (r: { errors?: Array<{ extensions?: { code?: string } }> }) => r.errors?.[0]?.extensions?.code],
      ['mutation($id: ID!) { updateSegment(input: { id: $id, name: "stolen" }) { segment { id } } }', (r: { errors?: Array<{ extensions?: { code?: string } }> }) => r.errors?.[0]?.extensions?.code],
      ['query($id: ID!) { segmentOverlap(ids: [$id, $id]) { totalUniqueCustomers } }', (r: { errors?: Array<{ extensions?: { code?: string } }> }) => r.errors?.[0]?.extensions?.code],
    ] as const;
    for (const [doc, pick] of probes) {
      const theirs = await gql(gw.url, other.editor, doc, { id });
      const none = await gql(gw.url, other.editor, doc, { id: missing });
      expect(pick(theirs as never), doc).toEqual(pick(none as never));
    }
    const stillMine = await gql<{ segment: { name: string } }>(gw.url, keys.viewer, 'query($id: ID!) { segment(id: $id) { name } }', { id });
    expect(stillMine.data!.segment.name).toBe('private');
    // And their base schemas are not joinable from here.
    const crossJoin = await gql(gw.url, other.editor, 'mutation($input: CreateSegmentInput!) { createSegment(input: $input) { segment { id } } }', {
      input: { name: 'x', baseSchemaId: schemas.customers },
    });
    expect(crossJoin.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    await gql(gw.url, keys.editor, 'mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }', { id });
  });
});

describe('cost', () => {
  it('a page fetches base schemas and the total along with it only when the query asks, through fragments too', async () => {
    const segment = (await create({ name: 'ahead', baseSchemaId: schemas.orders })).data!.createSegment.segment;
    const statementsOf = async (query: string) => {
      await gql(gw.url, keys.viewer, '{ viewer { role } }');
      const before = gw.services.database.stats.queries;
      const r = await gql<{ segments: { totalCount?: number; edges: Array<{ node: Record<string, unknown> }> } }>(gw.url, keys.viewer, query);
      expect(r.errors).toBeUndefined();
      return { statements: gw.services.database.stats.queries - before, data: r.data!.segments };
    };
    const viaFragment = await statementsOf(
      'query { segments(first: 100) { ...Counted edges { node { ...Named } } } } fragment Counted on SegmentConnection { totalCount } fragment Named on Segment { id ... on Segment { baseSchema { name } } }',
    );
    expect(viaFragment.statements).toBe(1);
    const { n } = await gw.services.database.db.one<{ n: number }>('SELECT count(*)::int AS n FROM segments WHERE tenant_id = $1', [tenant]);
    expect(viaFragment.data.totalCount).toBe(n);
    const node = viaFragment.data.edges.find((e) => e.node.id === segment.id)!.node;
    expect(node.baseSchema).toEqual({ name: 'orders' });
    // Without schemas or a total: the page alone.
    expect((await statementsOf('{ segments(first: 5) { edges { node { id name } } } }')).statements).toBe(1);
    // Fields under an alias count as the field's own.
    const aliased = await statementsOf('{ segments(first: 5) { edges { node { id } } more: edges { node { baseSchemaName } } } }');
    expect(aliased.statements).toBe(1);
    expect(aliased.data).toHaveProperty('more');
    await gql(gw.url, keys.editor, 'mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }', { id: segment.id });
  });

  it('a page of 100 segments with their base schemas costs a constant number of statements', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      const r = await create({ name: `bulk_${i}`, baseSchemaId: i % 2 ? schemas.customers : schemas.orders });
      ids.push(r.data!.createSegment.segment.id);
    }
    const measure = async (first: number) => {
      await gql(gw.url, keys.viewer, '{ viewer { role } }'); // the key is verified and cached
      const before = gw.services.database.stats.queries;
      const r = await gql<{ segments: { edges: unknown[] } }>(
        gw.url,
        keys.viewer,
        `{ segments(first: ${first}) { totalCount edges { node { id name baseSchemaName baseSchema { name } } } } }`,
      );
      expect(r.data!.segments.edges).toHaveLength(first);
      return gw.services.database.stats.queries - before;
    };
    const small = await measure(5);
    const large = await measure(100);
    expect(large).toBe(small);
    // The page, its base schemas and the total go to PostgreSQL as one query.
    expect(large).toBe(1);
    for (const id of ids) await gql(gw.url, keys.editor, 'mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }', { id });
  });
});
