import { Invalid, type ErrorDetail } from '../errors.js';
import { isPlainObject } from './validate.js';
import type { FieldDefinition } from './types.js';

/**
 * Rows of a base schema on their way in: JSON values checked per data type
 * (with precise messages) and written as COPY text; CSV headers checked and
 * CSV line numbers traced back to data rows; COPY failures turned into
 * `rows[<index>].<field>` details.
 */

export const MAX_JSON_ROWS = 10_000;
/** Reporting stops after this many problems: enough to fix a file, small enough to send. */
export const MAX_ROW_PROBLEMS = 100;

/** A value that cannot be stored, and why. */
export class ValueProblem {
  constructor(readonly message: string) {}
}

/**
 * The canonical text of `value` for `field`, as PostgreSQL's input function
 * reads it (not yet COPY-escaped), `null` for SQL NULL, or the problem.
 * Nullability is the row's business: `null` is returned for null/undefined.
 */
export type ValueEncoder = (value: unknown) => string | null | ValueProblem;

export function encoderFor(field: FieldDefinition): ValueEncoder {
  const encode = typeEncoder(field);
  return (value) => (value === null || value === undefined ? null : encode(value));
}

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const BIGINT_TEXT = /^[+-]?\d{1,25}$/;
const DECIMAL_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,6}))?$/;
/** Beyond this exponent a decimal is refused rather than expanded. */
const MAX_DECIMAL_EXPONENT = 1_000;
const DATE_TEXT = /^(\d{4})-(\d{2})-(\d{2})$/;
const UUID_TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const LONE_SURROGATE = /\p{Cs}/u;
const MAX_JSON_DEPTH = 100;

function typeEncoder(field: FieldDefinition): (value: unknown) => string | ValueProblem {
  switch (field.dataType) {
    case 'text':
      return (v) => (typeof v === 'string' ? (textProblem(v) ?? v) : new ValueProblem('must be a string'));
    case 'varchar': {
      const max = field.length ?? Infinity;
      return (v) => {
        if (typeof v !== 'string') return new ValueProblem('must be a string');
        const problem = textProblem(v);
        if (problem) return problem;
        // PostgreSQL counts characters (code points), not UTF-16 units.
        if (v.length > max && codePoints(v) > max) return new ValueProblem(`must be at most ${max} characters`);
        return v;
      };
    }
    case 'integer':
      return (v) =>
        typeof v === 'number' && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX
          ? String(v)
          : new ValueProblem(`must be an integer between ${INT32_MIN} and ${INT32_MAX}`);
    case 'bigint':
      return encodeBigint;
    case 'numeric': {
      const { precision, scale } = field;
      // Below this magnitude, rounding to the scale cannot overflow the precision.
      const safe = precision === null ? Infinity : 10 ** (precision - (scale ?? 0)) - 1;
      return (v) => encodeNumeric(v, precision, scale, safe);
    }
    case 'double':
      return (v) =>
        typeof v === 'number' && Number.isFinite(v) ? String(v) : new ValueProblem('must be a finite number');
    case 'boolean':
      return (v) => (typeof v === 'boolean' ? String(v) : new ValueProblem('must be true or false'));
    case 'date':
      return encodeDate;
    case 'timestamptz':
      return encodeTimestamp;
    case 'jsonb':
      return encodeJson;
    case 'uuid':
      return (v) =>
        typeof v === 'string' && UUID_TEXT.test(v)
          ? v.toLowerCase()
          : new ValueProblem('must be a UUID like 123e4567-e89b-12d3-a456-426614174000');
  }
}

/** PostgreSQL text cannot hold NUL, and a lone UTF-16 surrogate has no UTF-8 form. */
function textProblem(value: string): ValueProblem | null {
  if (value.includes('\u0000')) return new ValueProblem('must not contain the NUL character (\\u0000)');
  if (!isWellFormed(value)) return new ValueProblem('must not contain unpaired UTF-16 surrogates');
  return null;
}

