import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/keys.js';
import { retryingTx } from '../../src/sql/transactions.js';
import { gql, startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { restCall } from '../support/rest.js';
import { assertViewsMatchMetadata, createShopSchemas, loadRowsGql } from '../support/segments.js';

/*
 * Many requests at once on the same and on different segments. On the
 * embedded database they take turns on its one connection; on a server they
 * really overlap, and deadlocks between them are retried, not surfaced.
 */

interface Segment {
  id: string;
  name: string;
  version: number;
  description: string | null;
  customerCount: number;
  viewName: string;
  filters: unknown[];
}

let gw: TestGateway;
let tenant: string;
let keys: Record<Role, string>;
let customers: string;

const CUSTOMERS = Array.from({ length: 20 }, (_, i) => ({
  id: i + 1,
  email: `c${i + 1}@example.com`,
  country: i % 2 === 0 ? 'US' : 'DE',
  lifetime_value: (i + 1) * 100,
}));
/** Members of `lifetime_value > threshold`. */
const above = (threshold: number) => CUSTOMERS.filter((c) => c.lifetime_value > threshold).length;
const valueAbove = (threshold: number) => [{ field: 'lifetime_value', operator: '>', value: threshold }];

const db = () => gw.services.database.db;
const api = (method: string, path: string, json?: unknown, headers?: Record<string, string>) =>
  restCall<Segment & { error?: { code: string } }>(gw.url, keys.editor, method, path, { json, headers });

let counter = 0;
async function newSegment(filters: unknown[] = valueAbove(1000), extra: Record<string, unknown> = {}): Promise<Segment> {
  const created = await api('POST', '/api/v1/segments', {
    name: `segment_${++counter}`,
    baseSchemaId: customers,
    filters,
    ...extra,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

async function viewCount(segment: { viewName: string }): Promise<number> {
  const namespace = await db().one<{ namespace: string }>('SELECT namespace FROM tenants WHERE id = $1', [tenant]);
  const row = await db().one<{ n: number }>('SELECT count(*)::int AS n FROM $1:name.$2:name', [
    namespace.namespace,
    segment.viewName,
  ]);
  return row.n;
}

/** Every status `responses` got, sorted, to compare as a multiset. */
const statuses = (responses: Array<{ status: number }>) => responses.map((r) => r.status).sort();

beforeAll(async () => {
  gw = await startTestGateway({ env: { DB_POOL_MAX: '12' } });
  tenant = uniqueTenant('races');
  keys = await gw.tenantWithKeys(tenant);
  ({ customers } = await createShopSchemas(gw.url, keys.admin));
  await loadRowsGql(gw.url, keys.admin, customers, CUSTOMERS);
});
afterAll(async () => {
  await gw?.close();
});

describe('concurrent changes of segments', () => {
  it('creates of one name at once: one is created, every other is told 409, one view exists', async () => {
    const body = { name: 'one_name_only', baseSchemaId: customers, filters: valueAbove(500) };
    const responses = await Promise.all(Array.from({ length: 8 }, () => api('POST', '/api/v1/segments', body)));
    expect(statuses(responses)).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    for (const r of responses.filter((r) => r.status === 409)) expect(r.body.error?.code).toBe('CONFLICT');
    const rows = await db().any('SELECT id FROM segments WHERE tenant_id = $1 AND name = $2', [tenant, body.name]);
    expect(rows).toHaveLength(1);
    await assertViewsMatchMetadata(db());
  });

  it('creates of different names at once all succeed, each with its own view and count', async () => {
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        api('POST', '/api/v1/segments', { name: `parallel_${i}`, baseSchemaId: customers, filters: valueAbove(i * 100) }),
      ),
    );
    expect(statuses(responses)).toEqual(Array(10).fill(201));
    for (const [i, r] of responses.entries()) expect(r.body.customerCount).toBe(above(i * 100));
    await assertViewsMatchMetadata(db());
  });

  it('updates sent with the same version: exactly one is applied, the others are told 409', async () => {
    const segment = await newSegment();
    const responses = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        api('PUT', '/api/v1/segments', { id: segment.id, version: segment.version, description: `writer ${i}` }),
      ),
    );
    expect(statuses(responses)).toEqual([200, 409, 409, 409, 409, 409]);
    const winner = responses.find((r) => r.status === 200)!.body;
    const now = (await api('GET', `/api/v1/segments/${segment.id}`)).body;
    expect(now).toMatchObject({ version: segment.version + 1, description: winner.description });
  });

  it('read, change and write back with versions loses no update, however the writers interleave', async () => {
    const segment = await newSegment(valueAbove(1000), { description: '' });
    const writers = ['a', 'b', 'c', 'd', 'e'];
    await Promise.all(
      writers.map(async (tag) => {
        for (let attempt = 0; attempt < 40; attempt++) {
          const current = (await api('GET', `/api/v1/segments/${segment.id}`)).body;
          const put = await api('PUT', '/api/v1/segments', {
            id: segment.id,
            version: current.version,
            description: `${current.description ?? ''}${tag}`,
          });
          if (put.status === 200) return;
          expect(put.status).toBe(409);
        }
        throw new Error(`writer ${tag} never got its turn`);
      }),
    );
    const final = (await api('GET', `/api/v1/segments/${segment.id}`)).body;
    expect([...(final.description ?? '')].sort().join('')).toBe(writers.join(''));
    expect(final.version).toBe(segment.version + writers.length);
  });

  it('updates without a version are applied one after another: every change and every bump stays', async () => {
    const segment = await newSegment();
    const thresholds = [100, 300, 500, 700, 900, 1100];
    const responses = await Promise.all([
      ...thresholds.map((t) => api('PUT', '/api/v1/segments', { id: segment.id, filters: valueAbove(t) })),
      api('PUT', '/api/v1/segments', { id: segment.id, description: 'described meanwhile' }),
      api('PUT', '/api/v1/segments', { id: segment.id, status: 'active' }),
    ]);
    expect(statuses(responses)).toEqual(Array(8).fill(200));
    const final = (await api('GET', `/api/v1/segments/${segment.id}`)).body;
    expect(final).toMatchObject({ version: segment.version + 8, description: 'described meanwhile', status: 'active' });
    // The last definition written is the one the view holds and the count counts.
    const threshold = (final.filters[0] as { value: number }).value;
    expect(await viewCount(final)).toBe(above(threshold));
    expect(final.customerCount).toBe(above(threshold));
  });

  it('refreshes, updates, previews and deletes racing on the same segments never fail, and no view outlives its row', async () => {
    const segments = await Promise.all([1, 2, 3, 4].map((i) => newSegment(valueAbove(i * 200))));
    const operations = segments.flatMap((s, i) => [
      () => api('POST', `/api/v1/segments/${s.id}?action=refresh`),
      () => api('PUT', '/api/v1/segments', { id: s.id, filters: valueAbove(i * 300) }),
      () => api('POST', `/api/v1/segments/${s.id}?action=preview`),
      () => api('POST', `/api/v1/segments/${s.id}?action=refresh`),
      () => api('PUT', '/api/v1/segments', { id: s.id, description: 'touched' }),
      () => gql(gw.url, keys.editor, `{ segment(id: "${s.id}") { customerCount preview(limit: 3) { count } } }`),
      ...(i % 2 === 0 ? [() => api('DELETE', `/api/v1/segments?id=${s.id}`)] : []),
      () => api('POST', `/api/v1/segments/${s.id}?action=refresh`),
    ]);
    // A fixed shuffle: the same interleaving on every run, still mixing every kind.
    const order = operations.map((_, i) => (i * 7) % operations.length);
    const responses = await Promise.all(order.map((i) => operations[i]!()));
    for (const response of responses) {
      expect([200, 204, 404], JSON.stringify('body' in response ? response.body : response.errors)).toContain(
        response.status,
      );
      if ('errors' in response && response.errors) {
        // A segment deleted meanwhile reads as null or as NOT_FOUND, never as an internal error.
        for (const e of response.errors) expect(e.extensions?.code).toBe('NOT_FOUND');
      }
    }
    await assertViewsMatchMetadata(db());
    for (const s of segments) {
      const now = await api('GET', `/api/v1/segments/${s.id}`);
      if (segments.indexOf(s) % 2 === 0) {
        expect(now.status).toBe(404);
        continue;
      }
      expect(now.body.customerCount).toBe(await viewCount(now.body));
    }
  });

  it('a reference made while its target is deleted: either the delete or the reference is refused', async () => {
    for (let round = 0; round < 4; round++) {
      const target = await newSegment();
      const [reference, deleted] = await Promise.all([
        api('POST', '/api/v1/segments', {
          name: `referrer_${round}`,
          baseSchemaId: customers,
          filters: [{ segment: target.id, operator: 'in' }],
        }),
        api('DELETE', `/api/v1/segments?id=${target.id}`),
      ]);
      const outcome = [reference.status, deleted.status];
      expect([[201, 409], [400, 204]], JSON.stringify([reference.body, deleted.body])).toContainEqual(outcome);
      await assertViewsMatchMetadata(db());
    }
  });

  it('two segments made to reference each other at once: one change goes through, the cycle is refused', async () => {
    const a = await newSegment();
    const b = await newSegment();
    const [toB, toA] = await Promise.all([
      api('PUT', '/api/v1/segments', { id: a.id, filters: [...valueAbove(1000), { segment: b.id, operator: 'in' }] }),
      api('PUT', '/api/v1/segments', { id: b.id, filters: [...valueAbove(1000), { segment: a.id, operator: 'in' }] }),
    ]);
    expect(statuses([toB, toA])).toEqual([200, 400]);
    expect([toB, toA].find((r) => r.status === 400)!.body).toMatchObject({
      error: { code: 'BAD_REQUEST', message: expect.stringMatching(/cycle/) },
    });
  });
});

