/**
 * The segment compiler: a validated definition → the SELECT a segment's view
 * is created from (compileSegmentQuery); and several definitions → one pass
 * over the base table giving each row its set of memberships, for overlaps
 * (compileOverlapQuery). Both forms share every condition and test; they
 * differ only in how joined rows and referenced segments are read
 * (RowLookups). Pure; it reads nothing but its arguments.
 *
 * Semantics (the reference evaluator in test/support/evaluate-definition.ts
 * implements the same rules independently):
 * - Members are rows of the base schema, each exactly once: joins never
 *   multiply rows, every joined condition is an EXISTS or a scalar subquery.
 * - An `inner` join requires at least one joined row whose foreignField
 *   equals the base row's localField; a `left` join requires nothing.
 * - A condition on `alias.field` holds when at least one joined row (key
 *   match) satisfies it; each such condition is its own existential, so two
 *   of them may be met by different rows (an aggregate `count` with `where`
 *   asks one row to meet several). For a `left` join a base row without
 *   joined rows is judged against one all-NULL row.
 * - Two-valued logic: a comparison with NULL is false, never unknown, so
 *   `not` of a comparison holds for NULL; `is_null` / `is_not_null` test NULL.
 * - Aggregates see only real joined rows with the key match that satisfy
 *   `where`: count and sum of no rows are 0, avg/min/max of no rows are NULL
 *   (so every comparison with them is false).
 * - Text ordering (gt…, between) compares bytes (COLLATE "C"); contains and
 *   friends are ILIKE with `%`, `_` and `\` taken literally.
 * - within_last: now() - interval <= f <= now(). Minutes to weeks are fixed
 *   lengths (a day is 24 hours); months are calendar months counted in UTC; a
 *   date counts as midnight UTC. Nothing depends on the session's TimeZone.
 *
 * Safety: identifiers come from schema metadata (validation looked every name
 * up) and still go through pg-promise's quoting; every value is a pg-promise
 * text literal cast to a type from the fixed map below. The text literals
 * assume standard_conforming_strings = on (PostgreSQL's default since 9.1).
 */
import pgPromise from 'pg-promise';
import type { BaseSchemaRecord, DataType, FieldDefinition } from '../schemas/types.js';
import type {
  AggregateCondition,
  CompileContext,
  Condition,
  FieldTest,
  JoinDefinition,
  OverlapContext,
  Recency,
  Scalar,
  SegmentDefinition,
} from './definition.js';

export type { CompileContext, OverlapContext } from './definition.js';

const as = pgPromise.as;

const CAST: Readonly<Record<DataType, string>> = {
  text: 'text',
  varchar: 'text',
  integer: 'integer',
  bigint: 'bigint',
  numeric: 'numeric',
  double: 'double precision',
  boolean: 'boolean',
  date: 'date',
  timestamptz: 'timestamptz',
  uuid: 'uuid',
  jsonb: 'jsonb',
};

