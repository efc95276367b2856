import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintApiKey, type Role } from '../../src/domain/keys.js';
import { createTenant } from '../../src/domain/tenants.js';
import { gql, startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { TcpProxy } from '../support/proxy.js';
import { rateLimitOf, restCall } from '../support/rest.js';
import { createShopSchemas, loadRowsGql } from '../support/segments.js';

const REDIS_URL = process.env.TEST_REDIS_URL;

/** Small budgets, so that each class is told apart by its RateLimit-Limit; a window no test outlives. */
const LIMITS = {
  RATE_LIMIT_ENABLED: 'true',
  RATE_LIMIT_READ: '4',
  RATE_LIMIT_WRITE: '3',
  RATE_LIMIT_HEAVY: '2',
  RATE_LIMIT_WINDOW_S: '3600',
};
const READ = 4;
const WRITE = 3;
const HEAVY = 2;

async function mint(gw: TestGateway, tenantId: string, role: Role = 'admin'): Promise<{ key: string; keyId: string }> {
  const { key, info } = await mintApiKey(gw.services.database.db, gw.services.authSecret, { tenantId, role });
  return { key, keyId: info.id };
}

const LIST = '{ segments(first: 5) { totalCount } }';

describe('rate limits per API key and class of request', () => {
  let gw: TestGateway;
  let tenant: string;
  let schemas: { customers: string; orders: string };
  let segmentIds: string[];
  /** A key that has not been used yet: every budget whole. */
  const fresh = async (role: Role = 'admin') => (await mint(gw, tenant, role)).key;

  beforeAll(async () => {
    gw = await startTestGateway({ env: LIMITS });
    tenant = uniqueTenant('limits');
    await createTenant(gw.services.database.db, tenant);
    schemas = await createShopSchemas(gw.url, await fresh());
    await loadRowsGql(gw.url, await fresh(), schemas.customers, [
      { id: 1, country: 'US', lifetime_value: 100 },
      { id: 2, country: 'DE', lifetime_value: 200 },
    ]);
    segmentIds = [];
    for (const name of ['us', 'rich']) {
      const filters =
        name === 'us'
          ? [{ field: 'country', operator: '=', value: 'US' }]
          : [{ field: 'lifetime_value', operator: '>', value: 150 }];
      const created = await restCall<{ id: string }>(gw.url, await fresh(), 'POST', '/api/v1/segments', {
        json: { name, baseSchemaId: schemas.customers, filters },
      });
      expect(created.status).toBe(201);
      segmentIds.push(created.body.id);
    }
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('GraphQL and REST draw on one budget per key; over it both answer 429 RATE_LIMITED with Retry-After', async () => {
    const key = await fresh('viewer');
    const first = await gql(gw.url, key, LIST);
    expect(first.status).toBe(200);
    expect(rateLimitOf(first.headers)).toMatchObject({ 'ratelimit-limit': READ, 'ratelimit-remaining': READ - 1 });
    expect(rateLimitOf(first.headers)['retry-after']).toBeUndefined();
    expect(rateLimitOf(first.headers)['ratelimit-reset']).toBeGreaterThan(0);

    const second = await restCall(gw.url, key, 'GET', '/api/v1/segments');
    expect(second.status).toBe(200);
    expect(rateLimitOf(second.headers)).toMatchObject({ 'ratelimit-remaining': READ - 2 });
    for (let i = 3; i <= READ; i++) expect((await gql(gw.url, key, LIST)).status).toBe(200);

    const refusedGraphQL = await gql(gw.url, key, LIST);
    expect(refusedGraphQL.status).toBe(429);
    expect(refusedGraphQL.data ?? null).toBeNull();
    expect(refusedGraphQL.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(refusedGraphQL.errors?.[0]?.message).toMatch(/Too many read requests/);
    const limits = rateLimitOf(refusedGraphQL.headers);
    expect(limits).toMatchObject({ 'ratelimit-limit': READ, 'ratelimit-remaining': 0 });
    expect(limits['retry-after']).toBeGreaterThan(0);
    expect(limits['retry-after']).toBeLessThanOrEqual(3600);
    expect(refusedGraphQL.headers.get('x-request-id')).toBeTruthy();

    const refusedRest = await restCall(gw.url, key, 'GET', `/api/v1/segments/${segmentIds[0]}`);
    expect(refusedRest.status).toBe(429);
    expect(refusedRest.body).toEqual({
      error: { code: 'RATE_LIMITED', status: 429, message: expect.stringMatching(/Too many read requests/) },
    });
    expect(rateLimitOf(refusedRest.headers)).toMatchObject({ 'ratelimit-limit': READ, 'ratelimit-remaining': 0 });
    expect(rateLimitOf(refusedRest.headers)['retry-after']).toBeGreaterThan(0);
    // Both refusals are counted for /metrics, by class and tenant.
    const exposition = await (await fetch(`${gw.url}/metrics`)).text();
    const line = exposition.split('\n').find((l) => l.startsWith('segment_gateway_rate_limited_total{') && l.includes(`tenant="${tenant}"`) && l.includes('class="read"'));
    expect(Number(line?.split(' ').pop())).toBeGreaterThanOrEqual(2);
  });

  it('every route and operation is counted in its class: read, write or heavy', async () => {
    const [us, rich] = segmentIds as [string, string];
    const classOf = async (call: (key: string) => Promise<{ status: number; headers: Headers }>) => {
      const response = await call(await fresh());
      expect(response.status, 'the request itself must go through').toBeLessThan(429);
      return rateLimitOf(response.headers)['ratelimit-limit'];
    };
    const cases: Array<[string, number, (key: string) => Promise<{ status: number; headers: Headers }>]> = [
      ['GraphQL query', READ, (k) => gql(gw.url, k, LIST)],
      ['GraphQL mutation', WRITE, (k) => gql(gw.url, k, 'mutation { deleteSegment(id: "seg_000000000000") { deletedId } }')],
      ['GraphQL query selecting a preview', HEAVY, (k) => gql(gw.url, k, `{ segment(id: "${us}") { preview { count } } }`)],
      ['GraphQL overlap', HEAVY, (k) => gql(gw.url, k, `{ segmentOverlap(ids: ["${us}", "${rich}"]) { totalUniqueCustomers } }`)],
      ['GraphQL refresh', HEAVY, (k) => gql(gw.url, k, `mutation { refreshSegment(id: "${us}") { segment { id } } }`)],
      ['GraphQL row load', HEAVY, (k) => gql(gw.url, k, `mutation { loadRows(schemaId: "${schemas.orders}", rows: []) { inserted } }`)],
      ['GET segments', READ, (k) => restCall(gw.url, k, 'GET', '/api/v1/segments')],
      ['GET a segment', READ, (k) => restCall(gw.url, k, 'GET', `/api/v1/segments/${us}`)],
      ['GET rows', READ, (k) => restCall(gw.url, k, 'GET', `/api/v1/schemas/${schemas.customers}/data`)],
      ['PUT a segment', WRITE, (k) => restCall(gw.url, k, 'PUT', '/api/v1/segments', { json: { id: us, description: 'x' } })],
      ['DELETE a missing segment', WRITE, (k) => restCall(gw.url, k, 'DELETE', '/api/v1/segments?id=seg_000000000000')],
      ['refresh', HEAVY, (k) => restCall(gw.url, k, 'POST', `/api/v1/segments/${us}?action=refresh`)],
      ['preview', HEAVY, (k) => restCall(gw.url, k, 'POST', `/api/v1/segments/${us}?action=preview`)],
      ['overlap', HEAVY, (k) => restCall(gw.url, k, 'POST', '/api/v1/segments/overlap', { json: { segmentIds: [us, rich] } })],
      ['JSON row load', HEAVY, (k) => restCall(gw.url, k, 'POST', `/api/v1/schemas/${schemas.orders}/data`, { json: { rows: [] } })],
      [
        'CSV row load',
        HEAVY,
        (k) => restCall(gw.url, k, 'POST', `/api/v1/schemas/${schemas.orders}/data`, { body: 'id\n', headers: { 'content-type': 'text/csv' } }),
      ],
    ];
    for (const [what, limit, call] of cases) expect(await classOf(call), what).toBe(limit);
  });

  it('each class has its own budget: a key out of reads still writes, and heavy requests run out apart', async () => {
    const key = await fresh();
    for (let i = 0; i < READ; i++) expect((await restCall(gw.url, key, 'GET', '/api/v1/segments')).status).toBe(200);
    expect((await restCall(gw.url, key, 'GET', '/api/v1/segments')).status).toBe(429);

    const write = await restCall(gw.url, key, 'PUT', '/api/v1/segments', { json: { id: segmentIds[0], description: 'still writing' } });
    expect(write.status).toBe(200);
    expect(rateLimitOf(write.headers)).toMatchObject({ 'ratelimit-limit': WRITE, 'ratelimit-remaining': WRITE - 1 });

    // A GraphQL query that selects a preview is heavy, and so is the REST preview: one budget.
    expect((await gql(gw.url, key, `{ segment(id: "${segmentIds[0]}") { preview { count } } }`)).status).toBe(200);
    expect((await restCall(gw.url, key, 'POST', `/api/v1/segments/${segmentIds[0]}?action=preview`)).status).toBe(200);
    const refused = await restCall(gw.url, key, 'POST', `/api/v1/segments/${segmentIds[0]}?action=refresh`);
    expect(refused.status).toBe(429);
    expect(rateLimitOf(refused.headers)).toMatchObject({ 'ratelimit-limit': HEAVY, 'ratelimit-remaining': 0 });
  });

  it('budgets belong to one key of one tenant', async () => {
    const spent = await fresh('viewer');
    for (let i = 0; i < READ; i++) await gql(gw.url, spent, LIST);
    expect((await gql(gw.url, spent, LIST)).status).toBe(429);

    expect((await gql(gw.url, await fresh('viewer'), LIST)).status).toBe(200);
    const otherTenant = uniqueTenant('limits-other');
    await createTenant(gw.services.database.db, otherTenant);
    expect((await gql(gw.url, (await mint(gw, otherTenant, 'viewer')).key, LIST)).status).toBe(200);
  });

  it('a request without a valid key is refused before it is counted', async () => {
    const refused = await gql(gw.url, 'sgk_not-a-key', LIST);
    expect(refused.status).toBe(401);
    expect(rateLimitOf(refused.headers)).toEqual({});
  });

  it('with RATE_LIMIT_ENABLED=false nothing is counted and no RateLimit headers are sent', async () => {
    const off = await startTestGateway({ env: { ...LIMITS, RATE_LIMIT_ENABLED: 'false' } });
    try {
      const tenantId = uniqueTenant('limits-off');
      await createTenant(off.services.database.db, tenantId);
      const { key } = await mint(off, tenantId, 'viewer');
      for (let i = 0; i <= READ; i++) {
        const response = await gql(off.url, key, LIST);
        expect(response.status).toBe(200);
        expect(rateLimitOf(response.headers)).toEqual({});
      }
    } finally {
      await off.close();
    }
  });
});

describe.skipIf(!REDIS_URL)('rate limits kept in Redis', () => {
  const prefix = `sg-test-${randomBytes(4).toString('hex')}:`;
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(REDIS_URL!, { lazyConnect: false, maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  /** A gateway on `redisUrl`, a tenant, and a viewer key. */
  async function gatewayOn(redisUrl: string) {
    const gw = await startTestGateway({
      env: { ...LIMITS, REDIS_URL: redisUrl, RATE_LIMIT_REDIS_PREFIX: prefix, REDIS_TIMEOUT_MS: '100' },
    });
    const tenantId = uniqueTenant('limits-redis');
    await createTenant(gw.services.database.db, tenantId);
    return { gw, tenantId, ...(await mint(gw, tenantId, 'viewer')) };
  }

  /**
   * The gateway connects to Redis in the background, counting in memory until
   * then: a key of its own probes until its counts appear in Redis.
   */
  async function untilCountedInRedis(gw: TestGateway, tenantId: string): Promise<void> {
    const probe = await mint(gw, tenantId, 'viewer');
    const redisKey = `${prefix}write:${tenantId}:${probe.keyId}`;
    for (let i = 0; i < 200 && (await redis.get(redisKey)) === null; i++) {
      await gql(gw.url, probe.key, 'mutation { deleteSegment(id: "seg_000000000000") { deletedId } }');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await redis.get(redisKey)).not.toBeNull();
  }

  it('counts under the configured prefix, by class, tenant and key, expiring with the window', async () => {
    const { gw, tenantId, key, keyId } = await gatewayOn(REDIS_URL!);
    try {
      await untilCountedInRedis(gw, tenantId);
      const redisKey = `${prefix}read:${tenantId}:${keyId}`;
      await gql(gw.url, key, LIST);
      await gql(gw.url, key, LIST);
      expect(await redis.get(redisKey)).toBe('2');
      const ttl = await redis.ttl(redisKey);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(3600);
    } finally {
      await gw.close();
    }
  });

  it('when Redis cannot be reached, each instance counts alone and every request is answered', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const { gw, key } = await gatewayOn(`redis://127.0.0.1:${port}`);
    try {
      for (let i = 0; i < READ; i++) {
        const response = await gql(gw.url, key, LIST);
        expect(response.status).toBe(200);
        expect(rateLimitOf(response.headers)).toMatchObject({ 'ratelimit-remaining': READ - 1 - i });
      }
      expect((await gql(gw.url, key, LIST)).status).toBe(429);
      expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });

  it('when Redis answers too slowly or goes away, the in-memory fallback answers instead of waiting', async () => {
    const proxy = TcpProxy.forUrl(REDIS_URL!);
    await proxy.start();
    const { gw, tenantId, key, keyId } = await gatewayOn(`redis://127.0.0.1:${proxy.port}`);
    try {
      await untilCountedInRedis(gw, tenantId);
      expect((await gql(gw.url, key, LIST)).status).toBe(200);
      expect(await redis.get(`${prefix}read:${tenantId}:${keyId}`)).toBe('1');
      // Answers from Redis would now arrive after any test's timeout: a request that waited for one would fail.
      proxy.delayMs = 120_000;
      const slow = await gql(gw.url, key, LIST);
      expect(slow.status).toBe(200);
      // Counted by the in-memory fallback, which starts from its own zero.
      expect(rateLimitOf(slow.headers)).toMatchObject({ 'ratelimit-limit': READ, 'ratelimit-remaining': READ - 1 });

      await proxy.stop();
      const gone = await gql(gw.url, key, LIST);
      expect(gone.status).toBe(200);
      expect(rateLimitOf(gone.headers)).toMatchObject({ 'ratelimit-remaining': READ - 2 });
      await gql(gw.url, key, LIST);
      await gql(gw.url, key, LIST);
      expect((await gql(gw.url, key, LIST)).status).toBe(429);
    } finally {
      await gw.close();
      await proxy.stop();
    }
  });
});
