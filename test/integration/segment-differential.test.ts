import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import pgPromise from 'pg-promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BaseSchemaRecord, DataType, FieldDefinition } from '../../src/domain/schemas/types.js';
import { compileOverlapQuery, compileSegmentQuery } from '../../src/domain/segments/compile.js';
import type { CompileContext, ReferencedSegment, SegmentDefinition } from '../../src/domain/segments/definition.js';
import { validateDefinition } from '../../src/domain/segments/validate.js';
import { overlapMasks } from '../../src/sql/segments.js';
import { evaluateDefinition, type Row } from '../support/evaluate-definition.js';

/**
 * The compiled view, and the one-pass overlap of several definitions,
 * against a plain evaluation of the same definitions
 * (test/support/evaluate-definition.ts) over the same random rows, on a real
 * PostgreSQL. Each run inserts its dataset and creates its views inside a
 * transaction that is rolled back, so the tables are built once.
 */

const pgp = pgPromise();
const db = pgp({
  connectionString: process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  max: 2,
});
const namespace = `t_diff_${randomBytes(6).toString('hex')}`;
const NUM_RUNS = 800;

// ---------------------------------------------------------------------------
// Values known only once now() is: a run materializes them inside its transaction.

/**
 * A time `offset` microseconds from now(); the date `offset` days from today
 * (UTC); or the time / date `offset` calendar months before now (UTC, the day
 * clamped to the month's end, as PostgreSQL does) moved by `delta`
 * microseconds / days. The last two sit on the edges of within_last months.
 */
class NearNow {
  constructor(
    readonly unit: 'micros' | 'days' | 'monthsBefore' | 'dateMonthsBefore',
    readonly offset: number,
    readonly delta = 0,
  ) {}
  toString(): string {
    return `NearNow(${this.unit}, ${this.offset}, ${this.delta})`;
  }
}

const MS_PER_DAY = 86_400_000;

function monthsBeforeMs(nowMs: number, months: number): number {
  const now = new Date(nowMs);
  const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - months, 1));
  const lastDay = new Date(Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + 1, 0)).getUTCDate();
  return (
    Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), Math.min(now.getUTCDate(), lastDay)) + (nowMs % MS_PER_DAY)
  );
}

function materialize<T>(value: T, nowMicros: bigint): T {
  if (value instanceof NearNow) {
    const nowMs = Number(nowMicros / 1000n);
    const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    switch (value.unit) {
      case 'micros':
        return isoMicros(nowMicros + BigInt(value.offset)) as T;
      case 'days':
        return isoDate(nowMs + value.offset * MS_PER_DAY) as T;
      case 'monthsBefore':
        return isoMicros(
          BigInt(monthsBeforeMs(nowMs, value.offset)) * 1000n + (nowMicros % 1000n) + BigInt(value.delta),
        ) as T;
      case 'dateMonthsBefore':
        return isoDate(monthsBeforeMs(nowMs, value.offset) + value.delta * MS_PER_DAY) as T;
    }
  }
  if (Array.isArray(value)) return value.map((v: unknown) => materialize(v, nowMicros)) as T;
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, materialize(v, nowMicros)])) as T;
  return value;
}

function isoMicros(micros: bigint): string {
  const iso = new Date(Number(micros / 1000n)).toISOString();
  return `${iso.slice(0, -1)}${String(micros % 1000n).padStart(3, '0')}Z`;
}

// ---------------------------------------------------------------------------
// Schemas: customers (base), orders (one-to-many on customer_id), profiles (on a text key).

const US = { minute: 60_000_000, hour: 3_600_000_000, day: 86_400_000_000 };
const TEXTS = [
  'Alice',
  'alice',
  'ÉLODIE',
  'élodie',
  'Bob_1',
  '100%',
  '50% off',
  'a_b',
  'axb',
  'a\\b',
  "O'Brien",
  '; DROP TABLE x; --',
  'Zoë',
  'ZOË',
  '😀 smile',
  '',
  ' ',
  'AB',
  'b',
  'x"y',
  'Ünïcode',
];
const TEXT_PATTERNS = [
  'a',
  'A',
  'é',
  'É',
  'ë',
  '%',
  '_',
  '\\',
  "'",
  '50%',
  'a_b',
  "o'b",
  'drop table',
  '--',
  '😀',
  '',
  'li',
  'ÜN',
  '"',
];
const CODES = ['A1', 'a1', 'B2', 'x%', 'x_y', 'Zz'];
const INTEGERS = [-2147483648, -1, 0, 1, 2, 18, 30, 65, 2147483647];
const NUMERICS = [-1.5, 0, 0.1, 0.3, 1, 10.25, 99.99, 100, 1e20, 12345678.9];
const DOUBLES = [-0.5, 0, 0.1, 0.2, 0.30000000000000004, 1.5, 1e-7, 1e300, 3.14];
const BIGINTS: Array<number | string> = [
  -9007199254740991,
  0,
  1,
  42,
  '9223372036854775807',
  '-9223372036854775808',
  '9007199254740993',
];
const UUIDS = [
  '00000000-0000-4000-8000-000000000001',
  'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12',
];
const DATES: Array<string | NearNow> = [
  '2020-02-29',
  '2024-01-31',
  '1999-12-31',
  ...[-400, -31, -30, -8, -7, -3, -2, -1, 0, 1].map((d) => new NearNow('days', d)),
  ...[0, 1].map((d) => new NearNow('dateMonthsBefore', 1, d)),
  ...[0, 1].map((d) => new NearNow('dateMonthsBefore', 3, d)),
];
const TIMES: Array<string | NearNow> = [
  '2020-02-29T12:00:00Z',
  '2024-01-01T00:00:00+05:30',
  '2023-12-31T18:30:00Z', // the same instant as the one above
  '1999-12-31T23:59:59.999999-08:00',
  '2024-06-15T00:00:00Z',
  ...[
    0,
    -1,
    1,
    -US.minute * 30,
    -US.hour,
    -US.hour - 1,
    -US.day * 3,
    -US.day * 3 + 1,
    -US.day * 3 - 1,
    -US.day * 7 - 1,
    -US.day * 29,
    -US.day * 31,
    -US.day * 62,
    -US.day * 400,
    US.day,
  ].map((us) => new NearNow('micros', us)),
  ...[-1, 0, 1].map((us) => new NearNow('monthsBefore', 1, us)),
  ...[-1, 1].map((us) => new NearNow('monthsBefore', 2, us)),
  ...[-1, 1].map((us) => new NearNow('monthsBefore', 3, us)),
];
/** Definition values may also use the other accepted spellings. */
const TIME_VALUES: Array<string | NearNow> = [
  ...TIMES,
  '2024-06-15',
  '2020-02-29T12:00Z',
  '2024-06-14T20:00:00.000000-04:00',
];
const AMOUNTS = [0, 0.01, 5, 10.5, 49.99, 50, 100, 100.01, 250.25, 1000];
const STATUSES = ['paid', 'PAID', 'refunded', 'pending', 'paid%', 'p_id', ''];