const hasIsWellFormed = typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function';

/** No lone surrogates (String.prototype.isWellFormed where the runtime has it: Node 20 does). */
function isWellFormed(value: string): boolean {
  return hasIsWellFormed ? (value as unknown as { isWellFormed(): boolean }).isWellFormed() : !LONE_SURROGATE.test(value);
}

function codePoints(value: string): number {
  let count = 0;
  for (const _ of value) count++;
  return count;
}

function encodeBigint(value: unknown): string | ValueProblem {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return String(value);
    if (Number.isInteger(value)) {
      return new ValueProblem('integers beyond ±2^53 lose precision as JSON numbers: send them as strings');
    }
  } else if (typeof value === 'string' && BIGINT_TEXT.test(value)) {
    const n = BigInt(value);
    if (n >= INT64_MIN && n <= INT64_MAX) return n.toString();
    return new ValueProblem('must be within the 64-bit integer range');
  }
  return new ValueProblem('must be an integer (a number, or a string of digits for large values)');
}

/**
 * Finite numbers and decimal strings. Like PostgreSQL, a value is rounded to
 * the field's scale and refused when its integer part then has too many
 * digits for the precision.
 */
function encodeNumeric(
  value: unknown,
  precision: number | null,
  scale: number | null,
  safe: number,
): string | ValueProblem {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return new ValueProblem('must be a finite number');
    text = String(value);
    // Well inside the range, rounding cannot overflow: skip the digit count.
    if (Math.abs(value) < safe) return text;
  } else if (typeof value === 'string') {
    text = value;
  } else {
    return new ValueProblem('must be a number or a decimal string');
  }
  const decimal = parseDecimal(text);
  if (!decimal) return new ValueProblem('must be a decimal number like 12.50');
  if (precision !== null && roundedDigits(decimal, scale ?? 0) > precision) {
    const whole = precision - (scale ?? 0);
    return new ValueProblem(
      `out of range for numeric(${precision},${scale ?? 0}): at most ${whole} digit${whole === 1 ? '' : 's'} before the decimal point`,
    );
  }
  return text;
}

interface Decimal {
  negative: boolean;
  /** Significant digits without leading zeros ('' for zero). */
  digits: string;
  /** value = digits × 10^exponent */
  exponent: number;
}

export function parseDecimal(text: string): Decimal | null {
  const match = DECIMAL_TEXT.exec(text);
  if (!match) return null;
  const whole = match[2] ?? '';
  const fraction = match[3] ?? '';
  if (whole === '' && fraction === '') return null;
  const exponent = Number(match[4] ?? '0') - fraction.length;
  if (Math.abs(exponent) > MAX_DECIMAL_EXPONENT) return null;
  return { negative: match[1] === '-', digits: (whole + fraction).replace(/^0+/, ''), exponent };
}

/** Digits of the value scaled by 10^scale and rounded half away from zero, as PostgreSQL rounds. */
function roundedDigits({ digits, exponent }: Decimal, scale: number): number {
  if (digits === '') return 0;
  const shift = exponent + scale;
  if (shift >= 0) return digits.length + shift;
  const keep = digits.length + shift;
  if (keep < 0) return 0;
  const kept = digits.slice(0, keep);
  const roundsUp = (digits[keep] ?? '0') >= '5';
  if (!roundsUp) return kept.replace(/^0+/, '').length;
  return /^9*$/.test(kept) ? kept.length + 1 : kept.length;
}

/** One spelling per numeric value, so that 1.50 and 1.5 are seen as the same key. */
function canonicalDecimal(text: string): string {
  const decimal = parseDecimal(text);
  if (!decimal || decimal.digits === '') return '0';
  const trimmed = decimal.digits.replace(/0+$/, '');
  return `${decimal.negative ? '-' : ''}${trimmed}e${decimal.exponent + decimal.digits.length - trimmed.length}`;
}

