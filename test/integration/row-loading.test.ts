import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Conflict, NotFound } from '../../src/domain/errors.js';
import {
  createBaseSchema,
  deleteBaseSchema,
  loadCsv,
  loadRows,
  readRows,
  updateBaseSchema,
} from '../../src/domain/schemas/service.js';
import type { BaseSchemaRecord } from '../../src/domain/schemas/types.js';
import { createTenant, type Tenant } from '../../src/domain/tenants.js';
import type { Db } from '../../src/sql/db.js';
import type { LoadTarget } from '../../src/sql/schemas.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { invalidDetails, rejection } from '../support/errors.js';

let database: TestDatabase;
let db: Db;
let target: LoadTarget;
let tenant: Tenant;

beforeAll(async () => {
  database = await createTestDatabase();
  db = database.db;
  target = { db, pglite: database.pglite };
  tenant = await createTenant(db, `acme-${randomBytes(4).toString('hex')}`);
});
afterAll(async () => {
  await database?.destroy();
});

let schemaCount = 0;
function schemaName(prefix: string): string {
  schemaCount += 1;
  return `${prefix}_${schemaCount}`;
}

const everyType = [
  { name: 'id', dataType: 'bigint', isPrimaryKey: true },
  { name: 'label', dataType: 'text' },
  { name: 'code', dataType: 'varchar', length: 10 },
  { name: 'small', dataType: 'integer' },
  { name: 'big', dataType: 'bigint' },
  { name: 'money', dataType: 'numeric', precision: 12, scale: 2 },
  { name: 'exact', dataType: 'numeric' },
  { name: 'ratio', dataType: 'double' },
  { name: 'flag', dataType: 'boolean' },
  { name: 'day', dataType: 'date' },
  { name: 'at', dataType: 'timestamptz' },
  { name: 'doc', dataType: 'jsonb' },
  { name: 'ref', dataType: 'uuid' },
];

function createEveryType(): Promise<BaseSchemaRecord> {
  return createBaseSchema(db, tenant, { name: schemaName('every_type'), fields: everyType });
}

const tricky = 'tab\there, newline\nand CR\r, back\\slash, "quotes", comma, ✓ 😀, \\N and \\.';

/** JSON in → what reading the row gives back. */
const roundTrips: [Record<string, unknown>, Record<string, unknown>][] = [
  [
    {
      id: 1,
      label: tricky,
      code: 'exactly 10',
      small: -2_147_483_648,
      big: '9223372036854775807',
      money: '1234567890.12',
      exact: '12345678901234567890.123456789',
      ratio: 0.1,
      flag: true,
      day: '2024-02-29',
      at: '2024-05-01T12:00:00.123+02:00',
      doc: { a: [1, 'x', null], b: { c: true }, s: 'q"\\\n' },
      ref: '123E4567-E89B-12D3-A456-426614174000',
    },
    {
      id: 1,
      label: tricky,
      code: 'exactly 10',
      small: -2_147_483_648,
      big: '9223372036854775807',
      money: 1234567890.12,
      exact: '12345678901234567890.123456789',
      ratio: 0.1,
      flag: true,
      day: '2024-02-29',
      at: '2024-05-01T10:00:00.123Z',
      doc: { a: [1, 'x', null], b: { c: true }, s: 'q"\\\n' },
      ref: '123e4567-e89b-12d3-a456-426614174000',
    },
  ],
  [
    { id: '2', label: '', small: 2_147_483_647, big: -42, money: -0.5, exact: 0, ratio: -1e308, flag: false, day: '0001-01-01', at: '2024-05-01', doc: 'a string', ref: null },
    { id: 2, label: '', code: null, small: 2_147_483_647, big: -42, money: -0.5, exact: 0, ratio: -1e308, flag: false, day: '0001-01-01', at: '2024-05-01T00:00:00.000Z', doc: 'a string', ref: null },
  ],
  [
    { id: 3 },
    { id: 3, label: null, code: null, small: null, big: null, money: null, exact: null, ratio: null, flag: null, day: null, at: null, doc: null, ref: null },
  ],
];

