/**
 * 2. Segment work on the big tenant (the demo seed: 1M customers, ~3M
 * orders), each operation through the REST API against the same statement run
 * by hand in psql: create (view + count), refresh (count), preview (first 20
 * by primary key), and overlap of 2, 5 and 10 segments against one scan of the
 * base table computing the same numbers.
 */
import { restOk, type RunContext } from './context.js';
import { compileSegmentQuery } from '../src/domain/segments/compile.js';
import { validateDefinition } from '../src/domain/segments/validate.js';
import { overlapQuery } from '../src/domain/segments/service.js';
import { findBaseSchemasByIds } from '../src/sql/schemas.js';
import { findSegmentsByIds, overlapMasks, type Queryable } from '../src/sql/segments.js';
import { psqlTimes, psqlTimesAndRows } from './psql.js';
import { log, median, quantile, round } from './util.js';

export type WorkKind = 'simple' | 'any' | 'join' | 'aggregate' | 'reference';
const WORK_KINDS: WorkKind[] = ['simple', 'any', 'join', 'aggregate', 'reference'];

interface Definition {
  joins?: unknown[];
  filters: unknown[];
}

interface Segment {
  id: string;
  viewName: string;
  customerCount: number;
}

export interface WorkTiming {
  kind: WorkKind;
  /** Median milliseconds over the repetitions. */
  oursMs: number;
  rawMs: number;
  ratio: number;
  samples: { ours: number[]; raw: number[] };
  /** Our count equals the raw count (within the drift of now(): see sameCount). */
  same: boolean;
  members: number;
}

export interface PreviewTiming {
  kind: WorkKind;
  requests: number;
  p50: number;
  p99: number;
  /** The preview statement alone in psql, median. */
  rawMs: number;
}

export interface OverlapTiming {
  segments: number;
  oursMs: number;
  rawMs: number;
  ratio: number;
  samples: { ours: number[]; raw: number[] };
  same: boolean;
  /** Full or bitmap scans of the base table in each plan (EXPLAIN): 1 is one pass. */
  passes: { ours: number; raw: number };
}

export interface SegmentWorkResult {
  customers: number;
  repeats: number;
  create: WorkTiming[];
  refresh: WorkTiming[];
  preview: PreviewTiming[];
  overlap: OverlapTiming[];
}

function definitions(ordersId: string, simpleId: string | null): Record<WorkKind, Definition> {
  const orders = [{ schemaId: ordersId, alias: 'orders', type: 'left', localField: 'id', foreignField: 'customer_id' }];
  return {
    simple: { filters: [{ field: 'country', operator: '=', value: 'US' }] },
    any: {
      filters: [
        {
          any: [
            { field: 'plan', operator: '=', value: 'enterprise' },
            { field: 'lifetime_value', operator: '>', value: 20000 },
            { field: 'country', operator: 'in', value: ['SE', 'NL'] },
          ],
        },
      ],
    },
    join: {
      joins: orders,
      filters: [{ field: 'orders.created_at', operator: 'within_last', value: { amount: 30, unit: 'days' } }],
    },
    aggregate: {
      joins: orders,
      filters: [
        {
          aggregate: 'count',
          join: 'orders',
          operator: '>=',
          value: 3,
          where: [{ field: 'created_at', operator: 'within_last', value: { amount: 90, unit: 'days' } }],
        },
      ],
    },
    reference: {
      filters: [
        { segment: simpleId ?? 'unknown', operator: 'in' },
        { field: 'vip', operator: '=', value: true },
      ],
    },
  };
}

/** Five more plain segments, so that an overlap of ten has ten different segments. */
const EXTRA: Definition[] = [
  { filters: [{ field: 'plan', operator: '=', value: 'pro' }] },
  { filters: [{ field: 'age', operator: 'between', value: [25, 34] }] },
  { filters: [{ field: 'vip', operator: '=', value: true }] },
  { filters: [{ field: 'signup_at', operator: 'within_last', value: { amount: 6, unit: 'months' } }] },
  { filters: [{ field: 'city', operator: 'starts_with', value: 'S' }] },
];