function encodeDate(value: unknown): string | ValueProblem {
  if (typeof value === 'string') {
    const match = DATE_TEXT.exec(value);
    if (match && isCalendarDate(Number(match[1]), Number(match[2]), Number(match[3]))) return value;
  }
  return new ValueProblem('must be a date written YYYY-MM-DD');
}

const TIMESTAMP_PROBLEM = new ValueProblem(
  'must be an ISO-8601 timestamp with a time zone (2024-05-01T10:00:00Z, 2024-05-01T12:00:00+02:00) or a date',
);

function encodeTimestamp(value: unknown): string | ValueProblem {
  if (typeof value !== 'string') return TIMESTAMP_PROBLEM;
  if (value.length === 10) return encodeDate(value) === value ? `${value}T00:00:00Z` : TIMESTAMP_PROBLEM;
  return isIsoTimestamp(value) ? value : TIMESTAMP_PROBLEM;
}

/**
 * `YYYY-MM-DD[T ]HH:MM[:SS[.fraction]](Z|±HH[[:]MM])`, read character by
 * character (a regular expression with groups costs several times more, and
 * loads check every value; no closure either: this runs once per value).
 */
function isIsoTimestamp(v: string): boolean {
  if (v.length < 17 || v[4] !== '-' || v[7] !== '-' || v[13] !== ':') return false;
  const separator = v[10];
  if (separator !== 'T' && separator !== 't' && separator !== ' ') return false;
  const year = digitsAt(v, 0, 4);
  const month = digitsAt(v, 5, 2);
  const day = digitsAt(v, 8, 2);
  if (year < 0 || month < 0 || day < 0 || !isCalendarDate(year, month, day)) return false;
  const hour = digitsAt(v, 11, 2);
  const minute = digitsAt(v, 14, 2);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59) return false;
  let at = 16;
  if (v[at] === ':') {
    const second = digitsAt(v, at + 1, 2);
    if (second < 0 || second > 60) return false;
    at += 3;
    if (v[at] === '.') {
      const start = ++at;
      while (at < v.length && at - start < 9 && digitsAt(v, at, 1) >= 0) at++;
      if (at === start) return false;
    }
  }
  const zone = v[at];
  if (zone === 'Z' || zone === 'z') return at + 1 === v.length;
  if (zone !== '+' && zone !== '-') return false;
  const offsetHours = digitsAt(v, at + 1, 2);
  if (offsetHours < 0 || offsetHours > 15) return false;
  at += 3;
  if (at === v.length) return true;
  if (v[at] === ':') at++;
  const offsetMinutes = digitsAt(v, at, 2);
  return offsetMinutes >= 0 && offsetMinutes <= 59 && at + 2 === v.length;
}

/** The number written by `count` ASCII digits of `v` from `at`; -1 when one is not a digit (or past the end). */
function digitsAt(v: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const d = v.charCodeAt(i) - 48; // NaN past the end
    if (!(d >= 0 && d <= 9)) return -1;
    n = n * 10 + d;
  }
  return n;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isCalendarDate(year: number, month: number, day: number): boolean {
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  if (month === 2 && day === 29) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return day <= DAYS_IN_MONTH[month - 1]!;
}

function encodeJson(value: unknown): string | ValueProblem {
  const problem = jsonProblem(value, 0);
  return problem ?? JSON.stringify(value);
}

/** What JSON.stringify would silently drop or PostgreSQL's jsonb would refuse. */
function jsonProblem(value: unknown, depth: number): ValueProblem | null {
  if (depth > MAX_JSON_DEPTH) return new ValueProblem(`must not nest deeper than ${MAX_JSON_DEPTH} levels`);
  switch (typeof value) {
    case 'string':
      return textProblem(value);
    case 'number':
      return Number.isFinite(value) ? null : new ValueProblem('must hold only finite numbers');
    case 'boolean':
      return null;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        for (const item of value) {
          const problem = jsonProblem(item, depth + 1);
          if (problem) return problem;
        }
        return null;
      }
      if (!isPlainObject(value) || Object.getPrototypeOf(value) !== Object.prototype) {
        return new ValueProblem('must be JSON (objects, arrays, strings, numbers, booleans, null)');
      }
      for (const [key, item] of Object.entries(value)) {
        const problem = textProblem(key) ?? jsonProblem(item, depth + 1);
        if (problem) return problem;
      }
      return null;
    }
    default:
      return new ValueProblem('must be JSON (objects, arrays, strings, numbers, booleans, null)');
  }
}

