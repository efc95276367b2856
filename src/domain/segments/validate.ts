import { Invalid, type ErrorDetail } from '../errors.js';
import type { BaseSchemaRecord, DataType, FieldDefinition } from '../schemas/types.js';
import {
  AGGREGATE_FUNCTIONS,
  COMPARISON_OPERATORS,
  JOIN_TYPES,
  LIMITS,
  LIST_OPERATORS,
  MAX_RECENCY_AMOUNT,
  NULL_OPERATORS,
  RECENCY_OPERATORS,
  TEXT_MATCH_OPERATORS,
  TIME_UNITS,
  groupChildren,
  isGroup,
  type AggregateCondition,
  type AggregateFunction,
  type AggregateTest,
  type Condition,
  type DefinitionContext,
  type FieldCondition,
  type FieldTest,
  type JoinDefinition,
  type JoinType,
  type Operator,
  type Recency,
  type RowCondition,
  type Scalar,
  type SegmentDefinition,
  type SegmentReference,
  type TimeUnit,
} from './definition.js';

export type { DefinitionContext, SegmentDefinition } from './definition.js';

/**
 * Checks a segment definition against the tenant's schema metadata and
 * returns its normalized form, or throws `Invalid` listing every problem with
 * its path. Nothing here trusts a name or value it has not looked up or
 * checked: the compiler relies on that.
 */
export function validateDefinition(
  input: { joins?: unknown; filters?: unknown },
  ctx: DefinitionContext,
): SegmentDefinition {
  const v = new DefinitionValidator(ctx);
  const joins = v.joins(input.joins);
  const filters = v.filters(input.filters);
  v.checkCycles();
  Invalid.throwIfAny(v.problems);
  return { baseSchemaId: ctx.baseSchema.id, joins, filters };
}

/** Ids of the segments a definition references, each once. */
export function referencedSegmentIds(def: SegmentDefinition): string[] {
  const ids = new Set<string>();
  walk(def.filters, (c) => {
    if ('segment' in c) ids.add(c.segment);
  });
  return [...ids];
}

/** Ids of the schemas a definition joins, each once (the base schema is `def.baseSchemaId`). */
export function referencedSchemaIds(def: SegmentDefinition): string[] {
  return [...new Set(def.joins.map((j) => j.schemaId))];
}

/**
 * Every field the compiled query touches: filtered and aggregated fields,
 * join keys, and the base primary key when another segment is referenced.
 * A schema change that drops or retypes one of them must be refused.
 */
export function fieldsUsed(
  def: SegmentDefinition,
  baseSchema?: BaseSchemaRecord,
): Array<{ schemaId: string; field: string }> {
  const seen = new Map<string, { schemaId: string; field: string }>();
  const use = (schemaId: string, field: string) => seen.set(`${schemaId}\u0000${field}`, { schemaId, field });
  const joinByAlias = new Map(def.joins.map((j) => [j.alias, j]));
  for (const j of def.joins) {
    use(def.baseSchemaId, j.localField);
    use(j.schemaId, j.foreignField);
  }
  const useField = (field: string, rowSchemaId?: string) => {
    const dot = field.indexOf('.');
    if (rowSchemaId !== undefined) use(rowSchemaId, field);
    else if (dot < 0) use(def.baseSchemaId, field);
    else {
      const join = joinByAlias.get(field.slice(0, dot));
      if (join) use(join.schemaId, field.slice(dot + 1));
    }
  };
  walk(def.filters, (c) => {
    if ('aggregate' in c) {
      const schemaId = joinByAlias.get(c.join)?.schemaId;
      if (schemaId === undefined) return;
      if (c.field !== undefined) use(schemaId, c.field);
      walk(c.where, (w) => {
        if ('field' in w) useField(w.field, schemaId);
      });
    } else if ('segment' in c) {
      for (const f of baseSchema?.fields ?? []) if (f.isPrimaryKey) use(def.baseSchemaId, f.name);
    } else if ('field' in c) useField(c.field);
  });
  return [...seen.values()];
}

function walk<C extends object>(conditions: readonly C[], visit: (c: C) => void): void {
  for (const c of conditions) {
    if (isGroup<C>(c)) walk(groupChildren(c), visit);
    else visit(c);
  }
}

// ---------------------------------------------------------------------------
// Operators and types