export async function measureSegmentWork(ctx: RunContext): Promise<SegmentWorkResult> {
  const { fixture, options } = ctx;
  const { big } = fixture;
  const key = big.key;
  const namespace = big.tenant.namespace;
  const create = (name: string, def: Definition) =>
    restOk<Segment>(ctx, key, 'POST', '/api/v1/segments', { name, baseSchemaId: big.customersId, ...def }, 201);
  const remove = (id: string) => restOk(ctx, key, 'DELETE', `/api/v1/segments?id=${id}`, undefined, 204);

  // The segments that stay for refresh, preview and overlap.
  log('creating the work segments on the big tenant');
  const kept = new Map<WorkKind, Segment>();
  const simple = (await create('work-simple', definitions(big.ordersId, null).simple)).body;
  kept.set('simple', simple);
  const defs = definitions(big.ordersId, simple.id);
  for (const kind of WORK_KINDS.slice(1)) kept.set(kind, (await create(`work-${kind}`, defs[kind])).body);
  const extras: Segment[] = [];
  for (const [i, def] of EXTRA.entries()) extras.push((await create(`work-extra-${i}`, def)).body);

  const viewSql = async (viewName: string) =>
    (
      await fixture.database.db.one<{ sql: string }>('SELECT pg_get_viewdef($1::regclass) AS sql', [
        `"${namespace}"."${viewName}"`,
      ])
    ).sql.replace(/;\s*$/, '');
  const qualified = (view: string) => `"${namespace}"."${view}"`;

  const createTimings: WorkTiming[] = [];
  const refreshTimings: WorkTiming[] = [];
  for (const kind of WORK_KINDS) {
    const segment = kept.get(kind)!;
    const select = await viewSql(segment.viewName);
    const c = { ours: [] as number[], raw: [] as number[] };
    const r = { ours: [] as number[], raw: [] as number[] };
    let same = true;
    for (let rep = 0; rep < options.segmentRepeats; rep++) {
      // Counts of time-relative definitions (within_last) move with now(): compare ours with the
      // psql count taken right next to it, never with one from minutes before.
      let oursCount = -1;
      let rawCount = -1;
      const compare = () => {
        if (oursCount >= 0 && rawCount >= 0 && !sameCount(oursCount, rawCount)) {
          same = false;
          log(`  ${kind}: our count ${oursCount}, psql's ${rawCount}`);
        }
        oursCount = rawCount = -1;
      };
      const oursCreate = async () => {
        const made = await create(`work-${kind}-${rep}`, defs[kind]);
        c.ours.push(made.ms);
        oursCount = made.body.customerCount;
        await remove(made.body.id);
      };
      const rawCreate = async () => {
        const { times, rows } = await psqlTimesAndRows(fixture.url, [
          'BEGIN',
          `CREATE VIEW ${qualified('bench_raw_view')} AS ${select}`,
          `SELECT count(*) FROM ${qualified('bench_raw_view')}`,
          'ROLLBACK',
        ]);
        c.raw.push(times[1]! + times[2]!);
        rawCount = Number(rows.at(-1));
      };
      const oursRefresh = async () => {
        const refreshed = await restOk<Segment>(ctx, key, 'POST', `/api/v1/segments/${segment.id}?action=refresh`, undefined, 200);
        r.ours.push(refreshed.ms);
        oursCount = refreshed.body.customerCount;
      };
      const rawRefresh = async () => {
        const { times, rows } = await psqlTimesAndRows(fixture.url, [`SELECT count(*) FROM ${qualified(segment.viewName)}`]);
        r.raw.push(times[0]!);
        rawCount = Number(rows.at(-1));
      };
      // Alternate who goes first, so that neither always meets the colder cache.
      const order = rep % 2 === 0 ? [oursCreate, rawCreate, oursRefresh, rawRefresh] : [rawCreate, oursCreate, rawRefresh, oursRefresh];
      for (const [i, step] of order.entries()) {
        await step();
        if (i % 2 === 1) compare();
      }
    }
    const timing = (samples: { ours: number[]; raw: number[] }): WorkTiming => ({
      kind,
      oursMs: round(median(samples.ours), 1),
      rawMs: round(median(samples.raw), 1),
      ratio: round(median(samples.ours) / median(samples.raw), 2),
      samples: { ours: samples.ours.map((x) => round(x, 1)), raw: samples.raw.map((x) => round(x, 1)) },
      same,
      members: segment.customerCount,
    });
    createTimings.push(timing(c));
    refreshTimings.push(timing(r));
    log(`  ${kind.padEnd(9)} create ${createTimings.at(-1)!.oursMs} ms vs ${createTimings.at(-1)!.rawMs} ms raw; refresh ${refreshTimings.at(-1)!.oursMs} vs ${refreshTimings.at(-1)!.rawMs} ms (${segment.customerCount} members)`);
  }

  const previews: PreviewTiming[] = [];
  for (const kind of WORK_KINDS) {
    const segment = kept.get(kind)!;
    const samples: number[] = [];
    for (let i = 0; i < options.previewRequests; i++) {
      samples.push((await restOk(ctx, key, 'POST', `/api/v1/segments/${segment.id}?action=preview`, undefined, 200)).ms);
    }
    const raw = await psqlTimes(
      fixture.url,
      Array.from({ length: 5 }, () => `SELECT * FROM ${qualified(segment.viewName)} ORDER BY id LIMIT 20`),
    );
    previews.push({
      kind,
      requests: samples.length,
      p50: round(quantile(samples, 0.5), 2),
      p99: round(quantile(samples, 0.99), 2),
      rawMs: round(median(raw), 2),
    });
    log(`  preview ${kind.padEnd(9)} p50 ${previews.at(-1)!.p50} ms p99 ${previews.at(-1)!.p99} ms (raw ${previews.at(-1)!.rawMs} ms)`);
  }

  const all = [...WORK_KINDS.map((k) => kept.get(k)!), ...extras];
  const overlaps: OverlapTiming[] = [];
  for (const n of [2, 5, 10]) {
    const members = all.slice(0, n);
    const scan = await singleScan(ctx, members.map((s) => s.id));
    const samples = { ours: [] as number[], raw: [] as number[] };
    let same = true;
    let oursAnswer: OverlapAnswer | null = null;
    let rawMasks: Map<number, number> | null = null;
    const compare = () => {
      if (oursAnswer && rawMasks && !agrees(oursAnswer, rawMasks, n)) {
        same = false;
        const masks = rawMasks;
        const size = (bits: number) => [...masks].reduce((sum, [m, c]) => ((m & bits) === bits ? sum + c : sum), 0);
        const answer = oursAnswer as OverlapAnswer;
        log(
          `  overlap of ${n} differs: sizes ${answer.segments.map((x) => x.size).join(',')} vs ${members.map((_, i) => size(2 ** i)).join(',')}; ` +
            `union ${answer.totalUniqueCustomers} vs ${[...masks.values()].reduce((a, b) => a + b, 0)}`,
        );
      }
      oursAnswer = null;
      rawMasks = null;
    };
    for (let rep = 0; rep < options.segmentRepeats; rep++) {
      const ours = async () => {
        const answer = await restOk<OverlapAnswer>(ctx, key, 'POST', '/api/v1/segments/overlap', {
          segmentIds: members.map((s) => s.id),
        }, 200);
        samples.ours.push(answer.ms);
        oursAnswer = answer.body;
      };
      const raw = async () => {
        const { times, rows } = await psqlTimesAndRows(fixture.url, [scan]);
        samples.raw.push(times[0]!);
        rawMasks = new Map(rows.map((line) => line.split('|').map(Number) as [number, number]));
      };
      for (const step of rep % 2 === 0 ? [raw, ours] : [ours, raw]) await step();
      compare();
    }
    overlaps.push({
      segments: n,
      oursMs: round(median(samples.ours), 1),
      rawMs: round(median(samples.raw), 1),
      ratio: round(median(samples.ours) / median(samples.raw), 2),
      samples: { ours: samples.ours.map((x) => round(x, 1)), raw: samples.raw.map((x) => round(x, 1)) },
      same,
      passes: {
        ours: await basePasses(ctx, await ourOverlapStatement(ctx, members.map((s) => s.id))),
        raw: await basePasses(ctx, scan),
      },
    });
    log(
      `  overlap of ${n}: ${overlaps.at(-1)!.oursMs} ms vs ${overlaps.at(-1)!.rawMs} ms for one raw scan; ` +
        `${overlaps.at(-1)!.passes.ours} pass(es) over the base table`,
    );
  }

  // Leave the tenant as the seed made it (references first).
  for (const s of [kept.get('reference')!, ...[...kept.values()].filter((s) => s !== kept.get('reference')), ...extras]) {
    await remove(s.id);
  }
  return {
    customers: options.customers,
    repeats: options.segmentRepeats,
    create: createTimings,
    refresh: refreshTimings,
    preview: previews,
    overlap: overlaps,
  };
}

