import { describe, expect, it } from 'vitest';
import { Invalid, type ErrorDetail } from '../../src/domain/errors.js';
import type { DefinitionContext, ReferencedSegment } from '../../src/domain/segments/definition.js';
import {
  fieldsUsed,
  referencedSchemaIds,
  referencedSegmentIds,
  validateDefinition,
} from '../../src/domain/segments/validate.js';
import { field, schema } from '../support/schema-records.js';

// ---------------------------------------------------------------------------
// Fixtures

const customers = schema('sch_customers', 'customers', [
  field('id', 'integer', true),
  field('name', 'text'),
  field('code', 'varchar'),
  field('age', 'integer'),
  field('big', 'bigint'),
  field('score', 'numeric'),
  field('ratio', 'double'),
  field('active', 'boolean'),
  field('born', 'date'),
  field('seen_at', 'timestamptz'),
  field('profile', 'jsonb'),
  field('ext_id', 'uuid'),
]);
const orders = schema('sch_orders', 'orders', [
  field('id', 'integer', true),
  field('customer_id', 'integer'),
  field('customer_code', 'text'),
  field('amount', 'numeric'),
  field('status', 'text'),
  field('created_at', 'timestamptz'),
  field('payload', 'jsonb'),
]);
const accounts = schema('sch_accounts', 'accounts', [
  field('id', 'bigint', true),
  field('ratio', 'double'),
  field('opened', 'date'),
]);
const oddlyNamed = schema('sch_odd', 'Odd-Name', [field('id', 'integer', true)]);

const segments: ReferencedSegment[] = [
  { id: 'seg_vip', baseSchemaId: customers.id, viewName: 'seg_0123456789ab' },
  { id: 'seg_churn', baseSchemaId: customers.id, viewName: 'seg_ba9876543210' },
  { id: 'seg_accounts', baseSchemaId: accounts.id, viewName: 'seg_aaaaaaaaaaaa' },
];

function ctx(extra: Partial<DefinitionContext> = {}): DefinitionContext {
  return {
    baseSchema: customers,
    schemasById: new Map([customers, orders, accounts, oddlyNamed].map((s) => [s.id, s])),
    segmentsById: new Map(segments.map((s) => [s.id, s])),
    ...extra,
  };
}

const ORDERS = { schemaId: orders.id, localField: 'id', foreignField: 'customer_id' };

/** The problems a definition is refused with; fails when it is accepted. */
function problems(input: { joins?: unknown; filters?: unknown }, context = ctx()): ErrorDetail[] {
  try {
    validateDefinition(input, context);
  } catch (error) {
    expect(error).toBeInstanceOf(Invalid);
    return (error as Invalid).details ?? [];
  }
  throw new Error('expected the definition to be refused');
}

const filter = (condition: unknown, joins: unknown[] = []) => problems({ joins, filters: [condition] });
const accepts = (condition: unknown, joins: unknown[] = []) =>
  validateDefinition({ joins, filters: [condition] }, ctx()).filters[0];

// ---------------------------------------------------------------------------

describe('operators', () => {
  const forms: Array<[string, string]> = [
    ['=', 'eq'],
    ['eq', 'eq'],
    ['!=', 'neq'],
    ['neq', 'neq'],
    ['>', 'gt'],
    ['gt', 'gt'],
    ['>=', 'gte'],
    ['gte', 'gte'],
    ['<', 'lt'],
    ['lt', 'lt'],
    ['<=', 'lte'],
    ['lte', 'lte'],
  ];
  it.each(forms)('reads %s as %s', (given, word) => {
    expect(accepts({ field: 'age', operator: given, value: 3 })).toEqual({ field: 'age', operator: word, value: 3 });
  });

  it('accepts every word-only operator on a field it applies to', () => {
    expect(accepts({ field: 'age', operator: 'in', value: [1, 2] })).toEqual({
      field: 'age',
      operator: 'in',
      value: [1, 2],
    });
    expect(accepts({ field: 'age', operator: 'not_in', value: [1] })).toMatchObject({ operator: 'not_in' });
    expect(accepts({ field: 'age', operator: 'between', value: [1, 9] })).toMatchObject({
      operator: 'between',
      value: [1, 9],
    });
    for (const operator of ['contains', 'not_contains', 'starts_with', 'ends_with'])
      expect(accepts({ field: 'name', operator, value: 'ab' })).toEqual({ field: 'name', operator, value: 'ab' });
    for (const operator of ['is_null', 'is_not_null'])
      expect(accepts({ field: 'profile', operator })).toEqual({ field: 'profile', operator });
    for (const operator of ['within_last', 'not_within_last'])
      expect(accepts({ field: 'seen_at', operator, value: { amount: 3, unit: 'days' } })).toEqual({
        field: 'seen_at',
        operator,
        value: { amount: 3, unit: 'days' },
      });
  });

  it('refuses an unknown operator, a symbol with no meaning here, and a missing one', () => {
    expect(filter({ field: 'age', operator: '=~', value: 1 })).toEqual([
      { path: 'filters[0].operator', message: 'unknown operator "=~"' },
    ]);
    expect(filter({ field: 'age', operator: 'EQ', value: 1 })).toEqual([
      { path: 'filters[0].operator', message: 'unknown operator "EQ"' },
    ]);
    expect(filter({ field: 'age', value: 1 })).toEqual([
      { path: 'filters[0].operator', message: 'expected an operator' },
    ]);
    expect(filter({ field: 'age', operator: 7, value: 1 })).toEqual([
      { path: 'filters[0].operator', message: 'expected an operator' },
    ]);
  });

  it('refuses a value on is_null / is_not_null, even null, and a missing value elsewhere', () => {
    expect(filter({ field: 'age', operator: 'is_null', value: null })).toEqual([
      { path: 'filters[0].value', message: 'is_null takes no value' },
    ]);
    expect(filter({ field: 'age', operator: 'is_not_null', value: 1 })).toEqual([
      { path: 'filters[0].value', message: 'is_not_null takes no value' },
    ]);
    expect(filter({ field: 'age', operator: '>' })).toEqual([
      { path: 'filters[0].value', message: 'gt needs a value' },
    ]);
  });
});