interface FieldSpec {
  name: string;
  type: DataType;
  sqlType: string;
  /** Values of rows; definitions draw from the same pool so that they meet. */
  pool: readonly unknown[];
  /** Values of definitions, when they may be spelled differently. */
  values?: readonly unknown[];
}

const CUSTOMER_FIELDS: FieldSpec[] = [
  { name: 'id', type: 'integer', sqlType: 'integer PRIMARY KEY', pool: [1, 2, 3, 5, 10] },
  { name: 'name', type: 'text', sqlType: 'text', pool: TEXTS },
  { name: 'code', type: 'varchar', sqlType: 'varchar(12)', pool: CODES },
  { name: 'age', type: 'integer', sqlType: 'integer', pool: INTEGERS },
  { name: 'score', type: 'numeric', sqlType: 'numeric', pool: NUMERICS },
  { name: 'ratio', type: 'double', sqlType: 'double precision', pool: DOUBLES },
  { name: 'big', type: 'bigint', sqlType: 'bigint', pool: BIGINTS },
  { name: 'active', type: 'boolean', sqlType: 'boolean', pool: [true, false] },
  { name: 'born', type: 'date', sqlType: 'date', pool: DATES },
  { name: 'seen_at', type: 'timestamptz', sqlType: 'timestamptz', pool: TIMES, values: TIME_VALUES },
  { name: 'profile', type: 'jsonb', sqlType: 'jsonb', pool: ['{"a": 1}', '[]', 'null', '"x"'] },
  { name: 'ext_id', type: 'uuid', sqlType: 'uuid', pool: UUIDS },
];
const ORDER_FIELDS: FieldSpec[] = [
  { name: 'id', type: 'integer', sqlType: 'integer PRIMARY KEY', pool: [1, 2, 3, 5, 10] },
  { name: 'customer_id', type: 'integer', sqlType: 'integer', pool: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20] },
  { name: 'amount', type: 'numeric', sqlType: 'numeric(12,2)', pool: AMOUNTS },
  { name: 'status', type: 'text', sqlType: 'text', pool: STATUSES },
  { name: 'created_at', type: 'timestamptz', sqlType: 'timestamptz', pool: TIMES, values: TIME_VALUES },
];
const PROFILE_FIELDS: FieldSpec[] = [
  { name: 'handle', type: 'text', sqlType: 'text PRIMARY KEY', pool: CODES },
  { name: 'tier', type: 'integer', sqlType: 'integer', pool: [0, 1, 2, 3] },
  { name: 'joined_on', type: 'date', sqlType: 'date', pool: DATES },
];

function schemaRecord(id: string, name: string, specs: FieldSpec[]): BaseSchemaRecord {
  const fields = specs.map((s): FieldDefinition => ({
    name: s.name,
    displayName: s.name,
    dataType: s.type,
    length: null,
    precision: null,
    scale: null,
    isNullable: !s.sqlType.includes('PRIMARY KEY'),
    isPrimaryKey: s.sqlType.includes('PRIMARY KEY'),
    isUnique: s.sqlType.includes('PRIMARY KEY'),
    description: null,
  }));
  const now = new Date();
  return {
    id,
    tenantId: 'diff',
    name,
    displayName: name,
    description: null,
    entityType: 'custom',
    tableName: `ds_${name}`,
    fields,
    createdAt: now,
    updatedAt: now,
  };
}

const customers = schemaRecord('sch_customers', 'customers', CUSTOMER_FIELDS);
const orders = schemaRecord('sch_orders', 'orders', ORDER_FIELDS);
const profiles = schemaRecord('sch_profiles', 'profiles', PROFILE_FIELDS);
const schemasById = new Map([customers, orders, profiles].map((s) => [s.id, s]));
const FIELDS_BY_SCHEMA = new Map([
  [customers.id, CUSTOMER_FIELDS],
  [orders.id, ORDER_FIELDS],
  [profiles.id, PROFILE_FIELDS],
]);