describe('loading JSON rows', () => {
  it('round-trips every data type', async () => {
    const schema = await createEveryType();
    const result = await loadRows(target, tenant, schema.id, roundTrips.map(([input]) => input));
    expect(result).toEqual({ inserted: 3, tableName: schema.tableName });
    const page = await readRows(db, tenant, schema.id, {});
    expect(page.rows).toEqual(roundTrips.map(([, output]) => output));
  });

  it('writes nothing when any value is bad, and reports each one', async () => {
    const schema = await createEveryType();
    const rows = Array.from({ length: 300 }, (_, i) => ({ id: i + 1, small: i }));
    rows[120] = { id: 121, small: 1.5 };
    rows[250] = { id: 251, small: 3, day: '2023-02-29' } as (typeof rows)[number];
    expect(await invalidDetails(loadRows(target, tenant, schema.id, rows))).toEqual([
      { path: 'rows[120].small', message: expect.stringContaining('integer') },
      { path: 'rows[250].day', message: expect.stringContaining('YYYY-MM-DD') },
    ]);
    expect((await readRows(db, tenant, schema.id, {})).total).toBe(0);
  });

  it('aborts a load whose first rows already went into COPY, on an empty table and on one with rows', async () => {
    const schema = await createEveryType();
    const batch = (from: number) => {
      const rows: Record<string, unknown>[] = Array.from({ length: 10_000 }, (_, i) => ({ id: from + i, label: `r${i}` }));
      rows[6_500] = { id: from + 6_500, ratio: 'NaN' };
      rows[9_250] = { id: from + 9_250, colour: 'red' };
      return rows;
    };
    for (const from of [0, 100_000]) {
      expect(await invalidDetails(loadRows(target, tenant, schema.id, batch(from)))).toEqual([
        { path: 'rows[6500].ratio', message: 'must be a finite number' },
        { path: 'rows[9250].colour', message: 'unknown field' },
      ]);
      expect((await readRows(db, tenant, schema.id, {})).total).toBe(from === 0 ? 0 : 1);
      await loadRows(target, tenant, schema.id, [{ id: -1 }]);
    }
  });

  it('skips rows whose primary key or unique value exists, without counting them', async () => {
    const schema = await createBaseSchema(db, tenant, {
      name: schemaName('contacts'),
      fields: [
        { name: 'id', dataType: 'integer', isPrimaryKey: true },
        { name: 'email', dataType: 'text', isUnique: true },
        { name: 'name', dataType: 'text' },
      ],
    });
    expect(await loadRows(target, tenant, schema.id, [{ id: 1, email: 'a@x', name: 'first' }, { id: 2, email: 'b@x' }])).toMatchObject({ inserted: 2 });
    const again = await loadRows(target, tenant, schema.id, [
      { id: 1, email: 'new@x', name: 'second' },
      { id: 3, email: 'b@x' },
      { id: 4, email: 'd@x' },
      { id: 5 },
    ]);
    expect(again.inserted).toBe(2);
    const { rows } = await readRows(db, tenant, schema.id, {});
    expect(rows).toEqual([
      { id: 1, email: 'a@x', name: 'first' },
      { id: 2, email: 'b@x', name: null },
      { id: 4, email: 'd@x', name: null },
      { id: 5, email: null, name: null },
    ]);
    expect((await loadRows(target, tenant, schema.id, [{ id: 1 }, { id: 2 }])).inserted).toBe(0);
  });

  it('refuses repeated keys within one request', async () => {
    const schema = await createBaseSchema(db, tenant, {
      name: schemaName('pairs'),
      fields: [
        { name: 'a', dataType: 'integer', isPrimaryKey: true },
        { name: 'b', dataType: 'text', isPrimaryKey: true },
      ],
    });
    expect(
      await invalidDetails(loadRows(target, tenant, schema.id, [{ a: 1, b: 'x' }, { a: 1, b: 'y' }, { a: 1, b: 'x' }])),
    ).toEqual([{ path: 'rows[2].a+b', message: 'duplicate primary key in this request (same as rows[0])' }]);
    expect((await readRows(db, tenant, schema.id, {})).total).toBe(0);
  });

  it('refuses a batch with two spellings of one instant as a key: 400 from the database, nothing written', async () => {
    const schema = await createBaseSchema(db, tenant, {
      name: schemaName('moments'),
      fields: [{ name: 'at', dataType: 'timestamptz', isPrimaryKey: true }],
    });
    const details = await invalidDetails(
      loadRows(target, tenant, schema.id, [{ at: '2024-01-01T00:00:00Z' }, { at: '2024-01-01T01:00:00Z' }, { at: '2024-01-01T02:00:00+01:00' }]),
    );
    expect(details).toEqual([{ path: 'rows[2].at', message: 'duplicate primary key or unique value in this request' }]);
    expect((await readRows(db, tenant, schema.id, {})).total).toBe(0);
    // The same when the table has rows (the first, optimistic attempt fails, then the retry does).
    await loadRows(target, tenant, schema.id, [{ at: '2020-01-01T00:00:00Z' }]);
    expect(
      await invalidDetails(
        loadRows(target, tenant, schema.id, [{ at: '2020-01-01T00:00:00Z' }, { at: '2024-01-01T01:00:00Z' }, { at: '2024-01-01T02:00:00+01:00' }]),
      ),
    ).toEqual([{ path: 'rows[2].at', message: 'duplicate primary key or unique value in this request' }]);
    expect((await readRows(db, tenant, schema.id, {})).total).toBe(1);
  });

  it('takes up to 10,000 rows per request', async () => {
    const schema = await createBaseSchema(db, tenant, {
      name: schemaName('bulk'),
      fields: [
        { name: 'id', dataType: 'integer', isPrimaryKey: true },
        { name: 'v', dataType: 'text' },
      ],
    });
    const rows = Array.from({ length: 10_000 }, (_, i) => ({ id: i, v: `value ${i}` }));
    expect((await loadRows(target, tenant, schema.id, rows)).inserted).toBe(10_000);
    expect((await invalidDetails(loadRows(target, tenant, schema.id, [...rows, { id: -1 }])))[0]?.path).toBe('rows');
    const half = rows.slice(5_000).map((r) => ({ id: r.id + 5_000, v: r.v }));
    expect((await loadRows(target, tenant, schema.id, half)).inserted).toBe(5_000);
    expect((await readRows(db, tenant, schema.id, { limit: 1, offset: 14_999 })).rows).toEqual([{ id: 14_999, v: 'value 9999' }]);
  });

  it('answers Conflict when the schema changes between reading it and loading', async () => {
    const schema = await createBaseSchema(db, tenant, {
      name: schemaName('moving'),
      fields: [{ name: 'id', dataType: 'integer', isPrimaryKey: true }],
    });
    const racing = racingHandle(db, () => updateBaseSchema(db, tenant, schema.id, { description: 'changed meanwhile' }));
    const error = await rejection(loadRows({ ...target, db: racing.handle }, tenant, schema.id, [{ id: 1 }]));
    expect(error).toBeInstanceOf(Conflict);
    expect(racing.fired()).toBe(true);
    expect((await loadRows(target, tenant, schema.id, [{ id: 1 }])).inserted).toBe(1);
  });

  it('answers NotFound when the schema is deleted between reading it and loading', async () => {
    const schema = await createBaseSchema(db, tenant, {
      name: schemaName('vanishing'),
      fields: [{ name: 'id', dataType: 'integer', isPrimaryKey: true }],
    });
    const racing = racingHandle(db, () => deleteBaseSchema(db, tenant, schema.id));
    expect(await rejection(loadRows({ ...target, db: racing.handle }, tenant, schema.id, [{ id: 1 }]))).toBeInstanceOf(NotFound);
    expect(racing.fired()).toBe(true);
  });

  const contactFields = [
    { name: 'id', dataType: 'integer', isPrimaryKey: true },
    { name: 'email', dataType: 'text', isUnique: true },
    { name: 'note', dataType: 'text' },
  ];

  it('skips rows whose primary key exists and rows whose unique value exists, in any mix, counting the rest', async () => {
    const schema = await createBaseSchema(db, tenant, { name: schemaName('mix'), fields: contactFields });
    const stored = Array.from({ length: 10 }, (_, i) => ({ id: i + 1, email: `e${i + 1}@x`, note: 'stored' }));
    expect((await loadRows(target, tenant, schema.id, stored)).inserted).toBe(10);
    const batch = [
      { id: 200, email: 'n200@x', note: 'new' },
      { id: 2, email: 'fresh2@x', note: 'key exists' },
      { id: 101, email: 'e3@x', note: 'email exists' },
      { id: 201, email: 'n201@x', note: 'new' },
      { id: 8, email: 'e8@x', note: 'both exist' },
      { id: 4, note: 'key exists' },
      { id: 300, note: 'new, no email' },
      { id: 103, email: 'e5@x', note: 'email exists' },
      { id: 202, email: 'n202@x', note: 'new' },
      { id: 6, email: 'fresh6@x', note: 'key exists' },
      { id: 203, email: 'n203@x', note: 'new' },
    ];
    expect((await loadRows(target, tenant, schema.id, batch)).inserted).toBe(5);
    const { rows } = await readRows(db, tenant, schema.id, { limit: 100 });
    expect(rows).toEqual([
      ...stored.map((r) => ({ ...r })),
      { id: 200, email: 'n200@x', note: 'new' },
      { id: 201, email: 'n201@x', note: 'new' },
      { id: 202, email: 'n202@x', note: 'new' },
      { id: 203, email: 'n203@x', note: 'new' },
      { id: 300, email: null, note: 'new, no email' },
    ]);
    // The same batch again: every row is skipped.
    expect((await loadRows(target, tenant, schema.id, batch)).inserted).toBe(0);
    expect((await readRows(db, tenant, schema.id, {})).total).toBe(15);
  });

  it('stores the same rows into an empty table as into one that has rows', async () => {
    const rows = Array.from({ length: 4_500 }, (_, i) => ({
      id: i,
      email: i % 3 === 0 ? null : `p${i}@x`,
      note: i % 2 === 0 ? `tab\there ${i}\\ é 😀` : `plain ${i}`,
    }));
    const empty = await createBaseSchema(db, tenant, { name: schemaName('twin_empty'), fields: contactFields });
    const filled = await createBaseSchema(db, tenant, { name: schemaName('twin_filled'), fields: contactFields });
    await loadRows(target, tenant, filled.id, [{ id: -1, email: 'other@x' }]);
    const intoEmpty = await loadRows(target, tenant, empty.id, rows);
    const intoFilled = await loadRows(target, tenant, filled.id, rows);
    expect(intoEmpty.inserted).toBe(4_500);
    expect(intoFilled.inserted).toBe(4_500);
    const stored = (tableName: string) =>
      db.any('SELECT id, email, note FROM $1:name.$2:name WHERE id >= 0 ORDER BY id', [tenant.namespace, tableName]);
    const fromEmpty = await stored(empty.tableName);
    expect(fromEmpty).toEqual(rows);
    expect(await stored(filled.tableName)).toEqual(fromEmpty);
  });

  it('refuses keys repeated within one request into a table with rows as into an empty one, naming both rows', async () => {
    const batch = [
      { id: 5, email: 'x@x' },
      { id: 6, email: 'y@x' },
      { id: 1, email: 'exists-by-key@x' },
      { id: 5, email: 'z@x' },
      { id: 7, email: 'y@x' },
    ];
    const expected = [
      { path: 'rows[3].id', message: 'duplicate primary key in this request (same as rows[0])' },
      { path: 'rows[4].email', message: 'duplicate value of a unique field in this request (same as rows[1])' },
    ];
    const empty = await createBaseSchema(db, tenant, { name: schemaName('repeats_empty'), fields: contactFields });
    expect(await invalidDetails(loadRows(target, tenant, empty.id, batch))).toEqual(expected);
    expect((await readRows(db, tenant, empty.id, {})).total).toBe(0);
    // A table holding a later row's key (the batch is tried first), and one holding the first row's (it is not).
    for (const stored of [{ id: 1, email: 'a@x', note: null }, { id: 5, email: 'a@x', note: null }]) {
      const filled = await createBaseSchema(db, tenant, { name: schemaName('repeats_filled'), fields: contactFields });
      await loadRows(target, tenant, filled.id, [stored]);
      expect(await invalidDetails(loadRows(target, tenant, filled.id, batch))).toEqual(expected);
      expect((await readRows(db, tenant, filled.id, {})).rows).toEqual([stored]);
    }
  });

  it('writes nothing when a batch that meets an existing key also holds a bad value', async () => {
    const schema = await createBaseSchema(db, tenant, { name: schemaName('existing_and_bad'), fields: contactFields });
    await loadRows(target, tenant, schema.id, [{ id: 0, email: 'a@x' }]);
    // The existing key first (the rows are looked up without a try), then later (the try meets it).
    for (const existing of [0, 1_500]) {
      const rows: Record<string, unknown>[] = Array.from({ length: 5_000 }, (_, i) => ({ id: i + 1, email: `m${i}@x` }));
      rows[existing] = { id: 0, email: 'other@x' };
      rows[4_321] = { id: 4_322, email: 42 };
      expect(await invalidDetails(loadRows(target, tenant, schema.id, rows))).toEqual([
        { path: 'rows[4321].email', message: 'must be a string' },
      ]);
      expect((await readRows(db, tenant, schema.id, {})).total).toBe(1);
    }
  });
});

