import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Invalid, type ErrorDetail } from '../../src/domain/errors.js';
import {
  checkCsvColumns,
  copyFailureDetail,
  copyText,
  CsvLineMap,
  encodeJsonRows,
  encoderFor,
  MAX_ROW_PROBLEMS,
  readCsvHeader,
  ValueProblem,
} from '../../src/domain/schemas/rows.js';
import type { DataType, FieldDefinition } from '../../src/domain/schemas/types.js';

function field(name: string, dataType: DataType, extra: Partial<FieldDefinition> = {}): FieldDefinition {
  return {
    name,
    displayName: name,
    dataType,
    length: dataType === 'varchar' ? 255 : null,
    precision: null,
    scale: null,
    isNullable: true,
    isPrimaryKey: false,
    isUnique: false,
    description: null,
    ...extra,
  };
}

function encode(f: FieldDefinition, value: unknown): string | null {
  const result = encoderFor(f)(value);
  if (result instanceof ValueProblem) throw new Error(`unexpected problem: ${result.message}`);
  return result;
}

function problem(f: FieldDefinition, value: unknown): string {
  const result = encoderFor(f)(value);
  if (!(result instanceof ValueProblem)) throw new Error(`expected a problem for ${JSON.stringify(value)}`);
  return result.message;
}

function details(run: () => unknown): ErrorDetail[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(Invalid);
    return (error as Invalid).details ?? [];
  }
  throw new Error('expected Invalid');
}