// ---------------------------------------------------------------------------
// Random datasets

interface Dataset {
  customers: Row[];
  orders: Row[];
  profiles: Row[];
}

const EMPTY: Dataset = { customers: [], orders: [], profiles: [] };

const valueOf = (spec: FieldSpec) => fc.option(fc.constantFrom(...spec.pool), { nil: null, freq: 6 });
const rowOf = (specs: FieldSpec[]) =>
  fc.record(
    Object.fromEntries(specs.filter((s) => !s.sqlType.includes('PRIMARY KEY')).map((s) => [s.name, valueOf(s)])),
  );

const datasetArb: fc.Arbitrary<Dataset> = fc.record({
  customers: fc
    .array(rowOf(CUSTOMER_FIELDS), { maxLength: 14, size: 'large' })
    .map((rows) => rows.map((r, i) => ({ id: i + 1, ...r }))),
  orders: fc
    .array(rowOf(ORDER_FIELDS), { maxLength: 24, size: 'large' })
    .map((rows) => rows.map((r, i) => ({ id: i + 1, ...r }))),
  profiles: fc
    .uniqueArray(fc.constantFrom(...CODES), { maxLength: CODES.length })
    .chain((handles) => fc.tuple(...handles.map((handle) => rowOf(PROFILE_FIELDS).map((r) => ({ handle, ...r }))))),
});

// ---------------------------------------------------------------------------
// Random definitions, in the request language (symbol and word operators alike)

type Json = unknown;

const JOIN_OPTIONS = [
  { alias: 'orders', schemaId: orders.id, localField: 'id', foreignField: 'customer_id', aliasImplicit: true },
  { alias: 'o2', schemaId: orders.id, localField: 'id', foreignField: 'customer_id', aliasImplicit: false },
  { alias: 'profiles', schemaId: profiles.id, localField: 'code', foreignField: 'handle', aliasImplicit: true },
] as const;
type JoinOption = (typeof JOIN_OPTIONS)[number];

const SYMBOLS: Record<string, string> = { eq: '=', neq: '!=', gt: '>', gte: '>=', lt: '<', lte: '<=' };
const ORDERED = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'not_in', 'between', 'is_null', 'is_not_null'];
const OPERATORS: Record<DataType, string[]> = {
  text: [...ORDERED, 'contains', 'not_contains', 'starts_with', 'ends_with'],
  varchar: [...ORDERED, 'contains', 'not_contains', 'starts_with', 'ends_with'],
  integer: ORDERED,
  bigint: ORDERED,
  numeric: ORDERED,
  double: ORDERED,
  date: [...ORDERED, 'within_last', 'not_within_last'],
  timestamptz: [...ORDERED, 'within_last', 'not_within_last'],
  uuid: ['eq', 'neq', 'in', 'not_in', 'is_null', 'is_not_null'],
  boolean: ['eq', 'neq', 'in', 'not_in', 'is_null', 'is_not_null'],
  jsonb: ['is_null', 'is_not_null'],
};

const operatorSpelling = (op: string) => (SYMBOLS[op] ? fc.constantFrom(op, SYMBOLS[op]) : fc.constant(op));
const recencyArb = fc.record({
  amount: fc.constantFrom(1, 2, 3, 7, 30, 90, 400),
  unit: fc.constantFrom('minutes', 'hours', 'days', 'weeks', 'months', 'months'),
});

/** A test (operator and value) of values drawn from `pool` and `texts`. */
function testArb(
  type: DataType,
  pool: readonly unknown[],
  operators: string[],
): fc.Arbitrary<{ operator: string; value?: Json }> {
  const one = fc.constantFrom(...pool);
  return fc.constantFrom(...operators).chain((op): fc.Arbitrary<{ operator: string; value?: Json }> => {
    const spelled = operatorSpelling(op);
    switch (op) {
      case 'is_null':
      case 'is_not_null':
        return spelled.map((operator) => ({ operator }));
      case 'in':
      case 'not_in':
        return fc.record({ operator: spelled, value: fc.array(one, { minLength: 1, maxLength: 4 }) });
      case 'between':
        return fc.record({ operator: spelled, value: fc.tuple(one, one) });
      case 'contains':
      case 'not_contains':
      case 'starts_with':
      case 'ends_with':
        return fc.record({
          operator: spelled,
          value: fc.constantFrom(...TEXT_PATTERNS, ...pool.filter((v) => typeof v === 'string')),
        });
      case 'within_last':
      case 'not_within_last':
        return fc.record({ operator: spelled, value: recencyArb });
      default:
        return fc.record({
          operator: spelled,
          value: type === 'uuid' ? fc.constantFrom(...UUIDS, ...UUIDS.map((u) => u.toUpperCase())) : one,
        });
    }
  });
}

function fieldConditionArb(spec: FieldSpec, name: string): fc.Arbitrary<Json> {
  return testArb(spec.type, spec.values ?? spec.pool, OPERATORS[spec.type]).map((t) => ({ field: name, ...t }));
}

function fieldsOf(join: JoinOption): FieldSpec[] {
  return FIELDS_BY_SCHEMA.get(join.schemaId)!;
}