// ---------------------------------------------------------------------------
// COPY text format

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_SPECIAL_ALL = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A value as one column of a COPY text line (`\N` is NULL). */
export function copyText(value: string | null): string {
  if (value === null) return '\\N';
  return COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIAL_ALL, (c) => COPY_ESCAPES[c]!) : value;
}

/** Rows checked and ready for COPY (text format, columns in `fields` order). */
export interface EncodedRows {
  /** One COPY text line per row, without its line end. */
  lines: string[];
  /**
   * For the primary key and each unique field: its fields and, per field, the
   * canonical text of every row (null for NULL), to look up existing rows.
   */
  keys: RowKey[];
}

export interface RowKey {
  fields: FieldDefinition[];
  /** `columns[f][row]`: the value of `fields[f]` in each row. */
  columns: (string | null)[][];
}

/** What sends a string to the full check: NUL, a UTF-16 surrogate (paired or not), a character COPY escapes. */
// eslint-disable-next-line no-control-regex -- NUL and the control characters COPY escapes are what it looks for
const TEXT_SUSPECT = /[\u0000\\\t\n\r\ud800-\udfff]/;

/** Types whose text may hold COPY's special characters. */
const ESCAPED_TYPES: ReadonlySet<string> = new Set(['text', 'varchar', 'jsonb']);

/**
 * Checks a JSON body's rows against `fields` and encodes them. Every problem
 * (up to MAX_ROW_PROBLEMS) is reported as `rows[<index>].<field>`; duplicates
 * of a primary key or unique value inside the request are problems too.
 */
export function encodeJsonRows(fields: readonly FieldDefinition[], rows: unknown): EncodedRows {
  return new JsonRowsEncoder(fields, rows).finish();
}

/** Rows encoded at a time: COPY inserts one slice while the next is checked. */
const SLICE_ROWS = 2_000;

/**
 * The same, a slice at a time, so that COPY can take the first rows while
 * the next are checked (`copyText()`); `finish()` checks what is left.
 * Rows are written straight into the COPY text of their slice: no string per
 * row outlives its slice (10,000 of them would, and the garbage collector
 * would copy them from space to space as the load goes on).
 */
export class JsonRowsEncoder {
  private readonly rows: readonly unknown[];
  private readonly count: number;
  /** COPY text of the rows encoded so far, one slice an element, while every row is valid. */
  private readonly chunks: string[] = [];
  /** Per field: its check and canonical text for a value that is neither null nor undefined. */
  private readonly encoders: ((value: unknown) => string | ValueProblem)[];
  private readonly escaped: boolean[];
  /**
   * Per field: the longest string taken as is when it holds none of TEXT_SUSPECT
   * (text and varchar: their limit in UTF-16 units, which never undercounts
   * characters; -1 for other types, whose strings always go through their check).
   */
  private readonly plainText: number[];
  private readonly names: string[];
  /** A field named like an Object.prototype member (constructor, toString) must not read the inherited one. */
  private readonly inherited: boolean[];
  private readonly known: Set<string>;
  private readonly keys: (RowKey & { positions: number[] })[];
  private readonly details: ErrorDetail[] = [];
  private readonly texts: (string | null)[];
  private next = 0;

