import type { BaseSchemaRecord, DataType } from '../../src/domain/schemas/types.js';
import type {
  AggregateCondition,
  Condition,
  FieldTest,
  JoinDefinition,
  Recency,
  RowCondition,
  Scalar,
  SegmentDefinition,
} from '../../src/domain/segments/definition.js';

/**
 * A plain evaluation of a validated segment definition over rows in memory:
 * the oracle of the differential test. It shares nothing with the compiler
 * but the definition's types, and follows the semantics written at the top of
 * src/domain/segments/compile.ts: members are base rows, each once; a joined
 * condition holds when some key-matching row satisfies it (a left join with no
 * rows offers one all-NULL row); a comparison with NULL is false.
 *
 * Numbers are exact rationals (PostgreSQL's numeric sums are exact),
 * timestamps are epoch microseconds (PostgreSQL's resolution), text orders by
 * code point (COLLATE "C" on UTF-8) and matches case-insensitively with
 * toLowerCase (agreeing with PostgreSQL's lower() on the characters tested).
 */

export type Row = Readonly<Record<string, unknown>>;

export interface Evaluation {
  definition: SegmentDefinition;
  baseSchema: BaseSchemaRecord;
  schemasById: ReadonlyMap<string, BaseSchemaRecord>;
  baseRows: readonly Row[];
  /** Rows of every joined schema, by schema id. */
  rowsBySchemaId: ReadonlyMap<string, readonly Row[]>;
  /** Member rows of every referenced segment, by segment id. */
  segmentMembers: ReadonlyMap<string, readonly Row[]>;
  /** now() of the query, in microseconds since the epoch. */
  nowMicros: bigint;
}

export function evaluateDefinition(e: Evaluation): Row[] {
  const joins = new Map(e.definition.joins.map((j) => [j.alias, j]));
  const joinOf = (alias: string): JoinDefinition => must(joins.get(alias), `join ${alias}`);
  const schemaOf = (id: string): BaseSchemaRecord => must(e.schemasById.get(id), `schema ${id}`);
  const typeOf = (schema: BaseSchemaRecord, name: string): DataType =>
    must(
      schema.fields.find((f) => f.name === name),
      `field ${name} of ${schema.name}`,
    ).dataType;

  const matching = (base: Row, join: JoinDefinition): Row[] => {
    const key = valueOf(base[join.localField], typeOf(e.baseSchema, join.localField));
    const joinedType = typeOf(schemaOf(join.schemaId), join.foreignField);
    return (e.rowsBySchemaId.get(join.schemaId) ?? []).filter((r) => {
      const other = valueOf(r[join.foreignField], joinedType);
      return key !== null && other !== null && compare(key, other) === 0;
    });
  };

  const rowHolds = (c: RowCondition, row: Row, schema: BaseSchemaRecord): boolean => {
    if ('all' in c) return c.all.every((x) => rowHolds(x, row, schema));
    if ('any' in c) return c.any.some((x) => rowHolds(x, row, schema));
    if ('not' in c) return !rowHolds(c.not, row, schema);
    const type = typeOf(schema, c.field);
    return passes(valueOf(row[c.field], type), c, type, e.nowMicros);
  };

  const aggregateHolds = (c: AggregateCondition, base: Row): boolean => {
    const join = joinOf(c.join);
    const schema = schemaOf(join.schemaId);
    const rows = matching(base, join).filter((r) => c.where.every((w) => rowHolds(w, r, schema)));
    if (c.aggregate === 'count') return passes(number(BigInt(rows.length)), c, 'numeric', e.nowMicros);
    const field = must(c.field, 'aggregated field');
    const type = typeOf(schema, field);
    const values = rows.map((r) => valueOf(r[field], type)).filter((v): v is Value => v !== null);
    let result: Value | null = null;
    if (c.aggregate === 'sum' || c.aggregate === 'avg') {
      const sum = values.reduce((acc, v) => add(acc, asRational(v)), { n: 0n, d: 1n });
      if (c.aggregate === 'sum') result = number(sum.n, sum.d);
      else if (values.length > 0) result = number(sum.n, sum.d * BigInt(values.length));
      return passes(result, c, 'numeric', e.nowMicros);
    }
    for (const v of values) {
      const better = result === null || (c.aggregate === 'min' ? compare(v, result) < 0 : compare(v, result) > 0);
      if (better) result = v;
    }
    return passes(result, c, type, e.nowMicros);
  };

  const holds = (c: Condition, base: Row): boolean => {
    if ('all' in c) return c.all.every((x) => holds(x, base));
    if ('any' in c) return c.any.some((x) => holds(x, base));
    if ('not' in c) return !holds(c.not, base);
    if ('segment' in c) {
      const keys = e.baseSchema.fields.filter((f) => f.isPrimaryKey);
      const members = must(e.segmentMembers.get(c.segment), `members of ${c.segment}`);
      const member = members.some((m) => keys.every((k) => sameValue(m[k.name], base[k.name], k.dataType)));
      return c.operator === 'in' ? member : !member;
    }
    if ('aggregate' in c) return aggregateHolds(c, base);
    const dot = c.field.indexOf('.');
    if (dot < 0) {
      const type = typeOf(e.baseSchema, c.field);
      return passes(valueOf(base[c.field], type), c, type, e.nowMicros);
    }
    const join = joinOf(c.field.slice(0, dot));
    const name = c.field.slice(dot + 1);
    const type = typeOf(schemaOf(join.schemaId), name);
    let rows = matching(base, join);
    if (rows.length === 0 && join.type === 'left') rows = [{}];
    return rows.some((r) => passes(valueOf(r[name], type), c, type, e.nowMicros));
  };

  return e.baseRows.filter(
    (base) =>
      e.definition.joins.every((j) => j.type === 'left' || matching(base, j).length > 0) &&
      e.definition.filters.every((c) => holds(c, base)),
  );
}

