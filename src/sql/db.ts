import { createHash } from 'node:crypto';
import pgPromise from 'pg-promise';
import type { IDatabase, IMain } from 'pg-promise';

/**
 * The one pg-promise root of the process. Type parsers are set once here so
 * that every statement sees the same JSON-friendly values.
 */
export const pgp: IMain = pgPromise({
  capSQL: true,
  query(event) {
    const dc = event.dc as ConnectionContext | undefined;
    if (dc) dc.stats.queries += 1;
    if (queryObservers.size > 0) queryStarts.set(event.client, process.hrtime.bigint());
  },
  receive({ ctx }) {
    observeQuery(ctx, undefined);
  },
  error(error, event) {
    observeQuery(event, error);
  },
  connect(event) {
    // A connection the server ends (restart, pg_terminate_backend, a dropped
    // database) reports an error on its client; the pool replaces it. Without
    // a listener that error would end the process.
    if (event.useCount === 0) event.client.on('error', () => {});
  },
});

const { types } = pgp.pg;
// date: keep the calendar date as written, never shift it through a local Date.
types.setTypeParser(1082, (value: string) => value);
// int8 and numeric: a JSON number when it is exact, the text otherwise.
types.setTypeParser(20, exactNumberOrText);
types.setTypeParser(1700, exactNumberOrText);
// timestamptz: the ISO form PostgreSQL writes, read by position; anything else by pg's own parser.
const standardTimestamptz = types.getTypeParser(1184, 'text') as (value: string) => Date | number | null;
types.setTypeParser(1184, (value: string) => parseTimestamptz(value) ?? standardTimestamptz(value));

function exactNumberOrText(value: string): number | string {
  const n = Number(value);
  if (Number.isSafeInteger(n)) return n;
  if (!Number.isFinite(n) || Number.isInteger(n)) return value;
  // More than 15 significant digits cannot survive a double.
  const digits = value.replace(/^-/, '').replace('.', '').replace(/^0+/, '');
  return digits.replace(/0+$/, '').length <= 15 ? n : value;
}

/**
 * `YYYY-MM-DD HH:MM:SS[.f{1,6}]±HH[:MM[:SS]]`, as PostgreSQL writes a
 * timestamptz with `DateStyle = ISO` (pg's default), years 1000 to 9999: the
 * Date it stands for, to the millisecond (further digits are dropped, as
 * pg's parser drops them). Null for any other text (BC, infinity, another
 * DateStyle), which pg's parser then reads.
 */