  constructor(
    private readonly fields: readonly FieldDefinition[],
    rows: unknown,
  ) {
    if (!Array.isArray(rows)) throw Invalid.at('rows', 'must be an array of row objects');
    const count = rows.length;
    if (count === 0) throw Invalid.at('rows', 'must hold at least one row');
    if (count > MAX_JSON_ROWS) {
      throw Invalid.at('rows', `at most ${MAX_JSON_ROWS} rows per request (send more in several requests, or as CSV)`);
    }
    this.rows = rows;
    this.count = count;
    this.encoders = fields.map(typeEncoder);
    this.escaped = fields.map((f) => ESCAPED_TYPES.has(f.dataType));
    this.plainText = fields.map((f) =>
      f.dataType === 'text' ? Infinity : f.dataType === 'varchar' ? (f.length ?? Infinity) : -1,
    );
    this.names = fields.map((f) => f.name);
    this.inherited = fields.map((f) => f.name in Object.prototype);
    this.known = new Set(fields.map((f) => f.name));
    this.keys = keyConstraints(fields, count);
    this.texts = new Array<string | null>(fields.length);
  }

  /**
   * COPY text of the rows not encoded yet, `size` rows at a time. At the
   * first problem it checks every remaining row and throws them all. Keys
   * repeated within the request are not looked for here: the table's
   * constraints catch them, and `finish()` then names every one.
   */
  *copyText(size = SLICE_ROWS): Generator<string> {
    while (this.next < this.count) {
      const chunk = this.encode(Math.min(this.next + size, this.count));
      if (this.details.length > 0) this.finish();
      yield chunk;
    }
  }

  /** The primary key of the first row, when it has a valid one. */
  firstKey(): { fields: FieldDefinition[]; values: string[] } | null {
    const row: unknown = this.rows[0];
    if (!isPlainObject(row)) return null;
    const [primary] = this.keys;
    const values: string[] = [];
    for (const f of primary!.positions) {
      const name = this.names[f]!;
      const value = this.inherited[f] && !Object.hasOwn(row, name) ? undefined : row[name];
      const text = value === undefined || value === null ? null : this.encoders[f]!(value);
      if (text === null || text instanceof ValueProblem) return null;
      values.push(text);
    }
    return { fields: primary!.fields, values };
  }

  /**
   * Checks and encodes what is left, then looks for keys repeated within the
   * request (left to the database while rows stream); throws Invalid listing
   * every problem.
   */
  finish(): EncodedRows {
    while (this.next < this.count && this.details.length < MAX_ROW_PROBLEMS) {
      this.encode(Math.min(this.next + SLICE_ROWS, this.count));
    }
    if (this.details.length === 0) this.details.push(...this.repeatedKeys());
    Invalid.throwIfAny(this.details);
    const lines: string[] = [];
    for (const chunk of this.chunks) {
      const split = chunk.split('\n');
      split.pop();
      for (const line of split) lines.push(line);
    }
    return { lines, keys: this.keys.map(({ fields, columns }) => ({ fields, columns })) };
  }

  /** Rows whose primary key or unique value repeats an earlier row's, in row order. */
  private repeatedKeys(): ErrorDetail[] {
    const found: { index: number; detail: ErrorDetail }[] = [];
    this.keys.forEach((key, k) => {
      const seen = new Map<string, number>();
      const names = key.fields.map((f) => f.name).join('+');
      const what = k === 0 ? 'primary key' : 'value of a unique field';
      for (let index = 0; index < this.count; index++) {
        let identity = '';
        let complete = true;
        for (let c = 0; c < key.fields.length && complete; c++) {
          const text = key.columns[c]![index] ?? null;
          if (text === null) complete = false;
          else identity = c === 0 ? canonicalKey(key.fields[c]!, text) : `${identity}\u0000${canonicalKey(key.fields[c]!, text)}`;
        }
        if (!complete) continue;
        const first = seen.get(identity);
        if (first === undefined) seen.set(identity, index);
        else found.push({ index, detail: { path: `rows[${index}].${names}`, message: `duplicate ${what} in this request (same as rows[${first}])` } });
      }
    });
    return found
      .sort((a, b) => a.index - b.index)
      .slice(0, MAX_ROW_PROBLEMS)
      .map((f) => f.detail);
  }