/** A CSV field: quoted when needed, empty (unquoted) for NULL. */
/**
 * A handle on `db` that runs `meanwhile` once, just before the first
 * connection or transaction opens: a change that races the load.
 */
function racingHandle(db: Db, meanwhile: () => Promise<unknown>): { handle: Db; fired(): boolean } {
  let fired = false;
  const handle = new Proxy(db, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      if ((property === 'connect' || property === 'tx') && !fired) {
        return async (...args: unknown[]) => {
          fired = true;
          await meanwhile();
          return method.apply(target, args);
        };
      }
      return method.bind(target);
    },
  });
  return { handle, fired: () => fired };
}

function csvField(value: string | null): string {
  if (value === null) return '';
  return /[",\n\r]|^\s|\s$|^$|^\\\.$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function csvOf(columns: string[], rows: (string | null)[][]): string {
  return `${columns.join(',')}\n${rows.map((r) => r.map(csvField).join(',')).join('\n')}\n`;
}

/** The body in small pieces, so that quotes and line ends fall across chunk boundaries. */
function chunked(text: string, size = 7): Readable {
  const bytes = Buffer.from(text);
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts);
}

describe('loading CSV', () => {
  it('round-trips every data type, with columns in any order and a subset of them', async () => {
    const schema = await createEveryType();
    const csv = csvOf(
      ['ref', 'id', 'label', 'code', 'small', 'big', 'money', 'exact', 'ratio', 'flag', 'day', 'at', 'doc'],
      [
        ['123E4567-E89B-12D3-A456-426614174000', '1', tricky, 'exactly 10', '-2147483648', '9223372036854775807', '1234567890.12', '12345678901234567890.123456789', '0.1', 'true', '2024-02-29', '2024-05-01T12:00:00.123+02:00', '{"a": [1, "x", null], "b": {"c": true}, "s": "q\\"\\\\\\n"}'],
        [null, '2', '', null, '2147483647', '-42', '-0.5', '0', '-1e308', 'false', '0001-01-01', '2024-05-01T00:00:00Z', '"a string"'],
      ],
    );
    const result = await loadCsv(target, tenant, schema.id, chunked(`${csv},3,,,,,,,,,,,\n`));
    expect(result).toEqual({ inserted: 3, tableName: schema.tableName });
    const { rows } = await readRows(db, tenant, schema.id, {});
    expect(rows).toEqual(roundTrips.map(([, output]) => output));

    const subset = await createEveryType();
    await loadCsv(target, tenant, subset.id, ['flag,id\r\ntrue,7\r\n,8\r\n']);
    expect((await readRows(db, tenant, subset.id, {})).rows.map((r) => [r.id, r.flag, r.label])).toEqual([
      [7, true, null],
      [8, null, null],
    ]);
  });

  it('loads 1,000 rows with quoted commas, quotes and line breaks exactly', async () => {
    const schema = await createBaseSchema(db, tenant, {
      name: schemaName('notes'),
      fields: [
        { name: 'id', dataType: 'integer', isPrimaryKey: true },
        { name: 'title', dataType: 'text' },
        { name: 'body', dataType: 'text' },
        { name: 'score', dataType: 'numeric', precision: 8, scale: 3 },
      ],
    });
    const pieces = ['plain', 'a, b', 'say "hi"', 'two\nlines', 'crlf\r\ninside', ' padded ', '', 'tab\tand \\ slash', '"', ',', 'ünï ✓', '\\.'];
    const expected = Array.from({ length: 1_000 }, (_, i) => ({
      id: i,
      title: i % 17 === 0 ? null : `${pieces[i % pieces.length]} #${i}`,
      body: Array.from({ length: i % 4 }, (__, k) => pieces[(i * 7 + k) % pieces.length]).join(i % 3 === 0 ? '\n' : ','),
      score: i % 11 === 0 ? null : Number(((i * 37 - 12_000) / 1000).toFixed(3)),
    }));
    const csv = csvOf(
      ['id', 'title', 'body', 'score'],
      expected.map((r) => [String(r.id), r.title, r.body, r.score === null ? null : r.score.toFixed(3)]),
    );
    expect((await loadCsv(target, tenant, schema.id, chunked(csv, 1_000))).inserted).toBe(1_000);
    const first = await readRows(db, tenant, schema.id, { limit: 500 });
    const second = await readRows(db, tenant, schema.id, { limit: 500, offset: 500 });
    expect(first.total).toBe(1_000);
    expect([...first.rows, ...second.rows]).toEqual(expected);
  });

  it('names the data row of a bad value, counting rows rather than physical lines', async () => {
    const schema = await createBaseSchema(db, tenant, {
      name: schemaName('lines'),
      fields: [
        { name: 'id', dataType: 'integer', isPrimaryKey: true },
        { name: 'note', dataType: 'text' },
        { name: 'age', dataType: 'integer' },
      ],
    });
    const rows = Array.from({ length: 800 }, (_, i) => [String(i), i % 3 === 0 ? `multi\nline\n${i}` : `n${i}`, String(i % 90)]);
    rows[700]![2] = 'seventy';
    const details = await invalidDetails(loadCsv(target, tenant, schema.id, chunked(csvOf(['id', 'note', 'age'], rows), 333)));
    expect(details).toEqual([{ path: 'rows[700].age', message: 'invalid input syntax for type integer: "seventy"' }]);
    expect((await readRows(db, tenant, schema.id, {})).total).toBe(0);
  });

  it('writes nothing when a row is bad, on an empty table and on one with rows', async () => {
    const schema = await createBaseSchema(db, tenant, {
      name: schemaName('strict'),
      fields: [
        { name: 'id', dataType: 'integer', isPrimaryKey: true },
        { name: 'day', dataType: 'date' },
        { name: 'city', dataType: 'text', isNullable: false },
      ],
    });
    const bad = 'id,day,city\n1,2024-01-01,Oslo\n2,2024-02-30,Rome\n3,2024-01-03,Lima\n';
    expect(await invalidDetails(loadCsv(target, tenant, schema.id, [bad]))).toEqual([
      { path: 'rows[1].day', message: expect.stringContaining('2024-02-30') },
    ]);
    expect((await readRows(db, tenant, schema.id, {})).total).toBe(0);
    await loadCsv(target, tenant, schema.id, ['id,day,city\n100,2024-01-01,Kyiv\n']);
    expect(await invalidDetails(loadCsv(target, tenant, schema.id, [bad]))).toEqual([
      { path: 'rows[1].day', message: expect.stringContaining('2024-02-30') },
    ]);
    expect(await invalidDetails(loadCsv(target, tenant, schema.id, ['id,city\n1,Oslo\n2,\n']))).toEqual([
      { path: 'rows[1].city', message: 'required: must not be null or empty' },
    ]);
    expect(await invalidDetails(loadCsv(target, tenant, schema.id, ['city,id\nOslo,1\nRome,\n']))).toEqual([
      { path: 'rows[1].id', message: 'required: must not be null or empty' },
    ]);
    expect(await invalidDetails(loadCsv(target, tenant, schema.id, ['id,city\n1,Oslo,extra\n']))).toEqual([
      { path: 'rows[0]', message: 'extra data after last expected column' },
    ]);
    expect(await invalidDetails(loadCsv(target, tenant, schema.id, ['id,city\n1,"Oslo\n2,Rome\n']))).toEqual([
      { path: 'rows[0]', message: 'unterminated CSV quoted field' },
    ]);
    expect((await readRows(db, tenant, schema.id, {})).rows).toEqual([{ id: 100, day: '2024-01-01', city: 'Kyiv' }]);
  });

  it('skips existing keys without counting them, and refuses keys repeated within the body', async () => {
    const schema = await createBaseSchema(db, tenant, {
      name: schemaName('members'),
      fields: [
        { name: 'id', dataType: 'integer', isPrimaryKey: true },
        { name: 'email', dataType: 'text', isUnique: true },
      ],
    });
    // Empty table: the body goes straight into it.
    expect(await invalidDetails(loadCsv(target, tenant, schema.id, ['id,email\n1,a@x\n2,b@x\n1,c@x\n']))).toEqual([
      { path: 'rows[2].id', message: 'duplicate primary key or unique value in this request' },
    ]);
    expect((await loadCsv(target, tenant, schema.id, ['id,email\n1,a@x\n2,b@x\n'])).inserted).toBe(2);
    // Table with rows: through the staging table.
    expect((await loadCsv(target, tenant, schema.id, ['id,email\n1,z@x\n3,b@x\n4,d@x\n5,\n6,\n'])).inserted).toBe(3);
    expect(await invalidDetails(loadCsv(target, tenant, schema.id, ['id,email\n7,g@x\n8,h@x\n7,i@x\n9,h@x\n']))).toEqual([
      { path: 'rows[2].id', message: 'duplicate primary key in this request (same as rows[0])' },
      { path: 'rows[3].email', message: 'duplicate value of a unique field in this request (same as rows[1])' },
    ]);
    const { rows } = await readRows(db, tenant, schema.id, {});
    expect(rows).toEqual([
      { id: 1, email: 'a@x' },
      { id: 2, email: 'b@x' },
      { id: 4, email: 'd@x' },
      { id: 5, email: null },
      { id: 6, email: null },
    ]);
  });

  it('sends the whole body again when a key turns out to exist, early or late in the body', async () => {
    const schema = await createBaseSchema(db, tenant, {
      name: schemaName('replay'),
      fields: [
        { name: 'id', dataType: 'integer', isPrimaryKey: true },
        { name: 'note', dataType: 'text' },
      ],
    });
    const body = (from: number, to: number) =>
      csvOf(['id', 'note'], Array.from({ length: to - from }, (_, i) => [String(from + i), `line\n${from + i}, "quoted"`]));
    await loadRows(target, tenant, schema.id, [{ id: 0, note: 'first' }, { id: 3_999, note: 'last' }]);
    expect((await loadCsv(target, tenant, schema.id, chunked(body(0, 2_000), 333))).inserted).toBe(1_999);
    expect((await loadCsv(target, tenant, schema.id, chunked(body(2_000, 4_000), 4_096))).inserted).toBe(1_999);
    expect((await loadCsv(target, tenant, schema.id, chunked(body(4_000, 6_000), 50_000))).inserted).toBe(2_000);
    const { rows, total } = await readRows(db, tenant, schema.id, { limit: 3, offset: 1_999 });
    expect(total).toBe(6_000);
    expect(rows).toEqual([
      { id: 1_999, note: 'line\n1999, "quoted"' },
      { id: 2_000, note: 'line\n2000, "quoted"' },
      { id: 2_001, note: 'line\n2001, "quoted"' },
    ]);
    expect((await readRows(db, tenant, schema.id, { limit: 1, offset: 3_999 })).rows).toEqual([{ id: 3_999, note: 'last' }]);
  });

  it('checks the header before loading anything', async () => {
    const schema = await createBaseSchema(db, tenant, {
      name: schemaName('headers'),
      fields: [
        { name: 'id', dataType: 'integer', isPrimaryKey: true },
        { name: 'name', dataType: 'text' },
      ],
    });
    expect(await invalidDetails(loadCsv(target, tenant, schema.id, ['id,name,shoe_size\n1,a,44\n']))).toEqual([
      { path: 'header[2]', message: 'unknown field "shoe_size"' },
    ]);
    expect(await invalidDetails(loadCsv(target, tenant, schema.id, ['name\na\n']))).toEqual([
      { path: 'header', message: 'missing required field "id" (primary key)' },
    ]);
    expect((await invalidDetails(loadCsv(target, tenant, schema.id, [''])))[0]?.path).toBe('header');
    expect((await loadCsv(target, tenant, schema.id, ['id,name'])).inserted).toBe(0);
    expect((await readRows(db, tenant, schema.id, {})).total).toBe(0);
  });

  it('lets concurrent loads into one table take turns, each key stored once', async () => {
    const schema = await createBaseSchema(db, tenant, {
      name: schemaName('race'),
      fields: [{ name: 'id', dataType: 'integer', isPrimaryKey: true }],
    });
    const body = (from: number) => `id\n${Array.from({ length: 500 }, (_, i) => from + i).join('\n')}\n`;
    const results = await Promise.all([
      loadCsv(target, tenant, schema.id, [body(0)]),
      loadCsv(target, tenant, schema.id, [body(250)]),
      loadRows(target, tenant, schema.id, Array.from({ length: 500 }, (_, i) => ({ id: 600 + i }))),
    ]);
    expect(results.reduce((sum, r) => sum + r.inserted, 0)).toBe(1_100);
    expect((await readRows(db, tenant, schema.id, {})).total).toBe(1_100);
  });
});