const OPERATOR_FORMS = new Map<string, Operator>([
  ['=', 'eq'],
  ['!=', 'neq'],
  ['>', 'gt'],
  ['>=', 'gte'],
  ['<', 'lt'],
  ['<=', 'lte'],
  ...[
    ...COMPARISON_OPERATORS,
    ...LIST_OPERATORS,
    'between' as const,
    ...TEXT_MATCH_OPERATORS,
    ...NULL_OPERATORS,
    ...RECENCY_OPERATORS,
  ].map((op): [string, Operator] => [op, op]),
]);

const ORDERED: readonly Operator[] = [...COMPARISON_OPERATORS, ...LIST_OPERATORS, 'between', ...NULL_OPERATORS];
const EQUALITY: readonly Operator[] = ['eq', 'neq', ...LIST_OPERATORS, ...NULL_OPERATORS];
const OPERATORS_BY_TYPE: Readonly<Record<DataType, ReadonlySet<Operator>>> = {
  text: new Set([...ORDERED, ...TEXT_MATCH_OPERATORS]),
  varchar: new Set([...ORDERED, ...TEXT_MATCH_OPERATORS]),
  integer: new Set(ORDERED),
  bigint: new Set(ORDERED),
  numeric: new Set(ORDERED),
  double: new Set(ORDERED),
  date: new Set([...ORDERED, ...RECENCY_OPERATORS]),
  timestamptz: new Set([...ORDERED, ...RECENCY_OPERATORS]),
  uuid: new Set(EQUALITY),
  boolean: new Set(EQUALITY),
  jsonb: new Set(NULL_OPERATORS),
};
const AGGREGATE_OPERATORS: ReadonlySet<Operator> = new Set([...COMPARISON_OPERATORS, ...LIST_OPERATORS, 'between']);

const NUMERIC_TYPES: readonly DataType[] = ['integer', 'bigint', 'numeric', 'double'];
const AGGREGATABLE: Readonly<Record<AggregateFunction, readonly DataType[]>> = {
  count: [],
  sum: NUMERIC_TYPES,
  avg: NUMERIC_TYPES,
  min: [...NUMERIC_TYPES, 'date', 'timestamptz'],
  max: [...NUMERIC_TYPES, 'date', 'timestamptz'],
};

/**
 * Join keys compare only within a family whose equality PostgreSQL and a
 * reader agree on: integers and numeric compare exactly, double only with
 * double (mixing would compare as floating point), date and timestamptz not
 * at all (that comparison depends on the session's time zone).
 */
const KEY_FAMILY: Readonly<Record<DataType, string | null>> = {
  text: 'text',
  varchar: 'text',
  integer: 'exact number',
  bigint: 'exact number',
  numeric: 'exact number',
  double: 'double',
  boolean: 'boolean',
  date: 'date',
  timestamptz: 'timestamptz',
  uuid: 'uuid',
  jsonb: null,
};

const ALIAS = /^[a-z][a-z0-9_]{0,62}$/;

// ---------------------------------------------------------------------------
// Values

/** `count` values are counts; everything else is a value of a field type. */
type ValueType = DataType | 'count';

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };
const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?(Z|[+-](\d{2}):(\d{2}))$/;
// A lone surrogate has no UTF-8 form: PostgreSQL would receive something else.
const LONE_SURROGATE = /\p{Cs}/u;

const EXPECTED: Readonly<Record<ValueType, string>> = {
  text: 'expected a string',
  varchar: 'expected a string',
  uuid: 'expected a uuid (8-4-4-4-12 hex digits)',
  integer: `expected an integer between ${INT32.min} and ${INT32.max}`,
  bigint: 'expected an integer (a safe integer, or a decimal string within the 64-bit range)',
  numeric: 'expected a finite number',
  double: 'expected a finite number',
  boolean: 'expected true or false',
  date: 'expected a date (YYYY-MM-DD)',
  timestamptz: 'expected a timestamp (ISO-8601 with a time and a zone, Z or ±hh:mm, or YYYY-MM-DD)',
  jsonb: 'jsonb fields take no value',
  count: 'expected a non-negative integer',
};