describe('type rules', () => {
  const applies: Record<string, string[]> = {
    name: [
      'eq',
      'neq',
      'gt',
      'gte',
      'lt',
      'lte',
      'in',
      'not_in',
      'between',
      'contains',
      'not_contains',
      'starts_with',
      'ends_with',
      'is_null',
      'is_not_null',
    ],
    ext_id: ['eq', 'neq', 'in', 'not_in', 'is_null', 'is_not_null'],
    active: ['eq', 'neq', 'in', 'not_in', 'is_null', 'is_not_null'],
    age: ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'not_in', 'between', 'is_null', 'is_not_null'],
    seen_at: ['eq', 'gt', 'between', 'in', 'within_last', 'not_within_last', 'is_null'],
    profile: ['is_null', 'is_not_null'],
  };
  const refused: Record<string, string[]> = {
    ext_id: ['gt', 'between', 'contains', 'within_last'],
    active: ['lt', 'between', 'starts_with'],
    age: ['contains', 'ends_with', 'within_last'],
    score: ['not_contains', 'not_within_last'],
    born: ['contains'],
    profile: ['eq', 'neq', 'in', 'contains', 'gt'],
  };
  const sample: Record<string, unknown> = {
    name: 'x',
    ext_id: '00000000-0000-4000-8000-000000000000',
    active: true,
    age: 1,
    score: 1.5,
    born: '2024-01-01',
    seen_at: '2024-01-01T00:00:00Z',
    profile: 1,
  };
  const valueFor = (name: string, operator: string): unknown => {
    if (operator.startsWith('is_')) return undefined;
    if (operator.endsWith('within_last')) return { amount: 1, unit: 'days' };
    if (operator === 'in' || operator === 'not_in') return [sample[name]];
    if (operator === 'between') return [sample[name], sample[name]];
    return sample[name];
  };

  it.each(Object.entries(applies).flatMap(([name, ops]) => ops.map((op) => [name, op])))(
    '%s takes %s',
    (name, operator) => {
      const value = valueFor(name, operator);
      expect(accepts({ field: name, operator, ...(value === undefined ? {} : { value }) })).toMatchObject({
        field: name,
      });
    },
  );

  it.each(Object.entries(refused).flatMap(([name, ops]) => ops.map((op) => [name, op])))(
    '%s refuses %s',
    (name, operator) => {
      const type = customers.fields.find((f) => f.name === name)!.dataType;
      expect(filter({ field: name, operator, value: valueFor(name, operator) })).toEqual([
        { path: 'filters[0].operator', message: `operator "${operator}" does not apply to ${type} fields` },
      ]);
    },
  );

  const values: Array<[string, unknown, unknown]> = [
    // [field, value, normalized value or the expected problem]
    ['name', "'; DROP TABLE x; --", "'; DROP TABLE x; --"],
    ['name', '', ''],
    ['name', 'Zoë 😀 \\ % _ " \u2028', 'Zoë 😀 \\ % _ " \u2028'],
    ['name', 3, 'expected a string'],
    ['name', ['a'], 'expected a string'],
    ['name', 'a\u0000b', 'expected a string without NUL characters'],
    ['name', 'a\ud800b', 'expected valid Unicode text (no lone surrogates)'],
    ['name', 'x'.repeat(10_001), 'expected at most 10000 characters'],
    ['code', 'A1', 'A1'],
    ['code', null, 'expected a string'],
    ['ext_id', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
    ['ext_id', 'a0eebc999c0b4ef8bb6d6bb9bd380a11', 'expected a uuid (8-4-4-4-12 hex digits)'],
    ['ext_id', "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1'", 'expected a uuid (8-4-4-4-12 hex digits)'],
    ['age', 2147483647, 2147483647],
    ['age', -2147483648, -2147483648],
    ['age', 2147483648, 'expected an integer between -2147483648 and 2147483647'],
    ['age', 1.5, 'expected an integer between -2147483648 and 2147483647'],
    ['age', '3', 'expected an integer between -2147483648 and 2147483647'],
    ['age', -0, 0],
    ['big', 9007199254740991, 9007199254740991],
    ['big', 2 ** 53, 'expected an integer (a safe integer, or a decimal string within the 64-bit range)'],
    ['big', 2 ** 63, 'expected an integer (a safe integer, or a decimal string within the 64-bit range)'],
    ['big', '9223372036854775807', '9223372036854775807'],
    ['big', '-9223372036854775808', '-9223372036854775808'],
    ['big', '9223372036854775808', 'expected an integer (a safe integer, or a decimal string within the 64-bit range)'],
    ['big', '0012', '12'],
    ['big', '1e3', 'expected an integer (a safe integer, or a decimal string within the 64-bit range)'],
    ['big', '1; DROP TABLE x', 'expected an integer (a safe integer, or a decimal string within the 64-bit range)'],
    ['score', 1e300, 1e300],
    ['score', 0.1, 0.1],
    ['score', JSON.parse('1e400') as number, 'expected a finite number'],
    ['score', -Infinity, 'expected a finite number'],
    ['score', NaN, 'expected a finite number'],
    ['score', '1.5', 'expected a finite number'],
    ['ratio', -1e-300, -1e-300],
    ['active', false, false],
    ['active', 'true', 'expected true or false'],
    ['active', 0, 'expected true or false'],
    ['born', '2024-02-29', '2024-02-29'],
    ['born', '2023-02-29', 'expected a date (YYYY-MM-DD)'],
    ['born', '2024-04-31', 'expected a date (YYYY-MM-DD)'],
    ['born', '0000-01-01', 'expected a date (YYYY-MM-DD)'],
    ['born', '2024-1-1', 'expected a date (YYYY-MM-DD)'],
    ['born', '2024-01-01T00:00:00Z', 'expected a date (YYYY-MM-DD)'],
    ['seen_at', '2024-01-01T10:00:00Z', '2024-01-01T10:00:00Z'],
    ['seen_at', '2024-01-01T10:00Z', '2024-01-01T10:00Z'],
    ['seen_at', '2024-01-01T10:00:00.123456+05:30', '2024-01-01T10:00:00.123456+05:30'],
    ['seen_at', '2024-01-01', '2024-01-01T00:00:00Z'],
    [
      'seen_at',
      '2024-01-01T10:00:00',
      'expected a timestamp (ISO-8601 with a time and a zone, Z or ±hh:mm, or YYYY-MM-DD)',
    ],
    [
      'seen_at',
      '2024-01-01T24:00:00Z',
      'expected a timestamp (ISO-8601 with a time and a zone, Z or ±hh:mm, or YYYY-MM-DD)',
    ],
    [
      'seen_at',
      '2024-02-30T10:00:00Z',
      'expected a timestamp (ISO-8601 with a time and a zone, Z or ±hh:mm, or YYYY-MM-DD)',
    ],
    [
      'seen_at',
      '2024-01-01T10:00:00.1234567Z',
      'expected a timestamp (ISO-8601 with a time and a zone, Z or ±hh:mm, or YYYY-MM-DD)',
    ],
    [
      'seen_at',
      '2024-01-01T10:00:00+15:00',
      'expected a timestamp (ISO-8601 with a time and a zone, Z or ±hh:mm, or YYYY-MM-DD)',
    ],
    ['seen_at', 'now', 'expected a timestamp (ISO-8601 with a time and a zone, Z or ±hh:mm, or YYYY-MM-DD)'],
    ['seen_at', 1704067200000, 'expected a timestamp (ISO-8601 with a time and a zone, Z or ±hh:mm, or YYYY-MM-DD)'],
  ];
  it.each(values)('%s = %j → %j', (name, value, outcome) => {
    const condition = { field: name, operator: 'eq', value };
    const isProblem = typeof outcome === 'string' && outcome.startsWith('expected ') && outcome !== value;
    if (isProblem) expect(filter(condition)).toEqual([{ path: 'filters[0].value', message: outcome }]);
    else expect(accepts(condition)).toEqual({ field: name, operator: 'eq', value: outcome });
  });

  it('checks every value of in / not_in and between, each at its own path', () => {
    expect(filter({ field: 'age', operator: 'in', value: [1, 'two', 3, 4.5] })).toEqual([
      { path: 'filters[0].value[1]', message: 'expected an integer between -2147483648 and 2147483647' },
      { path: 'filters[0].value[3]', message: 'expected an integer between -2147483648 and 2147483647' },
    ]);
    expect(filter({ field: 'born', operator: 'between', value: ['2024-01-01', 'soon'] })).toEqual([
      { path: 'filters[0].value[1]', message: 'expected a date (YYYY-MM-DD)' },
    ]);
  });

  it('needs 1 to 1,000 values for in / not_in and exactly two for between', () => {
    const list = 'expected a non-empty array of at most 1000 values';
    expect(filter({ field: 'age', operator: 'in', value: [] })).toEqual([{ path: 'filters[0].value', message: list }]);
    expect(filter({ field: 'age', operator: 'not_in', value: 3 })).toEqual([
      { path: 'filters[0].value', message: list },
    ]);
    expect(filter({ field: 'age', operator: 'in', value: Array.from({ length: 1001 }, (_, i) => i) })).toEqual([
      { path: 'filters[0].value', message: list },
    ]);
    expect(accepts({ field: 'age', operator: 'in', value: Array.from({ length: 1000 }, (_, i) => i) })).toMatchObject({
      operator: 'in',
    });
    const pair = 'expected an array of two values [low, high]';
    expect(filter({ field: 'age', operator: 'between', value: [1] })).toEqual([
      { path: 'filters[0].value', message: pair },
    ]);
    expect(filter({ field: 'age', operator: 'between', value: [1, 2, 3] })).toEqual([
      { path: 'filters[0].value', message: pair },
    ]);
    expect(filter({ field: 'age', operator: 'between', value: '1,2' })).toEqual([
      { path: 'filters[0].value', message: pair },
    ]);
  });

  it('accepts a between whose bounds are reversed (it matches nothing)', () => {
    expect(accepts({ field: 'age', operator: 'between', value: [9, 1] })).toMatchObject({ value: [9, 1] });
  });

  it('takes within_last as a positive amount of a known unit, at most about 100 years', () => {
    for (const unit of ['minutes', 'hours', 'days', 'weeks', 'months'])
      expect(accepts({ field: 'born', operator: 'within_last', value: { amount: 1, unit } })).toMatchObject({
        value: { amount: 1, unit },
      });
    expect(
      accepts({ field: 'seen_at', operator: 'within_last', value: { amount: 1200, unit: 'months' } }),
    ).toMatchObject({ value: { amount: 1200 } });
    const at = (value: unknown) => filter({ field: 'seen_at', operator: 'within_last', value });
    expect(at({ amount: 1201, unit: 'months' })).toEqual([
      { path: 'filters[0].value.amount', message: 'expected a positive integer of at most 1200 (about 100 years)' },
    ]);
    expect(at({ amount: 0, unit: 'days' })).toEqual([
      { path: 'filters[0].value.amount', message: 'expected a positive integer of at most 36500 (about 100 years)' },
    ]);
    expect(at({ amount: 1.5, unit: 'hours' })).toMatchObject([{ path: 'filters[0].value.amount' }]);
    expect(at({ amount: '3', unit: 'years' })).toEqual([
      { path: 'filters[0].value.unit', message: 'expected one of minutes, hours, days, weeks, months' },
      { path: 'filters[0].value.amount', message: 'expected a positive integer' },
    ]);
    expect(at({ amount: 3, unit: 'days', ago: true })).toEqual([
      { path: 'filters[0].value.ago', message: 'unknown key' },
    ]);
    expect(at('3 days')).toEqual([{ path: 'filters[0].value', message: 'expected {amount, unit}' }]);
  });
});

