import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTimestamptz } from '../../src/sql/db.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

/**
 * Values as PostgreSQL writes them, read by the product's type parsers
 * (src/sql/db.ts). timestamptz against the instant PostgreSQL itself gives
 * as milliseconds since the epoch: in several session time zones (offsets in
 * hours, half hours, and the seconds of historic local mean times), with 0 to
 * 6 fractional digits, and for the texts the parser leaves to pg's own (BC,
 * infinity). bigint and numeric: JSON numbers only when exact.
 */

let testDb: TestDatabase | null = null;

beforeAll(async () => {
  if (process.env.TEST_DATABASE_URL) testDb = await createTestDatabase();
});

afterAll(() => testDb?.destroy());

const describeWithDb = process.env.TEST_DATABASE_URL ? describe : describe.skip;

describeWithDb('timestamptz from PostgreSQL', () => {
  const zones = ['UTC', 'Asia/Kolkata', 'America/St_Johns', 'Pacific/Chatham', 'Europe/Amsterdam', 'America/Los_Angeles'];

  it.each(zones)('reads every instant to the millisecond in TimeZone %s', async (zone) => {
    const db = testDb!.db;
    const rows = await db.tx(async (t) => {
      await t.none('SET LOCAL TimeZone = $1', [zone]);
      return t.any<{ text: string; parsed: Date; millis: string }>(
        `SELECT v::text AS text, v AS parsed, floor(extract(epoch FROM v) * 1000)::bigint::text AS millis
           FROM (SELECT timestamptz '1900-01-01 00:00:00+00' + (random() * interval '200 years') AS v FROM generate_series(1, 400)
                 UNION ALL SELECT date_trunc('milliseconds', clock_timestamp())
                 UNION ALL SELECT timestamptz '2026-03-29 01:30:00.5+00'
                 UNION ALL SELECT timestamptz '1000-01-01 12:00:00.000001+00'
                 UNION ALL SELECT timestamptz '9999-12-31 23:59:59.999999+00' - interval '2 days'
                 UNION ALL SELECT timestamptz '1910-05-01 00:00:00.12+00') s`,
      );
    });
    let fast = 0;
    for (const row of rows) {
      expect(row.parsed.getTime(), row.text).toBe(Number(row.millis));
      const own = parseTimestamptz(row.text);
      if (own) {
        fast += 1;
        expect(own.getTime(), row.text).toBe(Number(row.millis));
      }
    }
    // Every one of these is in PostgreSQL's ISO form: none may fall back.
    expect(fast).toBe(rows.length);
  });

  it('leaves BC and infinite instants to pg’s parser', async () => {
    const db = testDb!.db;
    const row = await db.one<{ bc: Date; inf: number; minf: number }>(
      `SELECT timestamptz '0044-03-15 12:00:00+00 BC' AS bc, 'infinity'::timestamptz AS inf, '-infinity'::timestamptz AS minf`,
    );
    expect(row.bc.getUTCFullYear()).toBe(-43);
    expect(row.inf).toBe(Infinity);
    expect(row.minf).toBe(-Infinity);
    expect(parseTimestamptz('0044-03-15 12:00:00+00 BC')).toBeNull();
    expect(parseTimestamptz('infinity')).toBeNull();
  });
});

describe('parseTimestamptz', () => {
  it.each([
    ['2026-11-27 15:30:19+00', '2026-11-27T15:30:19.000Z'],
    ['2026-11-27 15:30:19.1+00', '2026-11-27T15:30:19.100Z'],
    ['2026-11-27 15:30:19.12+05:30', '2026-11-27T10:00:19.120Z'],
    ['2026-11-27 15:30:19.123456-03:30', '2026-11-27T19:00:19.123Z'],
    ['1900-01-01 00:19:32+00:19:32', '1900-01-01T00:00:00.000Z'],
  ])('%s is %s', (text, iso) => {
    expect(parseTimestamptz(text)?.toISOString()).toBe(iso);
  });

  it.each([
    '2026-11-27T15:30:19+00',
    '2026-11-27 15:30:19',
    '2026-11-27 15:30:19.+00',
    '2026-11-27 15:30:19.1234567+00',
    '2026-13-27 15:30:19+00',
    '2026-11-27 15:30:19+0',
    '2026-11-27 15:30:19+00:3',
    '12026-11-27 15:30:19+00',
    '0999-11-27 15:30:19+00',
    'Fri Nov 27 15:30:19 2026 UTC',
  ])('leaves %s to pg’s parser', (text) => {
    expect(parseTimestamptz(text)).toBeNull();
  });
});

describeWithDb('bigint and numeric from PostgreSQL', () => {
  it('are JSON numbers when a double holds them exactly, their text otherwise', async () => {
    const row = await testDb!.db.one<Record<string, unknown>>(
      `SELECT 42::bigint AS small, -9007199254740991::bigint AS lowest_safe, 9007199254740992::bigint AS unsafe,
              100.000::numeric AS whole, 1.5::numeric AS half, 0.1::numeric AS tenth,
              1234567890.12345::numeric AS fifteen_digits, 1234567890.123456::numeric AS sixteen_digits,
              'NaN'::numeric AS not_a_number`,
    );
    expect(row).toEqual({
      small: 42,
      lowest_safe: -9007199254740991,
      unsafe: '9007199254740992',
      whole: 100,
      half: 1.5,
      tenth: 0.1,
      fifteen_digits: 1234567890.12345,
      sixteen_digits: '1234567890.123456',
      not_a_number: 'NaN',
    });
  });
});