/** Conditions on the rows of one join, as an aggregate's `where` takes them. */
function rowConditionArb(join: JoinOption, depth: number): fc.Arbitrary<Json> {
  const leaf = fc.oneof(
    ...fieldsOf(join).map((spec) =>
      fc.constantFrom(spec.name, `${join.alias}.${spec.name}`).chain((name) => fieldConditionArb(spec, name)),
    ),
  );
  if (depth >= 3) return leaf;
  const child = rowConditionArb(join, depth + 1);
  return fc.oneof(
    { weight: 4, arbitrary: leaf },
    { weight: 1, arbitrary: fc.record({ any: fc.array(child, { maxLength: 2 }) }) },
    { weight: 1, arbitrary: fc.record({ not: child }) },
  );
}

function aggregateArb(join: JoinOption): fc.Arbitrary<Json> {
  const where = fc.option(fc.array(rowConditionArb(join, 3), { maxLength: 2 }), { nil: undefined });
  const isOrders = join.schemaId === orders.id;
  const count = fc.record({
    aggregate: fc.constant('count'),
    join: fc.constant(join.alias),
    where,
    test: testArb(
      'integer',
      [0, 1, 2, 3],
      ORDERED.filter((o) => !o.startsWith('is_')),
    ),
  });
  const amount = ORDER_FIELDS.find((f) => f.name === 'amount')!;
  const sumAvg = fc.record({
    aggregate: fc.constantFrom('sum', 'avg'),
    join: fc.constant(join.alias),
    field: fc.constant(isOrders ? 'amount' : 'tier'),
    where,
    test: testArb('numeric', isOrders ? [...amount.pool, 60.005, 150] : [0, 1, 1.5, 2, 3], [
      'eq',
      'neq',
      'gt',
      'gte',
      'lt',
      'lte',
      'between',
      'in',
    ]),
  });
  const minMaxFields = (isOrders ? ORDER_FIELDS : PROFILE_FIELDS).filter((f) =>
    ['amount', 'created_at', 'tier', 'joined_on'].includes(f.name),
  );
  const minMax = fc.constantFrom(...minMaxFields).chain((spec) =>
    fc.record({
      aggregate: fc.constantFrom('min', 'max'),
      join: fc.constant(join.alias),
      field: fc.constantFrom(spec.name, `${join.alias}.${spec.name}`),
      where,
      test: testArb(spec.type, spec.values ?? spec.pool, [
        'eq',
        'neq',
        'gt',
        'gte',
        'lt',
        'lte',
        'between',
        'in',
        'not_in',
      ]),
    }),
  );
  return fc
    .oneof(count, sumAvg, minMax)
    .map(({ test, where: w, ...rest }) => ({ ...rest, ...test, ...(w ? { where: w } : {}) }));
}

/** Text and time fields have the most operators, so they come up more often. */
const FIELD_WEIGHT: Partial<Record<DataType, number>> = { text: 3, varchar: 3, date: 2, timestamptz: 2 };

function conditionArb(joins: readonly JoinOption[], referenced: string | undefined, depth: number): fc.Arbitrary<Json> {
  const options: Array<fc.WeightedArbitrary<Json>> = [
    {
      weight: 6,
      arbitrary: fc.oneof(
        ...CUSTOMER_FIELDS.map((spec) => ({
          weight: FIELD_WEIGHT[spec.type] ?? 1,
          arbitrary: fieldConditionArb(spec, spec.name),
        })),
      ),
    },
  ];
  for (const join of joins) {
    options.push({
      weight: 2,
      arbitrary: fc.oneof(...fieldsOf(join).map((spec) => fieldConditionArb(spec, `${join.alias}.${spec.name}`))),
    });
    options.push({ weight: 1, arbitrary: aggregateArb(join) });
  }
  if (referenced)
    options.push({
      weight: 2,
      arbitrary: fc.record({ segment: fc.constant(referenced), operator: fc.constantFrom('in', 'not_in') }),
    });
  if (depth < 3) {
    const child = conditionArb(joins, referenced, depth + 1);
    options.push(
      { weight: 1, arbitrary: fc.record({ all: fc.array(child, { maxLength: 3 }) }) },
      { weight: 2, arbitrary: fc.record({ any: fc.array(child, { maxLength: 3 }) }) },
      { weight: 2, arbitrary: fc.record({ not: child }) },
    );
  }
  return fc.oneof(...options);
}

function definitionArb(referenced: string | undefined): fc.Arbitrary<{ joins: Json[]; filters: Json[] }> {
  return fc.subarray([...JOIN_OPTIONS]).chain((chosen) =>
    fc.record({
      joins: fc.tuple(
        ...chosen.map((j) =>
          fc
            .record({
              type: fc.constantFrom('inner', undefined, 'left', 'left'),
              explicitAlias: j.aliasImplicit ? fc.boolean() : fc.constant(true),
            })
            .map(({ type, explicitAlias }) => ({
              schemaId: j.schemaId,
              ...(explicitAlias ? { alias: j.alias } : {}),
              ...(type ? { type } : {}),
              localField: j.localField,
              foreignField: j.foreignField,
            })),
        ),
      ),
      filters: fc.array(conditionArb(chosen, referenced, 1), { maxLength: 3 }),
    }),
  );
}

// ---------------------------------------------------------------------------
// One run

const VIEW_A = `seg_${randomBytes(6).toString('hex')}`;
const VIEW_B = `seg_${randomBytes(6).toString('hex')}`;
const SEGMENT_A: ReferencedSegment = { id: 'seg-a', baseSchemaId: customers.id, viewName: VIEW_A };
const SEGMENT_B: ReferencedSegment = { id: 'seg-b', baseSchemaId: customers.id, viewName: VIEW_B };
/** Only ever inlined: its view is never created. */
const SEGMENT_C: ReferencedSegment = { id: 'seg-c', baseSchemaId: customers.id, viewName: `seg_${randomBytes(6).toString('hex')}` };

