import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../../src/sql/db.js';
import { migrate } from '../../src/sql/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let testDb: TestDatabase;

beforeAll(async () => {
  testDb = await createTestDatabase({ migrated: false });
});
afterAll(() => testDb.destroy());

describe('migrations', () => {
  it('two instances migrating at once apply each migration exactly once', async () => {
    // On the embedded database there is one session: the race is between tasks on it.
    const second = testDb.embedded ? testDb : connectDatabase({ url: testDb.url, max: 2 });
    try {
      const [a, b] = await Promise.all([migrate(testDb.db), migrate(second.db)]);
      const applied = [...a.applied, ...b.applied].sort();
      expect(applied.length).toBeGreaterThan(0);
      expect(new Set(applied).size).toBe(applied.length);
      expect(a.applied.length === 0 || b.applied.length === 0).toBe(true);
    } finally {
      if (second !== testDb) await second.close();
    }
  });

  it('applied again, they do nothing and record nothing new', async () => {
    const before = await testDb.db.any('SELECT id, applied_at FROM schema_migrations ORDER BY id');
    expect((await migrate(testDb.db)).applied).toEqual([]);
    expect(await testDb.db.any('SELECT id, applied_at FROM schema_migrations ORDER BY id')).toEqual(before);
  });

  it('every tenant-scoped index leads with tenant_id', async () => {
    const indexes = await testDb.db.any<{ indexname: string; indexdef: string }>(
      `SELECT indexname, indexdef FROM pg_indexes
       WHERE schemaname = 'public' AND tablename IN ('base_schemas', 'segments', 'segment_schema_uses', 'segment_references')`,
    );
    expect(indexes.length).toBeGreaterThan(4);
    for (const index of indexes) expect(index.indexdef).toMatch(/\(tenant_id[,)]/);
  });
});
