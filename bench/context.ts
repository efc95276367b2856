import type { Fixture } from './fixtures.js';
import type { BenchOptions } from './options.js';
import type { ChildServer } from './processes.js';

/** What every section gets: the options, the seeded data and the gateway under test. */
export interface RunContext {
  options: BenchOptions;
  fixture: Fixture;
  /** The gateway as `npm start` runs it (a child process on the bench database). */
  gateway: ChildServer;
  /** Where child processes write their logs and profiles. */
  workDir: string;
  /** The gateway's highest RSS seen under load, in MiB. */
  gatewayRssMb: number | null;
  /** Its RSS a second after it was ready, before any load. */
  gatewayIdleRssMb: number | null;
}

export function authHeaders(key: string, json = false): Record<string, string> {
  return { authorization: `Bearer ${key}`, ...(json ? { 'content-type': 'application/json' } : {}) };
}

export function noteRss(ctx: RunContext, mb: number | null): void {
  if (mb !== null) ctx.gatewayRssMb = Math.max(ctx.gatewayRssMb ?? 0, mb);
}

/** A JSON call to the gateway's REST API, timed from request to parsed body. */
export async function restCall<T = unknown>(
  ctx: RunContext,
  key: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${ctx.gateway.url}${path}`, {
    method,
    headers: authHeaders(key, body !== undefined),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const ms = performance.now() - started;
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T, ms };
}

/** Like restCall, but a status other than `expected` is an error. */
export async function restOk<T = unknown>(
  ctx: RunContext,
  key: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body: unknown,
  expected: number,
): Promise<{ body: T; ms: number }> {
  const result = await restCall<T>(ctx, key, method, path, body);
  if (result.status !== expected) {
    throw new Error(`${method} ${path} answered ${result.status}: ${JSON.stringify(result.body).slice(0, 500)}`);
  }
  return result;
}