interface OverlapAnswer {
  segments: Array<{ id: string; size: number }>;
  overlaps: Array<{ segments: [string, string]; count: number }>;
  totalUniqueCustomers: number;
}

/**
 * One pass over the base table computing every segment's membership at
 * once: each segment's condition (compiled by the product's compiler, the
 * same WHERE its view has) sets one bit, and rows are counted by bit set.
 */
async function singleScan(ctx: RunContext, ids: string[]): Promise<string> {
  const { db } = ctx.fixture.database;
  const { big } = ctx.fixture;
  const schemas = await findBaseSchemasByIds(db, big.tenant.id, [big.customersId, big.ordersId]);
  const schemasById = new Map(schemas.map((s) => [s.id, s]));
  const baseSchema = schemasById.get(big.customersId)!;
  const segments = await findSegmentsByIds(db, big.tenant.id, ids);
  const segmentsById = new Map(segments.map((s) => [s.id, { id: s.id, baseSchemaId: s.base_schema_id, viewName: s.view_name }]));
  const context = { baseSchema, schemasById, segmentsById, namespace: big.tenant.namespace };
  const bits = ids.map((id, i) => {
    const row = segments.find((s) => s.id === id)!;
    const select = compileSegmentQuery(validateDefinition({ joins: row.joins, filters: row.filters }, context), context);
    const where = /^SELECT b\.\* FROM .+? AS b WHERE (.*)$/s.exec(select)?.[1];
    if (!where) throw new Error(`unexpected view SQL: ${select.slice(0, 200)}`);
    return `(CASE WHEN ${where} THEN ${2 ** i} ELSE 0 END)`;
  });
  return `SELECT mask, count(*) AS n FROM (SELECT ${bits.join(' | ')} AS mask FROM "${big.tenant.namespace}"."${baseSchema.tableName}" AS b) m WHERE mask <> 0 GROUP BY mask`;
}