  /**
   * Checks rows up to `to` (or until MAX_ROW_PROBLEMS) and returns their COPY
   * text, one line per row; while every row is valid it is also kept.
   */
  private encode(to: number): string {
    const { fields, encoders, texts, details, escaped, inherited, plainText, names } = this;
    const { rows } = this;
    const count = fields.length;
    let chunk = '';
    for (; this.next < to && details.length < MAX_ROW_PROBLEMS; this.next++) {
      const index = this.next;
      const row: unknown = rows[index];
      if (!isPlainObject(row)) {
        details.push({ path: `rows[${index}]`, message: 'must be an object' });
        continue;
      }
      let rowIsValid = true;
      let present = 0;
      let line = '';
      for (let f = 0; f < count; f++) {
        const name = names[f]!;
        const value = inherited[f] && !Object.hasOwn(row, name) ? undefined : row[name];
        let column: string;
        if (value === undefined || value === null) {
          if (value === null) present++;
          if (!fields[f]!.isNullable) {
            const why = fields[f]!.isPrimaryKey ? 'primary key' : 'not nullable';
            details.push({ path: `rows[${index}].${name}`, message: `required (${why})` });
            rowIsValid = false;
          }
          texts[f] = null;
          column = '\\N';
        } else {
          present++;
          // Most strings need one scan and nothing else: no NUL, no surrogate, nothing COPY escapes.
          if (typeof value === 'string' && value.length <= plainText[f]! && !TEXT_SUSPECT.test(value)) {
            texts[f] = value;
            column = value;
          } else {
            const text = encoders[f]!(value);
            if (text instanceof ValueProblem) {
              details.push({ path: `rows[${index}].${name}`, message: text.message });
              rowIsValid = false;
              texts[f] = null;
              continue;
            }
            texts[f] = text;
            column = escaped[f] ? copyText(text) : text;
          }
        }
        line = f === 0 ? column : line + '\t' + column;
      }
      // Look for unknown keys only when the row has more keys than fields present.
      let keyCount = 0;
      for (const _ in row) keyCount++;
      if (present !== keyCount) {
        for (const key of Object.keys(row)) {
          if (this.known.has(key)) continue;
          details.push({ path: `rows[${index}].${key}`, message: 'unknown field' });
          rowIsValid = false;
        }
      }
      if (!rowIsValid) continue;

      chunk += line + '\n';
      this.recordKeys(index);
    }
    if (details.length === 0) this.chunks.push(chunk);
    return chunk;
  }

  /** Records the row's key values (for duplicates and lookups of existing rows). */
  private recordKeys(index: number): void {
    for (const key of this.keys) {
      for (let c = 0; c < key.positions.length; c++) key.columns[c]![index] = this.texts[key.positions[c]!] ?? null;
    }
  }
}

/** The primary key (one constraint, maybe composite) first, then each other unique field. */
function keyConstraints(fields: readonly FieldDefinition[], rowCount: number): (RowKey & { positions: number[] })[] {
  const primary = fields.flatMap((f, i) => (f.isPrimaryKey ? [i] : []));
  const keys = [primary];
  fields.forEach((f, i) => {
    if (f.isUnique && !(primary.length === 1 && primary[0] === i)) keys.push([i]);
  });
  return keys.map((positions) => ({
    positions,
    fields: positions.map((p) => fields[p]!),
    columns: positions.map(() => new Array<string | null>(rowCount).fill(null)),
  }));
}

function canonicalKey(field: FieldDefinition, text: string): string {
  return field.dataType === 'numeric' ? canonicalDecimal(text) : text;
}

// ---------------------------------------------------------------------------
// CSV

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

export interface CsvHeader {
  columns: string[];
  /** How records end, as PostgreSQL detects it from the first line. */
  lineEnd: 'lf' | 'crlf' | 'cr';
}

/**
 * Reads the header record from the start of a CSV body. Returns null when
 * `bytes` does not yet hold a whole header line (unless `complete`: the body
 * is only a header).
 */