describe('JSON values per data type', () => {
  it('text and varchar take strings; varchar counts characters, not UTF-16 units', () => {
    expect(encode(field('t', 'text'), 'héllo\tworld')).toBe('héllo\tworld');
    expect(problem(field('t', 'text'), 5)).toBe('must be a string');
    expect(problem(field('t', 'text'), 'a\u0000b')).toContain('NUL');
    expect(problem(field('t', 'text'), 'a\ud800b')).toContain('surrogate');
    const code = field('v', 'varchar', { length: 3 });
    expect(encode(code, '😀😀😀')).toBe('😀😀😀');
    expect(problem(code, 'abcd')).toBe('must be at most 3 characters');
  });

  it('integer is a 32-bit integer number', () => {
    const f = field('n', 'integer');
    expect(encode(f, -2_147_483_648)).toBe('-2147483648');
    expect(encode(f, 2_147_483_647)).toBe('2147483647');
    for (const bad of [2_147_483_648, 1.5, '12', true, Number.NaN]) expect(() => problem(f, bad)).not.toThrow();
  });

  it('bigint takes safe integers, or digit strings within 64 bits', () => {
    const f = field('n', 'bigint');
    expect(encode(f, 9_007_199_254_740_991)).toBe('9007199254740991');
    expect(encode(f, '-9223372036854775808')).toBe('-9223372036854775808');
    expect(encode(f, '0042')).toBe('42');
    expect(problem(f, 9_007_199_254_740_992)).toContain('strings');
    expect(problem(f, '9223372036854775808')).toContain('64-bit');
    expect(problem(f, '1e3')).toContain('integer');
    expect(problem(f, 2.5)).toContain('integer');
  });

  it('numeric takes finite numbers and decimal strings, within precision after rounding to scale', () => {
    const money = field('m', 'numeric', { precision: 5, scale: 2 });
    expect(encode(money, 999.99)).toBe('999.99');
    expect(encode(money, '-999.994')).toBe('-999.994'); // rounds to -999.99, as PostgreSQL does
    expect(encode(money, '1.5e2')).toBe('1.5e2');
    expect(problem(money, '999.995')).toContain('at most 3 digits before the decimal point');
    expect(problem(money, 1000)).toContain('numeric(5,2)');
    expect(problem(money, Number.POSITIVE_INFINITY)).toBe('must be a finite number');
    expect(problem(money, 'NaN')).toContain('decimal');
    expect(problem(money, '1,5')).toContain('decimal');
    expect(problem(money, '.')).toContain('decimal');
    const whole = field('w', 'numeric', { precision: 3, scale: 0 });
    expect(encode(whole, '999.4')).toBe('999.4');
    expect(problem(whole, '999.5')).toContain('numeric(3,0)');
    expect(encode(field('free', 'numeric'), '123456789012345678901234567890.123456789')).toBe(
      '123456789012345678901234567890.123456789',
    );
  });

  it('double takes finite numbers only', () => {
    const f = field('d', 'double');
    expect(encode(f, 0.1)).toBe('0.1');
    expect(encode(f, -1e-300)).toBe('-1e-300');
    expect(problem(f, Number.NaN)).toBe('must be a finite number');
    expect(problem(f, '0.1')).toBe('must be a finite number');
  });

  it('boolean takes true and false only', () => {
    const f = field('b', 'boolean');
    expect(encode(f, false)).toBe('false');
    expect(problem(f, 'true')).toBe('must be true or false');
    expect(problem(f, 1)).toBe('must be true or false');
  });

  it('date takes real calendar dates written YYYY-MM-DD', () => {
    const f = field('d', 'date');
    expect(encode(f, '2024-02-29')).toBe('2024-02-29');
    for (const bad of ['2023-02-29', '2024-13-01', '2024-1-01', '0000-01-01', '2024-02-29T00:00:00Z', 20240229]) {
      expect(problem(f, bad)).toContain('YYYY-MM-DD');
    }
  });

  it('timestamptz takes ISO-8601 with a zone, or a date (midnight UTC)', () => {
    const f = field('t', 'timestamptz');
    expect(encode(f, '2024-05-01T10:20:30.123456Z')).toBe('2024-05-01T10:20:30.123456Z');
    expect(encode(f, '2024-05-01T10:20+02:00')).toBe('2024-05-01T10:20+02:00');
    expect(encode(f, '2024-05-01 10:20:30-0530')).toBe('2024-05-01 10:20:30-0530');
    expect(encode(f, '2024-05-01')).toBe('2024-05-01T00:00:00Z');
    for (const bad of ['2024-05-01T10:20:30', '2024-05-01T25:00:00Z', '2024-02-30T00:00:00Z', 'yesterday', 1714556430]) {
      expect(problem(f, bad)).toContain('ISO-8601');
    }
  });

  it('timestamptz agrees with the ISO-8601 grammar it documents (property)', () => {
    const grammar =
      /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?([Zz]|[+-](\d{2})(?::?(\d{2}))?))?$/;
    const leap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
    const reference = (v: string): boolean => {
      const m = grammar.exec(v);
      if (!m) return false;
      const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
      const days = [31, leap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
      if (y < 1 || days === undefined || d < 1 || d > days) return false;
      if (m[4] === undefined) return true;
      return Number(m[4]) <= 23 && Number(m[5]) <= 59 && Number(m[6] ?? 0) <= 60 && Number(m[9] ?? 0) <= 15 && Number(m[10] ?? 0) <= 59;
    };
    const f = field('t', 'timestamptz');
    const valid = (v: string) => !(encoderFor(f)(v) instanceof ValueProblem);
    const piece = fc.constantFrom('2024', '0000', '1999', '-', '02', '29', '13', '31', 'T', ' ', 't', ':', '00', '23', '24', '59', '60', '.', '5', '123456789', '1234567890', 'Z', 'z', '+', '-', '02:00', '0530', '16', '');
    const shaped = fc
      .tuple(
        fc.constantFrom('2024-02-29', '2023-02-29', '2024-04-31', '0001-01-01', '2024-13-01'),
        fc.constantFrom('T', ' ', 't', 'x'),
        fc.constantFrom('10:20', '23:59', '24:00', '10:60', '1:20'),
        fc.constantFrom('', ':00', ':60', ':61', ':5'),
        fc.constantFrom('', '.1', '.123456789', '.1234567890', '.'),
        fc.constantFrom('Z', 'z', '+02:00', '-0530', '+15', '+16', '-02:60', '+2', ''),
      )
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.oneof(shaped, fc.array(piece, { maxLength: 12 }).map((p) => p.join(''))), (v) => {
        expect(valid(v)).toBe(reference(v));
      }),
      { numRuns: 3_000 },
    );
  });

  it('jsonb takes any JSON value PostgreSQL can store', () => {
    const f = field('j', 'jsonb');
    expect(encode(f, { a: [1, 'two', null, { b: true }] })).toBe('{"a":[1,"two",null,{"b":true}]}');
    expect(encode(f, 'just a string')).toBe('"just a string"');
    expect(encode(f, 0)).toBe('0');
    expect(problem(f, { a: 'nul \u0000 inside' })).toContain('NUL');
    expect(problem(f, { ['k\u0000']: 1 })).toContain('NUL');
    expect(problem(f, [Number.NaN])).toContain('finite');
    expect(problem(f, { when: new Date() })).toContain('JSON');
    const deep: unknown[] = [];
    let cursor = deep;
    for (let i = 0; i < 150; i++) cursor.push((cursor = []));
    expect(problem(f, deep)).toContain('nest');
  });

  it('uuid takes the canonical form, in either case', () => {
    const f = field('u', 'uuid');
    expect(encode(f, '123E4567-E89B-12D3-A456-426614174000')).toBe('123e4567-e89b-12d3-a456-426614174000');
    expect(problem(f, '123e4567e89b12d3a456426614174000')).toContain('UUID');
  });

  it('null and undefined are SQL NULL for every type', () => {
    for (const type of ['text', 'integer', 'jsonb', 'uuid'] as const) {
      expect(encode(field('x', type), null)).toBeNull();
      expect(encode(field('x', type), undefined)).toBeNull();
    }
  });
});

