/**
 * The segment compiler: a validated definition → the SELECT a segment's view
 * is created from. Pure; it reads nothing but its arguments.
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
  Recency,
  Scalar,
  SegmentDefinition,
  SegmentReference,
} from './definition.js';

export type { CompileContext } from './definition.js';

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

/** A table and the base-schema key its rows join on. */
interface JoinedTable {
  join: JoinDefinition;
  schema: BaseSchemaRecord;
}

/** Field names are looked up in `schema`; columns are read from table alias `table`. */
interface Scope {
  schema: BaseSchemaRecord;
  table: 'b' | 'j';
}

export function compileSegmentQuery(def: SegmentDefinition, ctx: CompileContext): string {
  const joins = new Map<string, JoinedTable>();
  for (const join of def.joins) joins.set(join.alias, { join, schema: schemaOf(ctx, join.schemaId) });

  const base: Scope = { schema: ctx.baseSchema, table: 'b' };
  const table = (schema: BaseSchemaRecord) => `${ident(ctx.namespace)}.${ident(schema.tableName)}`;
  const keyMatch = ({ join, schema }: JoinedTable) =>
    `j.${ident(field(schema, join.foreignField).name)} = b.${ident(field(ctx.baseSchema, join.localField).name)}`;

  const condition = (c: Condition, scope: Scope): string => {
    if ('all' in c) return c.all.length === 0 ? 'true' : `(${c.all.map((x) => condition(x, scope)).join(' AND ')})`;
    if ('any' in c) return c.any.length === 0 ? 'false' : `(${c.any.map((x) => condition(x, scope)).join(' OR ')})`;
    if ('not' in c) return `NOT (${condition(c.not, scope)})`;
    if ('segment' in c) return segmentReference(c);
    if ('aggregate' in c) return aggregate(c);
    const dot = c.field.indexOf('.');
    if (scope.table === 'j' || dot < 0) {
      const f = field(scope.schema, c.field);
      return fieldTest(`${scope.table}.${ident(f.name)}`, f.dataType, c);
    }
    const joined = joinOf(joins, c.field.slice(0, dot));
    const f = field(joined.schema, c.field.slice(dot + 1));
    const test = fieldTest(`j.${ident(f.name)}`, f.dataType, c);
    return joined.join.type === 'inner'
      ? `EXISTS (SELECT 1 FROM ${table(joined.schema)} AS j WHERE ${keyMatch(joined)} AND ${test})`
      : `EXISTS (SELECT 1 FROM (VALUES (1)) AS one LEFT JOIN ${table(joined.schema)} AS j ON ${keyMatch(joined)} WHERE ${test})`;
  };

  const aggregate = (c: AggregateCondition): string => {
    const joined = joinOf(joins, c.join);
    const rows: Scope = { schema: joined.schema, table: 'j' };
    const where = [keyMatch(joined), ...c.where.map((w) => condition(w, rows))].join(' AND ');
    const from = `FROM ${table(joined.schema)} AS j WHERE ${where}`;
    if (c.aggregate === 'count') return fieldTest(`(SELECT count(*) ${from})`, 'bigint', c);
    const f = field(joined.schema, c.field ?? '');
    const column = `j.${ident(f.name)}`;
    if (c.aggregate === 'sum') return fieldTest(`(SELECT COALESCE(sum(${column}), 0) ${from})`, 'numeric', c);
    const fn = AGGREGATE_SQL[c.aggregate];
    return fieldTest(`(SELECT ${fn}(${column}) ${from})`, c.aggregate === 'avg' ? 'numeric' : f.dataType, c);
  };

  const segmentReference = (c: SegmentReference): string => {
    const segment = ctx.segmentsById.get(c.segment);
    if (!segment) throw new Error(`compileSegmentQuery: segment ${c.segment} is not in the context`);
    const keys = ctx.baseSchema.fields.filter((f) => f.isPrimaryKey);
    if (keys.length === 0) throw new Error(`compileSegmentQuery: schema ${ctx.baseSchema.name} has no primary key`);
    const sameRow = keys.map((k) => `r.${ident(k.name)} = b.${ident(k.name)}`).join(' AND ');
    const exists = `EXISTS (SELECT 1 FROM ${ident(ctx.namespace)}.${ident(segment.viewName)} AS r WHERE ${sameRow})`;
    return c.operator === 'in' ? exists : `NOT ${exists}`;
  };

  const where = [
    ...[...joins.values()]
      .filter(({ join }) => join.type === 'inner')
      .map((joined) => `EXISTS (SELECT 1 FROM ${table(joined.schema)} AS j WHERE ${keyMatch(joined)})`),
    ...def.filters.map((c) => condition(c, base)),
  ];
  return `SELECT b.* FROM ${table(ctx.baseSchema)} AS b WHERE ${where.length === 0 ? 'true' : where.join(' AND ')}`;
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