/**
 * Equal counts, but for the drift of now() between two statements seconds
 * apart: members of a `within_last` segment enter and leave as time passes
 * (a couple of the ~150,000 recent buyers in the time of one overlap).
 */
export function sameCount(ours: number | undefined, raw: number): boolean {
  return ours !== undefined && Math.abs(ours - raw) <= Math.max(5, raw * 1e-4);
}

/** The overlap answer's sizes, pairs and union, from the raw scan's counts per bit set. */
function agrees(answer: OverlapAnswer, masks: Map<number, number>, n: number): boolean {
  const size = (bits: number) => [...masks].reduce((sum, [mask, count]) => ((mask & bits) === bits ? sum + count : sum), 0);
  const union = [...masks.values()].reduce((a, b) => a + b, 0);
  if (!sameCount(answer.totalUniqueCustomers, union)) return false;
  for (let i = 0; i < n; i++) if (!sameCount(answer.segments[i]?.size, size(2 ** i))) return false;
  let k = 0;
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      if (!sameCount(answer.overlaps[k++]?.count, size(2 ** a + 2 ** b))) return false;
    }
  }
  return true;
}

/** The statement the product sends for an overlap, built as src/domain/segments/service.ts builds it, without running it. */
async function ourOverlapStatement(ctx: RunContext, ids: string[]): Promise<string> {
  const { db } = ctx.fixture.database;
  const { big } = ctx.fixture;
  const rows = await findSegmentsByIds(db, big.tenant.id, ids);
  const ordered = ids.map((id) => rows.find((r) => r.id === id)!);
  const baseSchema = (await findBaseSchemasByIds(db, big.tenant.id, [big.customersId]))[0]!;
  const maskSelect = await overlapQuery(db, big.tenant, baseSchema, ordered);
  let captured = '';
  const capture = {
    any: (sql: string) => {
      captured = sql;
      return Promise.resolve([]);
    },
  } as unknown as Queryable;
  await overlapMasks(capture, maskSelect);
  return captured;
}

/**
 * How many times a plan reads the whole base table: sequential or bitmap
 * scans, and index scans without an index condition (a merge join reads the
 * table in key order that way). Index probes per row (an index condition on
 * the outer row's key) are excluded.
 */
async function basePasses(ctx: RunContext, sql: string): Promise<number> {
  const { big, database } = ctx.fixture;
  const rows = await database.db.any<Record<string, unknown>>(`EXPLAIN (FORMAT JSON) ${sql}`);
  let passes = 0;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    const n = node as Record<string, unknown>;
    const scans = ['Seq Scan', 'Parallel Seq Scan', 'Bitmap Heap Scan'];
    const indexScans = ['Index Scan', 'Index Only Scan'];
    const type = String(n['Node Type']);
    const whole = scans.includes(type) || (indexScans.includes(type) && n['Index Cond'] === undefined);
    if (n['Relation Name'] === big.customersTable && whole) passes += 1;
    for (const value of Object.values(n)) if (value && typeof value === 'object') visit(value);
  };
  visit(rows[0]?.['QUERY PLAN']);
  return passes;
}