describe('field names', () => {
  it('must exist in the base schema or a join, never taken on trust', () => {
    expect(filter({ field: 'nope', operator: 'is_null' })).toEqual([
      { path: 'filters[0].field', message: 'field "nope" not found in schema "customers"' },
    ]);
    expect(filter({ field: 'id"; DROP TABLE x; --', operator: 'is_null' })).toEqual([
      { path: 'filters[0].field', message: 'field "id"; DROP TABLE x; --" not found in schema "customers"' },
    ]);
    expect(filter({ field: 'constructor', operator: 'is_null' })).toMatchObject([{ path: 'filters[0].field' }]);
    expect(filter({ field: '__proto__', operator: 'is_null' })).toMatchObject([{ path: 'filters[0].field' }]);
    expect(filter({ field: '', operator: 'is_null' })).toEqual([
      { path: 'filters[0].field', message: 'expected a field name' },
    ]);
    expect(filter({ field: ['age'], operator: 'is_null' })).toEqual([
      { path: 'filters[0].field', message: 'expected a field name' },
    ]);
    expect(filter({ field: 'orders.amount', operator: 'is_null' })).toEqual([
      { path: 'filters[0].field', message: 'join alias "orders" not found' },
    ]);
    expect(filter({ field: 'orders.nope', operator: 'is_null' }, [ORDERS])).toEqual([
      { path: 'filters[0].field', message: 'field "nope" not found in schema "orders"' },
    ]);
    expect(accepts({ field: 'orders.amount', operator: '>', value: 5 }, [ORDERS])).toEqual({
      field: 'orders.amount',
      operator: 'gt',
      value: 5,
    });
  });
});

