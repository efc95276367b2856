/**
 * What one run of the suite measures and for how long. `full` is the issue's
 * data (1M customers, 10,000 segments in one tenant, 1,000 tenants); `smoke`
 * is the same suite on tiny data with second-long measurements, for CI, where
 * only a crash counts as a failure.
 */
export interface BenchOptions {
  profile: 'full' | 'smoke';
  /** A server URL (any database); the bench creates its own database there. */
  serverUrl: string;
  /** The bench's database on that server. */
  databaseName: string;
  /** Keep a seeded database of the same shape instead of recreating it (for iterating on the suite). */
  reuse: boolean;
  /** Drop the database at the end (smoke: always). */
  dropAfter: boolean;
  customers: number;
  /** Segments of the one big tenant (keyset paging, list reads). */
  manySegments: number;
  /** Tenants of `segmentsPerTenant` segments each. */
  tenants: number;
  segmentsPerTenant: number;
  connections: number;
  warmupSeconds: number;
  measureSeconds: number;
  /** A B A B: how many times every system is measured. */
  rounds: number;
  /** Repetitions of each segment statement (ours and raw, alternating). */
  segmentRepeats: number;
  /** Preview latency: sequential requests per segment. */
  previewRequests: number;
  csvRows: number;
  jsonRows: number;
  /** Write bench/results and docs/performance.md. */
  writeResults: boolean;
  /** Only these sections (all when empty). */
  sections: string[];
}

export const SECTIONS = ['api', 'segments', 'loading', 'scale', 'queries'] as const;

const DEFAULT_SERVER = 'postgres://postgres@127.0.0.1:5432/postgres';

export function readOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const smoke = argv.includes('--smoke');
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const number = (name: string, fallback: number): number => {
    const raw = value(name) ?? env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number`);
    return n;
  };
  const serverUrl = env.BENCH_DATABASE_URL ?? env.TEST_DATABASE_URL ?? env.DATABASE_URL ?? DEFAULT_SERVER;
  const sections = (value('only') ?? '').split(',').filter(Boolean);
  for (const s of sections) {
    if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`--only takes ${SECTIONS.join(',')}`);
  }
  const base = smoke
    ? {
        customers: 2_000,
        manySegments: 50,
        tenants: 2,
        segmentsPerTenant: 10,
        connections: 32,
        warmupSeconds: 1,
        measureSeconds: 1,
        rounds: 1,
        segmentRepeats: 1,
        previewRequests: 20,
        csvRows: 2_000,
        jsonRows: 2_000,
      }
    : {
        customers: 1_000_000,
        manySegments: 10_000,
        tenants: 1_000,
        segmentsPerTenant: 10,
        connections: 32,
        warmupSeconds: 3,
        measureSeconds: 8,
        rounds: 5,
        segmentRepeats: 3,
        previewRequests: 200,
        csvRows: 1_000_000,
        jsonRows: 200_000,
      };
  return {
    profile: smoke ? 'smoke' : 'full',
    serverUrl,
    databaseName: smoke ? `sg_bench_smoke_${process.pid}` : (value('database') ?? 'sg_bench'),
    reuse: !smoke && argv.includes('--reuse'),
    dropAfter: smoke || argv.includes('--drop'),
    customers: number('customers', base.customers),
    manySegments: number('many-segments', base.manySegments),
    tenants: number('tenants', base.tenants),
    segmentsPerTenant: base.segmentsPerTenant,
    connections: number('connections', base.connections),
    warmupSeconds: number('warmup', base.warmupSeconds),
    measureSeconds: number('duration', base.measureSeconds),
    rounds: Math.max(1, Math.trunc(number('rounds', base.rounds))),
    segmentRepeats: Math.max(1, Math.trunc(number('repeats', base.segmentRepeats))),
    previewRequests: Math.max(2, Math.trunc(number('preview-requests', base.previewRequests))),
    csvRows: number('csv-rows', base.csvRows),
    jsonRows: number('json-rows', base.jsonRows),
    writeResults: !smoke && !argv.includes('--no-write'),
    sections,
  };
}

/** The same server, another database. */
export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}