function columnSet(specs: FieldSpec[], table: string) {
  return new pgp.helpers.ColumnSet(
    specs.map((s) => ({ name: s.name, cast: s.type === 'double' ? 'double precision' : s.type, def: null })),
    { table: { schema: namespace, table } },
  );
}

const COLUMNS = {
  customers: columnSet(CUSTOMER_FIELDS, 'ds_customers'),
  orders: columnSet(ORDER_FIELDS, 'ds_orders'),
  profiles: columnSet(PROFILE_FIELDS, 'ds_profiles'),
};

type Task = pgPromise.ITask<object>;

async function insertDataset(t: Task, data: Dataset): Promise<void> {
  for (const table of ['customers', 'orders', 'profiles'] as const) {
    const rows = data[table];
    if (rows.length > 0) await t.none(pgp.helpers.insert(rows, COLUMNS[table]));
  }
}

async function membersOf(t: Task, viewName: string, sql: string): Promise<number[]> {
  await t.none(`CREATE VIEW ${pgp.as.name(namespace)}.${pgp.as.name(viewName)} AS ${sql}`);
  const rows = await t.any<{ id: number }>(
    `SELECT id FROM ${pgp.as.name(namespace)}.${pgp.as.name(viewName)} ORDER BY id`,
  );
  return rows.map((r) => r.id);
}

/** Runs `body` inside a transaction that is always rolled back. */
async function inRolledBackTransaction<T>(body: (t: Task, nowMicros: bigint) => Promise<T>): Promise<T> {
  return db.task(async (t) => {
    await t.none('BEGIN');
    try {
      // A zone far from UTC, with daylight saving: the compiled SQL must not depend on it.
      await t.none("SET LOCAL TIME ZONE 'Pacific/Chatham'");
      const { us } = await t.one<{ us: string }>('SELECT (extract(epoch FROM now()) * 1000000)::bigint AS us');
      return await body(t, BigInt(us));
    } finally {
      await t.none('ROLLBACK');
    }
  });
}

function context(segments: ReferencedSegment[] = []): CompileContext {
  return { baseSchema: customers, schemasById, segmentsById: new Map(segments.map((s) => [s.id, s])), namespace };
}

function oracle(
  def: SegmentDefinition,
  data: Dataset,
  nowMicros: bigint,
  members = new Map<string, readonly Row[]>(),
): Row[] {
  return evaluateDefinition({
    definition: def,
    baseSchema: customers,
    schemasById,
    baseRows: data.customers,
    rowsBySchemaId: new Map([
      [orders.id, data.orders],
      [profiles.id, data.profiles],
    ]),
    segmentMembers: members,
    nowMicros,
  });
}

const ids = (rows: readonly Row[]) => rows.map((r) => r.id as number);

/** Base rows counted by their set of memberships (bit i: a member of `members[i]`), rows in none left out. */
function expectedMasks(base: readonly Row[], members: ReadonlyArray<readonly Row[]>): Array<{ mask: number; n: number }> {
  const counts = new Map<number, number>();
  for (const row of base) {
    const mask = members.reduce((m, rows, i) => (rows.some((r) => r.id === row.id) ? m | (1 << i) : m), 0);
    if (mask !== 0) counts.set(mask, (counts.get(mask) ?? 0) + 1);
  }
  return [...counts].map(([mask, n]) => ({ mask, n })).sort((a, b) => a.mask - b.mask);
}

/** The one-pass overlap's counts per membership set, and its row count (every base row exactly once). */
async function onePass(
  t: Task,
  segmentIds: string[],
  definitions: ReadonlyMap<string, SegmentDefinition>,
): Promise<{ masks: Array<{ mask: number; n: number }>; rows: number }> {
  const select = compileOverlapQuery(segmentIds, {
    ...context([SEGMENT_A, SEGMENT_B, SEGMENT_C]),
    definitionsById: definitions,
  });
  const masks = (await overlapMasks(t, select)).sort((a, b) => a.mask - b.mask);
  const { rows } = await t.one<{ rows: number }>(`SELECT count(*)::int AS rows FROM (${select}) AS all_rows`);
  return { masks, rows };
}

beforeAll(async () => {
  // Under a linguistic collation 'a' < 'B'; text ordering must still compare bytes.
  const icu = await db.oneOrNone("SELECT 1 FROM pg_collation WHERE collname = 'en-x-icu'");
  const column = (s: FieldSpec) =>
    `${pgp.as.name(s.name)} ${s.sqlType}${icu && s.type === 'text' ? ' COLLATE "en-x-icu"' : ''}`;
  const table = (name: string, specs: FieldSpec[]) =>
    `CREATE TABLE ${pgp.as.name(namespace)}.${pgp.as.name(name)} (${specs.map(column).join(', ')})`;
  await db.none(`CREATE SCHEMA ${pgp.as.name(namespace)}`);
  await db.none(table('ds_customers', CUSTOMER_FIELDS));
  await db.none(table('ds_orders', ORDER_FIELDS));
  await db.none(table('ds_profiles', PROFILE_FIELDS));
});

afterAll(async () => {
  await db.none(`DROP SCHEMA IF EXISTS ${pgp.as.name(namespace)} CASCADE`);
  await pgp.end();
});

