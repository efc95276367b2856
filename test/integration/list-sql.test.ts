import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/keys.js';
import { metrics } from '../../src/server/metrics.js';
import { listSegmentJsonPage, SEGMENT_JSON_FIELDS, BASE_SCHEMA_JSON_FIELDS } from '../../src/sql/segments.js';
import { startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { restCall } from '../support/rest.js';
import { createShopSchemas } from '../support/segments.js';

/**
 * GraphQL segment lists written whole by PostgreSQL (src/server/segment-list-plan.ts)
 * against the compiled execution they stand in for. The reference is yoga's
 * own answer to the same request: a request with an `Origin` never takes the
 * direct path. Every answer must be the same text, byte for byte.
 */

let gw: TestGateway;
let own: Record<Role, string>;
let ownTenant: string;
let other: Record<Role, string>;
let otherIds: string[];

const db = () => gw.services.database.db;

interface Answer {
  status: number;
  text: string;
}

async function post(key: string, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${gw.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, text: await response.text() };
}

/** Yoga's answer: the direct path leaves requests with an Origin to it. */
const throughYoga = (key: string, query: string, variables?: Record<string, unknown>) =>
  post(key, query, variables, { origin: 'http://localhost' });

async function written(): Promise<number> {
  const { values } = await metrics.graphqlDirect.get();
  return values.find((v) => v.labels.outcome === 'written_by_database')?.value ?? 0;
}

/** Runs `query` until the direct path knows it (two runs through yoga). */
async function learn(key: string, query: string, variables?: Record<string, unknown>): Promise<void> {
  for (let i = 0; i < 2; i++) await post(key, query, variables);
}

/** The answer of a known document, whether PostgreSQL wrote it, and yoga's answer to the same request. */
async function compare(key: string, query: string, variables?: Record<string, unknown>) {
  const before = await written();
  const answer = await post(key, query, variables);
  const byDatabase = (await written()) - before === 1;
  const reference = await throughYoga(key, query, variables);
  return { answer, reference, byDatabase };
}

beforeAll(async () => {
  gw = await startTestGateway();
  ownTenant = uniqueTenant('list-sql');
  own = await gw.tenantWithKeys(ownTenant);
  const shop = await createShopSchemas(gw.url, own.editor);
  const create = async (key: string, json: Record<string, unknown>) => {
    const r = await restCall<{ id: string }>(gw.url, key, 'POST', '/api/v1/segments', { json });
    expect(r.status, r.text).toBe(201);
    return r.body.id;
  };
  await create(own.editor, {
    baseSchemaId: shop.customers,
    name: 'Grüße "quoted" \\ back\\slash, line\nbreak, tab\t, control \u0001\u001f, emoji \u{1F600}, separator \u2028\u2029, </script>',
    description: 'del \u007f, nbsp \u00a0, bom \ufeff',
    status: 'active',
    filters: [{ field: 'lifetime_value', operator: 'gt', value: 10 }],
  });
  await create(own.editor, {
    baseSchemaId: shop.orders,
    name: '100% _under_ score',
    status: 'paused',
    filters: [{ field: 'amount', operator: 'gt', value: 1 }],
  });
  const exotic = await create(own.editor, { baseSchemaId: shop.customers, name: 'exotic times', description: '' });
  await db().none(
    `UPDATE segments SET created_at = '2024-02-29 23:59:59.999999+00', updated_at = '2025-06-30 12:00:00.000500+00',
     last_refreshed_at = NULL WHERE tenant_id = $1 AND id = $2`,
    [ownTenant, exotic],
  );
  // Two segments created in the same millisecond: the keyset's id decides.
  const twins = [await create(own.editor, { baseSchemaId: shop.customers, name: 'twin a' }), await create(own.editor, { baseSchemaId: shop.customers, name: 'twin b' })];
  await db().none(`UPDATE segments SET created_at = '2025-01-01 00:00:00.123+00' WHERE tenant_id = $1 AND id = ANY($2)`, [ownTenant, twins]);
  for (let i = 0; i < 9; i++) {
    await create(own.editor, { baseSchemaId: i % 3 ? shop.customers : shop.orders, name: `plain ${i}`, status: i % 2 ? 'active' : 'draft' });
  }
  const refreshed = await restCall(gw.url, own.editor, 'POST', `/api/v1/segments/${exotic}?action=refresh`);
  expect(refreshed.status).toBe(200);

  other = await gw.tenantWithKeys(uniqueTenant('list-sql-other'));
  const otherShop = await createShopSchemas(gw.url, other.editor);
  otherIds = [
    await create(other.editor, { baseSchemaId: otherShop.customers, name: 'plain 1', status: 'active' }),
    await create(other.editor, { baseSchemaId: otherShop.customers, name: 'theirs' }),
  ];
});

afterAll(() => gw?.close());

const EVERY_FIELD = `__typename id tenantId name description status entityType baseSchemaId baseSchemaName customerCount
  viewName lastRefreshedAt createdAt updatedAt version
  baseSchema { __typename id tenantId name displayName description entityType tableName createdAt updatedAt }`;

describe('a GraphQL list written by PostgreSQL', () => {
  const documents: Array<[string, string]> = [
    ['the benchmark list', 'query List($first: Int, $after: String) { segments(first: $first, after: $after) { edges { node { id name customerCount baseSchema { name } } } } }'],
    [
      'every field it writes, with cursors, page info, the total and type names',
      `query All($first: Int, $after: String, $last: Int, $before: String, $status: SegmentStatus, $search: String) {
         __typename
         segments(first: $first, after: $after, last: $last, before: $before, status: $status, search: $search) {
           __typename totalCount
           pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
           edges { __typename cursor node { ${EVERY_FIELD} } }
         }
       }`,
    ],
    [
      'aliases, fragments, merged fields and an inline fragment on Node',
      `query Aliased($first: Int, $after: String, $last: Int, $before: String, $status: SegmentStatus, $search: String) {
         list: segments(first: $first, after: $after, last: $last, before: $before, status: $status, search: $search) {
           rows: edges { at: cursor node { label: name schema: baseSchema { name } ...Seg } }
           count: totalCount
           rows: edges { node { name schema: baseSchema { id } ... on Node { nodeId: id } } }
           ...Info
         }
       }
       fragment Info on SegmentConnection { pageInfo { end: endCursor more: hasNextPage } }
       fragment Seg on Segment { n: customerCount name when: createdAt }`,
    ],
  ];

  /** Every page of the tenant, `size` at a time, forwards (first/after) or backwards (last/before). */
  async function walk(query: string, size: number, direction: 'forwards' | 'backwards', filter: Record<string, unknown> = {}) {
    let cursor: string | null = null;
    let pages = 0;
    let writtenPages = 0;
    for (;;) {
      const variables =
        direction === 'forwards'
          ? { first: size, ...(cursor ? { after: cursor } : {}), ...filter }
          : { last: size, ...(cursor ? { before: cursor } : {}), ...filter };
      const { answer, reference, byDatabase } = await compare(own.viewer, query, variables);
      expect(answer.status).toBe(200);
      expect(answer.text).toBe(reference.text);
      pages += 1;
      if (byDatabase) writtenPages += 1;
      // The next page's cursor, from the answer itself or, for documents that select none, from yoga.
      const info = await throughYoga(
        own.viewer,
        'query C($first: Int, $after: String, $last: Int, $before: String, $status: SegmentStatus, $search: String) { segments(first: $first, after: $after, last: $last, before: $before, status: $status, search: $search) { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }',
        variables,
      );
      const pageInfo = (JSON.parse(info.text) as { data: { segments: { pageInfo: Record<string, unknown> } } }).data.segments.pageInfo;
      const more = direction === 'forwards' ? pageInfo.hasNextPage : pageInfo.hasPreviousPage;
      if (!more) break;
      cursor = (direction === 'forwards' ? pageInfo.endCursor : pageInfo.startCursor) as string;
      expect(pages).toBeLessThan(50);
    }
    return { pages, writtenPages };
  }

  it.each(documents)('%s: every page both ways, the same text as yoga', async (_name, query) => {
    await learn(own.viewer, query, { first: 1 });
    for (const [size, direction] of [[3, 'forwards'], [5, 'backwards'], [100, 'forwards'], [1, 'backwards']] as const) {
      const { pages, writtenPages } = await walk(query, size, direction);
      expect(writtenPages).toBe(pages);
      expect(pages).toBe(Math.max(1, Math.ceil(14 / size)));
    }
  });

  it('filters by status and by a search whose %, _ and \\ match themselves, and answers empty pages as yoga does', async () => {
    const query = documents[1]![1];
    await learn(own.viewer, query, { first: 1 });
    const filters: Array<Record<string, unknown>> = [
      { status: 'active' },
      { status: 'archived' },
      { search: '100%' },
      { search: '_under_' },
      { search: 'back\\slash' },
      { search: 'PLAIN', status: 'draft' },
      { search: 'no such name' },
    ];
    for (const filter of filters) {
      const { pages, writtenPages } = await walk(query, 2, 'forwards', filter);
      expect(writtenPages, JSON.stringify(filter)).toBe(pages);
    }
    const empty = await compare(own.viewer, query, { first: 0 });
    expect(empty.byDatabase).toBe(true);
    expect(empty.answer.text).toBe(empty.reference.text);
    // Arguments written in the document: an enum, a string, an explicit null, a variable's default.
    const literal = `query Lit($n: Int = 2) { segments(first: $n, status: active, search: "plain", after: null) {
      totalCount edges { node { name status } } } }`;
    await learn(own.viewer, literal);
    for (const variables of [undefined, { n: 1 }, { n: null }]) {
      const answer = await compare(own.viewer, literal, variables);
      expect(answer.byDatabase, JSON.stringify(variables)).toBe(true);
      expect(answer.answer.text).toBe(answer.reference.text);
    }
  });

  it("shows a tenant its own segments only", async () => {
    const query = documents[0]![1];
    await learn(other.viewer, query, { first: 5 });
    const { answer, reference, byDatabase } = await compare(other.viewer, query, { first: 100 });
    expect(byDatabase).toBe(true);
    expect(answer.text).toBe(reference.text);
    const ids = (JSON.parse(answer.text) as { data: { segments: { edges: Array<{ node: { id: string } }> } } }).data.segments.edges.map((e) => e.node.id);
    expect(ids).toEqual(otherIds);
  });

  it('leaves to the compiled execution what it does not write, with the same answer', async () => {
    const cases: Array<[string, string, Record<string, unknown> | undefined]> = [
      ['a bad cursor', 'query($after: String) { segments(first: 1, after: $after) { totalCount } }', { after: 'not-a-cursor' }],
      ['a page over the maximum', 'query($n: Int) { segments(first: $n) { edges { node { id } } } }', { n: 101 }],
      ['a directive', 'query($skip: Boolean!) { segments(first: 2) { edges { node { id name @skip(if: $skip) } } } }', { skip: true }],
      ['a field with a rule of its own', '{ segments(first: 2) { edges { node { id preview { count } } } } }', undefined],
      ['a JSON field', '{ segments(first: 2) { edges { node { id filters } } } }', undefined],
      ['a nested connection', '{ segments(first: 2) { edges { node { baseSchema { segments(first: 1) { totalCount } } } } } }', undefined],
      ['a second root field', '{ segments(first: 1) { totalCount } viewer { role } }', undefined],
      ['two keys of edges', '{ segments(first: 2) { a: edges { cursor } b: edges { node { id } } } }', undefined],
      // Not compiled (compiled-execution.ts), so never known to the direct path.
      ['a fragment before a field', '{ segments(first: 2) { ...Total edges { node { id } } } } fragment Total on SegmentConnection { totalCount }', undefined],
    ];
    for (const [name, query, variables] of cases) {
      await learn(own.editor, query, variables);
      const { answer, reference, byDatabase } = await compare(own.editor, query, variables);
      expect(byDatabase, name).toBe(false);
      expect(answer, name).toEqual(reference);
    }
  });

  it('leaves a count past the Int range to the compiled execution, which reports it', async () => {
    const tenant = uniqueTenant('list-sql-big');
    const keys = await gw.tenantWithKeys(tenant);
    const shop = await createShopSchemas(gw.url, keys.editor);
    const r = await restCall<{ id: string }>(gw.url, keys.editor, 'POST', '/api/v1/segments', { json: { baseSchemaId: shop.customers, name: 'huge' } });
    await db().none('UPDATE segments SET customer_count = 3000000000 WHERE tenant_id = $1 AND id = $2', [tenant, r.body.id]);
    const query = '{ segments(first: 5) { edges { node { id customerCount } } } }';
    await learn(keys.viewer, query);
    const { answer, reference, byDatabase } = await compare(keys.viewer, query);
    expect(byDatabase).toBe(false);
    expect(answer).toEqual(reference);
    expect(answer.text).toContain('cannot represent non 32-bit signed integer');
  });

  it('answers random selections as yoga does, past the number of shapes it prepares', async () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(items: readonly T[], at_least = 1): T[] => {
      const chosen = items.filter(() => random() < 0.4);
      return chosen.length >= at_least ? chosen.sort(() => random() - 0.5) : [items[Math.floor(random() * items.length)]!];
    };
    const aliased = (name: string) => (random() < 0.25 ? `a${Math.floor(random() * 1000)}_${name}: ${name}` : name);
    const segmentFields = [...Object.keys(SEGMENT_JSON_FIELDS), '__typename'];
    const schemaFields = [...Object.keys(BASE_SCHEMA_JSON_FIELDS), '__typename'];
    let writtenCount = 0;
    for (let i = 0; i < 40; i++) {
      const node = pick(segmentFields).map(aliased);
      if (random() < 0.5) node.push(`${random() < 0.3 ? 'bs: ' : ''}baseSchema { ${pick(schemaFields).map(aliased).join(' ')} }`);
      const edge = [`node { ${node.join(' ')} }`, ...(random() < 0.3 ? ['cursor'] : [])];
      const connection = [`edges { ${edge.join(' ')} }`];
      if (random() < 0.4) connection.push('totalCount');
      if (random() < 0.4) connection.push(`pageInfo { ${pick(['hasNextPage', 'hasPreviousPage', 'startCursor', 'endCursor']).join(' ')} }`);
      const query = `query R${i}($first: Int, $last: Int, $status: SegmentStatus) { s${i}: segments(first: $first, last: $last, status: $status) { ${connection.sort(() => random() - 0.5).join(' ')} } }`;
      const variables = random() < 0.5 ? { first: 1 + Math.floor(random() * 6) } : { last: 1 + Math.floor(random() * 6), ...(random() < 0.3 ? { status: 'draft' } : {}) };
      await learn(own.viewer, query, variables);
      const { answer, reference, byDatabase } = await compare(own.viewer, query, variables);
      expect(answer.text, query).toBe(reference.text);
      if (byDatabase) writtenCount += 1;
    }
    expect(writtenCount).toBe(40);
  });

  it("writes instants and cursors in UTC whatever the session's time zone", async () => {
    const shape = {
      edge: `(SELECT row_to_json(o) FROM (SELECT ${SEGMENT_JSON_FIELDS.createdAt} AS c, ${SEGMENT_JSON_FIELDS.updatedAt} AS u) o)`,
      baseSchema: false,
      cursor: true,
      total: true,
    };
    const page = { limit: 100, inverted: false };
    const plain = await listSegmentJsonPage(db(), ownTenant, {}, page, shape, false);
    expect(plain.rows).toHaveLength(14);
    for (const zone of ['Asia/Kathmandu', 'America/St_Johns', 'Pacific/Kiritimati']) {
      const zoned = await db().tx((t) =>
        t.none('SET LOCAL TIME ZONE $1', [zone]).then(() => listSegmentJsonPage(t, ownTenant, {}, page, shape, false)),
      );
      expect(zoned).toEqual(plain);
    }
  });
});
