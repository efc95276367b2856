import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/keys.js';
import { gql, startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';

let gw: TestGateway;
let keys: Record<Role, string>;

beforeAll(async () => {
  gw = await startTestGateway();
  keys = await gw.tenantWithKeys(uniqueTenant('roles'));
});
afterAll(() => gw.close());

const operations: Record<string, { query: string; allowed: Role[] }> = {
  viewer: { query: '{ viewer { role } }', allowed: ['admin', 'editor', 'viewer'] },
  apiKeys: { query: '{ apiKeys { id } }', allowed: ['admin'] },
  createApiKey: { query: 'mutation { createApiKey(input: { role: viewer }) { apiKey { id } } }', allowed: ['admin'] },
  revokeApiKey: { query: 'mutation { revokeApiKey(id: "key_0000000000000000") { apiKey { id } } }', allowed: ['admin'] },
};

describe.each(Object.entries(operations))('%s', (_name, { query, allowed }) => {
  it.each(['admin', 'editor', 'viewer'] as Role[])('as %s', async (role) => {
    const result = await gql(gw.url, keys[role], query);
    const code = result.errors?.[0]?.extensions?.code;
    if (allowed.includes(role)) {
      // Allowed through the rule: the operation runs (revoking a missing key is NOT_FOUND).
      expect(code === undefined || code === 'NOT_FOUND').toBe(true);
    } else {
      expect(code).toBe('FORBIDDEN');
      expect(result.errors?.[0]?.message).not.toMatch(/unexpected/i);
    }
  });
});
