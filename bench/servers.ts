import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { bundle } from '../scripts/build.mjs';
import type { RunContext } from './context.js';
import { BENCH_AUTH_SECRET } from './fixtures.js';
import { ROOT, startChild, type ChildServer } from './processes.js';

/**
 * What `npm start` runs, read from package.json: its `prestart` (the build of
 * src/ into dist/, nothing when dist/ is up to date) and the node command of
 * `start` (`node <flags> dist/main.js`), so that the bench measures the same
 * process. The bench runs `prestart` once, then starts node itself: a child
 * of npm would be npm's process, not the server's.
 */
function npmStart(): { prestart: string; nodeArgs: string[]; script: string } {
  const { scripts } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const [node, ...args] = scripts.start!.split(/\s+/);
  const script = args.pop();
  if (node !== 'node' || !script || args.some((a) => !a.startsWith('-'))) {
    throw new Error(`package.json's start script is not \`node [flags] <script>\`: ${scripts.start}`);
  }
  return { prestart: scripts.prestart ?? 'true', nodeArgs: args, script };
}

export const NPM_START = npmStart();

let built = false;

/** The build `npm start` runs first (once per bench process). */
export function buildGateway(): void {
  if (built) return;
  execSync(NPM_START.prestart, { cwd: ROOT, stdio: 'inherit' });
  built = true;
}

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

/** The gateway as `npm start` runs it (compiled, dist/main.js), with `env`. */
export function startNpmStartChild(options: {
  name: string;
  env: Record<string, string>;
  port: number;
  logFile: string;
  nodeArgs?: string[];
}): Promise<ChildServer> {
  buildGateway();
  return startChild({
    ...options,
    script: NPM_START.script,
    nodeArgs: [...NPM_START.nodeArgs, ...(options.nodeArgs ?? [])],
    loader: 'none',
  });
}

export function startGatewayChild(
  ctx: Pick<RunContext, 'fixture' | 'workDir'>,
  port: number,
  nodeArgs: string[] = [],
): Promise<ChildServer> {
  return startNpmStartChild({
    name: 'gateway',
    env: gatewayEnv(ctx, port),
    port,
    nodeArgs,
    logFile: path.join(ctx.workDir, 'gateway.log'),
  });
}

/**
 * bench/gateway-without-shield.ts compiled like dist/main.js (same esbuild
 * options, same flags), under node_modules/.cache so that its packages
 * resolve to the product's (bench/node_modules has PostGraphile's graphql 15).
 */
const NO_SHIELD_DIR = path.join(ROOT, 'node_modules', '.cache', 'segment-gateway-bench', 'no-shield');

export async function startGatewayWithoutShield(
  ctx: Pick<RunContext, 'fixture' | 'workDir'>,
  port: number,
  nodeArgs: string[] = [],
): Promise<ChildServer> {
  await rm(NO_SHIELD_DIR, { recursive: true, force: true });
  await bundle([path.join(ROOT, 'bench', 'gateway-without-shield.ts')], NO_SHIELD_DIR);
  return startChild({
    name: 'gateway-no-shield',
    script: path.join(NO_SHIELD_DIR, 'gateway-without-shield.js'),
    env: gatewayEnv(ctx, port),
    port,
    nodeArgs: [...NPM_START.nodeArgs, ...nodeArgs],
    loader: 'none',
    logFile: path.join(ctx.workDir, 'gateway-no-shield.log'),
  });
}
