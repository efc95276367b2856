import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_AUTH_SECRET } from '../support/gateway.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { KeyVerifier } from '../../src/domain/keys.js';

const run = promisify(execFile);
const bin = path.resolve('bin/segment-gateway.js');
let testDb: TestDatabase | null = null;
let env: Record<string, string>;
let dataDir: string | null = null;

beforeAll(async () => {
  if (process.env.TEST_DATABASE_URL) {
    testDb = await createTestDatabase();
    env = { DATABASE_URL: testDb.url, AUTH_SECRET: TEST_AUTH_SECRET };
  } else {
    dataDir = await mkdtemp(path.join(tmpdir(), 'segment-gateway-cli-'));
    env = { DATA_DIR: dataDir };
  }
});
afterAll(async () => {
  await testDb?.destroy();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function cli(...args: string[]) {
  return run(process.execPath, [bin, ...args], { env: { ...process.env, ...env, LOG_LEVEL: 'silent' } });
}

async function failing(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await cli(...args);
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
  throw new Error(`expected ${args.join(' ')} to fail`);
}

// Each command is a new process (and, without TEST_DATABASE_URL, a new embedded database).
describe('the command line', { timeout: 120_000 }, () => {
  it('creates a tenant, mints a key printed alone on stdout, lists and revokes it', async () => {
    await cli('tenants', 'create', 'cli-tenant');
    const created = await cli('keys', 'create', '--tenant', 'cli-tenant', '--role', 'editor', '--name', 'etl');
    const key = created.stdout.trim();
    expect(created.stdout).toMatch(/^sgk_[A-Za-z0-9_-]{43}\n$/);

    const listed = await cli('keys', 'list', '--tenant', 'cli-tenant');
    const [id, prefix, role, state, name] = listed.stdout.trim().split('\t');
    expect(prefix).toBe(`${key.slice(0, 12)}…`);
    expect([role, state, name]).toEqual(['editor', 'active', 'etl']);
    expect(listed.stdout).not.toContain(key);

    if (testDb) {
      const verifier = new KeyVerifier(testDb.db, TEST_AUTH_SECRET, 0);
      expect(await verifier.verify(key)).toMatchObject({ tenantId: 'cli-tenant', role: 'editor' });
      await cli('keys', 'revoke', id!);
      expect(await verifier.verify(key)).toBeNull();
    } else {
      await cli('keys', 'revoke', id!);
    }
    expect((await cli('keys', 'list', '--tenant', 'cli-tenant')).stdout).toMatch(/\trevoked /);
  });

  it('bad arguments print usage and exit non-zero', async () => {
    for (const args of [['keys', 'create', '--tenant', 'x'], ['frobnicate'], ['keys', 'revoke'], ['tenants', 'create']]) {
      const { code, stderr } = await failing(...args);
      expect(code).toBe(2);
      expect(stderr).toMatch(/Usage: segment-gateway/);
    }
  });

  it('domain errors exit 1 with a readable message', async () => {
    const { code, stderr } = await failing('keys', 'create', '--tenant', 'nobody', '--role', 'admin');
    expect(code).toBe(1);
    expect(stderr).toMatch(/Tenant nobody not found/);
    const bad = await failing('tenants', 'create', 'Not_Valid');
    expect(bad.code).toBe(1);
  });
});