describe('conditions', () => {
  it('nests all / any / not and keeps empty groups (all of nothing holds, any of nothing does not)', () => {
    const def = validateDefinition(
      {
        filters: [
          { all: [] },
          { any: [] },
          {
            not: {
              any: [{ field: 'age', operator: '>', value: 1 }, { all: [{ field: 'name', operator: 'is_null' }] }],
            },
          },
        ],
      },
      ctx(),
    );
    expect(def.filters).toEqual([
      { all: [] },
      { any: [] },
      { not: { any: [{ field: 'age', operator: 'gt', value: 1 }, { all: [{ field: 'name', operator: 'is_null' }] }] } },
    ]);
  });

  it('refuses a condition that is not one thing, or has keys it does not know', () => {
    const one = 'expected exactly one of field, all, any, not, aggregate, segment';
    expect(filter({})).toEqual([{ path: 'filters[0]', message: one }]);
    expect(filter({ all: [], any: [] })).toEqual([{ path: 'filters[0]', message: one }]);
    expect(filter({ field: 'age', operator: 'is_null', not: {} })).toEqual([{ path: 'filters[0]', message: one }]);
    expect(filter(null)).toEqual([{ path: 'filters[0]', message: 'expected a condition object' }]);
    expect(filter([])).toEqual([{ path: 'filters[0]', message: 'expected a condition object' }]);
    expect(filter('age > 3')).toEqual([{ path: 'filters[0]', message: 'expected a condition object' }]);
    expect(filter({ field: 'age', operator: 'is_null', negate: true })).toEqual([
      { path: 'filters[0].negate', message: 'unknown key' },
    ]);
    expect(filter({ all: [], extra: 1 })).toEqual([{ path: 'filters[0].extra', message: 'unknown key' }]);
    expect(filter({ not: [{ field: 'age', operator: 'is_null' }] })).toEqual([
      { path: 'filters[0].not', message: 'expected a condition object' },
    ]);
    expect(filter({ any: { field: 'age', operator: 'is_null' } })).toEqual([
      { path: 'filters[0].any', message: 'expected an array of conditions' },
    ]);
  });

  it('treats __proto__ and other odd keys from JSON as unknown keys, with an unambiguous path', () => {
    const input = JSON.parse(
      '{"filters":[{"field":"age","operator":"is_null","__proto__":{"field":"x"},"a b":1,"constructor":2}]}',
    ) as { filters: unknown };
    expect(problems(input)).toEqual([
      { path: 'filters[0].__proto__', message: 'unknown key' },
      { path: 'filters[0]["a b"]', message: 'unknown key' },
      { path: 'filters[0].constructor', message: 'unknown key' },
    ]);
    // An inherited property is not a condition's key.
    const inherited = Object.create({ field: 'age', operator: 'is_null' }) as object;
    expect(filter(inherited)).toEqual([
      { path: 'filters[0]', message: 'expected exactly one of field, all, any, not, aggregate, segment' },
    ]);
  });

  it('reports every problem, each with its path, not just the first', () => {
    const details = problems({
      joins: [{ schemaId: 'sch_elsewhere', localField: 'id', foreignField: 'customer_id' }],
      filters: [
        { field: 'agee', operator: '>', value: 3 },
        {
          any: [
            { field: 'age', operator: 'contains', value: 'x' },
            { field: 'score', operator: 'in', value: [1, 'x'] },
          ],
        },
        { not: { field: 'born', operator: 'within_last', value: { amount: -1, unit: 'days' } } },
        { aggregate: 'sum', join: 'orders', field: 'status', operator: '>', value: 'x' },
        { segment: 'seg_nope', operator: 'in' },
      ],
    });
    expect(details).toEqual([
      { path: 'joins[0].schemaId', message: 'Schema sch_elsewhere not found' },
      { path: 'filters[0].field', message: 'field "agee" not found in schema "customers"' },
      { path: 'filters[1].any[0].operator', message: 'operator "contains" does not apply to integer fields' },
      { path: 'filters[1].any[1].value[1]', message: 'expected a finite number' },
      {
        path: 'filters[2].not.value.amount',
        message: 'expected a positive integer of at most 36500 (about 100 years)',
      },
      { path: 'filters[3].join', message: 'join alias "orders" not found' },
      { path: 'filters[4].segment', message: 'Segment seg_nope not found' },
    ]);
  });

  it('names the first problem and counts the rest in the error message', () => {
    expect(() =>
      validateDefinition(
        {
          filters: [
            { field: 'x', operator: '=', value: 1 },
            { field: 'y', operator: '=', value: 1 },
          ],
        },
        ctx(),
      ),
    ).toThrow('filters[0].field: field "x" not found in schema "customers" (and 1 more)');
  });

  it('lists at most 100 problems, then says there are more', () => {
    const details = problems({
      filters: [{ field: 'age', operator: 'in', value: Array.from({ length: 500 }, () => 'x') }],
    });
    expect(details).toHaveLength(101);
    expect(details[100]).toEqual({ path: '', message: 'more problems not listed (only the first 100 are)' });
  });
});