describe('reading rows', () => {
  it('pages in primary-key order and checks limit and offset', async () => {
    const schema = await createBaseSchema(db, tenant, {
      name: schemaName('grid'),
      fields: [
        { name: 'x', dataType: 'integer', isPrimaryKey: true },
        { name: 'y', dataType: 'text', isPrimaryKey: true },
      ],
    });
    await loadRows(target, tenant, schema.id, [
      { x: 2, y: 'a' },
      { x: 1, y: 'b' },
      { x: 1, y: 'a' },
      ...Array.from({ length: 60 }, (_, i) => ({ x: 10 + i, y: 'z' })),
    ]);
    const page = await readRows(db, tenant, schema.id, {});
    expect(page).toMatchObject({ total: 63, limit: 50, offset: 0 });
    expect(page.rows).toHaveLength(50);
    expect(page.rows.slice(0, 3)).toEqual([
      { x: 1, y: 'a' },
      { x: 1, y: 'b' },
      { x: 2, y: 'a' },
    ]);
    expect((await readRows(db, tenant, schema.id, { limit: '5', offset: '60' })).rows).toEqual([
      { x: 67, y: 'z' },
      { x: 68, y: 'z' },
      { x: 69, y: 'z' },
    ]);
    expect(await invalidDetails(readRows(db, tenant, schema.id, { limit: 0, offset: -1 }))).toEqual([
      { path: 'limit', message: 'must be an integer from 1 to 500' },
      { path: 'offset', message: 'must be an integer from 0' },
    ]);
    expect((await invalidDetails(readRows(db, tenant, schema.id, { limit: 501 })))[0]?.path).toBe('limit');
    expect((await invalidDetails(readRows(db, tenant, schema.id, { limit: 'ten' })))[0]?.path).toBe('limit');
  });
});

describe.skipIf(Boolean(process.env.TEST_DATABASE_URL))('the embedded PostgreSQL', () => {
  it('runs a direct PGlite query inside the transaction of the socket connection', async () => {
    const pglite = database.pglite!;
    const seen = await db.tx(async (t) => {
      await t.none('CREATE TEMP TABLE probe (n int) ON COMMIT DROP');
      await t.none('INSERT INTO probe VALUES (1)');
      await pglite.query("COPY probe FROM '/dev/blob'", [], { blob: new Blob(['2\n3\n']) });
      return t.map('SELECT n FROM probe ORDER BY n', [], (r: { n: number }) => r.n);
    });
    expect(seen).toEqual([1, 2, 3]);
    const { gone } = await db.one<{ gone: boolean }>("SELECT to_regclass('pg_temp.probe') IS NULL AS gone");
    expect(gone).toBe(true);
  });
});
