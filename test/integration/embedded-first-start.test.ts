import { access, cp, mkdtemp, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/logger.js';
import { embeddedTemplateDir, makeEmbeddedTemplate, startEmbeddedPostgres } from '../../src/sql/embedded.js';
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

function start(dataDir: string): Promise<Gateway> {
  const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', RATE_LIMIT_ENABLED: 'false' });
  return startGateway(config, createLogger('silent'));
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

  it('copies the template again when a copy was cut short (no PG_VERSION yet)', async () => {
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
    } finally {
      await embedded.stop();
    }
  });
});