describe('limits', () => {
  const leaf = { field: 'age', operator: 'is_null' };
  const nest = (depth: number): unknown => (depth === 1 ? leaf : { not: nest(depth - 1) });

  it('allows 100 conditions in all and refuses 101, counting groups, aggregates and where', () => {
    expect(validateDefinition({ filters: Array.from({ length: 100 }, () => leaf) }, ctx()).filters).toHaveLength(100);
    const tooMany = 'at most 100 conditions in all (groups, aggregates and their where included)';
    expect(problems({ filters: Array.from({ length: 101 }, () => leaf) })).toEqual([
      { path: 'filters', message: tooMany },
    ]);
    // 1 group + 99 leaves = 100; a second group tips it over.
    expect(
      validateDefinition({ filters: [{ all: Array.from({ length: 99 }, () => leaf) }] }, ctx()).filters,
    ).toHaveLength(1);
    expect(problems({ filters: [{ all: Array.from({ length: 99 }, () => leaf) }, { any: [] }] })).toEqual([
      { path: 'filters', message: tooMany },
    ]);
    const aggregate = {
      aggregate: 'count',
      join: 'orders',
      operator: '>',
      value: 0,
      where: Array.from({ length: 98 }, () => ({ field: 'amount', operator: 'is_null' })),
    };
    expect(validateDefinition({ joins: [ORDERS], filters: [aggregate, leaf] }, ctx()).filters).toHaveLength(2);
    expect(problems({ joins: [ORDERS], filters: [aggregate, leaf, leaf] })).toEqual([
      { path: 'filters', message: tooMany },
    ]);
  });

  it('allows nesting 5 deep and refuses 6, an aggregate where counting as a level', () => {
    expect(validateDefinition({ filters: [nest(5)] }, ctx()).filters).toHaveLength(1);
    expect(problems({ filters: [nest(6)] })).toEqual([
      { path: 'filters[0].not.not.not.not.not', message: 'nested deeper than 5 levels' },
    ]);
    const where = (depth: number) => ({
      aggregate: 'count',
      join: 'orders',
      operator: '>',
      value: 0,
      where: [
        depth === 0 ? { field: 'amount', operator: 'is_null' } : { not: { field: 'amount', operator: 'is_null' } },
      ],
    });
    expect(
      validateDefinition({ joins: [ORDERS], filters: [{ not: { not: { not: where(0) } } }] }, ctx()).filters,
    ).toHaveLength(1);
    expect(problems({ joins: [ORDERS], filters: [{ not: { not: { not: where(1) } } }] })).toEqual([
      { path: 'filters[0].not.not.not.where[0].not', message: 'nested deeper than 5 levels' },
    ]);
  });

  it('survives junk nested thousands deep without walking all of it', () => {
    let junk: unknown = { field: 'age', operator: 'is_null' };
    for (let i = 0; i < 50_000; i++) junk = i % 2 ? { not: junk } : { any: [junk, 'x'] };
    expect(problems({ filters: [junk] })).toEqual([
      { path: 'filters[0].not.any[0].not.any[0].not', message: 'nested deeper than 5 levels' },
      { path: 'filters[0].not.any[0].not.any[1]', message: 'expected a condition object' },
      { path: 'filters[0].not.any[1]', message: 'expected a condition object' },
    ]);
  });

  it('allows 5 joins and refuses 6', () => {
    const join = (i: number) => ({ ...ORDERS, alias: `o${i}` });
    expect(validateDefinition({ joins: [1, 2, 3, 4, 5].map(join) }, ctx()).joins).toHaveLength(5);
    expect(problems({ joins: [1, 2, 3, 4, 5, 6].map(join) })).toEqual([{ path: 'joins', message: 'at most 5 joins' }]);
  });

  it('defaults filters and joins to nothing and refuses anything but arrays', () => {
    expect(validateDefinition({}, ctx())).toEqual({ baseSchemaId: customers.id, joins: [], filters: [] });
    expect(problems({ joins: {}, filters: 'age > 3' })).toEqual([
      { path: 'joins', message: 'expected an array' },
      { path: 'filters', message: 'expected an array' },
    ]);
    expect(problems({ joins: null, filters: null })).toHaveLength(2);
  });
});