export function parseTimestamptz(text: string): Date | null {
  const n = text.length;
  if (n < 22 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 32) return null;
  if (text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return null;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  if (year < 1000 || month < 1 || month > 12 || day < 1 || day > 31) return null;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return null;
  let i = 19;
  let millis = 0;
  if (text.charCodeAt(i) === 46) {
    const start = ++i;
    while (i < n && i - start < 6 && isDigit(text.charCodeAt(i))) i++;
    const count = i - start;
    if (count === 0) return null;
    const first = digits(text, start, Math.min(count, 3));
    millis = count >= 3 ? first : count === 2 ? first * 10 : first * 100;
  }
  const sign = text.charCodeAt(i);
  if (sign !== 43 && sign !== 45) return null;
  const rest = n - i - 1;
  if (rest !== 2 && rest !== 5 && rest !== 8) return null;
  // ±HH, then :MM and :SS when the text goes on.
  const offsetHours = digits(text, i + 1, 2);
  const offsetMinutes = rest >= 5 ? afterColon(text, i + 3) : 0;
  const offsetSeconds = rest === 8 ? afterColon(text, i + 6) : 0;
  if (offsetHours < 0 || offsetMinutes < 0 || offsetSeconds < 0) return null;
  const offset = (offsetHours * 3600 + offsetMinutes * 60 + offsetSeconds) * 1000 * (sign === 43 ? 1 : -1);
  const time = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offset;
  return Number.isNaN(time) ? null : new Date(time);
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** The two digits after a colon at `at`, or -1 when there is no colon or they are not digits. */
function afterColon(text: string, at: number): number {
  return text.charCodeAt(at) === 58 ? digits(text, at + 1, 2) : -1;
}

/** The decimal number of `length` digits at `start`, or -1 when one of them is not a digit. */
function digits(text: string, start: number, length: number): number {
  let value = 0;
  for (let i = start; i < start + length; i++) {
    const code = text.charCodeAt(i);
    if (code < 48 || code > 57) return -1;
    value = value * 10 + code - 48;
  }
  return value;
}

export type Db = IDatabase<unknown>;

/** A statement sent by name: each connection parses and plans it once, then only binds values. */
export interface NamedStatement {
  name: string;
  text: string;
  values: unknown[];
}

const statementNames = new Map<string, string>();

/**
 * `text` as a named (prepared) statement with `values` bound to its `$n`
 * parameters. Its name is derived from the text, so one text is one name on
 * every connection. Only for texts the code assembles from fixed fragments,
 * every value a parameter: each distinct text stays prepared on each
 * connection of the pool.
 */
export function named(text: string, values: unknown[]): NamedStatement {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `sg_${createHash('sha256').update(text).digest('hex').slice(0, 20)}`;
    statementNames.set(text, name);
  }
  return { name, text, values };
}

export interface DbStats {
  /** Statements sent through this handle, for tests and benchmarks. */
  queries: number;
}

/** Which pool a statement ran on: `main`, or `heavy` for counts, previews, overlaps and refreshes. */
export type PoolName = 'main' | 'heavy';

interface ConnectionContext {
  stats: DbStats;
  pool: PoolName;
}

export interface DatabaseOptions {
  url: string;
  /** Pool size. */
  max: number;
  /**
   * Size of a second pool for statements that read whole views (counts,
   * previews, overlaps), so that they cannot take every connection from
   * cheap reads. Absent: one pool serves both (the embedded database has one
   * connection only).
   */
  heavyMax?: number;
  applicationName?: string;
  /**
   * Runs the sessions with PostgreSQL's JIT compilation off. Once a session
   * has JIT-compiled one query, every parallel worker of its later queries
   * loads LLVM as it starts (the leader's libraries are restored in each
   * worker), which adds ~20-30 ms to every parallel count on a pooled
   * connection; JIT itself saved nothing measurable on segment counts
   * (docs/decisions.md). Only for a PostgreSQL server: the embedded one has
   * no JIT.
   */
  jitOff?: boolean;
}

export interface Database {
  db: Db;
  /** The pool for statements that read whole views; `db` itself when there is one pool. */
  heavy: Db;
  stats: DbStats;
  /** Each distinct pool, for `/metrics`. */
  pools: ReadonlyArray<{ name: PoolName; pool: Db['$pool'] }>;
  close(): Promise<void>;
}

export function connectDatabase(options: DatabaseOptions): Database {
  const stats: DbStats = { queries: 0 };
  const applicationName = options.applicationName ?? 'segment-gateway';
  const open = (pool: PoolName, max: number, name: string): Db =>
    pgp(
      {
        connectionString: options.url,
        max,
        application_name: name,
        // Also bounds the wait for a free connection of a busy pool: a request
        // gets SERVICE_UNAVAILABLE rather than hanging.
        connectionTimeoutMillis: 5_000,
        idleTimeoutMillis: 30_000,
        keepAlive: true,
        allowExitOnIdle: true,
        ...(options.jitOff ? { options: '-c jit=off' } : {}),
      },
      { stats, pool } satisfies ConnectionContext,
    );
  const db = open('main', options.max, applicationName);
  const heavy = options.heavyMax === undefined ? db : open('heavy', options.heavyMax, `${applicationName}-heavy`);
  const pools = heavy === db ? [{ name: 'main' as const, pool: db.$pool }] : [
    { name: 'main' as const, pool: db.$pool },
    { name: 'heavy' as const, pool: heavy.$pool },
  ];
  return {
    db,
    heavy,
    stats,
    pools,
    async close() {
      await Promise.all(pools.map(({ pool }) => pool.end()));
    },
  };
}

/** One statement's outcome, for metrics. */
export interface QueryObservation {
  pool: PoolName;
  /** The tag of the task or transaction it ran in (`create segment`), if any. */
  task: string | null;
  /** Null when it never reached a connection (a failed connect). */
  seconds: number | null;
  error: unknown;
}

/** Observers of statements, each with how many gateways registered it (tests run several in one process). */
const queryObservers = new Map<(observation: QueryObservation) => void, number>();
/** A connection runs one statement at a time: its start time is kept by connection. */
const queryStarts = new WeakMap<object, bigint>();

/** Sends every statement's duration and outcome to `observer`, until the returned function is called. */
export function observeQueries(observer: (observation: QueryObservation) => void): () => void {
  queryObservers.set(observer, (queryObservers.get(observer) ?? 0) + 1);
  let registered = true;
  return () => {
    if (!registered) return;
    registered = false;
    const count = (queryObservers.get(observer) ?? 1) - 1;
    if (count > 0) queryObservers.set(observer, count);
    else queryObservers.delete(observer);
  };
}

function observeQuery(event: { client?: object; dc?: unknown; ctx?: { tag?: unknown } } | undefined, error: unknown): void {
  const dc = event?.dc as ConnectionContext | undefined;
  if (queryObservers.size === 0 || !dc) return;
  const client = event?.client;
  const started = client ? queryStarts.get(client) : undefined;
  // With a connection but no statement under way: a task or transaction that failed, counted by its statements.
  if (client && started === undefined) return;
  if (client) queryStarts.delete(client);
  const tag = event?.ctx?.tag;
  const observation: QueryObservation = {
    pool: dc.pool,
    task: typeof tag === 'string' ? tag : null,
    seconds: started === undefined ? null : Number(process.hrtime.bigint() - started) / 1e9,
    error,
  };
  for (const observer of queryObservers.keys()) observer(observation);
}

/** Is the database answering? Used by `/readyz`. */
export async function ping(db: Db): Promise<boolean> {
  try {
    await db.one('SELECT 1 AS ok');
    return true;
  } catch {
    return false;
  }
}
