/**
 * 5. SQL statements per request, from pg-promise's counter
 * (`services.database.stats.queries`) of a gateway started in this process on
 * the bench database: a read must cost the same number of statements at 20
 * rows as at 100.
 */
import { loadConfig } from '../src/config.js';
import { startGateway } from '../src/gateway.js';
import { createLogger } from '../src/logger.js';
import { authHeaders, type RunContext } from './context.js';
import { MANY_TENANT } from './fixtures.js';
import { gatewayEnv } from './servers.js';
import { median } from './util.js';

export interface QueryCount {
  read: string;
  short: string;
  /** Statements per request at page size 20 (or for a single object). */
  at20: number;
  /** At page size 100; null for reads without a page. */
  at100: number | null;
}

export interface QueryCountResult {
  reads: QueryCount[];
  /** Every paged read costs the same at 100 rows as at 20. */
  constant: boolean;
}

interface Read {
  name: string;
  short: string;
  request: (size: number) => { method: 'GET' | 'POST'; path: string; body?: string };
  paged: boolean;
}

export async function measureQueryCounts(ctx: RunContext): Promise<QueryCountResult> {
  const { fixture } = ctx;
  const config = loadConfig({ ...gatewayEnv(ctx, 0), LOG_LEVEL: 'silent' });
  const gateway = await startGateway(config, createLogger('silent'));
  try {
    const segmentId = (
      await fixture.database.db.one<{ id: string }>(
        'SELECT id FROM segments WHERE tenant_id = $1 ORDER BY created_at, id LIMIT 1',
        [MANY_TENANT],
      )
    ).id;
    const graphql = (query: string) => ({ method: 'POST' as const, path: '/graphql', body: JSON.stringify({ query }) });
    const listFields = 'edges { node { id name customerCount baseSchema { name } } }';
    const reads: Read[] = [
      { name: 'GraphQL segments(first: n)', short: 'GraphQL list', paged: true, request: (n) => graphql(`{ segments(first: ${n}) { ${listFields} } }`) },
      {
        name: 'GraphQL segments(first: n) with totalCount',
        short: 'GraphQL list + totalCount',
        paged: true,
        request: (n) => graphql(`{ segments(first: ${n}) { totalCount ${listFields} } }`),
      },
      { name: 'REST GET /api/v1/segments?limit=n', short: 'REST list', paged: true, request: (n) => ({ method: 'GET', path: `/api/v1/segments?limit=${n}` }) },
      {
        name: 'GraphQL segment(id)',
        short: 'GraphQL get',
        paged: false,
        request: () => graphql(`{ segment(id: "${segmentId}") { id name customerCount baseSchema { name } } }`),
      },
      { name: 'REST GET /api/v1/segments/{id}', short: 'REST get', paged: false, request: () => ({ method: 'GET', path: `/api/v1/segments/${segmentId}` }) },
    ];
    const statements = async (request: { method: 'GET' | 'POST'; path: string; body?: string }) => {
      const send = async () => {
        const response = await fetch(`${gateway.url}${request.path}`, {
          method: request.method,
          headers: authHeaders(fixture.many.key, request.body !== undefined),
          ...(request.body === undefined ? {} : { body: request.body }),
        });
        const text = await response.text();
        if (response.status !== 200 || text.includes('"errors"')) throw new Error(`${request.path}: ${text.slice(0, 300)}`);
      };
      await send(); // the key is verified (and cached) once
      const counts: number[] = [];
      for (let i = 0; i < 5; i++) {
        const before = gateway.services.database.stats.queries;
        await send();
        counts.push(gateway.services.database.stats.queries - before);
      }
      return median(counts);
    };
    const results: QueryCount[] = [];
    for (const read of reads) {
      results.push({
        read: read.name,
        short: read.short,
        at20: await statements(read.request(20)),
        at100: read.paged ? await statements(read.request(100)) : null,
      });
    }
    return { reads: results, constant: results.every((r) => r.at100 === null || r.at100 === r.at20) };
  } finally {
    await gateway.stop();
  }
}
