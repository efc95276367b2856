/**
 * The benchmark suite: `npm run bench` (the issue's data; results in
 * bench/results/ and docs/performance.md) and `npm run bench:smoke` (tiny
 * data, seconds per measurement, prints the table; only a crash fails it).
 *
 *   tsx bench/run.ts [--smoke] [--reuse] [--drop] [--no-write] [--only api,segments,loading,scale,queries]
 *                    [--duration s] [--warmup s] [--rounds n] [--connections n] [--repeats n] ...
 *   tsx bench/run.ts --report    re-renders docs/performance.md from bench/results/latest.json
 *                                (after editing bench/findings.ts), without measuring again
 *
 * The server is BENCH_DATABASE_URL, TEST_DATABASE_URL or DATABASE_URL (any
 * database on it), else the local PostgreSQL; the suite creates its own
 * database there (`sg_bench`, or a throwaway one for the smoke run).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { measureApiReads } from './api-reads.js';
import type { RunContext } from './context.js';
import { dropDatabase, prepareFixture, type Fixture } from './fixtures.js';
import { measureLoading } from './loading.js';
import { readOptions, type BenchOptions } from './options.js';
import { BENCH_DIR, freePort, ROOT, type ChildServer } from './processes.js';
import { measureQueryCounts } from './query-count.js';
import { renderResults, updatePerformanceDoc } from './report.js';
import { measureScale } from './scale.js';
import { measureSegmentWork } from './segment-work.js';
import { startGatewayChild } from './servers.js';
import { evaluateTargets, type SectionResults, type TargetRow } from './targets.js';
import { log, round } from './util.js';

export interface BenchResults extends SectionResults {
  profile: BenchOptions['profile'];
  startedAt: string;
  durationSeconds: number;
  machine: { node: string; cpus: number; postgres: string; loadBefore: number[]; loadAfter: number[] };
  /** The commit measured, and whether the work tree had changes on top of it. */
  git: { commit: string | null; dirty: boolean };
  options: Pick<
    BenchOptions,
    'customers' | 'manySegments' | 'tenants' | 'segmentsPerTenant' | 'connections' | 'warmupSeconds' | 'measureSeconds' | 'rounds' | 'segmentRepeats'
  >;
  setup: Fixture['setup'];
  /** When each section ran, and how busy the machine was (`uptime`'s load averages). */
  sectionRuns: Record<string, { startedAt: string; seconds: number; loadBefore: number[]; loadAfter: number[] }>;
  orders: number;
  gatewayRssMb: number | null;
  gatewayIdleRssMb: number | null;
  errors: Array<{ section: string; message: string }>;
  targets: TargetRow[];
}

const load = () => loadavg().map((x) => round(x, 2));

function gitState(): BenchResults['git'] {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  try {
    return { commit: git('rev-parse', '--short', 'HEAD'), dirty: git('status', '--porcelain', '--', 'src').length > 0 };
  } catch {
    return { commit: null, dirty: false };
  }
}

async function rerender(): Promise<number> {
  const file = path.join(BENCH_DIR, 'results', 'latest.json');
  const results = JSON.parse(await readFile(file, 'utf8')) as BenchResults;
  results.targets = evaluateTargets(results);
  await updatePerformanceDoc(path.join(ROOT, 'docs', 'performance.md'), results);
  process.stdout.write(`${renderResults(results)}\n`);
  log(`docs/performance.md re-rendered from ${path.relative(ROOT, file)}`);
  return 0;
}

/**
 * A run of some sections (`--only`) replaces those sections of the latest
 * full results and keeps the others, each with the time it ran: every ratio
 * still comes from one section's measurements, taken together.
 */
async function mergeIntoLatest(partial: BenchResults): Promise<BenchResults> {
  let latest: BenchResults;
  try {
    latest = JSON.parse(await readFile(path.join(BENCH_DIR, 'results', 'latest.json'), 'utf8')) as BenchResults;
  } catch {
    return partial;
  }
  const same = (Object.keys(partial.options) as (keyof BenchResults['options'])[]).every(
    (k) => latest.options[k] === partial.options[k],
  );
  if (latest.profile !== partial.profile || !same) {
    log('the latest results have another shape or settings: not merging');
    return partial;
  }
  const merged: BenchResults = { ...latest, errors: partial.errors, machine: partial.machine, git: partial.git };
  for (const key of ['api', 'segments', 'loading', 'scale', 'queries'] as const) {
    if (partial[key] !== undefined) (merged as unknown as Record<string, unknown>)[key] = partial[key];
  }
  merged.sectionRuns = { ...latest.sectionRuns, ...partial.sectionRuns };
  if (partial.api || partial.scale) {
    merged.gatewayRssMb = partial.gatewayRssMb;
    merged.gatewayIdleRssMb = partial.gatewayIdleRssMb;
  }
  merged.targets = evaluateTargets(merged);
  return merged;
}

