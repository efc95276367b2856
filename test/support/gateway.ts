import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { mintApiKey, type Role } from '../../src/domain/keys.js';
import { createTenant } from '../../src/domain/tenants.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/logger.js';
import type { DestinationStream } from 'pino';
import { createTestDatabase, type TestDatabase } from './db.js';

export const TEST_AUTH_SECRET = 'test-secret-test-secret-test-secret-0123456789';

export interface TestGateway extends Gateway {
  /** The gateway's database, when it runs on TEST_DATABASE_URL. */
  testDb: TestDatabase | null;
  /** Creates a tenant and returns a key of each asked role. */
  tenantWithKeys(tenantId: string, roles?: Role[]): Promise<Record<Role, string>>;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  env?: Record<string, string>;
  /** Rewrites the database URL, e.g. to go through a TcpProxy. */
  databaseUrl?: (url: string) => string;
  /**
   * A database of TEST_DATABASE_URL's server that another gateway (or the
   * test) already uses; the gateway neither creates nor drops it.
   */
  sharedDatabaseUrl?: string;
  /** Where the gateway's log lines go (stdout by default), for tests that read them. */
  logDestination?: DestinationStream;
}

/**
 * A whole gateway on a free loopback port: on a fresh database of
 * TEST_DATABASE_URL's server when set, on a fresh embedded one otherwise.
 */
export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  let testDb: TestDatabase | null = null;
  let dataDir: string | null = null;
  const env: Record<string, string> = {
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // Tests of rate limits turn them on; elsewhere they would only make a busy test flaky.
    RATE_LIMIT_ENABLED: 'false',
    ...options.env,
  };
  if (options.sharedDatabaseUrl) {
    env.DATABASE_URL = options.sharedDatabaseUrl;
    env.AUTH_SECRET = TEST_AUTH_SECRET;
  } else if (process.env.TEST_DATABASE_URL) {
    testDb = await createTestDatabase();
    env.DATABASE_URL = options.databaseUrl ? options.databaseUrl(testDb.url) : testDb.url;
    env.AUTH_SECRET = TEST_AUTH_SECRET;
  } else {
    dataDir = await mkdtemp(path.join(tmpdir(), 'segment-gateway-data-'));
    env.DATA_DIR = dataDir;
  }
  const config = loadConfig(env);
  const gateway = await startGateway(config, createLogger(config.logLevel, options.logDestination));
  const { db } = gateway.services.database;

  return {
    ...gateway,
    testDb,
    async tenantWithKeys(tenantId, roles = ['admin', 'editor', 'viewer']) {
      await createTenant(db, tenantId);
      const keys = {} as Record<Role, string>;
      for (const role of roles) {
        keys[role] = (await mintApiKey(db, gateway.services.authSecret, { tenantId, role, name: role })).key;
      }
      return keys;
    },
    async close() {
      await gateway.stop();
      await testDb?.destroy();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  data?: T | null;
  errors?: Array<{ message: string; path?: string[]; extensions?: { code?: string; details?: unknown[] } }>;
}

/** POSTs one GraphQL operation with a key. */
export async function gql<T = Record<string, unknown>>(
  url: string,
  key: string | null,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as Omit<GraphQLResponse<T>, 'status' | 'headers'>;
  return { status: response.status, headers: response.headers, ...body };
}

export function uniqueTenant(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
}