function normalizeScalar(value: unknown, type: ValueType): Scalar | { problem: string } {
  const wrong = { problem: EXPECTED[type] };
  switch (type) {
    case 'text':
    case 'varchar':
      return typeof value === 'string' ? (textProblem(value) ?? value) : wrong;
    case 'uuid':
      return typeof value === 'string' && UUID.test(value) ? value.toLowerCase() : wrong;
    case 'integer':
      return isIntegerIn(value, INT32.min, INT32.max) ? value + 0 : wrong;
    case 'count':
      return isIntegerIn(value, 0, Number.MAX_SAFE_INTEGER) ? value + 0 : wrong;
    case 'bigint':
      return normalizeBigint(value) ?? wrong;
    case 'numeric':
    case 'double':
      // `+ 0` turns -0 into 0, which is what the literal would mean anyway.
      return typeof value === 'number' && Number.isFinite(value) ? value + 0 : wrong;
    case 'boolean':
      return typeof value === 'boolean' ? value : wrong;
    case 'date':
      return typeof value === 'string' && isCalendarDate(value) ? value : wrong;
    case 'timestamptz':
      return (typeof value === 'string' && normalizeTimestamp(value)) || wrong;
    case 'jsonb':
      return wrong;
  }
}

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function textProblem(value: string): { problem: string } | undefined {
  if (value.length > LIMITS.stringLength) return { problem: `expected at most ${LIMITS.stringLength} characters` };
  if (value.includes('\u0000')) return { problem: 'expected a string without NUL characters' };
  if (LONE_SURROGATE.test(value)) return { problem: 'expected valid Unicode text (no lone surrogates)' };
  return undefined;
}

function normalizeBigint(value: unknown): Scalar | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value + 0 : undefined;
  if (typeof value !== 'string' || !/^-?\d{1,19}$/.test(value)) return undefined;
  const n = BigInt(value);
  return n >= INT64.min && n <= INT64.max ? n.toString() : undefined;
}

/** A real calendar date, years 1 to 9999. */
function isCalendarDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= days;
}

/**
 * A plain date means midnight UTC. Either way the literal carries its zone,
 * so the view does not depend on the session's TimeZone.
 */
function normalizeTimestamp(value: string): string | undefined {
  if (isCalendarDate(value)) return `${value}T00:00:00Z`;
  const m = TIMESTAMP.exec(value);
  if (!m || !isCalendarDate(m[1]!)) return undefined;
  if (Number(m[2]) > 23 || Number(m[3]) > 59 || Number(m[4] ?? 0) > 59) return undefined;
  if (m[5] !== 'Z' && (Number(m[6]) > 14 || Number(m[7]) > 59)) return undefined;
  return value;
}

// ---------------------------------------------------------------------------
// The walk over the input

interface JoinScope {
  alias: string;
  /** Unknown when the join itself is invalid: its fields are then not checked again. */
  schema: BaseSchemaRecord | undefined;
}

/** Where field names are looked up: the base schema and its joins, or one join's rows. */
interface Scope {
  joins: ReadonlyMap<string, JoinScope>;
  /** Set inside an aggregate's `where`. */
  rows?: JoinScope;
}

interface ResolvedField {
  /** The name as stored: `alias.field`, or a plain name. */
  name: string;
  /** Unknown when it belongs to an invalid join. */
  field: FieldDefinition | undefined;
}

const FIELD_KEYS = ['field', 'operator', 'value'];
const AGGREGATE_KEYS = ['aggregate', 'join', 'field', 'operator', 'value', 'where'];
const JOIN_KEYS = ['schemaId', 'alias', 'type', 'localField', 'foreignField'];
const KINDS = ['field', 'all', 'any', 'not', 'aggregate', 'segment'] as const;

class DefinitionValidator {
  readonly problems: ErrorDetail[] = [];
  private readonly joinScopes = new Map<string, JoinScope>();
  private readonly references: Array<{ id: string; path: string }> = [];
  private conditionCount = 0;

  constructor(private readonly ctx: DefinitionContext) {}

  private report = (path: string, message: string): void => {
    if (this.problems.length < LIMITS.reportedProblems) this.problems.push({ path, message });
    else if (this.problems.length === LIMITS.reportedProblems)
      this.problems.push({
        path: '',
        message: `more problems not listed (only the first ${LIMITS.reportedProblems} are)`,
      });
  };

