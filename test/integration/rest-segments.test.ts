import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/keys.js';
import { gql, startTestGateway, uniqueTenant, type GraphQLResponse, type TestGateway } from '../support/gateway.js';
import { restCall, type RestResponse } from '../support/rest.js';

interface Segment {
  id: string;
  name: string;
  status: string;
  customerCount: number;
  lastRefreshedAt: string | null;
  updatedAt: string;
  version: number;
  [field: string]: unknown;
}
interface Page<T> {
  data: T[];
  pagination: { total: number; hasMore: boolean; limit: number; cursor: string | null };
}

let gw: TestGateway;
let keys: Record<Role, string>;
let customersId: string;

function rest<T = Record<string, unknown>>(
  method: string,
  path: string,
  options: { key?: string | null; json?: unknown; body?: string; headers?: Record<string, string> } = {},
): Promise<RestResponse<T>> {
  return restCall<T>(gw.url, options.key === undefined ? keys.admin : options.key, method, path, options);
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SEGMENT_FIELDS = [
  'id',
  'tenantId',
  'name',
  'description',
  'status',
  'entityType',
  'baseSchemaId',
  'baseSchema',
  'baseSchemaName',
  'customerCount',
  'joins',
  'filters',
  'viewName',
  'lastRefreshedAt',
  'createdAt',
  'updatedAt',
  'version',
];

/** C01..C30 with lifetime values 1,000..30,000: 20 above 10,000, 20 at or below 20,000, 10 in both. */
const customerRows = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, k) => {
    const i = from + k;
    const id = `C${String(i).padStart(2, '0')}`;
    return { id, email: `${id.toLowerCase()}@example.com`, lifetime_value: i * 1000 };
  });

/** The reference page's example body, on the test tenant's `customers` schema. */
const exampleBody = () => ({
  name: 'high_value_customers',
  baseSchemaId: customersId,
  description: 'Customers with lifetime value > $10,000',
  status: 'active',
  filters: [{ field: 'lifetime_value', operator: '>', value: 10000 }],
});

beforeAll(async () => {
  gw = await startTestGateway();
  keys = await gw.tenantWithKeys(uniqueTenant('rest-seg'));
  const created = await rest<{ id: string }>('POST', '/api/v1/schemas', {
    json: {
      name: 'customers',
      entityType: 'customer',
      fields: [
        { name: 'id', dataType: 'text', isPrimaryKey: true },
        { name: 'email', dataType: 'text', isUnique: true },
        { name: 'lifetime_value', dataType: 'numeric', precision: 12, scale: 2 },
      ],
    },
  });
  expect(created.status).toBe(201);
  customersId = created.body.id;
  const loaded = await rest('POST', `/api/v1/schemas/${customersId}/data`, { json: { rows: customerRows(1, 30) } });
  expect(loaded.body).toEqual({ inserted: 30, tableName: 'ds_customers' });
});
afterAll(() => gw.close());

