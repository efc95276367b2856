import path from 'node:path';
import type { RunContext } from './context.js';
import { BENCH_AUTH_SECRET } from './fixtures.js';
import { startChild, type ChildServer } from './processes.js';

/**
 * The gateway's environment in the bench: the bench database, warnings only
 * (a log line per request would be measured too), the default pool of 10.
 * Counts over a million rows may take longer than the default 15 s statement
 * timeout allows on a loaded machine; the bench measures them rather than
 * their refusal. The per-key rate limits stay on (their cost is part of
 * every request) with budgets no load here reaches: one key drives each load.
 */
export function gatewayEnv(ctx: Pick<RunContext, 'fixture'>, port: number): Record<string, string> {
  return {
    DATABASE_URL: ctx.fixture.url,
    AUTH_SECRET: BENCH_AUTH_SECRET,
    LOG_LEVEL: 'warn',
    // As in production: graphql-js (and PostGraphile) skip development-only checks.
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    QUERY_TIMEOUT_MS: '300000',
    RATE_LIMIT_WINDOW_S: '1',
    RATE_LIMIT_READ: '1000000',
    RATE_LIMIT_WRITE: '1000000',
    RATE_LIMIT_HEAVY: '1000000',
  };
}

export function startGatewayChild(
  ctx: Pick<RunContext, 'fixture' | 'workDir'>,
  port: number,
  nodeArgs: string[] = [],
): Promise<ChildServer> {
  return startChild({
    name: 'gateway',
    script: 'src/main.ts',
    env: gatewayEnv(ctx, port),
    port,
    nodeArgs,
    logFile: path.join(ctx.workDir, 'gateway.log'),
  });
}