  joins(raw: unknown): JoinDefinition[] {
    if (raw === undefined) return [];
    if (!Array.isArray(raw)) {
      this.report('joins', 'expected an array');
      return [];
    }
    if (raw.length > LIMITS.joins) this.report('joins', `at most ${LIMITS.joins} joins`);
    const joins: JoinDefinition[] = [];
    raw.forEach((j: unknown, i) => {
      const join = this.join(j, `joins[${i}]`);
      if (join) joins.push(join);
    });
    return joins;
  }

  private join(raw: unknown, path: string): JoinDefinition | undefined {
    if (!isPlainObject(raw)) {
      this.report(path, 'expected an object');
      return undefined;
    }
    let ok = this.unknownKeys(raw, path, JOIN_KEYS);
    const schemaId = own(raw, 'schemaId');
    let schema: BaseSchemaRecord | undefined;
    if (typeof schemaId !== 'string' || schemaId === '') ok = this.fail(`${path}.schemaId`, 'expected a schema id');
    else if (!(schema = this.ctx.schemasById.get(schemaId)))
      ok = this.fail(`${path}.schemaId`, `Schema ${schemaId} not found`);

    const givenAlias = own(raw, 'alias');
    const alias = givenAlias === undefined ? schema?.name : givenAlias;
    if (givenAlias !== undefined && (typeof givenAlias !== 'string' || !ALIAS.test(givenAlias)))
      ok = this.fail(`${path}.alias`, 'expected a lowercase identifier (^[a-z][a-z0-9_]{0,62}$)');
    else if (typeof alias === 'string' && !ALIAS.test(alias))
      ok = this.fail(`${path}.alias`, `required: the schema name "${alias}" is not a usable alias`);
    else if (typeof alias === 'string' && this.joinScopes.has(alias))
      ok = this.fail(`${path}.alias`, `alias "${alias}" is already used by another join`);
    else if (typeof alias === 'string') this.joinScopes.set(alias, { alias, schema });

    const type = own(raw, 'type') === undefined ? 'inner' : own(raw, 'type');
    if (!isOneOf(JOIN_TYPES, type)) ok = this.fail(`${path}.type`, 'expected "inner" or "left"');

    const local = this.joinKey(raw, 'localField', path, this.ctx.baseSchema);
    const foreign = this.joinKey(raw, 'foreignField', path, schema);
    if (local && foreign && KEY_FAMILY[local.dataType] !== KEY_FAMILY[foreign.dataType])
      ok = this.fail(
        `${path}.foreignField`,
        `${foreign.dataType} field "${foreign.name}" cannot be compared with ${local.dataType} field "${local.name}"`,
      );
    if (!ok || !local || !schema || !foreign || typeof alias !== 'string') return undefined;
    return { schemaId: schema.id, alias, type: type as JoinType, localField: local.name, foreignField: foreign.name };
  }

  private joinKey(
    raw: Record<string, unknown>,
    key: 'localField' | 'foreignField',
    path: string,
    schema: BaseSchemaRecord | undefined,
  ): FieldDefinition | undefined {
    const name = own(raw, key);
    if (typeof name !== 'string' || name === '') return void this.report(`${path}.${key}`, 'expected a field name');
    if (!schema) return undefined;
    const field = findField(schema, name);
    if (!field) return void this.report(`${path}.${key}`, `field "${name}" not found in schema "${schema.name}"`);
    if (KEY_FAMILY[field.dataType] === null)
      return void this.report(`${path}.${key}`, `${field.dataType} field "${name}" cannot be a join key`);
    return field;
  }

  filters(raw: unknown): Condition[] {
    if (raw === undefined) return [];
    if (!Array.isArray(raw)) {
      this.report('filters', 'expected an array');
      return [];
    }
    return this.conditions(raw, 'filters', 1, { joins: this.joinScopes });
  }

  private conditions(raw: readonly unknown[], path: string, depth: number, scope: Scope): Condition[] {
    const out: Condition[] = [];
    raw.forEach((c, i) => {
      const condition = this.condition(c, `${path}[${i}]`, depth, scope);
      if (condition) out.push(condition);
    });
    return out;
  }

