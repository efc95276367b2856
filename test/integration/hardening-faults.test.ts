import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/keys.js';
import { connectDatabase, type Database } from '../../src/sql/db.js';
import { startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { shopWithSegments } from '../support/hardening.js';
import { TcpProxy } from '../support/proxy.js';
import { assertViewsMatchMetadata } from '../support/segments.js';

// The database is taken away through a proxy and its connections are killed:
// this needs a server database.
const server = process.env.TEST_DATABASE_URL;

const REQUESTS = 200;
const CONCURRENCY = 4;
/** Far longer than any answer should take: only a hung socket gets there. */
const HUNG_AFTER_MS = 20_000;

interface Outcome {
  what: string;
  status: number | 'hung' | 'network error';
  body: unknown;
}

describe.skipIf(!server)('database faults', () => {
  let gw: TestGateway;
  let proxy: TcpProxy;
  let chaos: Database;
  let keys: Record<Role, string>;
  let customers: string;
  let segmentIds: string[];

  beforeAll(async () => {
    proxy = TcpProxy.forUrl(server!);
    await proxy.start();
    // Every request verifies its key in the database, so every request meets the fault.
    gw = await startTestGateway({ databaseUrl: (url) => proxy.wrap(url), env: { AUTH_CACHE_TTL_MS: '0' } });
    keys = await gw.tenantWithKeys(uniqueTenant('faults'));
    const shop = await shopWithSegments(gw.url, keys.editor, ['one', 'two', 'three']);
    customers = shop.customers;
    segmentIds = Object.values(shop.segments).map((s) => s.id);
    // Straight to the server, not through the proxy.
    chaos = connectDatabase({ url: gw.testDb!.url, max: 1, applicationName: 'hardening-chaos' });
  });
  afterAll(async () => {
    await chaos?.close();
    await gw?.close();
    await proxy?.stop();
  });

  async function send(what: string, path: string, init: RequestInit = {}): Promise<Outcome> {
    try {
      const response = await fetch(`${gw.url}${path}`, { ...init, signal: AbortSignal.timeout(HUNG_AFTER_MS) });
      const text = await response.text();
      return { what, status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
    } catch (error) {
      return { what, status: (error as Error).name === 'TimeoutError' ? 'hung' : 'network error', body: String(error) };
    }
  }

  function request(i: number): Promise<Outcome> {
    const auth = { authorization: `Bearer ${keys.editor}` };
    const json = { ...auth, 'content-type': 'application/json' };
    const segmentId = segmentIds[i % segmentIds.length]!;
    const filters = [{ field: 'lifetime_value', operator: '>=', value: i % 7 }];
    switch (i % 6) {
      case 0:
        return send('REST list', '/api/v1/segments', { headers: auth });
      case 1:
        return send('REST create', '/api/v1/segments', {
          method: 'POST',
          headers: json,
          body: JSON.stringify({ name: `made_${i}`, baseSchemaId: customers, filters }),
        });
      case 2:
        return send('REST refresh', `/api/v1/segments/${segmentId}?action=refresh`, { method: 'POST', headers: auth });
      case 3:
        return send('REST update', '/api/v1/segments', {
          method: 'PUT',
          headers: json,
          body: JSON.stringify({ id: segmentId, filters }),
        });
      case 4:
        return send('GraphQL list', '/graphql', {
          method: 'POST',
          headers: json,
          body: JSON.stringify({ query: '{ segments { totalCount edges { node { id baseSchema { name } } } } }' }),
        });
      default:
        return send('GraphQL create', '/graphql', {
          method: 'POST',
          headers: json,
          body: JSON.stringify({
            query: 'mutation($input: CreateSegmentInput!) { createSegment(input: $input) { segment { id } } }',
            variables: { input: { name: `gql_${i}`, baseSchemaId: customers, filters } },
          }),
        });
    }
  }

  /** Success, or 503 / SERVICE_UNAVAILABLE in the API's own error format. */
  function acceptable(outcome: Outcome): boolean {
    const { status, body } = outcome;
    if (outcome.what.startsWith('REST')) {
      if (status === 200 || status === 201) return true;
      const error = (body as { error?: { code?: string; status?: number } } | undefined)?.error;
      return status === 503 && error?.code === 'SERVICE_UNAVAILABLE' && error.status === 503;
    }
    const result = body as { data?: unknown; errors?: Array<{ extensions?: { code?: string } }> } | undefined;
    if (status === 200 && result?.data && !result.errors) return true;
    const codes = (result?.errors ?? []).map((e) => e.extensions?.code);
    return (status === 503 || status === 200) && codes.length > 0 && codes.every((c) => c === 'SERVICE_UNAVAILABLE');
  }

  const killConnections = () =>
    chaos.db.any(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );

  it('answers 200 or 503 while its connections are killed and the database stops and starts, then recovers by itself', async () => {
    const outcomes: Outcome[] = [];
    const readyWhileDown: number[] = [];
    let next = 0;
    let done = 0;

    // Faults at fixed points of the run, whatever the machine's speed.
    const faults = (async () => {
      const after = async (count: number) => {
        while (done < count) await new Promise((resolve) => setTimeout(resolve, 5));
      };
      await after(30);
      await killConnections();
      await after(70);
      await proxy.stop();
      readyWhileDown.push((await fetch(`${gw.url}/readyz`)).status);
      await after(110);
      await proxy.start();
      await after(140);
      await killConnections();
      await after(150);
      await proxy.stop();
      await new Promise((resolve) => setTimeout(resolve, 200));
      await proxy.start();
    })();

    const worker = async () => {
      while (next < REQUESTS) {
        const i = next++;
        outcomes.push(await request(i));
        done++;
      }
    };
    await Promise.all([...Array.from({ length: CONCURRENCY }, worker), faults]);

    const bad = outcomes.filter((o) => !acceptable(o));
    expect(bad, JSON.stringify(bad.slice(0, 5), null, 2)).toEqual([]);
    expect(outcomes).toHaveLength(REQUESTS);
    // The faults were felt (503s) and did not stop everything (successes).
    expect(outcomes.filter((o) => o.status === 503).length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.status === 200 || o.status === 201).length).toBeGreaterThan(0);
    expect(readyWhileDown).toEqual([503]);

    // Back by itself, no restart: ready again, and the next requests succeed.
    let ready = false;
    for (let i = 0; i < 100 && !ready; i++) {
      ready = (await fetch(`${gw.url}/readyz`)).status === 200;
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(ready).toBe(true);
    const after = [];
    for (let i = REQUESTS; i < REQUESTS + 12; i++) after.push(await request(i));
    expect(after.map((o) => [o.what, o.status])).toEqual(
      after.map((o) => [o.what, o.what === 'REST create' ? 201 : 200]),
    );

    // Nothing half written: every segment row has its view and every view its row.
    await assertViewsMatchMetadata(chaos.db);
  }, 120_000);
});
