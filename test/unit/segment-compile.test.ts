import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BaseSchemaRecord } from '../../src/domain/schemas/types.js';
import { compileOverlapQuery, compileSegmentQuery } from '../../src/domain/segments/compile.js';
import type { CompileContext, ReferencedSegment, SegmentDefinition } from '../../src/domain/segments/definition.js';
import { validateDefinition } from '../../src/domain/segments/validate.js';
import { field, schema } from '../support/schema-records.js';

/**
 * The SQL text, fragment by fragment. Whether it selects the right rows is
 * the differential test's job (test/integration/segment-differential.test.ts).
 */

const customers = schema('sch_customers', 'customers', [
  field('region', 'text', true),
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
  field('amount', 'numeric'),
  field('status', 'text'),
  field('created_at', 'timestamptz'),
]);
const vip: ReferencedSegment = { id: 'seg_vip', baseSchemaId: customers.id, viewName: 'seg_0123456789ab' };

function ctx(baseSchema = customers, extraSchemas: BaseSchemaRecord[] = []): CompileContext {
  return {
    baseSchema,
    schemasById: new Map([baseSchema, orders, ...extraSchemas].map((s) => [s.id, s])),
    segmentsById: new Map([[vip.id, vip]]),
    namespace: 't_acme',
  };
}

const ORDERS = { schemaId: orders.id, localField: 'id', foreignField: 'customer_id' };
const FROM = 'SELECT b.* FROM "t_acme"."ds_customers" AS b WHERE ';

function sql(input: { joins?: unknown[]; filters?: unknown[] }, context = ctx()): string {
  return compileSegmentQuery(validateDefinition(input, context), context);
}

/** The WHERE clause of one condition. */
function where(condition: unknown, joins: unknown[] = []): string {
  const text = sql({ joins, filters: [condition] });
  expect(text.startsWith(FROM)).toBe(true);
  return text.slice(FROM.length);
}

describe('the query', () => {
  it('selects every base row when there is nothing to filter', () => {
    expect(sql({})).toBe(`${FROM}true`);
  });

  it('joins the conditions of the list with AND', () => {
    expect(
      sql({
        filters: [
          { field: 'age', operator: 'is_null' },
          { field: 'name', operator: 'is_not_null' },
        ],
      }),
    ).toBe(`${FROM}b."age" IS NULL AND b."name" IS NOT NULL`);
  });

  it('quotes the namespace and the table, whatever they hold', () => {
    const odd = schema('sch_odd', 'odd', [field('id', 'integer', true)], 'ds_we"ird');
    const text = compileSegmentQuery(
      { baseSchemaId: odd.id, joins: [], filters: [] },
      { ...ctx(odd), namespace: 't_a"b' },
    );
    expect(text).toBe('SELECT b.* FROM "t_a""b"."ds_we""ird" AS b WHERE true');
  });
});