describe('joins', () => {
  it('fills in the alias from the schema name and the type as inner', () => {
    expect(validateDefinition({ joins: [ORDERS] }, ctx()).joins).toEqual([
      { schemaId: orders.id, alias: 'orders', type: 'inner', localField: 'id', foreignField: 'customer_id' },
    ]);
    expect(validateDefinition({ joins: [{ ...ORDERS, alias: 'recent', type: 'left' }] }, ctx()).joins[0]).toMatchObject(
      { alias: 'recent', type: 'left' },
    );
  });

  it('refuses another tenant’s schema exactly like a missing one', () => {
    expect(problems({ joins: [{ schemaId: 'sch_of_other_tenant', localField: 'id', foreignField: 'id' }] })).toEqual([
      { path: 'joins[0].schemaId', message: 'Schema sch_of_other_tenant not found' },
    ]);
  });

  it('checks alias, type, both key fields and that the keys compare', () => {
    expect(
      problems({
        joins: [
          { ...ORDERS, alias: 'Orders!' },
          { ...ORDERS, type: 'outer' },
          { schemaId: orders.id, alias: 'o3', localField: 'nope', foreignField: 'nope' },
          { schemaId: orders.id, alias: 'o4', localField: 'id', foreignField: 'customer_code' },
          { schemaId: orders.id, alias: 'o5', localField: 'profile', foreignField: 'payload', on: 'true' },
        ],
      }),
    ).toEqual([
      { path: 'joins[0].alias', message: 'expected a lowercase identifier (^[a-z][a-z0-9_]{0,62}$)' },
      { path: 'joins[1].type', message: 'expected "inner" or "left"' },
      { path: 'joins[2].localField', message: 'field "nope" not found in schema "customers"' },
      { path: 'joins[2].foreignField', message: 'field "nope" not found in schema "orders"' },
      {
        path: 'joins[3].foreignField',
        message: 'text field "customer_code" cannot be compared with integer field "id"',
      },
      { path: 'joins[4].on', message: 'unknown key' },
      { path: 'joins[4].localField', message: 'jsonb field "profile" cannot be a join key' },
      { path: 'joins[4].foreignField', message: 'jsonb field "payload" cannot be a join key' },
    ]);
  });

  it('compares keys within a family: text with varchar, integers with numeric, double only with double', () => {
    expect(
      validateDefinition({ joins: [{ schemaId: orders.id, localField: 'code', foreignField: 'customer_code' }] }, ctx())
        .joins,
    ).toHaveLength(1);
    expect(
      validateDefinition({ joins: [{ schemaId: accounts.id, localField: 'age', foreignField: 'id' }] }, ctx()).joins,
    ).toHaveLength(1);
    expect(problems({ joins: [{ schemaId: accounts.id, localField: 'score', foreignField: 'ratio' }] })).toEqual([
      { path: 'joins[0].foreignField', message: 'double field "ratio" cannot be compared with numeric field "score"' },
    ]);
    expect(
      problems({ joins: [{ schemaId: accounts.id, localField: 'seen_at', foreignField: 'opened' }] }),
    ).toMatchObject([{ path: 'joins[0].foreignField' }]);
  });

  it('needs distinct aliases, and an explicit one when the schema name is not an alias', () => {
    expect(problems({ joins: [ORDERS, ORDERS] })).toEqual([
      { path: 'joins[1].alias', message: 'alias "orders" is already used by another join' },
    ]);
    expect(problems({ joins: [{ schemaId: oddlyNamed.id, localField: 'id', foreignField: 'id' }] })).toEqual([
      { path: 'joins[0].alias', message: 'required: the schema name "Odd-Name" is not a usable alias' },
    ]);
    expect(
      validateDefinition(
        { joins: [{ schemaId: oddlyNamed.id, alias: 'odd', localField: 'id', foreignField: 'id' }] },
        ctx(),
      ).joins,
    ).toHaveLength(1);
  });

  it('keeps the alias of a broken join, so its fields do not pile up more problems', () => {
    expect(
      problems({
        joins: [{ ...ORDERS, localField: 'nope' }],
        filters: [{ field: 'orders.amount', operator: '>', value: 1 }],
      }),
    ).toEqual([{ path: 'joins[0].localField', message: 'field "nope" not found in schema "customers"' }]);
  });
});