describe('Idempotency-Key on creates', () => {
  const body = () => ({ name: 'idempotent_segment', baseSchemaId: customers, filters: valueAbove(1200) });

  it('a burst of identical creates with one key makes one segment, and every answer is the first one', async () => {
    const headers = { 'idempotency-key': 'burst-7c1e' };
    const responses = await Promise.all(Array.from({ length: 8 }, () => api('POST', '/api/v1/segments', body(), headers)));
    expect(statuses(responses)).toEqual(Array(8).fill(201));
    const first = responses[0]!.body;
    for (const r of responses) expect(r.body).toEqual(first);
    const rows = await db().any('SELECT id FROM segments WHERE tenant_id = $1 AND name = $2', [tenant, body().name]);
    expect(rows).toEqual([{ id: first.id }]);
    await assertViewsMatchMetadata(db());

    // Later, after the segment changed, a retry still gets the first answer, whole.
    await api('PUT', '/api/v1/segments', { id: first.id, description: 'changed since' });
    const retry = await api('POST', '/api/v1/segments', { filters: valueAbove(1200), baseSchemaId: customers, name: 'idempotent_segment' }, headers);
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(first);
  });

  it('the same key with another request is refused with 409; another tenant has keys of its own', async () => {
    const headers = { 'idempotency-key': 'reused-key' };
    expect((await api('POST', '/api/v1/segments', { ...body(), name: 'keyed_once' }, headers)).status).toBe(201);
    const other = await api('POST', '/api/v1/segments', { ...body(), name: 'keyed_twice' }, headers);
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/Idempotency-Key/) });

    const otherTenant = uniqueTenant('races-other');
    const otherKeys = await gw.tenantWithKeys(otherTenant, ['admin']);
    const schemas = await createShopSchemas(gw.url, otherKeys.admin);
    const theirs = await restCall(gw.url, otherKeys.admin, 'POST', '/api/v1/segments', {
      json: { ...body(), name: 'keyed_twice', baseSchemaId: schemas.customers },
      headers,
    });
    expect(theirs.status).toBe(201);
  });

  it('GraphQL createSegment honours the header, and a REST retry of the same create gets its segment', async () => {
    const headers = { 'idempotency-key': 'across-apis' };
    const input = { name: 'made_by_graphql', baseSchemaId: customers, filters: valueAbove(300) };
    const mutation = 'mutation($input: CreateSegmentInput!) { createSegment(input: $input) { segment { id version } } }';
    const [one, two] = await Promise.all([
      gql<{ createSegment: { segment: { id: string } } }>(gw.url, keys.editor, mutation, { input }, headers),
      gql<{ createSegment: { segment: { id: string } } }>(gw.url, keys.editor, mutation, { input }, headers),
    ]);
    expect(one.data?.createSegment.segment.id).toBeDefined();
    expect(two.data?.createSegment.segment.id).toBe(one.data?.createSegment.segment.id);
    const viaRest = await api('POST', '/api/v1/segments', input, headers);
    expect(viaRest.status).toBe(201);
    expect(viaRest.body.id).toBe(one.data?.createSegment.segment.id);
  });

  it('a create that failed recorded nothing: the key can be used again', async () => {
    const headers = { 'idempotency-key': 'failed-first' };
    const bad = await api('POST', '/api/v1/segments', { ...body(), name: 'after_failure', filters: [{ field: 'nope', operator: '=', value: 1 }] }, headers);
    expect(bad.status).toBe(400);
    const good = await api('POST', '/api/v1/segments', { ...body(), name: 'after_failure' }, headers);
    expect(good.status).toBe(201);
  });

  it('a key that is not 1 to 255 visible characters is a 400 naming the header', async () => {
    const refused = await api('POST', '/api/v1/segments', body(), { 'idempotency-key': 'x'.repeat(256) });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'BAD_REQUEST', details: [{ path: 'Idempotency-Key' }] });
    const viaGraphQL = await gql(gw.url, keys.editor, '{ viewer { role } }', undefined, { 'idempotency-key': 'x'.repeat(256) });
    expect(viaGraphQL.status).toBe(400);
    expect(viaGraphQL.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('schema creates and JSON and CSV data loads sent twice with a key happen once and answer alike', async () => {
    const schemaBody = {
      name: 'idempotent_things',
      fields: [
        { name: 'id', dataType: 'integer', isPrimaryKey: true },
        { name: 'label', dataType: 'text' },
      ],
    };
    const schemaHeaders = { 'idempotency-key': 'schema-once' };
    const schemas = await Promise.all([1, 2, 3].map(() => api('POST', '/api/v1/schemas', schemaBody, schemaHeaders)));
    expect(statuses(schemas)).toEqual([201, 201, 201]);
    expect(new Set(schemas.map((s) => s.body.id)).size).toBe(1);
    const schemaId = schemas[0]!.body.id;

    const rows = { rows: [{ id: 1, label: 'a' }, { id: 2, label: 'b' }, { id: 3, label: 'c' }] };
    const loads = await Promise.all(
      [1, 2, 3].map(() => api('POST', `/api/v1/schemas/${schemaId}/data`, rows, { 'idempotency-key': 'load-json' })),
    );
    for (const load of loads) expect({ status: load.status, body: load.body }).toEqual({ status: 201, body: loads[0]!.body });
    expect(loads[0]!.body).toMatchObject({ inserted: 3 });

    const csv = (key: string) =>
      restCall(gw.url, keys.editor, 'POST', `/api/v1/schemas/${schemaId}/data`, {
        body: 'id,label\n4,d\n5,e\n',
        headers: { 'content-type': 'text/csv', 'idempotency-key': key },
      });
    const [csvOne, csvTwo] = await Promise.all([csv('load-csv'), csv('load-csv')]);
    expect(csvOne).toMatchObject({ status: 201, body: { inserted: 2 } });
    expect(csvTwo).toMatchObject({ status: 201, body: { inserted: 2 } });
    // Another key for the same CSV is another load: its rows are there already, so it inserts none.
    expect(await csv('load-csv-again')).toMatchObject({ status: 201, body: { inserted: 0 } });
    const stored = await restCall<{ rows: unknown[] }>(gw.url, keys.editor, 'GET', `/api/v1/schemas/${schemaId}/data?limit=100`);
    expect(stored.body.rows).toHaveLength(5);
  });
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('transactions that deadlock', () => {
  it('are run again, and both go through', async () => {
    await db().none('CREATE TABLE deadlock_probe (id int PRIMARY KEY, n int NOT NULL); INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)');
    let runs = 0;
    let arrived = 0;
    let release!: () => void;
    const bothHoldOneRow = new Promise<void>((resolve) => (release = resolve));
    const lockInOrder = (first: number, second: number) =>
      retryingTx(db(), 'deadlock probe', async (t) => {
        runs += 1;
        await t.none('UPDATE deadlock_probe SET n = n + 1 WHERE id = $1', [first]);
        if (++arrived === 2) release();
        await bothHoldOneRow;
        await t.none('UPDATE deadlock_probe SET n = n + 1 WHERE id = $1', [second]);
      });
    await Promise.all([lockInOrder(1, 2), lockInOrder(2, 1)]);
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(await db().any('SELECT id, n FROM deadlock_probe ORDER BY id')).toEqual([
      { id: 1, n: 2 },
      { id: 2, n: 2 },
    ]);
  });
});