  private condition(raw: unknown, path: string, depth: number, scope: Scope): Condition | undefined {
    this.conditionCount += 1;
    if (this.conditionCount === LIMITS.conditions + 1)
      this.report(
        'filters',
        `at most ${LIMITS.conditions} conditions in all (groups, aggregates and their where included)`,
      );
    if (this.conditionCount > LIMITS.conditions) return undefined;
    if (depth > LIMITS.depth) return void this.report(path, `nested deeper than ${LIMITS.depth} levels`);
    if (!isPlainObject(raw)) return void this.report(path, 'expected a condition object');

    const kinds = KINDS.filter(
      (k) => own(raw, k) !== undefined && !(k === 'field' && own(raw, 'aggregate') !== undefined),
    );
    if (kinds.length !== 1)
      return void this.report(path, 'expected exactly one of field, all, any, not, aggregate, segment');
    const kind = kinds[0]!;
    switch (kind) {
      case 'all':
      case 'any': {
        this.unknownKeys(raw, path, [kind]);
        const children = own(raw, kind);
        if (!Array.isArray(children)) return void this.report(`${path}.${kind}`, 'expected an array of conditions');
        const list = this.conditions(children, `${path}.${kind}`, depth + 1, scope);
        return kind === 'all' ? { all: list } : { any: list };
      }
      case 'not': {
        this.unknownKeys(raw, path, ['not']);
        const child = this.condition(own(raw, 'not'), `${path}.not`, depth + 1, scope);
        return child && { not: child };
      }
      case 'aggregate':
        if (scope.rows) return void this.report(path, 'aggregates cannot be nested in an aggregate');
        return this.aggregate(raw, path, depth, scope);
      case 'segment':
        if (scope.rows) return void this.report(path, 'segment references cannot be used in an aggregate');
        return this.segmentReference(raw, path);
      case 'field':
        return this.fieldCondition(raw, path, scope);
    }
  }

  private fieldCondition(raw: Record<string, unknown>, path: string, scope: Scope): FieldCondition | undefined {
    const keysOk = this.unknownKeys(raw, path, FIELD_KEYS);
    const ref = this.fieldRef(own(raw, 'field'), `${path}.field`, scope);
    const operator = this.operator(own(raw, 'operator'), `${path}.operator`);
    let type: DataType | undefined = ref?.field?.dataType;
    if (type && operator && !OPERATORS_BY_TYPE[type].has(operator)) {
      this.report(`${path}.operator`, `operator "${operator}" does not apply to ${type} fields`);
      type = undefined;
    }
    const test = operator && this.fieldTest(operator, raw, path, type);
    return keysOk && ref?.field && test ? { field: ref.name, ...test } : undefined;
  }

  /** The operator and value of a condition; value types are checked when `type` is known. */
  private fieldTest(
    operator: Operator,
    raw: Record<string, unknown>,
    path: string,
    type: ValueType | undefined,
  ): FieldTest | undefined {
    const value = own(raw, 'value');
    const at = `${path}.value`;
    if (isOneOf(NULL_OPERATORS, operator)) {
      if (value !== undefined) return void this.report(at, `${operator} takes no value`);
      return { operator };
    }
    if (value === undefined) return void this.report(at, `${operator} needs a value`);
    if (isOneOf(RECENCY_OPERATORS, operator)) {
      const recency = this.recency(value, at);
      return recency && type && { operator, value: recency };
    }
    if (isOneOf(TEXT_MATCH_OPERATORS, operator)) {
      const text = type && this.scalar(value, 'text', at);
      return typeof text === 'string' ? { operator, value: text } : undefined;
    }
    return this.valueTest(operator, value, at, type);
  }

  private valueTest(
    operator: Operator,
    value: unknown,
    at: string,
    type: ValueType | undefined,
  ): AggregateTest | undefined {
    if (isOneOf(LIST_OPERATORS, operator)) {
      if (!Array.isArray(value) || value.length === 0 || value.length > LIMITS.listValues)
        return void this.report(at, `expected a non-empty array of at most ${LIMITS.listValues} values`);
      const values = type && this.scalars(value, type, at);
      return values && { operator, value: values };
    }
    if (operator === 'between') {
      if (!Array.isArray(value) || value.length !== 2)
        return void this.report(at, 'expected an array of two values [low, high]');
      const values = type && this.scalars(value, type, at);
      return values && { operator, value: [values[0]!, values[1]!] };
    }
    if (isOneOf(COMPARISON_OPERATORS, operator)) {
      const scalar = type && this.scalar(value, type, at);
      return scalar === undefined ? undefined : { operator, value: scalar };
    }
    return undefined;
  }

