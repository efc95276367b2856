import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/keys.js';
import { tenantNamespace } from '../../src/domain/schemas/types.js';
import { createApp } from '../../src/server/app.js';
import { countRateLimited } from '../../src/server/metrics.js';
import { gql, startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { metricValue, restJson, shopWithSegments } from '../support/hardening.js';

const AUTH_SECRET = 'hardening-secret-that-must-never-be-logged-0123456789';

let gw: TestGateway;
let keys: Record<Role, string>;
let tenant: string;
let segments: Record<string, { id: string; viewName: string }>;
const lines: string[] = [];

beforeAll(async () => {
  gw = await startTestGateway({
    env: { LOG_LEVEL: 'trace', AUTH_SECRET },
    logDestination: { write: (line: string) => void lines.push(line) },
  });
  tenant = uniqueTenant('observed');
  keys = await gw.tenantWithKeys(tenant);
  ({ segments } = await shopWithSegments(gw.url, keys.editor, ['first', 'second']));
});
afterAll(() => gw?.close());

async function metricsText(): Promise<string> {
  const response = await fetch(`${gw.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

describe('/metrics', () => {
  it('needs no key and speaks the Prometheus text format', async () => {
    const text = await metricsText();
    expect(text).toMatch(/^# HELP segment_gateway_http_requests_total /m);
    expect(text).toMatch(/^# TYPE segment_gateway_http_request_duration_seconds histogram$/m);
    expect(text).toMatch(/^# TYPE segment_gateway_rate_limited_total counter$/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
  });

  it('counts requests and their latency by GraphQL operation name or REST route, and status', async () => {
    const labels = { api: 'graphql', operation: 'SegmentsForTheDashboard', status: '200' };
    const before = await metricValue(gw.url, 'segment_gateway_http_requests_total', labels);
    await gql(gw.url, keys.viewer, 'query SegmentsForTheDashboard { segments { totalCount } }');
    await gql(gw.url, keys.viewer, 'query SegmentsForTheDashboard { segments { totalCount } }');
    expect(await metricValue(gw.url, 'segment_gateway_http_requests_total', labels)).toBe(before + 2);
    expect(await metricValue(gw.url, 'segment_gateway_http_request_duration_seconds_count', labels)).toBe(before + 2);

    await restJson(gw.url, keys.viewer, 'GET', `/api/v1/segments/${segments.first!.id}`);
    await restJson(gw.url, keys.viewer, 'GET', '/api/v1/segments/seg_000000000000');
    const text = await metricsText();
    expect(text).toContain('segment_gateway_http_requests_total{api="rest",operation="GET /api/v1/segments/{id}",status="200"} 1');
    expect(text).toContain('segment_gateway_http_requests_total{api="rest",operation="GET /api/v1/segments/{id}",status="404"} 1');
    expect(text).not.toContain(segments.first!.id);
    await gql(gw.url, null, 'query Anonymous { viewer { role } }');
    expect(await metricValue(gw.url, 'segment_gateway_http_requests_total', { api: 'graphql', status: '401' })).toBeGreaterThanOrEqual(1);
  });

  it('keeps client-chosen operation names to a bounded set', async () => {
    for (let batch = 0; batch < 22; batch++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => gql(gw.url, keys.viewer, `query Name${batch * 10 + i} { viewer { role } }`)));
    }
    const text = await metricsText();
    const names = new Set([...text.matchAll(/segment_gateway_http_requests_total\{api="graphql",operation="([^"]+)"/g)].map((m) => m[1]));
    // 200 names, then `other` (besides `anonymous` and `invalid`).
    expect(names.size).toBeLessThanOrEqual(203);
    expect(names.has('other')).toBe(true);
  });

  it('reports each pool: connections in use, idle, waiting, and its size', async () => {
    const text = await metricsText();
    const pools = gw.services.database.pools.map((p) => p.name);
    expect(pools).toEqual(gw.testDb ? ['main', 'heavy'] : ['main']);
    for (const pool of pools) {
      for (const state of ['total', 'idle', 'waiting']) {
        expect(text).toMatch(new RegExp(`^segment_gateway_db_pool_connections\\{pool="${pool}",state="${state}"\\} \\d+$`, 'm'));
      }
      expect(text).toMatch(new RegExp(`^segment_gateway_db_pool_max\\{pool="${pool}"\\} [1-9]\\d*$`, 'm'));
    }
  });

  it('times database statements by pool and transaction', async () => {
    await restJson(gw.url, keys.editor, 'POST', `/api/v1/segments/${segments.first!.id}?action=refresh`);
    const heavyPool = gw.testDb ? 'heavy' : 'main';
    expect(
      await metricValue(gw.url, 'segment_gateway_db_query_duration_seconds_count', { pool: heavyPool, task: 'refresh segment', outcome: 'ok' }),
    ).toBeGreaterThan(0);
    expect(await metricValue(gw.url, 'segment_gateway_db_query_duration_seconds_count', { pool: 'main' })).toBeGreaterThan(0);
  });

  it('counts operations refused by a limit, and rate-limit refusals through countRateLimited', async () => {
    const refusals = (limit: string) => metricValue(gw.url, 'segment_gateway_graphql_limit_refusals_total', { limit });
    const [aliases, tokens] = [await refusals('aliases'), await refusals('tokens')];
    // The same documents twice: yoga answers the second from its cache, and it counts all the same.
    for (let i = 0; i < 2; i++) {
      await gql(gw.url, keys.viewer, `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: __typename`).join(' ')} }`);
      await gql(gw.url, keys.viewer, `{ viewer { ${'role '.repeat(1_000)} } }`);
    }
    expect(await refusals('aliases')).toBe(aliases + 2);
    expect(await refusals('tokens')).toBe(tokens + 2);

    countRateLimited({ class: 'heavy', tenant });
    expect(await metricValue(gw.url, 'segment_gateway_rate_limited_total', { class: 'heavy', tenant })).toBe(1);
  });

  it('is not served with METRICS=false', async () => {
    const app = createApp({ ...gw.services, config: { ...gw.services.config, metrics: false } });
    const server = createServer(app.handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('logs', () => {
  interface LogLine {
    requestId?: string;
    msg: string;
    [key: string]: unknown;
  }

  it('carry the request id on every line a request writes, and never a key or AUTH_SECRET', async () => {
    lines.length = 0;
    const revoked = await gql<{ createApiKey: { key: string; apiKey: { id: string } } }>(
      gw.url,
      keys.admin,
      'mutation { createApiKey(input: { role: viewer, name: "soon revoked" }) { key apiKey { id } } }',
    );
    const revokedKey = revoked.data!.createApiKey.key;
    await gql(gw.url, keys.admin, `mutation { revokeApiKey(id: "${revoked.data!.createApiKey.apiKey.id}") { apiKey { id } } }`);

    await fetch(`${gw.url}/api/v1/segments?api_key=${keys.viewer}`, { headers: { 'x-api-key': keys.viewer, 'x-request-id': 'logs-test-1' } });
    await fetch(`${gw.url}/api/v1/segments`, { headers: { authorization: `Bearer ${revokedKey}` } });
    await gql(gw.url, keys.editor, '{ segments { edges { node { nme } } } }');
    await gql(gw.url, `${keys.viewer}x`, '{ viewer { role } }');
    await gql(gw.url, keys.viewer, '{ viewer { role } }', undefined, { 'x-tenant-id': 'someone-else' });
    // A segment whose view went missing behind the service's back: an unexpected error, logged.
    await gw.services.database.db.none('DROP VIEW $1:name.$2:name', [tenantNamespace(tenant), segments.second!.viewName]);
    const rest = await restJson(gw.url, keys.editor, 'POST', `/api/v1/segments/${segments.second!.id}?action=refresh`);
    expect(rest.status).toBe(500);
    const graphql = await gql(gw.url, keys.editor, `mutation { refreshSegment(id: "${segments.second!.id}") { segment { id } } }`, undefined, {
      'x-request-id': 'logs-test-2',
    });
    expect(graphql.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    await new Promise((resolve) => setTimeout(resolve, 50));

    const parsed = lines.map((line) => JSON.parse(line) as LogLine);
    expect(parsed.length).toBeGreaterThan(8);
    expect(parsed.filter((l) => !l.requestId)).toEqual([]);

    const requestLine = parsed.find((l) => l.msg === 'request' && l.requestId === 'logs-test-1');
    expect(requestLine).toMatchObject({ method: 'GET', path: '/api/v1/segments', status: 200, operation: 'GET /api/v1/segments' });
    const unexpected = parsed.filter((l) => l.msg === 'unexpected error');
    expect(unexpected.length).toBe(2);
    expect(unexpected.some((l) => l.requestId === 'logs-test-2')).toBe(true);

    const everything = lines.join('\n');
    for (const secret of [keys.admin, keys.editor, keys.viewer, revokedKey, AUTH_SECRET, gw.services.authSecret]) {
      expect(everything).not.toContain(secret);
      // Nor the key's random part alone.
      expect(everything).not.toContain(secret.slice(12));
    }
  });
});