export function readCsvHeader(bytes: Uint8Array, complete: boolean): CsvHeader | null {
  let inQuote = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === QUOTE) inQuote = !inQuote;
    else if (!inQuote && c === LF) return { columns: splitHeader(bytes.subarray(0, i)), lineEnd: 'lf' };
    else if (!inQuote && c === CR) {
      if (i + 1 === bytes.length && !complete) return null;
      const lineEnd = bytes[i + 1] === LF ? 'crlf' : 'cr';
      return { columns: splitHeader(bytes.subarray(0, i)), lineEnd };
    }
  }
  return complete ? { columns: splitHeader(bytes), lineEnd: 'lf' } : null;
}

function splitHeader(bytes: Uint8Array): string[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8').replace(/^\uFEFF/, '');
  const columns: string[] = [];
  let current = '';
  let quoted = false;
  let inQuote = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inQuote) {
      if (c !== '"') current += c;
      else if (text[i + 1] === '"') {
        current += '"';
        i++;
      } else inQuote = false;
    } else if (c === '"') {
      if (!quoted && current.trim() === '') current = '';
      inQuote = true;
      quoted = true;
    } else if (c === ',') {
      columns.push(quoted ? current : current.trim());
      current = '';
      quoted = false;
    } else if (!(quoted && (c === ' ' || c === '\t'))) {
      // (spaces around a quoted name are not part of it)
      current += c;
    }
  }
  columns.push(quoted ? current : current.trim());
  return columns;
}

/** Header columns → field names, or every problem: unknown, repeated or missing required fields. */
export function checkCsvColumns(fields: readonly FieldDefinition[], columns: readonly string[]): string[] {
  const details: ErrorDetail[] = [];
  const byName = new Map(fields.map((f) => [f.name, f]));
  const seen = new Set<string>();
  columns.forEach((column, index) => {
    const path = `header[${index}]`;
    if (column === '') details.push({ path, message: 'empty column name' });
    else if (!byName.has(column)) details.push({ path, message: `unknown field "${column}"` });
    else if (seen.has(column)) details.push({ path, message: `field "${column}" appears twice` });
    seen.add(column);
  });
  for (const field of fields) {
    if (!field.isNullable && !seen.has(field.name)) {
      const why = field.isPrimaryKey ? 'primary key' : 'not nullable';
      details.push({ path: 'header', message: `missing required field "${field.name}" (${why})` });
    }
  }
  Invalid.throwIfAny(details);
  return [...columns];
}

/**
 * Follows a CSV body as it streams past and answers, for a line number that
 * PostgreSQL reports, which data row it belongs to. PostgreSQL counts
 * physical lines (a quoted value with line breaks spans several); data rows
 * are counted from 0 after the header. It toggles on every quote, as
 * PostgreSQL does when it splits records; only records spanning several lines
 * are remembered.
 */
export class CsvLineMap {
  private inQuote = false;
  private line = 1;
  private record = 0;
  private recordStart = 1;
  private readonly spanRecord: number[] = [];
  private readonly spanFirst: number[] = [];
  private readonly spanLast: number[] = [];
  private readonly recordEnd: number;
  private readonly quotedBreak: number;

  constructor(lineEnd: CsvHeader['lineEnd']) {
    // PostgreSQL counts LF inside quotes for LF files, CR for CR and CRLF files.
    this.recordEnd = lineEnd === 'cr' ? CR : LF;
    this.quotedBreak = lineEnd === 'lf' ? LF : CR;
  }