/** PostgreSQL's reading of one COPY text column (the inverse of copyText). */
function readCopyText(column: string): string | null {
  if (column === '\\N') return null;
  return column.replace(/\\(.)/g, (_, c: string) => ({ t: '\t', n: '\n', r: '\r' })[c] ?? c);
}

describe('COPY text format', () => {
  it('escapes backslash, tab, newline and carriage return, and writes NULL as \\N', () => {
    expect(copyText('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re');
    expect(copyText(null)).toBe('\\N');
    expect(copyText('\\N')).toBe('\\\\N');
    expect(copyText('\\.')).toBe('\\\\.');
  });

  it('never produces a raw separator and reads back to the same text (property)', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ unit: 'binary' }), { nil: null }), (value) => {
        const column = copyText(value);
        expect(column).not.toMatch(/[\t\n\r]/);
        expect(readCopyText(column)).toBe(value);
      }),
    );
  });
});

describe('JSON rows', () => {
  const fields = [
    field('id', 'bigint', { isPrimaryKey: true, isNullable: false }),
    field('email', 'text', { isUnique: true }),
    field('age', 'integer'),
    field('city', 'text', { isNullable: false }),
  ];

  it('encodes rows as COPY lines in field order, absent keys as NULL', () => {
    const encoded = encodeJsonRows(fields, [
      { id: 1, email: 'a@x', age: 30, city: 'Oslo\tWest' },
      { city: 'Rome', id: '2' },
    ]);
    expect(encoded.lines).toEqual(['1\ta@x\t30\tOslo\\tWest', '2\t\\N\t\\N\tRome']);
    expect(encoded.keys.map((k) => [k.fields.map((f) => f.name), k.columns])).toEqual([
      [['id'], [['1', '2']]],
      [['email'], [['a@x', null]]],
    ]);
  });

  it('reports every bad value with rows[index].field', () => {
    const found = details(() =>
      encodeJsonRows(fields, [
        { id: 1, city: 'a' },
        { id: 'x', age: 1.5, city: 'b', colour: 'red' },
        'not a row',
        { email: 'c@x' },
        { id: 5, city: null },
      ]),
    );
    expect(found).toEqual([
      { path: 'rows[1].id', message: expect.stringContaining('integer') },
      { path: 'rows[1].age', message: expect.stringContaining('integer') },
      { path: 'rows[1].colour', message: 'unknown field' },
      { path: 'rows[2]', message: 'must be an object' },
      { path: 'rows[3].id', message: 'required (primary key)' },
      { path: 'rows[3].city', message: 'required (not nullable)' },
      { path: 'rows[4].city', message: 'required (not nullable)' },
    ]);
  });

  it('does not mistake inherited members for values of fields named like them', () => {
    const odd = [field('id', 'integer', { isPrimaryKey: true, isNullable: false }), field('constructor', 'text'), field('tostring', 'text')];
    expect(encodeJsonRows(odd, [{ id: 1 }, { id: 2, constructor: 'x' }]).lines).toEqual(['1\t\\N\t\\N', '2\tx\t\\N']);
  });

  it('refuses repeated primary keys and unique values within the request', () => {
    expect(
      details(() =>
        encodeJsonRows(fields, [
          { id: 1, email: 'a@x', city: 'a' },
          { id: 2, email: 'b@x', city: 'b' },
          { id: '1', email: 'c@x', city: 'c' },
          { id: 4, email: 'b@x', city: 'd' },
          { id: 5, city: 'e' },
          { id: 6, city: 'f' },
        ]),
      ),
    ).toEqual([
      { path: 'rows[2].id', message: 'duplicate primary key in this request (same as rows[0])' },
      { path: 'rows[3].email', message: 'duplicate value of a unique field in this request (same as rows[1])' },
    ]);
  });

  it('sees equal numeric keys written differently as duplicates', () => {
    const priced = [field('price', 'numeric', { isPrimaryKey: true, isNullable: false })];
    expect(details(() => encodeJsonRows(priced, [{ price: '1.50' }, { price: 1.5 }]))).toEqual([
      { path: 'rows[1].price', message: 'duplicate primary key in this request (same as rows[0])' },
    ]);
  });

  it('writes each value as encoderFor and copyText would, whatever the string holds', () => {
    const mixed = [
      field('id', 'integer', { isPrimaryKey: true, isNullable: false }),
      field('t', 'text'),
      field('v', 'varchar', { length: 3 }),
      field('j', 'jsonb'),
      field('d', 'date'),
    ];
    // Strings near the fast path's edges: COPY's specials, NUL, surrogates (paired and lone), varchar's limit.
    const units = ['a', 'é', '\\', '\t', '\n', '\r', '😀', 'N', '.'];
    const value = fc.oneof(
      { arbitrary: fc.string({ unit: fc.constantFrom(...units), maxLength: 4 }), weight: 12 },
      { arbitrary: fc.string({ unit: fc.constantFrom(...units, '\u0000', '\ud83d', '\ude00'), maxLength: 5 }), weight: 2 },
      fc.string({ unit: 'binary', maxLength: 6 }),
      fc.constant(null),
      fc.constant(undefined),
      fc.integer(),
      fc.constantFrom('2024-02-29', '2023-02-29'),
    );
    const day = fc.constantFrom('2024-02-29', null, undefined);
    let clean = 0;
    fc.assert(
      fc.property(fc.array(fc.record({ t: value, v: value, j: value, d: fc.oneof(day, value) }), { minLength: 1, maxLength: 4 }), (drafts) => {
        const rows = drafts.map((draft, i) => ({ id: i, ...draft }));
        const expected: ErrorDetail[] = [];
        const lines = rows.map((row, index) =>
          mixed
            .map((f) => {
              const text = encoderFor(f)((row as Record<string, unknown>)[f.name]);
              if (text instanceof ValueProblem) expected.push({ path: `rows[${index}].${f.name}`, message: text.message });
              return text instanceof ValueProblem ? '' : copyText(text);
            })
            .join('\t'),
        );
        if (expected.length > 0) expect(details(() => encodeJsonRows(mixed, rows))).toEqual(expected.slice(0, MAX_ROW_PROBLEMS));
        else expect(encodeJsonRows(mixed, rows).lines).toEqual(lines);
        if (expected.length === 0) clean++;
      }),
      { numRuns: 500 },
    );
    // Both outcomes were exercised.
    expect(clean).toBeGreaterThan(5);
    expect(clean).toBeLessThan(495);
  });

  it('takes 1 to 10,000 rows, and stops after 100 problems', () => {
    expect(details(() => encodeJsonRows(fields, []))).toEqual([{ path: 'rows', message: 'must hold at least one row' }]);
    expect(details(() => encodeJsonRows(fields, { id: 1 }))[0]?.path).toBe('rows');
    const many = Array.from({ length: 10_001 }, (_, i) => ({ id: i, city: 'x' }));
    expect(details(() => encodeJsonRows(fields, many))[0]?.message).toContain('10000');
    expect(encodeJsonRows(fields, many.slice(1)).lines).toHaveLength(10_000);
    const bad = Array.from({ length: 500 }, () => ({ id: 'x', city: 'x' }));
    expect(details(() => encodeJsonRows(fields, bad))).toHaveLength(MAX_ROW_PROBLEMS);
  });
});

