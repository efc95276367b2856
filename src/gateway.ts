import { createServer, type Server } from 'node:http';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './config.js';
import { KeyVerifier, mintApiKey } from './domain/keys.js';
import { DEMO_TENANT, seedDemo } from './embedded-demo.js';
import type { Logger } from './logger.js';
import type { Services } from './schema/context.js';
import type { App } from './server/app.js';
import { scheduleIdempotencyPurge } from './domain/idempotency.js';
import { openDatabase } from './database.js';
import { migrate } from './sql/migrate.js';
import { observeQueries, type Db } from './sql/db.js';
import { startServerDatabase, type EmbeddedPostgres } from './sql/embedded.js';
import { listApiKeysOfTenant } from './sql/keys.js';

export interface Gateway {
  url: string;
  app: App;
  services: Services;
  server: Server;
  /** The demo admin key, on the first start of an embedded database only. */
  demoKey: string | null;
  /** Stops accepting, lets in-flight requests finish, closes the pool and the embedded database. */
  stop(): Promise<void>;
}

export interface GatewayOptions {
  /**
   * The embedded database (no DATABASE_URL) when it is already starting
   * (src/main.ts starts it before loading the gateway's modules). By
   * default the gateway starts it (`startServerDatabase`).
   */
  embedded?: Promise<EmbeddedPostgres>;
}

/** Starts the whole service: database, migrations, first-start demo, HTTP. */
export async function startGateway(config: Config, logger: Logger, options: GatewayOptions = {}): Promise<Gateway> {
  // Most of the modules (GraphQL schema, yoga, metrics, rate limits) load
  // while the database opens: the embedded one copies its template and starts
  // in its own thread meanwhile (docs/performance.md, first start).
  const loadingHttp = loadHttpModules();
  // Awaited below; this only keeps its failure from going unhandled when the database fails first.
  loadingHttp.catch(() => {});
  const opened = await openDatabase(config, options.embedded ?? startServerDatabase(config));
  const { database, embedded, authSecret } = opened;
  if (embedded) logger.info({ dataDir: config.dataDir }, 'embedded PostgreSQL started');
  let rateLimiter: Services['rateLimiter'] = null;
  try {
    const { applied } = await migrate(database.db);
    if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    const demoKey = embedded ? await firstStartDemo(database.db, config, authSecret) : null;
    const graphiqlHeaders = embedded ? await localDemoHeaders(config) : undefined;

    const { createApp, createRateLimiter, recordQuery, trackPools } = await loadingHttp;
    rateLimiter = createRateLimiter(config.rateLimit, logger);
    const keys = new KeyVerifier(database.db, authSecret, config.authCacheTtlMs, (err) =>
      logger.warn({ err }, 'could not record key use'),
    );
    const loadTarget = { db: database.db, ...(embedded ? { pglite: embedded.pglite } : {}) };
    const services: Services = { config, database, loadTarget, keys, logger, authSecret, rateLimiter };
    const stopPurge = scheduleIdempotencyPurge(database.db, (err) =>
      logger.warn({ err }, 'could not purge expired idempotency keys'),
    );
    const app = createApp(services, { graphiqlHeaders });
    const server = createServer(app.handle);
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    const address = server.address();
    const port = address && typeof address === 'object' ? address.port : config.port;
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

    const untrackPools = trackPools(database);
    const unobserveQueries = observeQueries(recordQuery);
    let stopping: Promise<void> | null = null;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        stopPurge();
        await closeServer(server, config.shutdownTimeoutMs);
        await rateLimiter?.close();
        untrackPools();
        unobserveQueries();
        await opened.close();
      })();
      return stopping;
    };
    return { url, app, services, server, demoKey, stop };
  } catch (error) {
    await rateLimiter?.close();
    await opened.close().catch(() => {});
    throw error;
  }
}

/** Imported when the gateway starts rather than with this module, so that they load while the database opens. */
async function loadHttpModules() {
  const [app, metrics, rateLimit] = await Promise.all([
    import('./server/app.js'),
    import('./server/metrics.js'),
    import('./server/rate-limit.js'),
  ]);
  return {
    createApp: app.createApp,
    recordQuery: metrics.recordQuery,
    trackPools: metrics.trackPools,
    createRateLimiter: rateLimit.createRateLimiter,
  };
}

/** Waits for in-flight requests, then closes what is left after the timeout. */
async function closeServer(server: Server, timeoutMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const idleSweep = setInterval(() => server.closeIdleConnections(), 100);
  const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
  try {
    await closed;
  } finally {
    clearInterval(idleSweep);
    clearTimeout(timer);
  }
}

function demoKeyFile(config: Config): string {
  return path.join(config.dataDir, 'demo-admin.key');
}

/**
 * On the first start of an empty embedded database: a `demo` tenant with an
 * admin key, printed once and kept in DATA_DIR/demo-admin.key (mode 0600).
 * The tenant may be there already, copied from the demo template: its key is
 * minted here, for this data directory only. A demo tenant with a key (even
 * a revoked one: keys are never deleted) has had its first start.
 */
async function firstStartDemo(db: Db, config: Config, authSecret: string): Promise<string | null> {
  await seedDemo(db, config);
  if ((await listApiKeysOfTenant(db, DEMO_TENANT)).length > 0) return null;
  const { key } = await mintApiKey(db, authSecret, {
    tenantId: DEMO_TENANT,
    role: 'admin',
    name: 'demo admin',
  });
  const file = demoKeyFile(config);
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return key;
}

/** GraphiQL starts with the demo key when the server only listens locally. */
async function localDemoHeaders(config: Config): Promise<Record<string, string> | undefined> {
  if (!['127.0.0.1', 'localhost', '::1'].includes(config.host)) return undefined;
  try {
    const key = (await readFile(demoKeyFile(config), 'utf8')).trim();
    return key ? { Authorization: `Bearer ${key}` } : undefined;
  } catch {
    return undefined;
  }
}