describe('aggregates', () => {
  const joins = [ORDERS];

  it('normalizes operator, where fields (plain or alias.field) and leaves out the field of count', () => {
    expect(
      accepts(
        {
          aggregate: 'count',
          join: 'orders',
          operator: '>=',
          value: 3,
          where: [
            { field: 'orders.amount', operator: '>', value: 100 },
            { field: 'status', operator: '=', value: 'paid' },
          ],
        },
        joins,
      ),
    ).toEqual({
      aggregate: 'count',
      join: 'orders',
      operator: 'gte',
      value: 3,
      where: [
        { field: 'amount', operator: 'gt', value: 100 },
        { field: 'status', operator: 'eq', value: 'paid' },
      ],
    });
    expect(
      accepts(
        { aggregate: 'max', join: 'orders', field: 'orders.created_at', operator: '<', value: '2024-01-01' },
        joins,
      ),
    ).toEqual({
      aggregate: 'max',
      join: 'orders',
      field: 'created_at',
      operator: 'lt',
      value: '2024-01-01T00:00:00Z',
      where: [],
    });
  });

  it('types the value by the function: counts, numbers for sum and avg, the field type for min and max', () => {
    expect(
      accepts({ aggregate: 'sum', join: 'orders', field: 'amount', operator: 'between', value: [0.5, 99.5] }, joins),
    ).toMatchObject({ value: [0.5, 99.5] });
    expect(
      accepts({ aggregate: 'avg', join: 'orders', field: 'amount', operator: 'in', value: [1, 2.5] }, joins),
    ).toMatchObject({ value: [1, 2.5] });
    expect(filter({ aggregate: 'count', join: 'orders', operator: '>', value: -1 }, joins)).toEqual([
      { path: 'filters[0].value', message: 'expected a non-negative integer' },
    ]);
    expect(filter({ aggregate: 'count', join: 'orders', operator: '>', value: 1.5 }, joins)).toEqual([
      { path: 'filters[0].value', message: 'expected a non-negative integer' },
    ]);
    expect(filter({ aggregate: 'sum', join: 'orders', field: 'amount', operator: '>', value: '100' }, joins)).toEqual([
      { path: 'filters[0].value', message: 'expected a finite number' },
    ]);
    expect(
      filter({ aggregate: 'min', join: 'orders', field: 'created_at', operator: '>', value: 5 }, joins),
    ).toMatchObject([{ path: 'filters[0].value' }]);
  });

  it('refuses a field where count takes none, a missing or unsuitable field elsewhere, and field-only operators', () => {
    expect(filter({ aggregate: 'count', join: 'orders', field: 'amount', operator: '>', value: 1 }, joins)).toEqual([
      { path: 'filters[0].field', message: 'count takes no field' },
    ]);
    expect(filter({ aggregate: 'sum', join: 'orders', operator: '>', value: 1 }, joins)).toEqual([
      { path: 'filters[0].field', message: 'expected a field name' },
    ]);
    expect(filter({ aggregate: 'sum', join: 'orders', field: 'status', operator: '>', value: 1 }, joins)).toEqual([
      {
        path: 'filters[0].field',
        message: 'sum needs a field of type integer, bigint, numeric, double; "status" is text',
      },
    ]);
    expect(filter({ aggregate: 'min', join: 'orders', field: 'payload', operator: '>', value: 1 }, joins)).toEqual([
      {
        path: 'filters[0].field',
        message: 'min needs a field of type integer, bigint, numeric, double, date, timestamptz; "payload" is jsonb',
      },
    ]);
    expect(filter({ aggregate: 'avg', join: 'orders', field: 'id', operator: 'is_null' }, joins)).toEqual([
      { path: 'filters[0].operator', message: 'operator "is_null" does not apply to aggregates' },
    ]);
    expect(filter({ aggregate: 'median', join: 'orders', operator: '>', value: 1 }, joins)).toEqual([
      { path: 'filters[0].aggregate', message: 'expected one of count, sum, avg, min, max' },
    ]);
    expect(filter({ aggregate: 'count', join: 'orders', operator: '>' }, joins)).toEqual([
      { path: 'filters[0].value', message: 'gt needs a value' },
    ]);
  });

  it('keeps where to the aggregated join’s own fields, without aggregates or segment references', () => {
    const where = (conditions: unknown[]) =>
      filter({ aggregate: 'count', join: 'orders', operator: '>', value: 0, where: conditions }, [
        ORDERS,
        { ...ORDERS, alias: 'other' },
      ]);
    expect(where([{ field: 'other.amount', operator: 'is_null' }])).toEqual([
      { path: 'filters[0].where[0].field', message: 'only fields of join "orders" can be used here' },
    ]);
    expect(where([{ field: 'age', operator: 'is_null' }])).toEqual([
      { path: 'filters[0].where[0].field', message: 'field "age" not found in schema "orders"' },
    ]);
    expect(where([{ any: [{ aggregate: 'count', join: 'orders', operator: '>', value: 0 }] }])).toEqual([
      { path: 'filters[0].where[0].any[0]', message: 'aggregates cannot be nested in an aggregate' },
    ]);
    expect(where([{ segment: 'seg_vip', operator: 'in' }])).toEqual([
      { path: 'filters[0].where[0]', message: 'segment references cannot be used in an aggregate' },
    ]);
    expect(filter({ aggregate: 'count', join: 'orders', operator: '>', value: 0, where: {} }, joins)).toEqual([
      { path: 'filters[0].where', message: 'expected an array of conditions' },
    ]);
  });
});