  private aggregate(
    raw: Record<string, unknown>,
    path: string,
    depth: number,
    scope: Scope,
  ): AggregateCondition | undefined {
    let ok = this.unknownKeys(raw, path, AGGREGATE_KEYS);
    const fn = own(raw, 'aggregate');
    if (!isOneOf(AGGREGATE_FUNCTIONS, fn))
      ok = this.fail(`${path}.aggregate`, `expected one of ${AGGREGATE_FUNCTIONS.join(', ')}`);

    const alias = own(raw, 'join');
    const join = typeof alias === 'string' ? scope.joins.get(alias) : undefined;
    if (typeof alias !== 'string') ok = this.fail(`${path}.join`, 'expected a join alias');
    else if (!join) ok = this.fail(`${path}.join`, `join alias "${alias}" not found`);
    const rows: Scope = { joins: scope.joins, rows: join ?? { alias: String(alias), schema: undefined } };

    let valueType: ValueType | undefined;
    let field: ResolvedField | undefined;
    if (fn === 'count') {
      valueType = 'count';
      if (own(raw, 'field') !== undefined) ok = this.fail(`${path}.field`, 'count takes no field');
    } else if (isOneOf(AGGREGATE_FUNCTIONS, fn)) {
      field = this.fieldRef(own(raw, 'field'), `${path}.field`, rows);
      const type = field?.field?.dataType;
      if (type && !AGGREGATABLE[fn].includes(type))
        this.report(
          `${path}.field`,
          `${fn} needs a field of type ${AGGREGATABLE[fn].join(', ')}; "${field?.name}" is ${type}`,
        );
      else if (type) valueType = fn === 'sum' || fn === 'avg' ? 'numeric' : type;
    }

    let operator = this.operator(own(raw, 'operator'), `${path}.operator`);
    if (operator && !AGGREGATE_OPERATORS.has(operator)) {
      this.report(`${path}.operator`, `operator "${operator}" does not apply to aggregates`);
      operator = undefined;
    }
    const value = own(raw, 'value');
    if (operator && value === undefined) this.report(`${path}.value`, `${operator} needs a value`);
    const test =
      operator && value !== undefined ? this.valueTest(operator, value, `${path}.value`, valueType) : undefined;

    const whereRaw = own(raw, 'where');
    let where: Condition[] = [];
    if (whereRaw !== undefined && !Array.isArray(whereRaw))
      ok = this.fail(`${path}.where`, 'expected an array of conditions');
    else if (whereRaw !== undefined) where = this.conditions(whereRaw, `${path}.where`, depth + 1, rows);

    if (!ok || !isOneOf(AGGREGATE_FUNCTIONS, fn) || !join?.schema || !test || (fn !== 'count' && !field?.field))
      return undefined;
    // The `rows` scope lets only field conditions and groups through.
    const rowConditions = where as RowCondition[];
    return { aggregate: fn, join: join.alias, ...(field ? { field: field.name } : {}), ...test, where: rowConditions };
  }

  private segmentReference(raw: Record<string, unknown>, path: string): SegmentReference | undefined {
    let ok = this.unknownKeys(raw, path, ['segment', 'operator']);
    const id = own(raw, 'segment');
    const operator = own(raw, 'operator');
    if (operator !== 'in' && operator !== 'not_in') ok = this.fail(`${path}.operator`, 'expected "in" or "not_in"');
    if (typeof id !== 'string' || id === '') return void this.report(`${path}.segment`, 'expected a segment id');
    const segment = this.ctx.segmentsById.get(id);
    if (id === this.ctx.selfId) ok = this.fail(`${path}.segment`, 'a segment cannot reference itself');
    else if (!segment) ok = this.fail(`${path}.segment`, `Segment ${id} not found`);
    else if (segment.baseSchemaId !== this.ctx.baseSchema.id)
      ok = this.fail(`${path}.segment`, `segment ${id} is not over the same base schema`);
    if (!ok) return undefined;
    this.references.push({ id, path: `${path}.segment` });
    return { segment: id, operator: operator as 'in' | 'not_in' };
  }