describe('the reference page, replayed', () => {
  let created: Segment;

  it('POST /api/v1/segments with the example body is 201 with the segment, field for field', async () => {
    const response = await rest<Segment>('POST', '/api/v1/segments', { json: exampleBody() });
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    created = response.body;
    expect(Object.keys(created)).toEqual(SEGMENT_FIELDS);
    expect(created).toMatchObject({
      name: 'high_value_customers',
      description: 'Customers with lifetime value > $10,000',
      status: 'active',
      entityType: 'customer',
      baseSchemaId: customersId,
      baseSchema: { name: 'customers' },
      baseSchemaName: 'customers',
      customerCount: 20,
      joins: [],
      version: 1,
    });
    expect(created.id).toMatch(/^seg_[0-9a-f]{12}$/);
    expect(created.viewName).toMatch(/^seg_[0-9a-f]{12}$/);
    expect(created.filters).toEqual([{ field: 'lifetime_value', operator: '>', value: 10000 }]);
    expect(typeof created.customerCount).toBe('number');
    for (const field of ['createdAt', 'updatedAt']) expect(created[field]).toMatch(ISO_UTC);
  });

  it('GET /api/v1/segments lists segments with their base schema names and a pagination block', async () => {
    const response = await rest<Page<Segment>>('GET', '/api/v1/segments');
    expect(response.status).toBe(200);
    expect(Object.keys(response.body)).toEqual(['data', 'pagination']);
    expect(response.body.data).toEqual([created]);
    expect(response.body.pagination).toEqual({ total: 1, hasMore: false, limit: 20, cursor: null });
  });

  it('GET /api/v1/segments/{id} is the full segment', async () => {
    const response = await rest<Segment>('GET', `/api/v1/segments/${created.id}`);
    expect(response.status).toBe(200);
    expect(response.body).toEqual(created);
  });

  it('POST /api/v1/segments/{id}?action=refresh recounts and stamps lastRefreshedAt', async () => {
    const more = await rest('POST', `/api/v1/schemas/${customersId}/data`, { json: { rows: customerRows(31, 35) } });
    expect(more.body).toMatchObject({ inserted: 5 });
    expect((await rest<Segment>('GET', `/api/v1/segments/${created.id}`)).body.customerCount).toBe(20);

    const response = await rest<Segment>('POST', `/api/v1/segments/${created.id}?action=refresh`);
    expect(response.status).toBe(200);
    expect(Object.keys(response.body)).toEqual(SEGMENT_FIELDS);
    expect(response.body.customerCount).toBe(25);
    expect(response.body.lastRefreshedAt).toMatch(ISO_UTC);
    expect(Date.parse(response.body.lastRefreshedAt!)).toBeGreaterThanOrEqual(Date.parse(created.createdAt as string));
  });

  it('POST /api/v1/segments/{id}?action=preview is the first 20 rows by primary key, and their count', async () => {
    const response = await rest<{ rows: Array<Record<string, unknown>>; count: number }>(
      'POST',
      `/api/v1/segments/${created.id}?action=preview`,
    );
    expect(response.status).toBe(200);
    expect(Object.keys(response.body)).toEqual(['rows', 'count']);
    expect(response.body.count).toBe(20);
    expect(response.body.rows.map((r) => r.id)).toEqual(customerRows(11, 30).map((r) => r.id));
    expect(response.body.rows[0]).toEqual({ id: 'C11', email: 'c11@example.com', lifetime_value: 11000 });
  });

  it('PUT /api/v1/segments (id in the body) updates, rebuilds the view on a filter change, and bumps version', async () => {
    const response = await rest<Segment>('PUT', '/api/v1/segments', {
      json: { id: created.id, version: 1, filters: [{ field: 'lifetime_value', operator: '>=', value: 30000 }] },
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: created.id, name: 'high_value_customers', customerCount: 6, version: 2 });
    const renamed = await rest<Segment>('PUT', '/api/v1/segments', { json: { id: created.id, name: 'whales' } });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'whales', customerCount: 6, version: 3 });
  });

  it('PUT with a stale version is 409 and changes nothing', async () => {
    const response = await rest<{ error: { code: string } }>('PUT', '/api/v1/segments', {
      json: { id: created.id, version: 1, name: 'lost update' },
    });
    expect(response.status).toBe(409);
    expect(response.body.error.code).toBe('CONFLICT');
    expect((await rest<Segment>('GET', `/api/v1/segments/${created.id}`)).body.name).toBe('whales');
  });

  it('DELETE /api/v1/segments?id= is 204 with no body, and the segment is gone', async () => {
    const response = await rest('DELETE', `/api/v1/segments?id=${created.id}`);
    expect(response.status).toBe(204);
    expect(response.text).toBe('');
    expect((await rest('GET', `/api/v1/segments/${created.id}`)).status).toBe(404);
    const view = await gw.services.database.db.oneOrNone('SELECT 1 FROM pg_views WHERE viewname = $1', [
      created.viewName,
    ]);
    expect(view).toBeNull();
  });
});