describe('CSV header', () => {
  const bytes = (s: string) => Buffer.from(s, 'utf8');

  it('reads quoted names, a byte-order mark and the line end kind', () => {
    expect(readCsvHeader(bytes('\uFEFFid, "full ""name""",age\r\n1,2,3'), false)).toEqual({
      columns: ['id', 'full "name"', 'age'],
      lineEnd: 'crlf',
    });
    expect(readCsvHeader(bytes('id,"a\nb"\n'), false)).toEqual({ columns: ['id', 'a\nb'], lineEnd: 'lf' });
    expect(readCsvHeader(bytes('id\rx'), false)?.lineEnd).toBe('cr');
  });

  it('waits for the whole header line unless the body ends', () => {
    expect(readCsvHeader(bytes('id,na'), false)).toBeNull();
    expect(readCsvHeader(bytes('id,name\r'), false)).toBeNull();
    expect(readCsvHeader(bytes('id,name'), true)).toEqual({ columns: ['id', 'name'], lineEnd: 'lf' });
  });

  it('names known fields only, each once, with every required field present', () => {
    const fields = [
      field('id', 'bigint', { isPrimaryKey: true, isNullable: false }),
      field('city', 'text', { isNullable: false }),
      field('age', 'integer'),
    ];
    expect(checkCsvColumns(fields, ['city', 'id'])).toEqual(['city', 'id']);
    expect(details(() => checkCsvColumns(fields, ['age', 'age', 'shoe', '']))).toEqual([
      { path: 'header[1]', message: 'field "age" appears twice' },
      { path: 'header[2]', message: 'unknown field "shoe"' },
      { path: 'header[3]', message: 'empty column name' },
      { path: 'header', message: 'missing required field "id" (primary key)' },
      { path: 'header', message: 'missing required field "city" (not nullable)' },
    ]);
  });
});