  /** A reference that leads back to the segment being updated would make its view depend on itself. */
  checkCycles(): void {
    const { selfId, referencesOf } = this.ctx;
    if (selfId === undefined || !referencesOf) return;
    for (const { id, path } of this.references) {
      const seen = new Set<string>();
      const queue = [id];
      for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
        if (next === selfId) {
          this.report(path, `referencing segment ${id} creates a cycle`);
          break;
        }
        if (seen.has(next)) continue;
        seen.add(next);
        queue.push(...referencesOf(next));
      }
    }
  }

  private fieldRef(raw: unknown, path: string, scope: Scope): ResolvedField | undefined {
    if (typeof raw !== 'string' || raw === '') return void this.report(path, 'expected a field name');
    const dot = raw.indexOf('.');
    if (scope.rows) {
      const rows = scope.rows;
      if (dot >= 0 && raw.slice(0, dot) !== rows.alias)
        return void this.report(path, `only fields of join "${rows.alias}" can be used here`);
      const name = dot >= 0 ? raw.slice(dot + 1) : raw;
      return this.lookup(rows.schema, name, name, path);
    }
    if (dot < 0) return this.lookup(this.ctx.baseSchema, raw, raw, path);
    const alias = raw.slice(0, dot);
    const join = scope.joins.get(alias);
    if (!join) return void this.report(path, `join alias "${alias}" not found`);
    return this.lookup(join.schema, raw.slice(dot + 1), raw, path);
  }

  private lookup(
    schema: BaseSchemaRecord | undefined,
    name: string,
    stored: string,
    path: string,
  ): ResolvedField | undefined {
    if (!schema) return { name: stored, field: undefined };
    const field = findField(schema, name);
    if (!field) return void this.report(path, `field "${name}" not found in schema "${schema.name}"`);
    return { name: stored, field };
  }

  private operator(raw: unknown, path: string): Operator | undefined {
    const operator = typeof raw === 'string' ? OPERATOR_FORMS.get(raw) : undefined;
    if (!operator)
      this.report(path, typeof raw === 'string' ? `unknown operator ${JSON.stringify(raw)}` : 'expected an operator');
    return operator;
  }

  private scalar(value: unknown, type: ValueType, path: string): Scalar | undefined {
    const normalized = normalizeScalar(value, type);
    if (typeof normalized !== 'object') return normalized;
    this.report(path, normalized.problem);
    return undefined;
  }

  private scalars(values: readonly unknown[], type: ValueType, path: string): Scalar[] | undefined {
    const out = values.map((v, i) => this.scalar(v, type, `${path}[${i}]`));
    return out.every((v) => v !== undefined) ? (out as Scalar[]) : undefined;
  }

  private recency(raw: unknown, path: string): Recency | undefined {
    if (!isPlainObject(raw)) return void this.report(path, 'expected {amount, unit}');
    let ok = this.unknownKeys(raw, path, ['amount', 'unit']);
    const unit = own(raw, 'unit');
    const amount = own(raw, 'amount');
    const max = isOneOf(TIME_UNITS, unit) ? MAX_RECENCY_AMOUNT[unit] : undefined;
    if (max === undefined) ok = this.fail(`${path}.unit`, `expected one of ${TIME_UNITS.join(', ')}`);
    if (!isIntegerIn(amount, 1, max ?? Number.MAX_SAFE_INTEGER))
      ok = this.fail(
        `${path}.amount`,
        `expected a positive integer${max ? ` of at most ${max} (about 100 years)` : ''}`,
      );
    return ok ? { amount: amount as number, unit: unit as TimeUnit } : undefined;
  }

  private unknownKeys(raw: Record<string, unknown>, path: string, allowed: readonly string[]): boolean {
    let ok = true;
    for (const key of Object.keys(raw)) {
      if (!allowed.includes(key)) ok = this.fail(keyPath(path, key), 'unknown key');
    }
    return ok;
  }

  private fail(path: string, message: string): false {
    this.report(path, message);
    return false;
  }
}

function findField(schema: BaseSchemaRecord, name: string): FieldDefinition | undefined {
  return schema.fields.find((f) => f.name === name);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own properties only: `constructor` or `__proto__` in a request are just unknown keys. */
function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

function isOneOf<T extends string>(list: readonly T[], value: unknown): value is T {
  return typeof value === 'string' && (list as readonly string[]).includes(value);
}

/** `a.b` for ordinary keys, `a["we ird"]` for the rest, so a path never reads ambiguously. */
function keyPath(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}
