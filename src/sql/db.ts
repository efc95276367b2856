import pgPromise from 'pg-promise';
import type { IDatabase, IMain } from 'pg-promise';

/**
 * The one pg-promise root of the process. Type parsers are set once here so
 * that every statement sees the same JSON-friendly values.
 */
export const pgp: IMain = pgPromise({
  capSQL: true,
  query(event) {
    const stats = (event.dc as ConnectionContext | undefined)?.stats;
    if (stats) stats.queries += 1;
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

function exactNumberOrText(value: string): number | string {
  const n = Number(value);
  if (!Number.isFinite(n)) return value;
  if (Number.isInteger(n) && !Number.isSafeInteger(n)) return value;
  // More than 15 significant digits cannot survive a double.
  const digits = value.replace(/^-/, '').replace('.', '').replace(/^0+/, '');
  return digits.replace(/0+$/, '').length <= 15 ? n : value;
}

export type Db = IDatabase<unknown>;

export interface DbStats {
  /** Statements sent through this handle, for tests and benchmarks. */
  queries: number;
}

interface ConnectionContext {
  stats: DbStats;
}

export interface DatabaseOptions {
  url: string;
  /** Pool size. */
  max: number;
  applicationName?: string;
}

export interface Database {
  db: Db;
  stats: DbStats;
  close(): Promise<void>;
}

export function connectDatabase(options: DatabaseOptions): Database {
  const stats: DbStats = { queries: 0 };
  const context: ConnectionContext = { stats };
  const db = pgp(
    {
      connectionString: options.url,
      max: options.max,
      application_name: options.applicationName ?? 'segment-gateway',
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      allowExitOnIdle: true,
    },
    context,
  );
  return {
    db,
    stats,
    async close() {
      await db.$pool.end();
    },
  };
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