describe('segment views and one-pass overlaps hold exactly the members the definitions describe', () => {
  it(`agrees with the reference evaluation on ${NUM_RUNS} random datasets and definitions`, async () => {
    await fc.assert(
      fc.asyncProperty(
        datasetArb,
        definitionArb(undefined),
        definitionArb(SEGMENT_A.id),
        definitionArb(SEGMENT_B.id),
        fc.boolean(),
        async (rawData, inputA, inputB, inputC, inlineA) => {
          await inRolledBackTransaction(async (t, nowMicros) => {
            const data = materialize(rawData, nowMicros);
            await insertDataset(t, data);

            const defA = validateDefinition(materialize(inputA, nowMicros), context());
            const expectedA = oracle(defA, data, nowMicros);
            expect(await membersOf(t, VIEW_A, compileSegmentQuery(defA, context()))).toEqual(ids(expectedA));

            const defB = validateDefinition(materialize(inputB, nowMicros), context([SEGMENT_A]));
            const expectedB = oracle(defB, data, nowMicros, new Map([[SEGMENT_A.id, expectedA]]));
            expect(await membersOf(t, VIEW_B, compileSegmentQuery(defB, context([SEGMENT_A])))).toEqual(ids(expectedB));

            // C references B, which may reference A: inlined two deep. Without A's definition, A is read from its view.
            const defC = validateDefinition(materialize(inputC, nowMicros), context([SEGMENT_A, SEGMENT_B]));
            const expectedC = oracle(defC, data, nowMicros, new Map([[SEGMENT_B.id, expectedB]]));
            const definitions = new Map([
              [SEGMENT_B.id, defB],
              [SEGMENT_C.id, defC],
              ...(inlineA ? ([[SEGMENT_A.id, defA]] as const) : []),
            ]);
            expect(await onePass(t, [SEGMENT_A.id, SEGMENT_B.id, SEGMENT_C.id], definitions)).toEqual({
              masks: expectedMasks(data.customers, [expectedA, expectedB, expectedC]),
              rows: data.customers.length,
            });
          });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  }, 120_000);
});

describe('segment views, case by case', () => {
  /** The member ids of `input` over `data` (missing columns are NULL), in a rolled-back transaction. */
  async function members(input: { joins?: unknown; filters?: unknown }, data: Partial<Dataset>): Promise<number[]> {
    return inRolledBackTransaction(async (t) => {
      await insertDataset(t, { ...EMPTY, ...data });
      return membersOf(t, VIEW_A, compileSegmentQuery(validateDefinition(input, context()), context()));
    });
  }
  const hostile = ["'; DROP TABLE x; --", "O'Brien", 'a\\b', '100%', 'a_b', 'axb', 'ab', '"quoted"', "Robert'); --"];
  const named = hostile.map((name, i) => ({ id: i + 1, name }));
  const ORDERS_JOIN = { schemaId: orders.id, localField: 'id', foreignField: 'customer_id' };

  it('matches a value full of quotes and comment markers exactly', async () => {
    for (const [i, name] of hostile.entries()) {
      expect(await members({ filters: [{ field: 'name', operator: '=', value: name }] }, { customers: named })).toEqual(
        [i + 1],
      );
    }
  });

  it('takes %, _ and backslash in contains / starts_with / ends_with literally', async () => {
    const ids = (operator: string, value: string) =>
      members({ filters: [{ field: 'name', operator, value }] }, { customers: named });
    expect(await ids('contains', '%')).toEqual([4]);
    expect(await ids('contains', '_')).toEqual([5]);
    expect(await ids('contains', '\\')).toEqual([3]);
    expect(await ids('starts_with', 'A_')).toEqual([5]);
    expect(await ids('ends_with', "'); --")).toEqual([9]);
    expect(await ids('contains', "o'b")).toEqual([2]);
  });

  it('counts a customer with three orders once', async () => {
    const data = {
      customers: [{ id: 1 }, { id: 2 }],
      orders: [1, 2, 3].map((id) => ({ id, customer_id: 1, amount: 50 })),
    };
    expect(
      await members({ joins: [ORDERS_JOIN], filters: [{ field: 'orders.amount', operator: '>', value: 10 }] }, data),
    ).toEqual([1]);
    expect(await members({ joins: [{ ...ORDERS_JOIN, type: 'left' }] }, data)).toEqual([1, 2]);
    expect(await members({ joins: [ORDERS_JOIN] }, data)).toEqual([1]);
  });

  it('judges a customer without orders against one all-NULL order under a left join', async () => {
    const data = { customers: [{ id: 1 }, { id: 2 }], orders: [{ id: 1, customer_id: 1, amount: 5 }] };
    const left = [{ ...ORDERS_JOIN, type: 'left' }];
    expect(await members({ joins: left, filters: [{ field: 'orders.amount', operator: 'is_null' }] }, data)).toEqual([
      2,
    ]);
    expect(
      await members({ joins: left, filters: [{ not: { field: 'orders.amount', operator: '>', value: 1 } }] }, data),
    ).toEqual([2]);
    expect(
      await members({ joins: [ORDERS_JOIN], filters: [{ field: 'orders.amount', operator: 'is_null' }] }, data),
    ).toEqual([]);
  });

  it('lets each condition on a join be met by a different row, and an aggregate ask one row for both', async () => {
    const data = {
      customers: [{ id: 1 }, { id: 2 }],
      orders: [
        { id: 1, customer_id: 1, amount: 500, status: 'refunded' },
        { id: 2, customer_id: 1, amount: 5, status: 'paid' },
        { id: 3, customer_id: 2, amount: 500, status: 'paid' },
      ],
    };
    const big = { field: 'amount', operator: '>', value: 100 };
    const paid = { field: 'status', operator: '=', value: 'paid' };
    const separately = [
      { field: 'orders.amount', operator: '>', value: 100 },
      { field: 'orders.status', operator: '=', value: 'paid' },
    ];
    expect(await members({ joins: [ORDERS_JOIN], filters: separately }, data)).toEqual([1, 2]);
    const together = { aggregate: 'count', join: 'orders', operator: '>=', value: 1, where: [big, paid] };
    expect(await members({ joins: [ORDERS_JOIN], filters: [together] }, data)).toEqual([2]);
  });

  it('treats a comparison with NULL as false, so its negation holds', async () => {
    const data = { customers: [{ id: 1, age: 40 }, { id: 2, age: 20 }, { id: 3 }] };
    expect(await members({ filters: [{ not: { field: 'age', operator: '>', value: 30 } }] }, data)).toEqual([2, 3]);
    expect(await members({ filters: [{ field: 'age', operator: 'not_in', value: [40] }] }, data)).toEqual([2]);
    expect(await members({ filters: [{ field: 'age', operator: '!=', value: 40 }] }, data)).toEqual([2]);
  });

  /**
   * Rows one microsecond either side of each edge "now minus k units" for a
   * year's worth of k: the session zone (Pacific/Chatham) changes its offset
   * somewhere in that year, so an edge computed in the session's zone moves.
   */
  async function edgesOfWithinLast(
    unit: 'days' | 'months',
    edgeOf: (nowMicros: bigint, k: number) => bigint,
    ks: number[],
  ) {
    const found = await inRolledBackTransaction(async (t, nowMicros) => {
      const edges = ks.map((k) => edgeOf(nowMicros, k));
      const rows = edges.flatMap((edge, i) => [
        { id: 2 * i + 1, seen_at: isoMicros(edge - 1n), micros: edge - 1n },
        { id: 2 * i + 2, seen_at: isoMicros(edge), micros: edge },
      ]);
      await insertDataset(t, { ...EMPTY, customers: rows });
      const result: Array<[number[], number[]]> = [];
      for (const [i, k] of ks.entries()) {
        const input = { filters: [{ field: 'seen_at', operator: 'within_last', value: { amount: k, unit } }] };
        await t.none(`DROP VIEW IF EXISTS ${pgp.as.name(namespace)}.${pgp.as.name(VIEW_A)}`);
        const actual = await membersOf(t, VIEW_A, compileSegmentQuery(validateDefinition(input, context()), context()));
        result.push([actual, ids(rows.filter((r) => r.micros >= edges[i]!))]);
      }
      return result;
    });
    for (const [actual, expected] of found) expect(actual).toEqual(expected);
  }

  it('counts within_last months as calendar months in UTC, whatever the session time zone', async () => {
    const edge = (now: bigint, k: number) => BigInt(monthsBeforeMs(Number(now / 1000n), k)) * 1000n + (now % 1000n);
    await edgesOfWithinLast('months', edge, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('counts within_last days as 24 hours each, whatever the session time zone', async () => {
    const edge = (now: bigint, k: number) => now - BigInt(k) * BigInt(US.day);
    await edgesOfWithinLast('days', edge, [30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 330, 360]);
  });

  it('follows the current definition of a referenced segment, matching every primary-key column', async () => {
    const accounts = schemaRecord('sch_accounts', 'accounts', [
      { name: 'region', type: 'text', sqlType: 'text PRIMARY KEY', pool: [] },
      { name: 'id', type: 'integer', sqlType: 'integer PRIMARY KEY', pool: [] },
      { name: 'tier', type: 'integer', sqlType: 'integer', pool: [] },
    ]);
    const ns = pgp.as.name(namespace);
    const ctx = (segments: ReferencedSegment[]): CompileContext => ({
      baseSchema: accounts,
      schemasById: new Map([[accounts.id, accounts]]),
      segmentsById: new Map(segments.map((s) => [s.id, s])),
      namespace,
    });
    const referenced: ReferencedSegment = { id: 'seg-gold', baseSchemaId: accounts.id, viewName: VIEW_A };
    const view = (def: object, segments: ReferencedSegment[] = []) =>
      compileSegmentQuery(validateDefinition(def, ctx(segments)), ctx(segments));
    const found = await inRolledBackTransaction(async (t) => {
      await t.none(`CREATE TABLE ${ns}.ds_accounts (region text, id integer, tier integer, PRIMARY KEY (region, id))`);
      // Same id in two regions: only the (region, id) pair identifies a member.
      await t.none(`INSERT INTO ${ns}.ds_accounts VALUES ('eu', 1, 3), ('us', 1, 1), ('us', 2, 3)`);
      await t.none(
        `CREATE VIEW ${ns}.${pgp.as.name(VIEW_A)} AS ${view({ filters: [{ field: 'tier', operator: '>=', value: 3 }] })}`,
      );
      await t.none(
        `CREATE VIEW ${ns}.${pgp.as.name(VIEW_B)} AS ${view({ filters: [{ segment: referenced.id, operator: 'not_in' }] }, [referenced])}`,
      );
      const read = () =>
        t.map(
          `SELECT region || id AS key FROM ${ns}.${pgp.as.name(VIEW_B)} ORDER BY 1`,
          [],
          (r: { key: string }) => r.key,
        );
      const before = await read();
      await t.none(
        `CREATE OR REPLACE VIEW ${ns}.${pgp.as.name(VIEW_A)} AS ${view({ filters: [{ field: 'tier', operator: '<', value: 3 }] })}`,
      );
      return [before, await read()];
    });
    expect(found).toEqual([['us1'], ['eu1', 'us2']]);
  });
});

describe('one-pass overlaps, case by case', () => {
  const ORDERS_LEFT = { schemaId: orders.id, type: 'left', localField: 'id', foreignField: 'customer_id' };
  const recent = {
    joins: [ORDERS_LEFT],
    filters: [{ field: 'orders.created_at', operator: 'within_last', value: { amount: 30, unit: 'days' } }],
  };
  const frequent = {
    joins: [ORDERS_LEFT],
    filters: [{ aggregate: 'count', join: 'orders', operator: '>=', value: 3, where: [] }],
  };

  /** Scans of the customers table anywhere in the plan of `select`. */
  async function customerScans(t: Task, select: string): Promise<number> {
    const [row] = await t.any<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${select}`);
    let scans = 0;
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(visit);
      if (!node || typeof node !== 'object') return;
      if ((node as Record<string, unknown>)['Relation Name'] === 'ds_customers') scans += 1;
      Object.values(node).forEach(visit);
    };
    visit(row?.['QUERY PLAN']);
    return scans;
  }

  it('reads the base table once for joined conditions, aggregates and references, reading each derived table once', async () => {
    const defA = validateDefinition(recent, context());
    const defB = validateDefinition(
      { joins: [ORDERS_LEFT], filters: [{ any: [{ segment: SEGMENT_A.id, operator: 'in' }, frequent.filters[0]] }] },
      context([SEGMENT_A]),
    );
    const defC = validateDefinition(frequent, context());
    const ids = [SEGMENT_A.id, SEGMENT_B.id, SEGMENT_C.id];
    const all = new Map([
      [SEGMENT_A.id, defA],
      [SEGMENT_B.id, defB],
      [SEGMENT_C.id, defC],
    ]);
    const select = compileOverlapQuery(ids, { ...context([SEGMENT_A, SEGMENT_B, SEGMENT_C]), definitionsById: all });
    // A's condition (also reached through B) and the count (in B and C) are each one derived table.
    expect(select.match(/LEFT JOIN \(/g)).toHaveLength(2);
    const withoutA = new Map([...all].filter(([id]) => id !== SEGMENT_A.id));
    const scans = await inRolledBackTransaction(async (t) => {
      await membersOf(t, VIEW_A, compileSegmentQuery(defA, context()));
      const fallback = compileOverlapQuery(ids, { ...context([SEGMENT_A, SEGMENT_B, SEGMENT_C]), definitionsById: withoutA });
      return [await customerScans(t, select), await customerScans(t, fallback)];
    });
    // Without A's definition, A's view is read: a second pass, and the only way to one.
    expect(scans).toEqual([1, 2]);
  });

  it('matches every primary-key column of a referenced segment, inlined or read from its view', async () => {
    const accounts = schemaRecord('sch_accounts', 'accounts', [
      { name: 'region', type: 'text', sqlType: 'text PRIMARY KEY', pool: [] },
      { name: 'id', type: 'integer', sqlType: 'integer PRIMARY KEY', pool: [] },
      { name: 'tier', type: 'integer', sqlType: 'integer', pool: [] },
    ]);
    const gold: ReferencedSegment = { id: 'seg-gold', baseSchemaId: accounts.id, viewName: VIEW_A };
    const rest: ReferencedSegment = { id: 'seg-rest', baseSchemaId: accounts.id, viewName: VIEW_B };
    const ctx: CompileContext = {
      baseSchema: accounts,
      schemasById: new Map([[accounts.id, accounts]]),
      segmentsById: new Map([gold, rest].map((s) => [s.id, s])),
      namespace,
    };
    const goldDef = validateDefinition({ filters: [{ field: 'tier', operator: '>=', value: 3 }] }, ctx);
    const restDef = validateDefinition({ filters: [{ segment: gold.id, operator: 'not_in' }] }, ctx);
    const ns = pgp.as.name(namespace);
    const found = await inRolledBackTransaction(async (t) => {
      await t.none(`CREATE TABLE ${ns}.ds_accounts (region text, id integer, tier integer, PRIMARY KEY (region, id))`);
      // Same id in two regions: only the (region, id) pair identifies a member.
      await t.none(`INSERT INTO ${ns}.ds_accounts VALUES ('eu', 1, 3), ('us', 1, 1), ('us', 2, 3), ('us', 3, NULL)`);
      await t.none(`CREATE VIEW ${ns}.${pgp.as.name(VIEW_A)} AS ${compileSegmentQuery(goldDef, ctx)}`);
      const masks = (definitionsById: Map<string, SegmentDefinition>) =>
        overlapMasks(t, compileOverlapQuery([gold.id, rest.id], { ...ctx, definitionsById }));
      return [
        await masks(new Map([[gold.id, goldDef], [rest.id, restDef]])),
        await masks(new Map([[rest.id, restDef]])),
      ];
    });
    const expected = [
      { mask: 1, n: 2 },
      { mask: 2, n: 2 },
    ];
    expect(found.map((masks) => masks.sort((a, b) => a.mask - b.mask))).toEqual([expected, expected]);
  });
});