describe('segment references', () => {
  it('accepts in / not_in of a segment over the same base schema', () => {
    expect(accepts({ segment: 'seg_vip', operator: 'in' })).toEqual({ segment: 'seg_vip', operator: 'in' });
    expect(accepts({ segment: 'seg_vip', operator: 'not_in' })).toEqual({ segment: 'seg_vip', operator: 'not_in' });
  });

  it('refuses a missing segment, another base schema, another operator and itself', () => {
    expect(filter({ segment: 'seg_other_tenant', operator: 'in' })).toEqual([
      { path: 'filters[0].segment', message: 'Segment seg_other_tenant not found' },
    ]);
    expect(filter({ segment: 'seg_accounts', operator: 'in' })).toEqual([
      { path: 'filters[0].segment', message: 'segment seg_accounts is not over the same base schema' },
    ]);
    expect(filter({ segment: 'seg_vip', operator: '=' })).toEqual([
      { path: 'filters[0].operator', message: 'expected "in" or "not_in"' },
    ]);
    expect(filter({ segment: 42, operator: 'in' })).toEqual([
      { path: 'filters[0].segment', message: 'expected a segment id' },
    ]);
    expect(problems({ filters: [{ segment: 'seg_vip', operator: 'in' }] }, ctx({ selfId: 'seg_vip' }))).toEqual([
      { path: 'filters[0].segment', message: 'a segment cannot reference itself' },
    ]);
  });

  it('refuses a reference that leads back to the segment being updated', () => {
    const stored: Record<string, string[]> = { seg_vip: ['seg_churn'], seg_churn: ['seg_self'], seg_self: [] };
    const context = ctx({ selfId: 'seg_self', referencesOf: (id) => stored[id] ?? [] });
    expect(problems({ filters: [{ any: [{ segment: 'seg_vip', operator: 'not_in' }] }] }, context)).toEqual([
      { path: 'filters[0].any[0].segment', message: 'referencing segment seg_vip creates a cycle' },
    ]);
    const acyclic = ctx({
      selfId: 'seg_new',
      referencesOf: (id) => (id === 'seg_vip' ? ['seg_churn', 'seg_churn'] : ['seg_vip']),
    });
    expect(validateDefinition({ filters: [{ segment: 'seg_vip', operator: 'in' }] }, acyclic).filters).toHaveLength(1);
  });
});

describe('what a definition uses', () => {
  const def = validateDefinition(
    {
      joins: [ORDERS, { schemaId: accounts.id, alias: 'acct', type: 'left', localField: 'big', foreignField: 'id' }],
      filters: [
        { field: 'age', operator: '>', value: 1 },
        {
          any: [
            { field: 'acct.opened', operator: 'is_null' },
            { segment: 'seg_vip', operator: 'in' },
          ],
        },
        { not: { segment: 'seg_churn', operator: 'not_in' } },
        { segment: 'seg_vip', operator: 'not_in' },
        {
          aggregate: 'sum',
          join: 'orders',
          field: 'amount',
          operator: '>',
          value: 1,
          where: [{ field: 'orders.status', operator: 'is_null' }],
        },
      ],
    },
    ctx(),
  );

  it('lists referenced segments and joined schemas once each', () => {
    expect(referencedSegmentIds(def)).toEqual(['seg_vip', 'seg_churn']);
    expect(referencedSchemaIds(def)).toEqual([orders.id, accounts.id]);
  });

  it('lists every field it touches: filters, join keys, aggregates and their where, and the key of a referenced segment', () => {
    const used = fieldsUsed(def, customers).map((f) => `${f.schemaId}.${f.field}`);
    expect(used.sort()).toEqual(
      [
        'sch_customers.id',
        'sch_orders.customer_id',
        'sch_customers.big',
        'sch_accounts.id',
        'sch_customers.age',
        'sch_accounts.opened',
        'sch_orders.amount',
        'sch_orders.status',
      ].sort(),
    );
  });

  it('validates to itself: the normalized form is what gets stored', () => {
    expect(validateDefinition(def, ctx())).toEqual(def);
  });
});