async function main(): Promise<number> {
  if (process.argv.includes('--report')) return rerender();
  const options = readOptions(process.argv.slice(2), process.env);
  const startedAt = new Date();
  const loadBefore = load();
  const workDir = await mkdtemp(path.join(tmpdir(), 'segment-gateway-bench-'));
  log(`${options.profile} run; database ${options.databaseName}; work files in ${workDir}`);
  let fixture: Fixture | undefined;
  let gateway: ChildServer | undefined;
  const errors: BenchResults['errors'] = [];
  let clean = false;
  try {
    fixture = await prepareFixture(options);
    const { db } = fixture.database;
    const postgres = (await db.one<{ v: string }>("SELECT split_part(version(), ' on ', 1) AS v")).v;
    const orders = (
      await db.one<{ n: number }>('SELECT count(*)::int AS n FROM $1:name.$2:name', [
        fixture.big.tenant.namespace,
        fixture.big.ordersTable,
      ])
    ).n;
    gateway = await startGatewayChild({ fixture, workDir }, await freePort());
    log(`gateway ready in ${Math.round(gateway.readyMs)} ms at ${gateway.url}`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const idle = await gateway.memory();
    const ctx: RunContext = {
      options,
      fixture,
      gateway,
      workDir,
      gatewayRssMb: null,
      gatewayIdleRssMb: idle ? round(idle.rssMb, 0) : null,
    };

    const sections: SectionResults = {};
    const sectionRuns: BenchResults['sectionRuns'] = {};
    const wanted = (name: string) => options.sections.length === 0 || options.sections.includes(name);
    const section = async <K extends keyof SectionResults>(name: string, key: K, run: () => Promise<SectionResults[K]>) => {
      if (!wanted(name)) return;
      log(`section ${name}`);
      const began = new Date();
      const loadAtStart = load();
      try {
        sections[key] = await run();
        sectionRuns[name] = {
          startedAt: began.toISOString(),
          seconds: Math.round((Date.now() - began.getTime()) / 1000),
          loadBefore: loadAtStart,
          loadAfter: load(),
        };
      } catch (error) {
        log(`section ${name} failed: ${(error as Error).stack ?? String(error)}`);
        errors.push({ section: name, message: (error as Error).message });
      }
    };
    await section('api', 'api', () => measureApiReads(ctx));
    await section('scale', 'scale', () => measureScale(ctx));
    await section('queries', 'queries', () => measureQueryCounts(ctx));
    await section('segments', 'segments', () => measureSegmentWork(ctx));
    await section('loading', 'loading', () => measureLoading(ctx));
    sections.gatewayRssMb = ctx.gatewayRssMb;

    let results: BenchResults = {
      profile: options.profile,
      startedAt: startedAt.toISOString(),
      durationSeconds: (Date.now() - startedAt.getTime()) / 1000,
      machine: { node: process.version, cpus: cpus().length, postgres, loadBefore, loadAfter: load() },
      git: gitState(),
      options: {
        customers: options.customers,
        manySegments: options.manySegments,
        tenants: options.tenants,
        segmentsPerTenant: options.segmentsPerTenant,
        connections: options.connections,
        warmupSeconds: options.warmupSeconds,
        measureSeconds: options.measureSeconds,
        rounds: options.rounds,
        segmentRepeats: options.segmentRepeats,
      },
      setup: fixture.setup,
      sectionRuns,
      orders,
      ...sections,
      gatewayRssMb: ctx.gatewayRssMb,
      gatewayIdleRssMb: ctx.gatewayIdleRssMb,
      errors,
      targets: evaluateTargets(sections),
    };
    if (options.writeResults && options.sections.length > 0) results = await mergeIntoLatest(results);
    process.stdout.write(`\n${renderResults(results)}\n`);
    if (errors.length > 0) process.stdout.write(`\nFailed sections: ${errors.map((e) => `${e.section} (${e.message})`).join('; ')}\n`);
    if (options.writeResults) {
      const dir = path.join(BENCH_DIR, 'results');
      await mkdir(dir, { recursive: true });
      const json = `${JSON.stringify(results, null, 2)}\n`;
      const stamp = results.startedAt.replace(/[:.]/g, '-');
      await writeFile(path.join(dir, `${stamp}.json`), json);
      await writeFile(path.join(dir, 'latest.json'), json);
      await updatePerformanceDoc(path.join(ROOT, 'docs', 'performance.md'), results);
      log(`results in bench/results/${stamp}.json and docs/performance.md`);
    }
    clean = errors.length === 0;
    return clean ? 0 : 1;
  } finally {
    await gateway?.stop().catch(() => {});
    await fixture?.database.close().catch(() => {});
    if (options.dropAfter) await dropDatabase(options).catch((error: unknown) => log(`could not drop: ${String(error)}`));
    if (clean) await rm(workDir, { recursive: true, force: true });
    else log(`logs of the servers kept in ${workDir}`);
  }
}

process.exitCode = await main();
