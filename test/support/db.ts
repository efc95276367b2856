import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectDatabase, pgp, type Database } from '../../src/sql/db.js';
import { startEmbeddedPostgres, type EmbeddedSession } from '../../src/sql/embedded.js';
import { migrate } from '../../src/sql/migrate.js';

export interface TestDatabase extends Database {
  /** Connection string of the fresh database. */
  url: string;
  /** True when running on the embedded PostgreSQL (PGlite). */
  embedded: boolean;
  /** The embedded PostgreSQL's PGlite instance (row loading needs it); undefined on a server. */
  pglite?: EmbeddedSession;
  /** Closes the pool and removes the database. */
  destroy(): Promise<void>;
}

/**
 * A fresh, migrated database for one test file: a new database on the server
 * of TEST_DATABASE_URL when it is set, a new embedded PostgreSQL otherwise.
 */
export async function createTestDatabase(options: { max?: number; migrated?: boolean } = {}): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  const migrated = options.migrated ?? true;
  if (!serverUrl) {
    const dir = await mkdtemp(path.join(tmpdir(), 'segment-gateway-test-'));
    const embedded = await startEmbeddedPostgres(dir);
    const database = connectDatabase({ url: embedded.url, max: 1 });
    if (migrated) await migrate(database.db);
    return {
      ...database,
      url: embedded.url,
      embedded: true,
      pglite: embedded.pglite,
      async destroy() {
        await database.close();
        await embedded.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `sg_test_${randomBytes(6).toString('hex')}`;
  const admin = connectDatabase({ url: serverUrl, max: 1, applicationName: 'segment-gateway-test-admin' });
  await admin.db.none('CREATE DATABASE $1:name', [name]);
  const url = withDatabase(serverUrl, name);
  const database = connectDatabase({ url, max: options.max ?? 4 });
  if (migrated) await migrate(database.db);
  return {
    ...database,
    url,
    embedded: false,
    async destroy() {
      await database.close();
      // Let closing connections finish on their own: forcing them out while a
      // client is still ending surfaces as an error in that client.
      for (let i = 0; i < 50; i++) {
        const { n } = await admin.db.one<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
          [name],
        );
        if (n === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await admin.db.none('DROP DATABASE IF EXISTS $1:name WITH (FORCE)', [name]);
      await admin.close();
    },
  };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export { pgp };
