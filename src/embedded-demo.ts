import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { seedDemoTenant } from './domain/demo.js';
import type { SegmentServiceOptions } from './domain/segments/service.js';
import { createTenant, getTenant } from './domain/tenants.js';
import { connectDatabase, type Db } from './sql/db.js';
import { embeddedTemplateDir, makeEmbeddedTemplate, startEmbeddedPostgres } from './sql/embedded.js';
import { migrate } from './sql/migrate.js';

export const DEMO_TENANT = 'demo';
/** Enough rows to make the demo segments interesting, few enough for a fast first start. */
export const DEMO_CUSTOMERS = 2_000;

/** The `demo` tenant, its demo tables and segments, when there is no such tenant yet. */
export async function seedDemo(db: Db, options: SegmentServiceOptions): Promise<void> {
  if (await getTenant(db, DEMO_TENANT)) return;
  const tenant = await createTenant(db, DEMO_TENANT);
  await seedDemoTenant(db, tenant, DEMO_CUSTOMERS, options);
}

/**
 * Makes the demo template `dir` (see `demoTemplateDir` in src/sql/embedded.ts):
 * an initdb template with the migrations and `seedDemo` applied. It holds no
 * API key, no secret, nothing of one data directory's own: the demo key is
 * minted at the first start. Removes the demo templates of other builds and
 * days beside it.
 */
export async function makeDemoTemplate(dir: string, options: SegmentServiceOptions): Promise<void> {
  await makeEmbeddedTemplate(dir, async (scratch) => {
    const embedded = await startEmbeddedPostgres(scratch);
    const database = connectDatabase({ url: embedded.url, max: 1 });
    try {
      await migrate(database.db);
      await seedDemo(database.db, options);
    } finally {
      await database.close();
      await embedded.stop();
    }
  });
  const parent = path.dirname(dir);
  const prefix = path.basename(embeddedTemplateDir('demo-'));
  for (const entry of await readdir(parent)) {
    if (entry.startsWith(prefix) && entry !== path.basename(dir) && !entry.includes('.partial-')) {
      await rm(path.join(parent, entry), { recursive: true, force: true });
    }
  }
}
