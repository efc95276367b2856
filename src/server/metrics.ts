import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { RequestCounter, RequestHistogram } from './series.js';
import type { Database, QueryObservation } from '../sql/db.js';
import { isConnectionFailure, isQueryCanceled } from '../sql/pg-errors.js';
import type { OperationLimit } from './operation-limits.js';

/**
 * The process's Prometheus metrics, served at `/metrics`. One registry per
 * process, like the process itself: `metrics.rateLimited.inc({...})` works
 * from anywhere without a handle on the gateway.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const QUERY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Pools whose connections `/metrics` reports, by pool name. */
const trackedPools = new Map<string, Database['pools'][number]['pool']>();

export const metrics = {
  // Updated by every request or statement: src/server/series.ts.
  httpRequests: new RequestCounter(
    'segment_gateway_http_requests_total',
    'HTTP requests answered, by API (graphql, rest, ops), operation (GraphQL operation name or REST route) and status',
    ['api', 'operation', 'status'],
    registry,
  ),
  httpDuration: new RequestHistogram(
    'segment_gateway_http_request_duration_seconds',
    'Time to answer an HTTP request, by API, operation and status',
    ['api', 'operation', 'status'],
    LATENCY_BUCKETS,
    registry,
  ),
  dbQueryDuration: new RequestHistogram(
    'segment_gateway_db_query_duration_seconds',
    'Time of one SQL statement, by pool, the transaction it ran in, and outcome (ok, timeout, unavailable, error)',
    ['pool', 'task', 'outcome'],
    QUERY_BUCKETS,
    registry,
  ),
  dbErrors: new Counter({
    name: 'segment_gateway_db_errors_total',
    help: 'Failed SQL statements and connection attempts, by pool and kind (timeout, unavailable, error)',
    labelNames: ['pool', 'kind'] as const,
    registers: [registry],
  }),
  dbPoolConnections: new Gauge({
    name: 'segment_gateway_db_pool_connections',
    help: 'Connections of each pool: total open, idle, and requests waiting for one',
    labelNames: ['pool', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, pool] of trackedPools) {
        this.set({ pool: name, state: 'total' }, pool.totalCount);
        this.set({ pool: name, state: 'idle' }, pool.idleCount);
        this.set({ pool: name, state: 'waiting' }, pool.waitingCount);
      }
    },
  }),
  dbPoolMax: new Gauge({
    name: 'segment_gateway_db_pool_max',
    help: 'Configured size of each pool (DB_POOL_MAX, HEAVY_POOL_MAX)',
    labelNames: ['pool'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, pool] of trackedPools) this.set({ pool: name }, pool.options.max ?? 0);
    },
  }),
  /** Incremented by the rate limiter for every refused request (429). */
  rateLimited: new Counter({
    name: 'segment_gateway_rate_limited_total',
    help: 'Requests refused by a rate limit (429), by class of request (read, write, heavy) and tenant',
    labelNames: ['class', 'tenant'] as const,
    registers: [registry],
  }),
  graphqlRefused: new Counter({
    name: 'segment_gateway_graphql_limit_refusals_total',
    help: 'GraphQL operations refused by an operation limit (depth, aliases, tokens, directives, cost, introspection)',
    labelNames: ['limit'] as const,
    registers: [registry],
  }),
  graphqlDirect: new RequestCounter(
    'segment_gateway_graphql_direct_total',
    'GraphQL reads of known documents taken by the direct path, by outcome: answered there (compiled, or written by the database), or handed to yoga admitted (errors to format, admission refused)',
    ['outcome'],
    registry,
  ),
};

/** Counts a request refused by a rate limit. */
export function countRateLimited(labels: { class: string; tenant?: string }): void {
  metrics.rateLimited.inc(labels);
}

export function countLimitRefusal(limit: OperationLimit): void {
  metrics.graphqlRefused.inc({ limit });
}

/** Reports a database's pools on `/metrics` until the returned function is called. */
export function trackPools(database: Pick<Database, 'pools'>): () => void {
  for (const { name, pool } of database.pools) trackedPools.set(name, pool);
  return () => {
    for (const { name, pool } of database.pools) if (trackedPools.get(name) === pool) trackedPools.delete(name);
  };
}

/** Records one statement seen by src/sql/db.ts. */
export function recordQuery(observation: QueryObservation): void {
  const outcome = observation.error === undefined ? 'ok' : errorKind(observation.error);
  if (observation.error !== undefined) metrics.dbErrors.inc({ pool: observation.pool, kind: outcome });
  if (observation.seconds === null) return;
  metrics.dbQueryDuration.observe(
    { pool: observation.pool, task: taskLabel(observation.task), outcome },
    observation.seconds,
  );
}

function errorKind(error: unknown): 'timeout' | 'unavailable' | 'error' {
  if (isQueryCanceled(error)) return 'timeout';
  if (isConnectionFailure(error)) return 'unavailable';
  return 'error';
}

/** Transaction tags are fixed words of the code (`create segment`); digits and the like are dropped. */
function taskLabel(task: string | null): string {
  if (task === null) return 'none';
  return task.replace(/[^a-z ]/gi, '').trim().slice(0, 40) || 'none';
}

/** GraphQL operation names are the client's choice: sane names only, and a bounded number of them. */
const MAX_OPERATION_LABELS = 200;
const operationLabels = new Set<string>();

export function operationLabel(name: string | null | undefined): string {
  if (!name) return 'anonymous';
  if (!/^[_A-Za-z][_0-9A-Za-z]{0,63}$/.test(name)) return 'invalid';
  if (operationLabels.has(name)) return name;
  if (operationLabels.size >= MAX_OPERATION_LABELS) return 'other';
  operationLabels.add(name);
  return name;
}

/** `GET /api/v1/segments/{id}` for `/api/v1/segments/seg_1`: routes, never raw paths, label requests. */
export function routeLabeler(routes: ReadonlyArray<{ method: string; path: string }>): (method: string, pathname: string) => string {
  const patterns = routes
    .map((route) => {
      const parts = route.path.split('/');
      return {
        route,
        literals: parts.filter((p) => !p.startsWith('{')).length,
        pattern: new RegExp(`^${parts.map((p) => (p.startsWith('{') ? '[^/]+' : escapeRegExp(p))).join('/')}/?$`),
      };
    })
    .sort((a, b) => b.literals - a.literals);
  return (method, pathname) => {
    // As the router decides: the path with the most literal segments, whatever the method.
    const match = patterns.find((p) => p.pattern.test(pathname));
    return match ? `${method} ${match.route.path}` : 'unmatched';
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export async function metricsText(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
