import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './config.js';
import { connectDatabase, type Database } from './sql/db.js';
import { startEmbeddedDatabase, type EmbeddedPostgres } from './sql/embedded.js';

export interface OpenedDatabase {
  database: Database;
  /** The embedded PostgreSQL, when no DATABASE_URL is set. */
  embedded: EmbeddedPostgres | null;
  /** HMAC secret of API keys: AUTH_SECRET, or the embedded database's own. */
  authSecret: string;
  close(): Promise<void>;
}

/**
 * The database the server and the CLI use: DATABASE_URL, or the embedded one
 * in DATA_DIR: `embeddedStart` when it is already starting, else started
 * here (a new one from the initdb template).
 */
export async function openDatabase(config: Config, embeddedStart?: Promise<EmbeddedPostgres>): Promise<OpenedDatabase> {
  if (config.databaseUrl !== null) {
    const database = connectDatabase({
      url: config.databaseUrl,
      max: config.dbPoolMax,
      heavyMax: config.heavyPoolMax,
      jitOff: true,
    });
    return { database, embedded: null, authSecret: config.authSecret!, close: () => database.close() };
  }
  await mkdir(config.dataDir, { recursive: true });
  const authSecret = config.authSecret ?? (await embeddedAuthSecret(config.dataDir));
  const embedded = await (embeddedStart ?? startEmbeddedDatabase(config.dataDir, null));
  // PGlite is a single session: one connection (and no heavy pool), or transactions would interleave.
  const database = connectDatabase({ url: embedded.url, max: 1 });
  return {
    database,
    embedded,
    authSecret,
    async close() {
      await database.close();
      await embedded.stop();
    },
  };
}

/** The embedded database keeps its own key secret beside its data. */
async function embeddedAuthSecret(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'auth-secret');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const secret = randomBytes(32).toString('hex');
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  }
}