// ---------------------------------------------------------------------------
// Values

interface Rational {
  n: bigint;
  /** Always positive. */
  d: bigint;
}

type Value =
  | { kind: 'number'; r: Rational }
  | { kind: 'text'; s: string }
  | { kind: 'time'; micros: bigint }
  | { kind: 'bool'; b: boolean }
  | { kind: 'json' };

const number = (n: bigint, d = 1n): Value => ({ kind: 'number', r: { n, d } });

/** The typed value of a row's raw value or a definition's scalar; null for SQL NULL. */
function valueOf(raw: unknown, type: DataType): Value | null {
  if (raw === null || raw === undefined) return null;
  switch (type) {
    case 'text':
    case 'varchar':
      return { kind: 'text', s: String(raw) };
    case 'uuid':
      return { kind: 'text', s: String(raw).toLowerCase() };
    case 'integer':
    case 'bigint':
    case 'numeric':
    case 'double':
      return { kind: 'number', r: parseDecimal(String(raw)) };
    case 'boolean':
      return { kind: 'bool', b: raw === true };
    case 'date':
      return { kind: 'time', micros: parseTimestamp(`${String(raw)}T00:00:00Z`) };
    case 'timestamptz':
      return { kind: 'time', micros: parseTimestamp(String(raw)) };
    case 'jsonb':
      return { kind: 'json' };
  }
}

function sameValue(a: unknown, b: unknown, type: DataType): boolean {
  const x = valueOf(a, type);
  const y = valueOf(b, type);
  return x !== null && y !== null && compare(x, y) === 0;
}

function compare(a: Value, b: Value): number {
  if (a.kind === 'number' && b.kind === 'number') return sign(a.r.n * b.r.d - b.r.n * a.r.d);
  if (a.kind === 'text' && b.kind === 'text') return compareCodePoints(a.s, b.s);
  if (a.kind === 'time' && b.kind === 'time') return sign(a.micros - b.micros);
  if (a.kind === 'bool' && b.kind === 'bool') return Number(a.b) - Number(b.b);
  throw new Error(`cannot compare ${a.kind} with ${b.kind}`);
}

function sign(n: bigint): number {
  return n < 0n ? -1 : n > 0n ? 1 : 0;
}

