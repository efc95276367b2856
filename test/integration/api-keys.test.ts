import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/domain/keys.js';
import { gql, startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';

let gw: TestGateway;
let tenant: string;
let keys: Awaited<ReturnType<TestGateway['tenantWithKeys']>>;

beforeAll(async () => {
  gw = await startTestGateway();
  tenant = uniqueTenant('keys');
  keys = await gw.tenantWithKeys(tenant);
});
afterAll(() => gw.close());

describe('API keys', () => {
  it('a minted key is stored only as its HMAC, never as itself', async () => {
    const { db } = gw.services.database;
    const created = await gql<{ createApiKey: { key: string; apiKey: { id: string; prefix: string } } }>(
      gw.url,
      keys.admin,
      'mutation { createApiKey(input: { role: viewer, name: "reporting" }) { key apiKey { id prefix } } }',
    );
    const { key, apiKey } = created.data!.createApiKey;
    expect(key).toMatch(/^sgk_[A-Za-z0-9_-]{43}$/);
    expect(key.startsWith(apiKey.prefix)).toBe(true);

    const row = await db.one('SELECT * FROM api_keys WHERE id = $1', [apiKey.id]);
    expect(Buffer.compare(row.hash, hashApiKey(gw.services.authSecret, key))).toBe(0);
    const everyColumn = JSON.stringify(await db.any('SELECT to_jsonb(k) AS k FROM api_keys k'));
    expect(everyColumn).not.toContain(key);
    expect(everyColumn).not.toContain(key.slice(12));
  });

  it('keys are accepted as a Bearer token and as X-API-Key', async () => {
    const bearer = await gql(gw.url, keys.viewer, '{ viewer { tenantId role } }');
    expect(bearer.data).toEqual({ viewer: { tenantId: tenant, role: 'viewer' } });
    const header = await gql(gw.url, null, '{ viewer { role } }', undefined, { 'x-api-key': keys.editor });
    expect(header.data).toEqual({ viewer: { role: 'editor' } });
  });

  it('a missing or unknown key is 401 UNAUTHENTICATED', async () => {
    const missing = await gql(gw.url, null, '{ viewer { role } }');
    expect(missing.status).toBe(401);
    expect(missing.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const unknown = await gql(gw.url, 'sgk_' + 'x'.repeat(43), '{ viewer { role } }');
    expect(unknown.status).toBe(401);
    expect(unknown.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('an X-Tenant-Id other than the key’s own tenant is 403, the same one passes', async () => {
    const other = await gql(gw.url, keys.admin, '{ viewer { role } }', undefined, { 'x-tenant-id': 'someone-else' });
    expect(other.status).toBe(403);
    expect(other.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const same = await gql(gw.url, keys.admin, '{ viewer { tenantId } }', undefined, { 'x-tenant-id': tenant });
    expect(same.data).toEqual({ viewer: { tenantId: tenant } });
  });

  it('a revoked key stops working at once', async () => {
    const created = await gql<{ createApiKey: { key: string; apiKey: { id: string } } }>(
      gw.url,
      keys.admin,
      'mutation { createApiKey(input: { role: editor }) { key apiKey { id } } }',
    );
    const { key, apiKey } = created.data!.createApiKey;
    expect((await gql(gw.url, key, '{ viewer { role } }')).status).toBe(200);

    const revoked = await gql<{ revokeApiKey: { apiKey: { revokedAt: string } } }>(
      gw.url,
      keys.admin,
      'mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } } }',
      { id: apiKey.id },
    );
    expect(revoked.data?.revokeApiKey.apiKey.revokedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const after = await gql(gw.url, key, '{ viewer { role } }');
    expect(after.status).toBe(401);
  });

  it('another tenant’s key cannot be revoked: it is not found', async () => {
    const otherTenant = uniqueTenant('other');
    const otherKeys = await gw.tenantWithKeys(otherTenant, ['admin']);
    const theirs = await gql<{ apiKeys: Array<{ id: string }> }>(gw.url, otherKeys.admin, '{ apiKeys { id } }');
    const theirKeyId = theirs.data!.apiKeys[0]!.id;
    const attempt = await gql(gw.url, keys.admin, 'mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }', {
      id: theirKeyId,
    });
    expect(attempt.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await gql(gw.url, otherKeys.admin, '{ viewer { role } }')).status).toBe(200);
  });

  it('keys are listed by prefix only', async () => {
    const listed = await gql<{ apiKeys: Array<Record<string, unknown>> }>(
      gw.url,
      keys.admin,
      '{ apiKeys { id prefix role name createdAt lastUsedAt revokedAt } }',
    );
    expect(listed.data!.apiKeys.length).toBeGreaterThanOrEqual(3);
    for (const k of listed.data!.apiKeys) expect(String(k.prefix)).toMatch(/^sgk_.{8}$/);
  });
});