describe('overlap', () => {
  it('POST /api/v1/segments/overlap gives exact sizes, the pairwise overlap and the union', async () => {
    const high = await rest<Segment>('POST', '/api/v1/segments', {
      json: {
        name: 'over_10k',
        baseSchemaId: customersId,
        filters: [{ field: 'lifetime_value', operator: '>', value: 10000 }],
      },
    });
    const low = await rest<Segment>('POST', '/api/v1/segments', {
      json: {
        name: 'upto_20k',
        baseSchemaId: customersId,
        filters: [{ field: 'lifetime_value', operator: '<=', value: 20000 }],
      },
    });
    const response = await rest('POST', '/api/v1/segments/overlap', {
      json: { segmentIds: [high.body.id, low.body.id] },
    });
    expect(response.status).toBe(200);
    // 35 customers: C11..C35 are over 10k (25), C01..C20 up to 20k (20), C11..C20 both.
    expect(response.body).toEqual({
      segments: [
        { id: high.body.id, name: 'over_10k', size: 25 },
        { id: low.body.id, name: 'upto_20k', size: 20 },
      ],
      overlaps: [{ segments: [high.body.id, low.body.id], count: 10, percent: 50 }],
      totalUniqueCustomers: 35,
    });
  });

  it('fewer than two ids is a 400 naming segmentIds', async () => {
    const response = await rest<{ error: { details: Array<{ path: string }> } }>('POST', '/api/v1/segments/overlap', {
      json: { segmentIds: ['seg_000000000000'] },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.details[0]!.path).toBe('segmentIds');
  });
});

describe('list filters', () => {
  it('status and search narrow the list, and the total counts what matches', async () => {
    const paused = await rest<Segment>('POST', '/api/v1/segments', {
      json: { name: 'Paused Big Spenders', baseSchemaId: customersId, status: 'paused' },
    });
    expect(paused.status).toBe(201);
    const byStatus = await rest<Page<Segment>>('GET', '/api/v1/segments?status=paused');
    expect(byStatus.body.data.map((s) => s.id)).toEqual([paused.body.id]);
    expect(byStatus.body.pagination.total).toBe(1);
    const bySearch = await rest<Page<Segment>>('GET', '/api/v1/segments?search=big%20SPENDERS');
    expect(bySearch.body.data.map((s) => s.id)).toEqual([paused.body.id]);
    const none = await rest<Page<Segment>>('GET', '/api/v1/segments?status=archived');
    expect(none.body).toEqual({ data: [], pagination: { total: 0, hasMore: false, limit: 20, cursor: null } });
  });
});

describe('roles, as on the reference page', () => {
  const routes: Array<{
    name: string;
    allowed: Role[];
    call: (key: string, segmentId: string) => Promise<{ status: number }>;
  }> = [
    {
      name: 'GET /segments',
      allowed: ['admin', 'editor', 'viewer'],
      call: (key) => rest('GET', '/api/v1/segments', { key }),
    },
    {
      name: 'GET /segments/{id}',
      allowed: ['admin', 'editor', 'viewer'],
      call: (key, id) => rest('GET', `/api/v1/segments/${id}`, { key }),
    },
    {
      name: 'POST /segments',
      allowed: ['admin', 'editor'],
      call: (key) =>
        rest('POST', '/api/v1/segments', { key, json: { name: `by_${key.slice(4, 12)}`, baseSchemaId: customersId } }),
    },
    {
      name: 'PUT /segments',
      allowed: ['admin', 'editor'],
      call: (key, id) => rest('PUT', '/api/v1/segments', { key, json: { id, description: 'touched' } }),
    },
    {
      name: 'POST /segments/{id}?action=refresh',
      allowed: ['admin', 'editor'],
      call: (key, id) => rest('POST', `/api/v1/segments/${id}?action=refresh`, { key }),
    },
    {
      name: 'POST /segments/{id}?action=preview',
      allowed: ['admin', 'editor'],
      call: (key, id) => rest('POST', `/api/v1/segments/${id}?action=preview`, { key }),
    },
    {
      name: 'DELETE /segments',
      allowed: ['admin', 'editor'],
      call: async (key) => {
        const doomed = await rest<Segment>('POST', '/api/v1/segments', {
          json: { name: `doomed_${key.slice(4, 12)}`, baseSchemaId: customersId },
        });
        return rest('DELETE', `/api/v1/segments?id=${doomed.body.id}`, { key });
      },
    },
  ];
  let segmentId: string;
  beforeAll(async () => {
    segmentId = (
      await rest<Segment>('POST', '/api/v1/segments', { json: { name: 'for_roles', baseSchemaId: customersId } })
    ).body.id;
  });

  describe.each(routes)('$name', ({ allowed, call }) => {
    it.each(['admin', 'editor', 'viewer'] as Role[])('as %s', async (role) => {
      const response = await call(keys[role], segmentId);
      if (allowed.includes(role)) expect(response.status).toBeLessThan(300);
      else expect(response.status).toBe(403);
    });
  });
});

describe('tenant isolation', () => {
  it("another tenant's segment answers exactly like a missing one", async () => {
    const theirs = await gw.tenantWithKeys(uniqueTenant('rest-other'), ['admin']);
    const mine = await rest<Segment>('POST', '/api/v1/segments', {
      json: { name: 'mine_only', baseSchemaId: customersId },
    });
    const missing = 'seg_000000000000';
    for (const [method, path] of [
      ['GET', `/api/v1/segments/{id}`],
      ['POST', `/api/v1/segments/{id}?action=refresh`],
      ['POST', `/api/v1/segments/{id}?action=preview`],
      ['DELETE', `/api/v1/segments?id={id}`],
    ] as const) {
      const other = await rest<{ error: unknown }>(method, path.replace('{id}', mine.body.id), { key: theirs.admin });
      const none = await rest<{ error: unknown }>(method, path.replace('{id}', missing), { key: theirs.admin });
      expect(other.status, `${method} ${path}`).toBe(404);
      expect(none.status).toBe(404);
      expect(JSON.stringify(other.body).replace(mine.body.id, 'X')).toBe(
        JSON.stringify(none.body).replace(missing, 'X'),
      );
    }
    const put = await rest('PUT', '/api/v1/segments', {
      key: theirs.admin,
      json: { id: mine.body.id, name: 'stolen' },
    });
    expect(put.status).toBe(404);
    expect((await rest<Segment>('GET', `/api/v1/segments/${mine.body.id}`)).body.name).toBe('mine_only');
  });
});

describe('pagination over 250 segments', () => {
  const TOTAL = 250;
  let pagesKey: string;
  let all: string[];

  beforeAll(async () => {
    pagesKey = (await gw.tenantWithKeys(uniqueTenant('rest-pages'), ['admin'])).admin;
    const schema = await rest<{ id: string }>('POST', '/api/v1/schemas', {
      key: pagesKey,
      json: { name: 'people', fields: [{ name: 'id', dataType: 'bigint', isPrimaryKey: true }] },
    });
    const names = Array.from({ length: TOTAL }, (_, i) => `segment_${String(i).padStart(3, '0')}`);
    const created: string[] = [];
    // Eight at a time: each create is a transaction with a CREATE VIEW and a count.
    for (let start = 0; start < TOTAL; start += 8) {
      const batch = await Promise.all(
        names
          .slice(start, start + 8)
          .map((name) =>
            rest<Segment>('POST', '/api/v1/segments', { key: pagesKey, json: { name, baseSchemaId: schema.body.id } }),
          ),
      );
      for (const response of batch) {
        expect(response.status).toBe(201);
        created.push(response.body.id);
      }
    }
    all = created;
  }, 180_000);

  async function walkForward(limit: number): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `limit=${limit}&cursor=${encodeURIComponent(cursor)}` : `limit=${limit}`;
      const response = await rest<Page<Segment>>('GET', `/api/v1/segments?${query}`, { key: pagesKey });
      expect(response.status).toBe(200);
      const { data, pagination } = response.body;
      pages += 1;
      expect(pagination.total).toBe(TOTAL);
      expect(pagination.limit).toBe(limit);
      expect(pagination.hasMore).toBe(pagination.cursor !== null);
      expect(data.length).toBe(pagination.hasMore ? limit : TOTAL - seen.length);
      seen.push(...data.map((s) => s.id));
      cursor = pagination.cursor;
    } while (cursor !== null);
    expect(pages).toBe(Math.ceil(TOTAL / limit));
    return seen;
  }

  /** REST pages forward only (`cursor`); backward is GraphQL's `last`/`before` on the same connection. */
  async function walkBackward(size: number): Promise<string[]> {
    const seen: string[] = [];
    let before: string | null = null;
    for (;;) {
      const result: GraphQLResponse<BackwardPage> = await gql<BackwardPage>(
        gw.url,
        pagesKey,
        'query($last: Int, $before: String) { segments(last: $last, before: $before) { totalCount pageInfo { hasPreviousPage startCursor } edges { node { id } } } }',
        { last: size, before },
      );
      expect(result.errors).toBeUndefined();
      const { edges, pageInfo, totalCount } = result.data!.segments;
      expect(totalCount).toBe(TOTAL);
      seen.unshift(...edges.map((e) => e.node.id));
      if (!pageInfo.hasPreviousPage) return seen;
      before = pageInfo.startCursor;
    }
  }
  interface BackwardPage {
    segments: {
      totalCount: number;
      pageInfo: { hasPreviousPage: boolean; startCursor: string | null };
      edges: Array<{ node: { id: string } }>;
    };
  }

  it.each([1, 7, 100])(
    'limit %i walks every segment exactly once, forward and backward, in one order',
    async (limit) => {
      const forward = await walkForward(limit);
      expect(forward).toHaveLength(TOTAL);
      expect(new Set(forward).size).toBe(TOTAL);
      expect([...forward].sort()).toEqual([...all].sort());
      const backward = await walkBackward(limit);
      expect(backward).toEqual(forward);
    },
    120_000,
  );

  it('oldest first: the order of the pages is the order of creation', async () => {
    const firstPage = await rest<Page<Segment>>('GET', '/api/v1/segments?limit=8', { key: pagesKey });
    expect(new Set(firstPage.body.data.map((s) => s.id))).toEqual(new Set(all.slice(0, 8)));
  });
});

describe('request ids', () => {
  it('a sane client x-request-id is echoed; an unsafe one is replaced', async () => {
    const echoed = await rest('GET', '/api/v1/segments', { headers: { 'x-request-id': 'client-req.42:abc' } });
    expect(echoed.headers.get('x-request-id')).toBe('client-req.42:abc');
    const replaced = await rest('GET', '/api/v1/segments', { headers: { 'x-request-id': 'no spaces <allowed>' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const refused = await rest('GET', '/api/v1/segments', { key: null, headers: { 'x-request-id': 'unauth-1' } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('x-request-id')).toBe('unauth-1');
  });
});
