import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/keys.js';
import { gql, startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { lockTableFor, makeViewSlow, metricValue, restJson, shopWithSegments } from '../support/hardening.js';

// pg_sleep in the embedded PostgreSQL would stop the whole process, and it has
// one connection (one pool) anyway: these need a server database.
const server = process.env.TEST_DATABASE_URL;

/** Polls `check` until it holds (at most `tries` times, 50 ms apart). */
async function eventually(check: () => Promise<boolean>, tries = 100): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

describe.skipIf(!server)('heavy queries get a bounded share of the database', () => {
  let gw: TestGateway;
  let keys: Record<Role, string>;
  let tenant: string;
  let slow: { id: string; viewName: string };

  beforeAll(async () => {
    gw = await startTestGateway({ env: { DB_POOL_MAX: '5', HEAVY_POOL_MAX: '1' } });
    tenant = uniqueTenant('heavy');
    keys = await gw.tenantWithKeys(tenant);
    const shop = await shopWithSegments(gw.url, keys.editor, ['slow', 'quick']);
    slow = shop.segments.slow!;
    await makeViewSlow(gw.testDb!.db, tenant, slow.viewName, 0.6);
  });
  afterAll(() => gw?.close());

  it('runs counts, previews and overlaps on their own pool of HEAVY_POOL_MAX connections', () => {
    const { database } = gw.services;
    expect(database.heavy).not.toBe(database.db);
    expect(database.pools.map((p) => [p.name, p.pool.options.max])).toEqual([
      ['main', 5],
      ['heavy', 1],
    ]);
  });

  it("runs both pools' sessions with PostgreSQL's JIT off", async () => {
    const { db, heavy } = gw.services.database;
    const settings = await Promise.all([db, heavy].map((pool) => pool.one<{ jit: string }>('SHOW jit')));
    expect(settings).toEqual([{ jit: 'off' }, { jit: 'off' }]);
  });

  it('a cheap read answers while refreshes of a slow segment fill the heavy pool', async () => {
    // More slow refreshes than the main pool has connections: on one shared
    // pool, the cheap reads would wait until a whole pool's worth had finished.
    const mainPool = gw.services.config.dbPoolMax;
    const finished: string[] = [];
    const refreshes = Array.from({ length: mainPool + 1 }, (_, i) =>
      restJson(gw.url, keys.editor, 'POST', `/api/v1/segments/${slow.id}?action=refresh`).then((response) => {
        finished.push(`refresh ${i}`);
        return response;
      }),
    );
    // One refresh holds the heavy pool's only connection, the others wait for it.
    const heavyWaiting = () => metricValue(gw.url, 'segment_gateway_db_pool_connections', { pool: 'heavy', state: 'waiting' });
    expect(await eventually(async () => (await heavyWaiting()) >= 1)).toBe(true);

    const list = await restJson(gw.url, keys.viewer, 'GET', '/api/v1/segments');
    const graphql = await gql(gw.url, keys.viewer, '{ segments { totalCount edges { node { id customerCount } } } }');
    const refreshedBeforeReads = finished.length;

    expect(list.status).toBe(200);
    expect(graphql.errors).toBeUndefined();
    expect(refreshedBeforeReads).toBeLessThan(mainPool);
    const responses = await Promise.all(refreshes);
    expect(responses.map((r) => r.status)).toEqual(Array(mainPool + 1).fill(200));
  });
});

describe.skipIf(!server)('statement timeout', () => {
  let gw: TestGateway;
  let keys: Record<Role, string>;
  let tenant: string;
  let segments: Record<string, { id: string; viewName: string }>;
  const SLEEP_SECONDS = 3;

  beforeAll(async () => {
    gw = await startTestGateway({ env: { QUERY_TIMEOUT_MS: '200' } });
    tenant = uniqueTenant('timeout');
    keys = await gw.tenantWithKeys(tenant);
    ({ segments } = await shopWithSegments(gw.url, keys.editor, ['slow', 'other']));
    await makeViewSlow(gw.testDb!.db, tenant, segments.slow!.viewName, SLEEP_SECONDS);
  });
  afterAll(() => gw?.close());

  /** Reads the slow view directly, without a timeout: it takes the whole sleep. */
  function readSlowViewDirectly(): Promise<string> {
    return gw.testDb!.db
      .one('SELECT count(*) FROM $1:name.$2:name', [`t_${tenant.replace(/-/g, '_')}`, segments.slow!.viewName])
      .then(() => 'direct read');
  }

  it('a refresh that runs out of time is QUERY_TIMEOUT in GraphQL, before the slow view could answer, and changes nothing', async () => {
    const before = await gql<{ segment: { customerCount: number; lastRefreshedAt: string | null } }>(
      gw.url,
      keys.editor,
      `{ segment(id: "${segments.slow!.id}") { customerCount lastRefreshedAt } }`,
    );
    const direct = readSlowViewDirectly();
    const refresh = gql(gw.url, keys.editor, `mutation { refreshSegment(id: "${segments.slow!.id}") { segment { id } } }`).then(
      (result) => ({ result }),
    );
    const first = await Promise.race([direct, refresh]);
    expect(first).not.toBe('direct read');
    const { result } = first as Awaited<typeof refresh>;
    expect(result.errors?.[0]?.extensions?.code).toBe('QUERY_TIMEOUT');
    expect(JSON.stringify(result)).not.toMatch(/SELECT|statement_timeout|canceling/i);
    await direct;

    const after = await gql(gw.url, keys.editor, `{ segment(id: "${segments.slow!.id}") { customerCount lastRefreshedAt } }`);
    expect(after.data).toEqual(before.data);
  });

  it('REST answers a timeout with 503 SERVICE_UNAVAILABLE: refresh, preview and overlap', async () => {
    const { slow, other } = segments as Record<'slow' | 'other', { id: string }>;
    // An overlap reads the base table in one pass, not the views: reading the table itself is made slow.
    const lock = lockTableFor(gw.testDb!.db, tenant, 'ds_customers', SLEEP_SECONDS);
    await lock.locked;
    const calls = [
      restJson(gw.url, keys.editor, 'POST', `/api/v1/segments/${slow.id}?action=refresh`),
      restJson(gw.url, keys.editor, 'POST', `/api/v1/segments/${slow.id}?action=preview`),
      restJson(gw.url, keys.editor, 'POST', '/api/v1/segments/overlap', { segmentIds: [slow.id, other.id] }),
    ];
    for (const response of await Promise.all(calls)) {
      expect(response.status).toBe(503);
      expect(response.body).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE', status: 503 } });
    }
    await lock.released;
    // The pool is none the worse: the other segment refreshes.
    expect((await restJson(gw.url, keys.editor, 'POST', `/api/v1/segments/${other.id}?action=refresh`)).status).toBe(200);
    expect(await metricValue(gw.url, 'segment_gateway_db_query_duration_seconds_count', { pool: 'heavy', outcome: 'timeout' })).toBeGreaterThanOrEqual(3);
  });
});