  push(chunk: Uint8Array): void {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const same = this.recordEnd === this.quotedBreak;
    let quote = bytes.indexOf(QUOTE);
    let end = bytes.indexOf(this.recordEnd);
    let brk = same ? end : bytes.indexOf(this.quotedBreak);
    for (;;) {
      if (this.inQuote) {
        if (brk !== -1 && (quote === -1 || brk < quote)) {
          this.line++;
          brk = bytes.indexOf(this.quotedBreak, brk + 1);
          if (same) end = brk;
          continue;
        }
        if (quote === -1) return;
        this.inQuote = false;
        if (end !== -1 && end < quote) end = bytes.indexOf(this.recordEnd, quote + 1);
        quote = bytes.indexOf(QUOTE, quote + 1);
      } else {
        if (end !== -1 && (quote === -1 || end < quote)) {
          this.endRecord();
          end = bytes.indexOf(this.recordEnd, end + 1);
          if (same) brk = end;
          continue;
        }
        if (quote === -1) return;
        this.inQuote = true;
        if (brk !== -1 && brk < quote) brk = bytes.indexOf(this.quotedBreak, quote + 1);
        quote = bytes.indexOf(QUOTE, quote + 1);
      }
    }
  }

  /** The 0-based data row of the record PostgreSQL calls `line` (header = line 1). */
  dataRowAt(line: number): number {
    // PostgreSQL only reports lines it has read, and it reads only what went past here.
    if (line >= this.recordStart) return this.record - 1;
    // The last closed multi-line record starting at or before `line`.
    let lo = 0;
    let hi = this.spanFirst.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.spanFirst[mid]! <= line) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found === -1) return line - 2;
    const last = this.spanLast[found]!;
    const record = line <= last ? this.spanRecord[found]! : this.spanRecord[found]! + (line - last);
    return record - 1;
  }

  private endRecord(): void {
    if (this.line > this.recordStart) {
      this.spanRecord.push(this.record);
      this.spanFirst.push(this.recordStart);
      this.spanLast.push(this.line);
    }
    this.record++;
    this.line++;
    this.recordStart = this.line;
  }
}

// ---------------------------------------------------------------------------
// COPY failures

/** The parts of a PostgreSQL error that locate a bad value in COPY input. */
interface CopyError {
  code?: unknown;
  message?: unknown;
  where?: unknown;
  column?: unknown;
  detail?: unknown;
}

/**
 * `COPY load_stage, line 3, column age: "abc"`. Only the shape is relied on
 * (a number after the table, a name before a colon), not the English words,
 * so that a server with other lc_messages is still understood.
 */
const COPY_WHERE = /COPY [^,]+, \D*?(\d+)(?:, [^\s,]+ ([a-z][a-z0-9_]*):)?/;
/** PostgreSQL quotes the bad value in its message; a huge one is cut short. */
const MAX_MESSAGE_LENGTH = 300;

/**
 * Turns a PostgreSQL error raised by COPY into a `rows[<index>].<field>`
 * detail, given how COPY lines map to the request's rows. Null when the
 * error is not about the data (the caller rethrows it).
 */
export function copyFailureDetail(error: unknown, rowAtLine: (line: number) => number): ErrorDetail | null {
  if (typeof error !== 'object' || error === null) return null;
  const { code, message, where, column, detail } = error as CopyError;
  if (typeof code !== 'string' || typeof where !== 'string' || typeof message !== 'string') return null;
  if (!code.startsWith('22') && code !== '23502' && code !== '23505') return null;
  const located = COPY_WHERE.exec(where);
  if (!located) return null;
  const row = `rows[${rowAtLine(Number(located[1]))}]`;

  if (code === '23502') {
    const field = typeof column === 'string' ? column : '';
    return { path: field ? `${row}.${field}` : row, message: 'required: must not be null or empty' };
  }
  if (code === '23505') {
    const key = typeof detail === 'string' ? /^Key \(([^)]*)\)=/.exec(detail) : null;
    const names = key?.[1]?.split(', ') ?? [];
    return {
      path: names.length > 0 ? `${row}.${names.join('+')}` : row,
      message: 'duplicate primary key or unique value in this request',
    };
  }
  const field = located[2] ?? /column "([a-z0-9_]+)"/.exec(message)?.[1];
  const shown = message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH)}…` : message;
  return { path: field ? `${row}.${field}` : row, message: shown };
}