describe('CSV line numbers', () => {
  /** Records as PostgreSQL splits them: a quote toggles, a line end outside quotes ends a record. */
  function referenceLines(csv: string): { first: number; last: number }[] {
    const records: { first: number; last: number }[] = [];
    let line = 1;
    let first = 1;
    let inQuote = false;
    for (const c of csv) {
      if (c === '"') inQuote = !inQuote;
      else if (c === '\n') {
        if (inQuote) line++;
        else {
          records.push({ first, last: line });
          line++;
          first = line;
        }
      }
    }
    if (first <= line && csv.length > 0 && !csv.endsWith('\n')) records.push({ first, last: line });
    return records;
  }

  it('maps PostgreSQL line numbers to data rows when values span lines', () => {
    const csv = 'id,note\n1,"two\nlines"\n2,plain\n3,"three\n\nlines"\n4,x\n';
    const map = new CsvLineMap('lf');
    map.push(Buffer.from(csv));
    // line 2-3: row 0; line 4: row 1; lines 5-7: row 2; line 8: row 3
    expect([2, 3, 4, 5, 6, 7, 8].map((line) => map.dataRowAt(line))).toEqual([0, 0, 1, 2, 2, 2, 3]);
  });

  it('counts carriage returns inside quotes for CRLF bodies, as PostgreSQL does', () => {
    const map = new CsvLineMap('crlf');
    map.push(Buffer.from('id,note\r\n1,"a\r\nb"\r\n2,c\r\n'));
    expect(map.dataRowAt(2)).toBe(0);
    expect(map.dataRowAt(3)).toBe(0);
    expect(map.dataRowAt(4)).toBe(1);
  });

  it('agrees with a reference split however the body is chunked (property)', () => {
    const cell = fc.oneof(
      fc.string({ unit: fc.constantFrom('a', 'b', ' ', ',') }),
      fc.string({ unit: fc.constantFrom('a', '\n', ',', '""') }).map((s) => `"${s}"`),
    );
    const row = fc.array(cell, { minLength: 1, maxLength: 3 }).map((cells) => cells.join(','));
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 20 }), fc.array(fc.nat(), { maxLength: 5 }), (rows, cuts) => {
        const csv = `h\n${rows.join('\n')}\n`;
        const bytes = Buffer.from(csv);
        const map = new CsvLineMap('lf');
        let start = 0;
        for (const cut of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b)) {
          map.push(bytes.subarray(start, cut));
          start = cut;
        }
        map.push(bytes.subarray(start));
        referenceLines(csv)
          .slice(1)
          .forEach((record, index) => {
            for (let line = record.first; line <= record.last; line++) expect(map.dataRowAt(line)).toBe(index);
          });
      }),
    );
  });
});

