/**
 * 4. Scale: a list page deep in the 10,000-segment tenant against page 1
 * (keyset paging should make them cost the same), the list of one tenant
 * among 1,000, and the cold start of the embedded database to /readyz.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { encodeCursor } from '../src/schema/cursors.js';
import { authHeaders, noteRss, type RunContext } from './context.js';
import { MANY_TENANT } from './fixtures.js';
import { probe, warmAndRun, type LoadRequest, type LoadResult } from './load.js';
import { freePort, ROOT, sampleMemory } from './processes.js';
import { buildGateway, startNpmStartChild } from './servers.js';
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
  coldStart: ColdStart;
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
  };
}

/** Milliseconds from spawning `npm start`'s node process to the first 200 of /readyz. */
export interface ColdStart {
  /**
   * Empty DATA_DIR: the data directory copied from the demo template (the
   * migrations and the demo tenant applied), the demo key minted. The median
   * of `firstStartSamplesMs`, each in a new DATA_DIR.
   */
  firstStartMs: number;
  firstStartSamplesMs?: number[];
  /** The same DATA_DIR again: the median of `restartSamplesMs`. */
  restartMs: number;
  restartSamplesMs?: number[];
}

const RESTARTS = 3;
const FIRST_STARTS = 3;

/**
 * `npm start` with no DATABASE_URL (dist/main.js, as built by prestart):
 * first starts, each on an empty DATA_DIR, then restarts on the last one,
 * each from spawning the process to the first 200 of /readyz. A first start
 * copies the demo template of this build and day; the bench makes it first
 * when it is missing, as `npm install` does (`node dist/embedded-template.js`,
 * nothing when it is there).
 */
async function measureColdStart(ctx: RunContext): Promise<ColdStart> {
  buildGateway();
  execFileSync(process.execPath, [path.join(ROOT, 'dist', 'embedded-template.js')], { cwd: ROOT, stdio: 'inherit' });
  const dataDirs: string[] = [];
  try {
    const start = async (dataDir: string) => {
      const port = await freePort();
      const server = await startNpmStartChild({
        name: 'embedded',
        env: { DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', HOST: '127.0.0.1', NODE_ENV: 'production' },
        port,
        logFile: path.join(ctx.workDir, 'embedded.log'),
      });
      await server.stop();
      return Math.round(server.readyMs);
    };
    const firstStartSamplesMs: number[] = [];
    for (let i = 0; i < FIRST_STARTS; i++) {
      dataDirs.push(await mkdtemp(path.join(ctx.workDir, 'embedded-')));
      firstStartSamplesMs.push(await start(dataDirs.at(-1)!));
    }
    const firstStartMs = median(firstStartSamplesMs);
    const restartSamplesMs: number[] = [];
    for (let i = 0; i < RESTARTS; i++) restartSamplesMs.push(await start(dataDirs.at(-1)!));
    const restartMs = median(restartSamplesMs);
    log(
      `  embedded cold start: first ${firstStartMs} ms (${firstStartSamplesMs.join(', ')}), restart ${restartMs} ms (${restartSamplesMs.join(', ')})`,
    );
    return { firstStartMs, firstStartSamplesMs, restartMs, restartSamplesMs };
  } finally {
    for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
  }
}
