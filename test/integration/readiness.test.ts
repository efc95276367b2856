import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant } from '../../src/domain/tenants.js';
import { mintApiKey } from '../../src/domain/keys.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { TcpProxy } from '../support/proxy.js';

// The database is taken away through a proxy, so this needs a server database.
const server = process.env.TEST_DATABASE_URL;
let gw: TestGateway;
let proxy: TcpProxy;

describe.skipIf(!server)('readiness and shutdown', () => {
  beforeAll(async () => {
    proxy = TcpProxy.forUrl(server!);
    await proxy.start();
    gw = await startTestGateway({ databaseUrl: (url) => proxy.wrap(url), env: { AUTH_CACHE_TTL_MS: '0' } });
  });
  afterAll(async () => {
    await gw.close();
    await proxy.stop();
  });

  it('/readyz is 503 while the database is away and 200 when it is back, with no restart', async () => {
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
    await proxy.stop();
    const down = await fetch(`${gw.url}/readyz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ database: 'down' });
    await proxy.start();
    const up = await fetch(`${gw.url}/readyz`);
    expect(up.status).toBe(200);
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });

  it('shutting down lets an in-flight request finish, then refuses new connections', async () => {
    const { db } = gw.services.database;
    await createTenant(db, 'shutdown-test');
    const { key } = await mintApiKey(db, gw.services.authSecret, { tenantId: 'shutdown-test', role: 'viewer' });
    proxy.delayMs = 400; // every database answer now takes 400 ms
    const inFlight = fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: '{ viewer { tenantId } }' }),
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopped = gw.stop();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { viewer: { tenantId: 'shutdown-test' } } });
    await stopped;
    await expect(fetch(`${gw.url}/healthz`)).rejects.toThrow();
  });
});