describe('field conditions', () => {
  it.each([
    ['=', 'COALESCE(b."age" = \'3\'::integer, false)'],
    ['!=', 'COALESCE(b."age" <> \'3\'::integer, false)'],
    ['>', 'COALESCE(b."age" > \'3\'::integer, false)'],
    ['>=', 'COALESCE(b."age" >= \'3\'::integer, false)'],
    ['<', 'COALESCE(b."age" < \'3\'::integer, false)'],
    ['<=', 'COALESCE(b."age" <= \'3\'::integer, false)'],
  ])('compiles %s as a typed comparison that is false on NULL', (operator, expected) => {
    expect(where({ field: 'age', operator, value: 3 })).toBe(expected);
  });

  it('casts each value to its field type from a fixed map', () => {
    const value: Record<string, [unknown, string]> = {
      name: ['x', "'x'::text"],
      code: ['x', "'x'::text"],
      big: ['9223372036854775807', "'9223372036854775807'::bigint"],
      score: [1e21, "'1e+21'::numeric"],
      ratio: [0.1, "'0.1'::double precision"],
      active: [true, "'true'::boolean"],
      born: ['2024-02-29', "'2024-02-29'::date"],
      seen_at: ['2024-01-01T10:00:00+05:30', "'2024-01-01T10:00:00+05:30'::timestamptz"],
      ext_id: ['A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid"],
    };
    for (const [name, [given, literal]] of Object.entries(value))
      expect(where({ field: name, operator: '=', value: given })).toBe(`COALESCE(b."${name}" = ${literal}, false)`);
  });

  it('orders text by bytes (COLLATE "C"), comparisons and between alike', () => {
    expect(where({ field: 'name', operator: '<', value: 'b' })).toBe(
      'COALESCE(b."name" COLLATE "C" < \'b\'::text, false)',
    );
    expect(where({ field: 'code', operator: 'between', value: ['a', 'n'] })).toBe(
      'COALESCE(b."code" COLLATE "C" BETWEEN \'a\'::text AND \'n\'::text, false)',
    );
    expect(where({ field: 'name', operator: '=', value: 'b' })).not.toContain('COLLATE');
    expect(where({ field: 'age', operator: 'between', value: [1, 9] })).toBe(
      "COALESCE(b.\"age\" BETWEEN '1'::integer AND '9'::integer, false)",
    );
  });

  it('compiles in / not_in as lists of typed literals', () => {
    expect(where({ field: 'age', operator: 'in', value: [1, 2] })).toBe(
      "COALESCE(b.\"age\" IN ('1'::integer, '2'::integer), false)",
    );
    expect(where({ field: 'name', operator: 'not_in', value: ['a'] })).toBe(
      'COALESCE(b."name" NOT IN (\'a\'::text), false)',
    );
  });

  it('matches text case-insensitively with %, _ and backslash escaped', () => {
    expect(where({ field: 'name', operator: 'contains', value: '50%_a\\b' })).toBe(
      "COALESCE(b.\"name\" ILIKE '%50\\%\\_a\\\\b%'::text ESCAPE '\\', false)",
    );
    expect(where({ field: 'name', operator: 'not_contains', value: 'x' })).toBe(
      "COALESCE(b.\"name\" NOT ILIKE '%x%'::text ESCAPE '\\', false)",
    );
    expect(where({ field: 'name', operator: 'starts_with', value: 'x' })).toBe(
      "COALESCE(b.\"name\" ILIKE 'x%'::text ESCAPE '\\', false)",
    );
    expect(where({ field: 'name', operator: 'ends_with', value: "o'" })).toBe(
      "COALESCE(b.\"name\" ILIKE '%o'''::text ESCAPE '\\', false)",
    );
  });

  it('tests NULL itself with is_null / is_not_null', () => {
    expect(where({ field: 'profile', operator: 'is_null' })).toBe('b."profile" IS NULL');
    expect(where({ field: 'profile', operator: 'is_not_null' })).toBe('b."profile" IS NOT NULL');
  });

  it('measures within_last from now(), days as 24 hours, months in UTC, dates as midnight UTC', () => {
    expect(where({ field: 'seen_at', operator: 'within_last', value: { amount: 90, unit: 'minutes' } })).toBe(
      'COALESCE(b."seen_at" BETWEEN (now() - \'90 minutes\'::interval) AND now(), false)',
    );
    expect(where({ field: 'seen_at', operator: 'within_last', value: { amount: 2, unit: 'weeks' } })).toBe(
      'COALESCE(b."seen_at" BETWEEN (now() - \'336 hours\'::interval) AND now(), false)',
    );
    expect(where({ field: 'seen_at', operator: 'not_within_last', value: { amount: 3, unit: 'days' } })).toBe(
      'COALESCE(NOT (b."seen_at" BETWEEN (now() - \'72 hours\'::interval) AND now()), false)',
    );
    expect(where({ field: 'born', operator: 'within_last', value: { amount: 6, unit: 'months' } })).toBe(
      "COALESCE((b.\"born\"::timestamp AT TIME ZONE 'UTC') BETWEEN (((now() AT TIME ZONE 'UTC') - '6 months'::interval) AT TIME ZONE 'UTC') AND now(), false)",
    );
  });
});

describe('groups', () => {
  it('nests all / any / not, with the empty all true and the empty any false', () => {
    expect(where({ all: [] })).toBe('true');
    expect(where({ any: [] })).toBe('false');
    expect(
      where({
        not: {
          any: [
            { field: 'age', operator: 'is_null' },
            {
              all: [
                { field: 'name', operator: 'is_null' },
                { field: 'code', operator: 'is_null' },
              ],
            },
          ],
        },
      }),
    ).toBe('NOT ((b."age" IS NULL OR (b."name" IS NULL AND b."code" IS NULL)))');
  });
});

describe('joins', () => {
  const KEY = 'j."customer_id" = b."id"';

  it('requires a matching row for an inner join, nothing for a left one, and never multiplies rows', () => {
    expect(sql({ joins: [ORDERS] })).toBe(`${FROM}EXISTS (SELECT 1 FROM "t_acme"."ds_orders" AS j WHERE ${KEY})`);
    expect(sql({ joins: [{ ...ORDERS, type: 'left' }] })).toBe(`${FROM}true`);
    expect(sql({ joins: [ORDERS] })).not.toMatch(/\bJOIN\b/);
  });

  it('makes each condition on a joined field its own EXISTS over key-matching rows', () => {
    expect(
      where({ field: 'orders.amount', operator: '>', value: 100 }, [{ ...ORDERS, type: 'inner' }]).split(
        ' AND EXISTS',
      )[1],
    ).toBe(` (SELECT 1 FROM "t_acme"."ds_orders" AS j WHERE ${KEY} AND COALESCE(j."amount" > '100'::numeric, false))`);
  });

  it('offers one all-NULL row to a left join without matches', () => {
    expect(where({ field: 'recent.status', operator: 'is_null' }, [{ ...ORDERS, alias: 'recent', type: 'left' }])).toBe(
      `EXISTS (SELECT 1 FROM (VALUES (1)) AS one LEFT JOIN "t_acme"."ds_orders" AS j ON ${KEY} WHERE j."status" IS NULL)`,
    );
  });
});

describe('aggregates', () => {
  const left = [{ ...ORDERS, type: 'left' }];
  const from = `FROM "t_acme"."ds_orders" AS j WHERE j."customer_id" = b."id"`;

  it('counts the key-matching rows that meet where', () => {
    expect(
      where(
        {
          aggregate: 'count',
          join: 'orders',
          operator: '>=',
          value: 3,
          where: [
            { field: 'amount', operator: '>', value: 100 },
            { field: 'orders.status', operator: 'is_not_null' },
          ],
        },
        left,
      ),
    ).toBe(
      `COALESCE((SELECT count(*) ${from} AND COALESCE(j."amount" > '100'::numeric, false) AND j."status" IS NOT NULL) >= '3'::bigint, false)`,
    );
  });

  it('sums to 0 over no rows, and leaves avg, min and max NULL there', () => {
    expect(where({ aggregate: 'sum', join: 'orders', field: 'amount', operator: '<', value: 10 }, left)).toBe(
      `COALESCE((SELECT COALESCE(sum(j."amount"), 0) ${from}) < '10'::numeric, false)`,
    );
    expect(
      where({ aggregate: 'avg', join: 'orders', field: 'amount', operator: 'between', value: [1, 2.5] }, left),
    ).toBe(`COALESCE((SELECT avg(j."amount") ${from}) BETWEEN '1'::numeric AND '2.5'::numeric, false)`);
    expect(
      where({ aggregate: 'max', join: 'orders', field: 'created_at', operator: '>', value: '2024-01-01' }, left),
    ).toBe(`COALESCE((SELECT max(j."created_at") ${from}) > '2024-01-01T00:00:00Z'::timestamptz, false)`);
    expect(where({ aggregate: 'min', join: 'orders', field: 'id', operator: 'in', value: [1] }, left)).toBe(
      `COALESCE((SELECT min(j."id") ${from}) IN ('1'::integer), false)`,
    );
  });
});

describe('segment references', () => {
  it('reads the referenced view by every primary-key column, so it follows that segment’s current definition', () => {
    const exists =
      'EXISTS (SELECT 1 FROM "t_acme"."seg_0123456789ab" AS r WHERE r."region" = b."region" AND r."id" = b."id")';
    expect(where({ segment: vip.id, operator: 'in' })).toBe(exists);
    expect(where({ segment: vip.id, operator: 'not_in' })).toBe(`NOT ${exists}`);
  });
});

describe('the one-pass overlap', () => {
  const BASE = 'FROM "t_acme"."ds_customers" AS b';
  const left = [{ ...ORDERS, type: 'left' }];

  /** The one-pass query of these definitions, as segments seg_0, seg_1, ... (vip too when given). */
  function overlap(inputs: Array<{ joins?: unknown[]; filters?: unknown[] }>, vipInput?: { filters: unknown[] }): string {
    const definitionsById = new Map(inputs.map((input, i) => [`seg_${i}`, validateDefinition(input, ctx())]));
    if (vipInput) definitionsById.set(vip.id, validateDefinition(vipInput, ctx()));
    const segmentsById = new Map(inputs.map((_, i) => [`seg_${i}`, { id: `seg_${i}`, baseSchemaId: customers.id, viewName: `v${i}` }]));
    segmentsById.set(vip.id, vip);
    return compileOverlapQuery([...definitionsById.keys()].filter((id) => id !== vip.id), { ...ctx(), segmentsById, definitionsById });
  }

  it('sets one bit per segment from its conditions inlined on the base row', () => {
    expect(overlap([{ filters: [{ field: 'age', operator: '>', value: 3 }] }, { filters: [{ any: [] }] }, {}])).toBe(
      `SELECT (CASE WHEN (COALESCE(b."age" > '3'::integer, false)) THEN 1 ELSE 0 END) | ` +
        `(CASE WHEN (false) THEN 2 ELSE 0 END) | (CASE WHEN true THEN 4 ELSE 0 END) AS mask ${BASE}`,
    );
  });

  it('reads a joined condition from a table derived from the joined rows alone, once for every segment using it', () => {
    const amount = { field: 'orders.amount', operator: '>', value: 100 };
    const derived =
      `LEFT JOIN (SELECT j."customer_id" AS k FROM "t_acme"."ds_orders" AS j ` +
      `WHERE COALESCE(j."amount" > '100'::numeric, false) GROUP BY j."customer_id") AS d1 ON d1.k = b."id"`;
    const text = overlap([
      { joins: left, filters: [amount] },
      { joins: left, filters: [{ not: amount }] },
    ]);
    expect(text).toBe(
      `SELECT (CASE WHEN ((d1.k IS NOT NULL)) THEN 1 ELSE 0 END) | (CASE WHEN (NOT ((d1.k IS NOT NULL))) THEN 2 ELSE 0 END) ` +
        `AS mask ${BASE} ${derived}`,
    );
    // Nothing in a derived table refers to the base row: it is read once, not per row.
    expect(text.slice(text.indexOf('LEFT JOIN')).replace(/ON d1\.k = b\."id"/, '')).not.toContain('b.');
  });

  it('requires a joined row for an inner join, and offers a left join without rows its all-NULL row', () => {
    const keys = `LEFT JOIN (SELECT j."customer_id" AS k FROM "t_acme"."ds_orders" AS j GROUP BY j."customer_id")`;
    const inner = overlap([{ joins: [ORDERS] }]);
    expect(inner).toContain(`(CASE WHEN ((d1.k IS NOT NULL)) THEN 1 ELSE 0 END)`);
    expect(inner).toContain(`${keys} AS d1 ON d1.k = b."id"`);
    const isNull = overlap([{ joins: left, filters: [{ field: 'orders.status', operator: 'is_null' }] }]);
    expect(isNull).toContain('(CASE WHEN (((d1.k IS NOT NULL) OR NOT (d2.k IS NOT NULL))) THEN 1 ELSE 0 END)');
    expect(isNull).toContain(`WHERE j."status" IS NULL GROUP BY j."customer_id") AS d1`);
    expect(isNull).toContain(`${keys} AS d2`);
  });

  it('aggregates per key once, counting and summing no rows as 0', () => {
    const text = overlap([
      { joins: left, filters: [{ aggregate: 'count', join: 'orders', operator: '<', value: 2, where: [{ field: 'amount', operator: '>', value: 5 }] }] },
      { joins: left, filters: [{ aggregate: 'max', join: 'orders', field: 'amount', operator: '>', value: 5 }] },
    ]);
    expect(text).toContain(`(CASE WHEN (COALESCE(COALESCE(d1.v, 0) < '2'::bigint, false)) THEN 1 ELSE 0 END)`);
    expect(text).toContain(
      `LEFT JOIN (SELECT j."customer_id" AS k, count(*) AS v FROM "t_acme"."ds_orders" AS j ` +
        `WHERE COALESCE(j."amount" > '5'::numeric, false) GROUP BY j."customer_id") AS d1 ON d1.k = b."id"`,
    );
    expect(text).toContain(`(CASE WHEN (COALESCE(d2.v > '5'::numeric, false)) THEN 2 ELSE 0 END)`);
    expect(text).toContain(`(SELECT j."customer_id" AS k, max(j."amount") AS v FROM "t_acme"."ds_orders" AS j GROUP BY j."customer_id") AS d2`);
  });

  it('inlines a referenced segment’s definition instead of reading its view', () => {
    const text = overlap([{ filters: [{ segment: vip.id, operator: 'not_in' }] }], {
      filters: [{ field: 'active', operator: '=', value: true }],
    });
    expect(text).toBe(
      `SELECT (CASE WHEN (NOT (COALESCE(b."active" = 'true'::boolean, false))) THEN 1 ELSE 0 END) AS mask ${BASE}`,
    );
  });

  it('reads a segment without a definition from its view, by every primary-key column', () => {
    const text = overlap([{ filters: [{ segment: vip.id, operator: 'in' }] }]);
    expect(text).toBe(
      `SELECT (CASE WHEN ((d1."region" IS NOT NULL)) THEN 1 ELSE 0 END) AS mask ${BASE} ` +
        `LEFT JOIN (SELECT r."region", r."id" FROM "t_acme"."seg_0123456789ab" AS r) AS d1 ON d1."region" = b."region" AND d1."id" = b."id"`,
    );
  });

  it('stops inlining a reference that never ends (which validation forbids) and reads the view', () => {
    const loop = { baseSchemaId: customers.id, joins: [], filters: [{ segment: vip.id, operator: 'in' as const }] };
    const text = compileOverlapQuery([vip.id], { ...ctx(), definitionsById: new Map([[vip.id, loop]]) });
    expect(text).toContain('"seg_0123456789ab"');
  });

  it('refuses more segments than one integer mask holds', () => {
    const context = { ...ctx(), definitionsById: new Map() };
    expect(() => compileOverlapQuery([], context)).toThrow(/do not fit/);
    expect(() => compileOverlapQuery(Array.from({ length: 31 }, () => vip.id), context)).toThrow(/do not fit/);
  });
});

describe('hostile input', () => {
  it('renders any string value as one escaped literal, whatever it holds', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'grapheme' }),
          fc.string({ unit: 'binary' }),
          fc.constantFrom("'; DROP TABLE x; --", "\\'", "''", '$1', '${x}', '$$', "E'\\x27'"),
        ),
        (value) => {
          fc.pre(!value.includes('\u0000') && !/\p{Cs}/u.test(value));
          expect(where({ field: 'name', operator: '=', value })).toBe(
            `COALESCE(b."name" = '${value.replaceAll("'", "''")}'::text, false)`,
          );
        },
      ),
    );
  });

  it('quotes any identifier from metadata, doubling its double quotes', () => {
    fc.assert(
      // A `.` would read as alias.field; schema names are identifiers, so none has one.
      fc.property(
        fc.string({ minLength: 1 }).filter((name) => name.trim() !== '' && name.trim() !== '*' && !name.includes('.')),
        (name) => {
          const odd = schema('sch_odd', 'odd', [field(name, 'integer', true)], name);
          const def: SegmentDefinition = {
            baseSchemaId: odd.id,
            joins: [],
            filters: [{ field: name, operator: 'is_null' }],
          };
          const quoted = `"${name.replaceAll('"', '""')}"`;
          expect(compileSegmentQuery(def, { ...ctx(odd), namespace: name })).toBe(
            `SELECT b.* FROM ${quoted}.${quoted} AS b WHERE b.${quoted} IS NULL`,
          );
        },
      ),
    );
  });

  it('refuses to emit a bare * or a blank name, which pg-promise would leave unquoted', () => {
    for (const name of ['*', ' * ', '', '  ']) {
      const odd = schema('sch_odd', 'odd', [field(name, 'integer', true)]);
      const def: SegmentDefinition = {
        baseSchemaId: odd.id,
        joins: [],
        filters: [{ field: name, operator: 'is_null' }],
      };
      expect(() => compileSegmentQuery(def, ctx(odd))).toThrow(/unusable identifier/);
    }
  });

  it('refuses a definition that does not match the metadata instead of guessing', () => {
    const def: SegmentDefinition = {
      baseSchemaId: customers.id,
      joins: [],
      filters: [{ field: 'gone', operator: 'is_null' }],
    };
    expect(() => compileSegmentQuery(def, ctx())).toThrow('compileSegmentQuery: field gone is not in schema customers');
    const ref: SegmentDefinition = {
      baseSchemaId: customers.id,
      joins: [],
      filters: [{ segment: 'seg_gone', operator: 'in' }],
    };
    expect(() => compileSegmentQuery(ref, ctx())).toThrow(
      'compileSegmentQuery: segment seg_gone is not in the context',
    );
    const smuggled = {
      baseSchemaId: customers.id,
      joins: [],
      filters: [{ field: 'age', operator: 'IS NULL OR true --' }],
    } as unknown as SegmentDefinition;
    expect(() => compileSegmentQuery(smuggled, ctx())).toThrow(/unknown operator/);
  });

  it('puts numbers in as typed text literals too, so no number is parsed as SQL', () => {
    expect(where({ field: 'score', operator: '>', value: -1e-7 })).toBe(
      'COALESCE(b."score" > \'-1e-7\'::numeric, false)',
    );
    expect(where({ field: 'big', operator: 'in', value: [-9007199254740991, '-9223372036854775808'] })).toBe(
      "COALESCE(b.\"big\" IN ('-9007199254740991'::bigint, '-9223372036854775808'::bigint), false)",
    );
  });
});