/** The order of UTF-8 bytes, which is code point order (not UTF-16 unit order). */
function compareCodePoints(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

function parseDecimal(text: string): Rational {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(text);
  if (!m) throw new Error(`not a number: ${text}`);
  const digits = BigInt(`${m[2] ?? ''}${m[3] ?? ''}` || '0') * (m[1] === '-' ? -1n : 1n);
  const exponent = Number(m[4] ?? 0) - (m[3] ?? '').length;
  return exponent >= 0 ? { n: digits * 10n ** BigInt(exponent), d: 1n } : { n: digits, d: 10n ** BigInt(-exponent) };
}

function asRational(v: Value): Rational {
  if (v.kind !== 'number') throw new Error(`not a number: ${v.kind}`);
  return v.r;
}

function add(a: Rational, b: Rational): Rational {
  return { n: a.n * b.d + b.n * a.d, d: a.d * b.d };
}

// ---------------------------------------------------------------------------
// Time

const MICROS_PER_DAY = 86_400_000_000n;
const MICROS_PER: Readonly<Record<Exclude<Recency['unit'], 'months'>, bigint>> = {
  minutes: 60_000_000n,
  hours: 3_600_000_000n,
  days: MICROS_PER_DAY,
  weeks: 7n * MICROS_PER_DAY,
};

/** `YYYY-MM-DDThh:mm[:ss[.ffffff]](Z|±hh:mm)` → epoch microseconds. */
function parseTimestamp(text: string): bigint {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(?:Z|([+-])(\d{2}):(\d{2}))$/.exec(
    text,
  );
  if (!m) throw new Error(`not a timestamp: ${text}`);
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const offsetMinutes = m[8] ? (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10])) : 0;
  const seconds =
    BigInt(daysFromCivil(year, month, day)) * 86_400n + BigInt(hour * 3600 + minute * 60 + second - offsetMinutes * 60);
  return seconds * 1_000_000n + BigInt((m[7] ?? '').padEnd(6, '0') || '0');
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp + (mp < 10 ? 3 : -9);
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day: doy - Math.floor((153 * mp + 2) / 5) + 1 };
}

/** PostgreSQL's `timestamp - interval 'n months'`: same day of month, clamped to the month's last day. */
function monthsBefore(micros: bigint, months: number): bigint {
  const days = Number(micros / MICROS_PER_DAY - (micros % MICROS_PER_DAY < 0n ? 1n : 0n));
  const timeOfDay = micros - BigInt(days) * MICROS_PER_DAY;
  const { year, month, day } = civilFromDays(days);
  const index = year * 12 + (month - 1) - months;
  const [y, m] = [Math.floor(index / 12), (index % 12) + 1];
  const lastDay = civilFromDays(daysFromCivil(m === 12 ? y + 1 : y, m === 12 ? 1 : m + 1, 1) - 1).day;
  return BigInt(daysFromCivil(y, m, Math.min(day, lastDay))) * MICROS_PER_DAY + timeOfDay;
}

function recencyStart(now: bigint, { amount, unit }: Recency): bigint {
  return unit === 'months' ? monthsBefore(now, amount) : now - BigInt(amount) * MICROS_PER[unit];
}

// ---------------------------------------------------------------------------
// One test of one value

function passes(x: Value | null, test: FieldTest, type: DataType, now: bigint): boolean {
  if (test.operator === 'is_null') return x === null;
  if (test.operator === 'is_not_null') return x !== null;
  if (x === null) return false;
  const v = (s: Scalar): Value => must(valueOf(s, type) ?? undefined, 'value');
  const text = () => (x.kind === 'text' ? x.s.toLowerCase() : '');
  switch (test.operator) {
    case 'eq':
      return compare(x, v(test.value)) === 0;
    case 'neq':
      return compare(x, v(test.value)) !== 0;
    case 'gt':
      return compare(x, v(test.value)) > 0;
    case 'gte':
      return compare(x, v(test.value)) >= 0;
    case 'lt':
      return compare(x, v(test.value)) < 0;
    case 'lte':
      return compare(x, v(test.value)) <= 0;
    case 'between':
      return compare(x, v(test.value[0])) >= 0 && compare(x, v(test.value[1])) <= 0;
    case 'in':
      return test.value.some((s) => compare(x, v(s)) === 0);
    case 'not_in':
      return test.value.every((s) => compare(x, v(s)) !== 0);
    case 'contains':
      return text().includes(test.value.toLowerCase());
    case 'not_contains':
      return !text().includes(test.value.toLowerCase());
    case 'starts_with':
      return text().startsWith(test.value.toLowerCase());
    case 'ends_with':
      return text().endsWith(test.value.toLowerCase());
    case 'within_last':
    case 'not_within_last': {
      if (x.kind !== 'time') throw new Error('within_last on a value that is not a time');
      const within = recencyStart(now, test.value) <= x.micros && x.micros <= now;
      return test.operator === 'within_last' ? within : !within;
    }
  }
}

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`evaluateDefinition: missing ${what}`);
  return value;
}