const COMPARE = { eq: '=', neq: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;
const AGGREGATE_SQL = { avg: 'avg', min: 'min', max: 'max' } as const;
const HOURS_PER_UNIT = { hours: 1, days: 24, weeks: 24 * 7 } as const;

/** A table a definition joins, and the join that says which of its rows belong to a base row. */
interface JoinedTable {
  join: JoinDefinition;
  schema: BaseSchemaRecord;
}

/** Field names are looked up in `schema`; columns are read from table alias `table`. */
interface Scope {
  schema: BaseSchemaRecord;
  table: 'b' | 'j';
}

/**
 * How a condition reads rows other than the base row `b`: per base row (the
 * view's EXISTS and scalar subqueries) or from tables read once for the
 * whole statement (the one-pass overlap). Both answer the same questions.
 */
interface RowLookups {
  /** The base row has at least one joined row. */
  hasRows(joined: JoinedTable): string;
  /**
   * Some joined row satisfies `test` (over alias `j`); under a left join a
   * base row without joined rows is judged against one all-NULL row, for
   * which `test` is `holdsForNull`.
   */
  someRow(joined: JoinedTable, test: string, holdsForNull: boolean): string;
  /**
   * `value`, an aggregate of alias `j`, over the joined rows that satisfy
   * every `where`; `overNoRows` is what it is when there are none.
   */
  aggregate(joined: JoinedTable, value: string, where: string[], overNoRows: '0' | null): string;
  /** The base row is a member of the referenced segment. */
  member(segmentId: string): string;
}

export function compileSegmentQuery(def: SegmentDefinition, ctx: CompileContext): string {
  const where = memberConditions(def, ctx, perRowLookups(ctx));
  return `SELECT b.* FROM ${table(ctx, ctx.baseSchema)} AS b WHERE ${where.length === 0 ? 'true' : where.join(' AND ')}`;
}

/** Inlined references per statement, beyond which a reference reads its segment's view. */
const MAX_INLINED_SEGMENTS = 100;

/**
 * The one-pass form of an overlap: `SELECT <mask> AS mask FROM <base> AS b
 * LEFT JOIN ...`, one row per base row, bit `2^i` of `mask` set when the row
 * is a member of `segmentIds[i]`; the base table is read once. A condition
 * on joined rows reads a table derived from the joined schema alone, grouped
 * by the join key (so it matches a base row at most once) and LEFT JOINed to
 * the base rows: read once and hash- or merge-joined, never probed per row.
 * Equal derived tables are joined once. Each segment's definition comes from
 * `definitionsById`, inlined with its references; one that is not there (or
 * past MAX_INLINED_SEGMENTS) is read from its view: exact, but another pass.
 * docs/decisions.md says why not `key IN (SELECT ...)`.
 */
export function compileOverlapQuery(segmentIds: readonly string[], ctx: OverlapContext): string {
  if (segmentIds.length < 1 || segmentIds.length > 30)
    throw new Error(`compileOverlapQuery: ${segmentIds.length} segments do not fit one integer mask`);
  const derived = new DerivedTables();
  const lookups = onePassLookups(ctx, derived);
  const bits = segmentIds.map((id, i) => `(CASE WHEN ${lookups.member(id)} THEN ${2 ** i} ELSE 0 END)`);
  return `SELECT ${bits.join(' | ')} AS mask FROM ${table(ctx, ctx.baseSchema)} AS b${derived.joins()}`;
}

/** The conditions a base row must meet to be a member, all of them (AND). */
function memberConditions(def: SegmentDefinition, ctx: CompileContext, lookups: RowLookups): string[] {
  const joins = new Map<string, JoinedTable>();
  for (const join of def.joins) joins.set(join.alias, { join, schema: schemaOf(ctx, join.schemaId) });
  const base: Scope = { schema: ctx.baseSchema, table: 'b' };

  const condition = (c: Condition, scope: Scope): string => {
    if ('all' in c) return c.all.length === 0 ? 'true' : `(${c.all.map((x) => condition(x, scope)).join(' AND ')})`;
    if ('any' in c) return c.any.length === 0 ? 'false' : `(${c.any.map((x) => condition(x, scope)).join(' OR ')})`;
    if ('not' in c) return `NOT (${condition(c.not, scope)})`;
    if ('segment' in c) return c.operator === 'in' ? lookups.member(c.segment) : `NOT ${lookups.member(c.segment)}`;
    if ('aggregate' in c) return aggregate(c);
    const dot = c.field.indexOf('.');
    if (scope.table === 'j' || dot < 0) {
      const f = field(scope.schema, c.field);
      return fieldTest(`${scope.table}.${ident(f.name)}`, f.dataType, c);
    }
    const joined = joinOf(joins, c.field.slice(0, dot));
    const f = field(joined.schema, c.field.slice(dot + 1));
    // Every test but is_null is false on NULL (two-valued logic).
    return lookups.someRow(joined, fieldTest(`j.${ident(f.name)}`, f.dataType, c), c.operator === 'is_null');
  };

  const aggregate = (c: AggregateCondition): string => {
    const joined = joinOf(joins, c.join);
    const rows: Scope = { schema: joined.schema, table: 'j' };
    const where = c.where.map((w) => condition(w, rows));
    if (c.aggregate === 'count') return fieldTest(lookups.aggregate(joined, 'count(*)', where, '0'), 'bigint', c);
    const f = field(joined.schema, c.field ?? '');
    const column = `j.${ident(f.name)}`;
    if (c.aggregate === 'sum')
      return fieldTest(lookups.aggregate(joined, `COALESCE(sum(${column}), 0)`, where, '0'), 'numeric', c);
    const value = lookups.aggregate(joined, `${AGGREGATE_SQL[c.aggregate]}(${column})`, where, null);
    return fieldTest(value, c.aggregate === 'avg' ? 'numeric' : f.dataType, c);
  };

  return [
    ...[...joins.values()].filter(({ join }) => join.type === 'inner').map((joined) => lookups.hasRows(joined)),
    ...def.filters.map((c) => condition(c, base)),
  ];
}

/** A view's form: correlated subqueries, evaluated per base row. */
function perRowLookups(ctx: CompileContext): RowLookups {
  const keyMatch = ({ join, schema }: JoinedTable) =>
    `j.${ident(field(schema, join.foreignField).name)} = b.${ident(field(ctx.baseSchema, join.localField).name)}`;
  return {
    hasRows: (joined) => `EXISTS (SELECT 1 FROM ${table(ctx, joined.schema)} AS j WHERE ${keyMatch(joined)})`,
    someRow: (joined, test) =>
      joined.join.type === 'inner'
        ? `EXISTS (SELECT 1 FROM ${table(ctx, joined.schema)} AS j WHERE ${keyMatch(joined)} AND ${test})`
        : `EXISTS (SELECT 1 FROM (VALUES (1)) AS one LEFT JOIN ${table(ctx, joined.schema)} AS j ON ${keyMatch(joined)} WHERE ${test})`,
    aggregate: (joined, value, where) =>
      `(SELECT ${value} FROM ${table(ctx, joined.schema)} AS j WHERE ${[keyMatch(joined), ...where].join(' AND ')})`,
    member: (segmentId) => {
      const keys = primaryKey(ctx.baseSchema);
      const sameRow = keys.map((k) => `r.${ident(k.name)} = b.${ident(k.name)}`).join(' AND ');
      return `EXISTS (SELECT 1 FROM ${view(ctx, segmentId)} AS r WHERE ${sameRow})`;
    },
  };
}

/** The one-pass form: tables derived from the joined schemas alone, read once and joined to the base rows. */
function onePassLookups(ctx: OverlapContext, derived: DerivedTables): RowLookups {
  let inlined = 0;
  /** One row per key value: `k`, and what the `columns` compute over the key's rows. */
  const byKey = (joined: JoinedTable, columns: string, where: string[]) => {
    const foreign = `j.${ident(field(joined.schema, joined.join.foreignField).name)}`;
    const local = `b.${ident(field(ctx.baseSchema, joined.join.localField).name)}`;
    const filter = where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`;
    const select = `SELECT ${foreign} AS k${columns} FROM ${table(ctx, joined.schema)} AS j${filter} GROUP BY ${foreign}`;
    return derived.add(select, (alias) => `${alias}.k = ${local}`);
  };
  const lookups: RowLookups = {
    hasRows: (joined) => `(${byKey(joined, '', [])}.k IS NOT NULL)`,
    someRow: (joined, test, holdsForNull) => {
      const found = `(${byKey(joined, '', [test])}.k IS NOT NULL)`;
      if (joined.join.type === 'inner' || !holdsForNull) return found;
      return `(${found} OR NOT ${lookups.hasRows(joined)})`;
    },
    aggregate: (joined, value, where, overNoRows) => {
      const v = `${byKey(joined, `, ${value} AS v`, where)}.v`;
      return overNoRows === null ? v : `COALESCE(${v}, ${overNoRows})`;
    },
    member: (segmentId) => {
      const def = ctx.definitionsById.get(segmentId);
      if (def && inlined < MAX_INLINED_SEGMENTS) {
        inlined += 1;
        const conditions = memberConditions(def, ctx, lookups);
        return conditions.length === 0 ? 'true' : `(${conditions.join(' AND ')})`;
      }
      // The view has one row per member: its primary key matches a base row at most once.
      const keys = primaryKey(ctx.baseSchema).map((k) => ident(k.name));
      const alias = derived.add(`SELECT ${keys.map((k) => `r.${k}`).join(', ')} FROM ${view(ctx, segmentId)} AS r`, (a) =>
        keys.map((k) => `${a}.${k} = b.${k}`).join(' AND '),
      );
      return `(${alias}.${keys[0]} IS NOT NULL)`;
    },
  };
  return lookups;
}

/** The derived tables of one statement, each LEFT JOINed once under its own alias (`d1`, `d2`, ...). */
class DerivedTables {
  private readonly aliases = new Map<string, string>();
  private readonly clauses: string[] = [];

  /** The alias of `select` joined on `on(alias)`; the same table joined the same way is joined once. */
  add(select: string, on: (alias: string) => string): string {
    const key = `${select}\u0000${on('')}`;
    let alias = this.aliases.get(key);
    if (!alias) {
      alias = `d${this.aliases.size + 1}`;
      this.aliases.set(key, alias);
      this.clauses.push(` LEFT JOIN (${select}) AS ${alias} ON ${on(alias)}`);
    }
    return alias;
  }

  joins(): string {
    return this.clauses.join('');
  }
}

/** One test of one value expression; never NULL (see two-valued logic above). */
function fieldTest(expr: string, type: DataType, test: FieldTest): string {
  const lit = (v: Scalar) => literal(v, type);
  const ordered = type === 'text' || type === 'varchar' ? `${expr} COLLATE "C"` : expr;
  switch (test.operator) {
    case 'is_null':
      return `${expr} IS NULL`;
    case 'is_not_null':
      return `${expr} IS NOT NULL`;
    case 'eq':
    case 'neq':
      return holds(`${expr} ${COMPARE[test.operator]} ${lit(test.value)}`);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return holds(`${ordered} ${COMPARE[test.operator]} ${lit(test.value)}`);
    case 'between':
      return holds(`${ordered} BETWEEN ${lit(test.value[0])} AND ${lit(test.value[1])}`);
    case 'in':
    case 'not_in':
      return holds(`${expr} ${test.operator === 'in' ? 'IN' : 'NOT IN'} (${test.value.map(lit).join(', ')})`);
    case 'contains':
    case 'not_contains':
      return holds(
        `${expr} ${test.operator === 'contains' ? 'ILIKE' : 'NOT ILIKE'} ${likePattern('%', test.value, '%')}`,
      );
    case 'starts_with':
      return holds(`${expr} ILIKE ${likePattern('', test.value, '%')}`);
    case 'ends_with':
      return holds(`${expr} ILIKE ${likePattern('%', test.value, '')}`);
    case 'within_last':
    case 'not_within_last': {
      // A date is midnight UTC, whatever the session's TimeZone.
      const at = type === 'date' ? `(${expr}::timestamp AT TIME ZONE 'UTC')` : expr;
      const within = `${at} BETWEEN ${recencyStart(test.value)} AND now()`;
      return holds(test.operator === 'within_last' ? within : `NOT (${within})`);
    }
    default:
      return unreachable(test);
  }
}

/** Only reached by a definition that skipped validation. */
function unreachable(test: never): never {
  throw new Error(`compileSegmentQuery: unknown operator in ${JSON.stringify(test)}`);
}

function holds(comparison: string): string {
  return `COALESCE(${comparison}, false)`;
}

function recencyStart({ amount, unit }: Recency): string {
  if (unit === 'months') {
    const months = as.format('$1::interval', [`${amount} months`]);
    return `(((now() AT TIME ZONE 'UTC') - ${months}) AT TIME ZONE 'UTC')`;
  }
  const interval = unit === 'minutes' ? `${amount} minutes` : `${amount * HOURS_PER_UNIT[unit]} hours`;
  return `(now() - ${as.format('$1::interval', [interval])})`;
}

function likePattern(before: string, value: string, after: string): string {
  const escaped = value.replace(/[\\%_]/g, (ch) => `\\${ch}`);
  return `${as.format('$1::text', [`${before}${escaped}${after}`])} ESCAPE '\\'`;
}

function literal(value: Scalar, type: DataType): string {
  return as.format(`$1::${CAST[type]}`, [String(value)]);
}

/** pg-promise leaves a bare `*` unquoted; no field is called that, but a name must never become one. */
function ident(name: string): string {
  if (!/\S/.test(name) || name.trim() === '*')
    throw new Error(`compileSegmentQuery: unusable identifier ${JSON.stringify(name)}`);
  return as.name(name);
}

function table(ctx: CompileContext, schema: BaseSchemaRecord): string {
  return `${ident(ctx.namespace)}.${ident(schema.tableName)}`;
}

function view(ctx: CompileContext, segmentId: string): string {
  const segment = ctx.segmentsById.get(segmentId);
  if (!segment) throw new Error(`compileSegmentQuery: segment ${segmentId} is not in the context`);
  return `${ident(ctx.namespace)}.${ident(segment.viewName)}`;
}

function primaryKey(schema: BaseSchemaRecord): FieldDefinition[] {
  const keys = schema.fields.filter((f) => f.isPrimaryKey);
  if (keys.length === 0) throw new Error(`compileSegmentQuery: schema ${schema.name} has no primary key`);
  return keys;
}

function schemaOf(ctx: CompileContext, id: string): BaseSchemaRecord {
  const schema = ctx.schemasById.get(id);
  if (!schema) throw new Error(`compileSegmentQuery: schema ${id} is not in the context`);
  return schema;
}

function joinOf(joins: ReadonlyMap<string, JoinedTable>, alias: string): JoinedTable {
  const joined = joins.get(alias);
  if (!joined) throw new Error(`compileSegmentQuery: join alias ${alias} is not defined`);
  return joined;
}

function field(schema: BaseSchemaRecord, name: string): FieldDefinition {
  const f = schema.fields.find((x) => x.name === name);
  if (!f) throw new Error(`compileSegmentQuery: field ${name} is not in schema ${schema.name}`);
  return f;
}
