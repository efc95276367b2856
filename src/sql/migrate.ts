import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Db } from './db.js';

// Beside this module: src/sql/migrations, or dist/migrations in the compiled
// bundle (scripts/build.mjs copies them there, beside every output file).
const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
/** Any fixed number: every instance of the gateway agrees on it. */
const MIGRATION_LOCK = 7_340_291_118;

export interface MigrationResult {
  applied: string[];
}

/**
 * Applies the pending files of `src/sql/migrations` in name order, each in its
 * own transaction, recorded in `schema_migrations`. An advisory lock makes two
 * instances starting at once take turns; the second finds nothing to do.
 */
export async function migrate(db: Db): Promise<MigrationResult> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
  return db.task('migrate', async (t) => {
    await t.one('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await t.none(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           id text PRIMARY KEY,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const done = new Set(
        (await t.map('SELECT id FROM schema_migrations', [], (r: { id: string }) => r.id)) as string[],
      );
      const applied: string[] = [];
      for (const file of files) {
        const id = file.replace(/\.sql$/, '');
        if (done.has(id)) continue;
        const sql = await readFile(MIGRATIONS_DIR + file, 'utf8');
        await t.tx(`migration ${id}`, async (tx) => {
          await tx.none(sql);
          await tx.none('INSERT INTO schema_migrations (id) VALUES ($1)', [id]);
        });
        applied.push(id);
      }
      return { applied };
    } finally {
      await t.one('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  });
}
