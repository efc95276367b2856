import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintApiKey } from '../../src/domain/keys.js';
import { createTenant } from '../../src/domain/tenants.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { gql, startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { rateLimitOf, restCall } from '../support/rest.js';
import { assertViewsMatchMetadata, createShopSchemas, loadRowsGql } from '../support/segments.js';

/*
 * Two gateways on one database, as behind a load balancer: they hold no
 * state of their own, so what one writes the other reads, they migrate a
 * fresh database together, and with Redis they share one rate limit.
 * Several instances need a database server, not the embedded one.
 */
const server = process.env.TEST_DATABASE_URL;
const REDIS_URL = process.env.TEST_REDIS_URL;
const prefix = `sg-test-${randomBytes(4).toString('hex')}:`;

describe.skipIf(!server)('several gateway instances on one database', () => {
  let database: TestDatabase;
  let a: TestGateway;
  let b: TestGateway;
  let redis: Redis | null = null;

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: false });
    // With Redis, a small shared read budget (the other classes out of the way).
    const env: Record<string, string> = REDIS_URL
      ? {
          RATE_LIMIT_ENABLED: 'true',
          RATE_LIMIT_READ: '4',
          RATE_LIMIT_WRITE: '1000',
          RATE_LIMIT_HEAVY: '1000',
          RATE_LIMIT_WINDOW_S: '3600',
          REDIS_URL,
          RATE_LIMIT_REDIS_PREFIX: prefix,
        }
      : {};
    // Both start at once on a database nobody has migrated yet.
    [a, b] = await Promise.all([
      startTestGateway({ sharedDatabaseUrl: database.url, env }),
      startTestGateway({ sharedDatabaseUrl: database.url, env }),
    ]);
    if (REDIS_URL) redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    await database?.destroy();
  });

  it('migrate a fresh database together: every migration is applied once, and both serve', async () => {
    const applied = await database.db.map('SELECT id FROM schema_migrations ORDER BY id', [], (r: { id: string }) => r.id);
    expect(applied).toEqual(['0001_init', '0002_idempotency', '0003_segment_counts']);
    expect((await fetch(`${a.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${b.url}/readyz`)).status).toBe(200);
  });

  it('what one instance writes the other reads, changes and deletes', async () => {
    const tenant = uniqueTenant('instances');
    const keys = await a.tenantWithKeys(tenant, ['admin']);
    const { customers } = await createShopSchemas(a.url, keys.admin);
    await loadRowsGql(b.url, keys.admin, customers, [
      { id: 1, country: 'US', lifetime_value: 50 },
      { id: 2, country: 'US', lifetime_value: 500 },
    ]);

    const created = await restCall<{ id: string; version: number; customerCount: number }>(a.url, keys.admin, 'POST', '/api/v1/segments', {
      json: { name: 'seen_everywhere', baseSchemaId: customers, filters: [{ field: 'country', operator: '=', value: 'US' }] },
    });
    expect(created.status).toBe(201);
    const id = created.body.id;

    const readOnB = await gql<{ segment: { name: string; customerCount: number } }>(
      b.url,
      keys.admin,
      `{ segment(id: "${id}") { name customerCount } }`,
    );
    expect(readOnB.data?.segment).toEqual({ name: 'seen_everywhere', customerCount: 2 });

    const updatedOnB = await restCall(b.url, keys.admin, 'PUT', '/api/v1/segments', {
      json: { id, version: created.body.version, filters: [{ field: 'lifetime_value', operator: '>', value: 100 }] },
    });
    expect(updatedOnB.status).toBe(200);
    expect((await restCall(a.url, keys.admin, 'GET', `/api/v1/segments/${id}`)).body).toMatchObject({
      version: created.body.version + 1,
      customerCount: 1,
    });
    // The version A read is stale now, whichever instance is asked.
    const stale = await restCall(a.url, keys.admin, 'PUT', '/api/v1/segments', { json: { id, version: created.body.version, description: 'late' } });
    expect(stale.status).toBe(409);

    expect((await restCall(a.url, keys.admin, 'DELETE', `/api/v1/segments?id=${id}`)).status).toBe(204);
    expect((await restCall(b.url, keys.admin, 'GET', `/api/v1/segments/${id}`)).status).toBe(404);
    await assertViewsMatchMetadata(database.db);
  });

  it('an idempotent create sent to both instances at once makes one segment', async () => {
    const tenant = uniqueTenant('instances-idem');
    const keys = await b.tenantWithKeys(tenant, ['admin']);
    const { customers } = await createShopSchemas(b.url, keys.admin);
    const send = (gw: TestGateway) =>
      restCall<{ id: string }>(gw.url, keys.admin, 'POST', '/api/v1/segments', {
        json: { name: 'once_on_two', baseSchemaId: customers, filters: [] },
        headers: { 'idempotency-key': 'two-instances' },
      });
    const responses = await Promise.all([send(a), send(b), send(a), send(b)]);
    expect(responses.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
    const rows = await database.db.any('SELECT id FROM segments WHERE tenant_id = $1', [tenant]);
    expect(rows).toHaveLength(1);
  });

  it.skipIf(!REDIS_URL)('with REDIS_URL, requests spread over both are refused once the one shared budget is spent', async () => {
    const tenant = uniqueTenant('instances-limit');
    await createTenant(database.db, tenant);
    const mint = async () => mintApiKey(database.db, a.services.authSecret, { tenantId: tenant, role: 'viewer' });

    // Each instance connects to Redis in the background (counting in memory until then): wait until both count there.
    for (const gw of [a, b]) {
      const probe = await mint();
      const probeKey = `${prefix}read:${tenant}:${probe.info.id}`;
      for (let i = 0; i < 200 && (await redis!.get(probeKey)) === null; i++) {
        await gql(gw.url, probe.key, '{ viewer { role } }');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await redis!.get(probeKey)).not.toBeNull();
    }

    const { key } = await mint();
    const remaining: number[] = [];
    for (const gw of [a, b, a, b]) {
      const response = await gql(gw.url, key, '{ viewer { role } }');
      expect(response.status).toBe(200);
      remaining.push(rateLimitOf(response.headers)['ratelimit-remaining']!);
    }
    expect(remaining).toEqual([3, 2, 1, 0]);
    expect((await gql(a.url, key, '{ viewer { role } }')).status).toBe(429);
    expect((await restCall(b.url, key, 'GET', '/api/v1/segments')).status).toBe(429);
  });
});
