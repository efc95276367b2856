import { access, cp, mkdtemp, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { makeDemoTemplate } from '../../src/embedded-demo.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/logger.js';
import {
  embeddedTemplateDir,
  makeEmbeddedTemplate,
  startEmbeddedDatabase,
  startEmbeddedPostgres,
} from '../../src/sql/embedded.js';
import { gql } from '../support/gateway.js';

// Always the embedded database (no DATABASE_URL), whatever TEST_DATABASE_URL says.
const dirs: string[] = [];
async function newDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'segment-gateway-first-start-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function start(dataDir: string, template: string | null = null): Promise<Gateway> {
  const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', RATE_LIMIT_ENABLED: 'false' });
  return startGateway(config, createLogger('silent'), { embedded: startEmbeddedDatabase(dataDir, template) });
}

/** What the demo tenant holds: its segments (counted) and a digest of its demo rows. */
async function demoContents(gateway: Gateway) {
  const { db } = gateway.services.database;
  const segments = await db.any<{ name: string; status: string; customer_count: string | null }>(
    "SELECT name, status, customer_count FROM segments WHERE tenant_id = 'demo' ORDER BY name",
  );
  const tables = await db.one<{ namespace: string; customers: string; orders: string }>(
    `SELECT t.namespace, c.table_name AS customers, o.table_name AS orders FROM tenants t
       JOIN base_schemas c ON c.tenant_id = t.id AND c.name = 'customers'
       JOIN base_schemas o ON o.tenant_id = t.id AND o.name = 'orders'
     WHERE t.id = 'demo'`,
  );
  const rows = await db.one(
    `SELECT (SELECT count(*) FROM $1:name.$2:name) AS customers,
            (SELECT md5(string_agg(concat_ws('|', id, email, lifetime_value, signup_at), ',' ORDER BY id)) FROM $1:name.$2:name) AS customer_digest,
            (SELECT count(*) FROM $1:name.$3:name) AS orders,
            (SELECT md5(string_agg(concat_ws('|', id, amount, status, created_at), ',' ORDER BY id)) FROM $1:name.$3:name) AS order_digest`,
    [tables.namespace, tables.customers, tables.orders],
  );
  const keys = await db.one<{ n: number }>("SELECT count(*)::int AS n FROM api_keys WHERE tenant_id = 'demo'");
  return { segments, rows, keys: keys.n };
}

describe("the embedded database's first start", { timeout: 120_000 }, () => {
  it('gives every new DATA_DIR its own secret and demo admin key, shown once', async () => {
    const keys: string[] = [];
    const secrets: string[] = [];
    for (const dir of [await newDir(), await newDir()]) {
      const gateway = await start(dir);
      try {
        const key = gateway.demoKey!;
        expect(key).toMatch(/^sgk_[A-Za-z0-9_-]{43}$/);
        const file = path.join(dir, 'demo-admin.key');
        expect((await readFile(file, 'utf8')).trim()).toBe(key);
        expect((await stat(file)).mode & 0o777).toBe(0o600);
        const answer = await gql<{ viewer: { tenantId: string; role: string } }>(gateway.url, key, '{ viewer { tenantId role } }');
        expect(answer.data?.viewer).toEqual({ tenantId: 'demo', role: 'admin' });
        keys.push(key);
        secrets.push(await readFile(path.join(dir, 'auth-secret'), 'utf8'));
      } finally {
        await gateway.stop();
      }
    }
    expect(keys[0]).not.toBe(keys[1]);
    expect(secrets[0]).not.toBe(secrets[1]);

    // A restart finds the demo tenant: no new key.
    const again = await start(dirs[0]!);
    try {
      expect(again.demoKey).toBeNull();
      expect((await gql(again.url, keys[0]!, '{ viewer { tenantId } }')).data).toEqual({ viewer: { tenantId: 'demo' } });
    } finally {
      await again.stop();
    }
  });

  it('starts from the demo template: the same demo as a seed, its own key, nothing shared but the rows', async () => {
    const seeded = await start(await newDir());
    let expected;
    try {
      expected = await demoContents(seeded);
    } finally {
      await seeded.stop();
    }
    expect(expected.segments.map((s) => s.name)).toEqual(['high_value_customers', 'recent_buyers', 'us_frequent_high_value']);
    expect(expected.segments.every((s) => s.customer_count !== null)).toBe(true);

    const template = path.join(await newDir(), 'demo-template');
    await makeDemoTemplate(template, loadConfig({}));
    const keys: string[] = [];
    for (const dir of [await newDir(), await newDir()]) {
      const gateway = await start(dir, template);
      try {
        const key = gateway.demoKey!;
        expect(key).toMatch(/^sgk_[A-Za-z0-9_-]{43}$/);
        expect((await readFile(path.join(dir, 'demo-admin.key'), 'utf8')).trim()).toBe(key);
        // The template's rows and counts, and one key: this directory's, minted at its first start.
        expect(await demoContents(gateway)).toEqual({ ...expected, keys: 1 });
        const answer = await gql<{ segments: { totalCount: number } }>(gateway.url, key, '{ segments { totalCount } }');
        expect(answer.data?.segments.totalCount).toBe(3);
        keys.push(key);
      } finally {
        await gateway.stop();
      }
    }
    expect(keys[0]).not.toBe(keys[1]);

    // A restart of a directory made from the template mints nothing.
    const again = await start(dirs.at(-1)!, template);
    try {
      expect(again.demoKey).toBeNull();
      expect((await demoContents(again)).keys).toBe(1);
    } finally {
      await again.stop();
    }
  });

  it('copies the template again when a copy was cut short (no PG_VERSION yet); PGlite answers from its thread', async () => {
    const template = embeddedTemplateDir();
    if (!(await access(path.join(template, 'PG_VERSION')).then(() => true, () => false))) await makeEmbeddedTemplate(template);
    const dir = await newDir();
    // What a start killed in the middle of the copy leaves: files, a damaged one, no PG_VERSION.
    await cp(template, dir, { recursive: true });
    await rm(path.join(dir, 'PG_VERSION'));
    await truncate(path.join(dir, 'global', 'pg_control'), 0);
    const embedded = await startEmbeddedPostgres(dir);
    try {
      expect((await embedded.pglite.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      // Statements sent to PGlite itself cross to its thread: rows as a blob, errors with their fields.
      await embedded.pglite.query('CREATE TABLE probe (n int)');
      const copied = await embedded.pglite.query("COPY probe FROM '/dev/blob'", [], { blob: new Blob(['2\n3\n']) });
      expect(copied.affectedRows).toBe(2);
      expect((await embedded.pglite.query<{ n: number }>('SELECT sum(n)::int AS n FROM probe')).rows).toEqual([{ n: 5 }]);
      await expect(embedded.pglite.query('SELECT * FROM missing')).rejects.toMatchObject({ code: '42P01' });
    } finally {
      await embedded.stop();
    }
  });
});