describe('COPY failures', () => {
  const rowAt = (line: number) => line - 2;

  it('locate the row and field of a bad value', () => {
    expect(
      copyFailureDetail(
        { code: '22P02', message: 'invalid input syntax for type integer: "abc"', where: 'COPY load_stage, line 4, column age: "abc"' },
        rowAt,
      ),
    ).toEqual({ path: 'rows[2].age', message: 'invalid input syntax for type integer: "abc"' });
    expect(
      copyFailureDetail({ code: '22P04', message: 'missing data for column "age"', where: 'COPY ds_people, line 3: "9,x"' }, rowAt),
    ).toEqual({ path: 'rows[1].age', message: 'missing data for column "age"' });
    expect(
      copyFailureDetail({ code: '22P04', message: 'extra data after last expected column', where: 'COPY ds_people, line 3: "9,x,5,6"' }, rowAt),
    ).toEqual({ path: 'rows[1]', message: 'extra data after last expected column' });
  });

  it('explain missing values and repeated keys in the product’s words', () => {
    expect(
      copyFailureDetail(
        { code: '23502', message: 'null value in column "city" violates not-null constraint', where: 'COPY ds_people, line 2: "1,"', column: 'city' },
        rowAt,
      ),
    ).toEqual({ path: 'rows[0].city', message: 'required: must not be null or empty' });
    expect(
      copyFailureDetail(
        { code: '23505', message: 'duplicate key value violates unique constraint "ds_people_pkey"', where: 'COPY ds_people, line 3', detail: 'Key (a, b)=(1, 2) already exists.' },
        rowAt,
      ),
    ).toEqual({ path: 'rows[1].a+b', message: 'duplicate primary key or unique value in this request' });
  });

  it('are understood in other languages, and cut a huge quoted value short', () => {
    expect(
      copyFailureDetail({ code: '22P02', message: 'ungültige Eingabesyntax für Typ integer: »abc«', where: 'COPY load_stage, Zeile 7, Spalte age: »abc«' }, rowAt),
    ).toEqual({ path: 'rows[5].age', message: 'ungültige Eingabesyntax für Typ integer: »abc«' });
    const long = `invalid input syntax for type integer: "${'x'.repeat(5_000)}"`;
    const detail = copyFailureDetail({ code: '22P02', message: long, where: 'COPY t, line 2, column n: "xxx"' }, rowAt);
    expect(detail?.message.length).toBeLessThanOrEqual(301);
  });

  it('leave other errors alone', () => {
    expect(copyFailureDetail({ code: '42P01', message: 'relation does not exist', where: 'COPY x, line 1' }, rowAt)).toBeNull();
    expect(copyFailureDetail({ code: '22P02', message: 'bad', where: 'SQL function "f"' }, rowAt)).toBeNull();
    expect(copyFailureDetail(new Error('boom'), rowAt)).toBeNull();
  });
});
