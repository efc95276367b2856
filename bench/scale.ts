/**
 * 4. Scale: a list page deep in the 10,000-segment tenant against page 1
 * (keyset paging should make them cost the same), the list of one tenant
 * among 1,000, and the cold start of the embedded database to /readyz.
 */
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import { encodeCursor } from '../src/schema/cursors.js';
import { authHeaders, noteRss, type RunContext } from './context.js';
import { MANY_TENANT } from './fixtures.js';
import { probe, warmAndRun, type LoadRequest, type LoadResult } from './load.js';
import { freePort, ROOT, sampleMemory, startChild } from './processes.js';
import { gatewayEnv } from './servers.js';
import { log, median, round } from './util.js';

export interface ScaleResult {
  pageSize: number;
  deepPage: number;
  page1: LoadResult[];
  deepPageRuns: LoadResult[];
  /** Median p50 of the deep page over median p50 of page 1. */
  deepPageRatio: number;
  tenants: number;
  amongTenants: LoadResult;
  coldStart: { firstStartMs: number; restartMs: number };
  /**
   * The same gateway compiled to plain JavaScript (esbuild, file by file)
   * and run by node without tsx: its RSS idle and under the page-1 load.
   */
  compiled: { idleRssMb: number | null; loadRssMb: number | null; load: LoadResult };
}

const PAGE_SIZE = 20;
const WANTED_PAGE = 400;

function listRequest(key: string, after?: string): LoadRequest {
  const args = after ? `first: ${PAGE_SIZE}, after: "${after}"` : `first: ${PAGE_SIZE}`;
  return {
    method: 'POST',
    path: '/graphql',
    headers: { ...authHeaders(key), 'content-type': 'application/json' },
    body: JSON.stringify({ query: `{ segments(${args}) { edges { node { id name customerCount baseSchema { name } } } } }` }),
  };
}

export async function measureScale(ctx: RunContext): Promise<ScaleResult> {
  const { fixture, options } = ctx;
  const { db } = fixture.database;
  // Page 400 of 20 (rows 7,981 to 8,000) on the full data; the last whole page on less.
  const deepPage = Math.max(2, Math.min(WANTED_PAGE, Math.floor(fixture.many.segments / PAGE_SIZE)));
  const before = await db.one<{ created_at: Date; id: string }>(
    'SELECT created_at, id FROM segments WHERE tenant_id = $1 ORDER BY created_at, id OFFSET $2 LIMIT 1',
    [MANY_TENANT, (deepPage - 1) * PAGE_SIZE - 1],
  );
  const cursor = encodeCursor({ createdAt: before.created_at, id: before.id });
  const first = listRequest(fixture.many.key);
  const deep = listRequest(fixture.many.key, cursor);
  for (const request of [first, deep]) {
    const answer = await probe(ctx.gateway.url, request);
    if (answer.status !== 200 || answer.body.includes('"errors"')) throw new Error(`list answered ${answer.body.slice(0, 300)}`);
  }

  const load = (request: LoadRequest | LoadRequest[]) =>
    sampleMemory(ctx.gateway.pid, () =>
      warmAndRun(ctx.gateway.url, request, {
        connections: options.connections,
        seconds: options.measureSeconds,
        warmupSeconds: options.warmupSeconds,
      }),
    ).then(({ value, maxRssMb }) => {
      noteRss(ctx, maxRssMb);
      return value;
    });

  const page1: LoadResult[] = [];
  const deepRuns: LoadResult[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    page1.push(await load(first));
    deepRuns.push(await load(deep));
    log(`  round ${round}: page 1 p50 ${page1.at(-1)!.p50} ms, page ${deepPage} p50 ${deepRuns.at(-1)!.p50} ms`);
  }

  // One request per tenant, every tenant in turn: keys are verified (and cached) per tenant.
  const amongTenants = await load(fixture.tenants.map((t) => listRequest(t.key)));
  log(`  a tenant among ${fixture.tenants.length}: p50 ${amongTenants.p50} ms p99 ${amongTenants.p99} ms`);

  return {
    pageSize: PAGE_SIZE,
    deepPage,
    page1,
    deepPageRuns: deepRuns,
    deepPageRatio: round(median(deepRuns.map((r) => r.p50)) / median(page1.map((r) => r.p50)), 2),
    tenants: fixture.tenants.length,
    amongTenants,
    coldStart: await measureColdStart(ctx),
    compiled: await measureCompiled(ctx, first),
  };
}

/** Where the compiled gateway goes: under node_modules, so that its imports resolve to the product's packages. */
const BUILD_DIR = path.join(ROOT, 'node_modules', '.cache', 'segment-gateway-bench', 'build');

async function measureCompiled(ctx: RunContext, request: LoadRequest): Promise<ScaleResult['compiled']> {
  const { options } = ctx;
  await rm(BUILD_DIR, { recursive: true, force: true });
  const sources = async (dir: string): Promise<string[]> =>
    (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.ts')).map((f) => path.join(dir, f));
  try {
    await build({
      entryPoints: await sources(path.join(ROOT, 'src')),
      outdir: path.join(BUILD_DIR, 'src'),
      format: 'esm',
      platform: 'node',
      target: 'node20',
      logLevel: 'warning',
    });
    await cp(path.join(ROOT, 'src', 'sql', 'migrations'), path.join(BUILD_DIR, 'src', 'sql', 'migrations'), { recursive: true });
    const port = await freePort();
    const server = await startChild({
      name: 'gateway-compiled',
      script: path.join(BUILD_DIR, 'src', 'main.js'),
      env: gatewayEnv(ctx, port),
      port,
      loader: 'none',
      logFile: path.join(ctx.workDir, 'gateway-compiled.log'),
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const idle = await server.memory();
      const { value, maxRssMb } = await sampleMemory(server.pid, () =>
        warmAndRun(server.url, request, {
          connections: options.connections,
          seconds: options.measureSeconds,
          warmupSeconds: options.warmupSeconds,
        }),
      );
      log(`  compiled JS: idle ${Math.round(idle?.rssMb ?? 0)} MiB, under load ${Math.round(maxRssMb ?? 0)} MiB, ${value.requestsPerSecond} req/s`);
      return {
        idleRssMb: idle ? round(idle.rssMb, 0) : null,
        loadRssMb: maxRssMb === null ? null : round(maxRssMb, 0),
        load: value,
      };
    } finally {
      await server.stop();
    }
  } finally {
    await rm(BUILD_DIR, { recursive: true, force: true });
  }
}

/**
 * `npm start` with no DATABASE_URL: the first start (empty DATA_DIR: a new
 * PGlite database, migrations, the demo tenant) and a restart on the same
 * directory, each from spawning the process to the first 200 of /readyz.
 */
async function measureColdStart(ctx: RunContext): Promise<{ firstStartMs: number; restartMs: number }> {
  const dataDir = await mkdtemp(path.join(ctx.workDir, 'embedded-'));
  try {
    const start = async () => {
      const port = await freePort();
      return startChild({
        name: 'embedded',
        script: 'src/main.ts',
        env: { DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', HOST: '127.0.0.1', NODE_ENV: 'production' },
        port,
        logFile: path.join(ctx.workDir, 'embedded.log'),
      });
    };
    const first = await start();
    await first.stop();
    const again = await start();
    await again.stop();
    log(`  embedded cold start: first ${Math.round(first.readyMs)} ms, restart ${Math.round(again.readyMs)} ms`);
    return { firstStartMs: Math.round(first.readyMs), restartMs: Math.round(again.readyMs) };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}
