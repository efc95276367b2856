import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

/** Statements sent to PGlite itself rather than through the socket. */
export interface EmbeddedSession {
  query<T = Record<string, unknown>>(
    text: string,
    params?: unknown[],
    options?: { blob?: Blob },
  ): Promise<{ rows: T[]; affectedRows?: number }>;
}

export interface EmbeddedPostgres {
  /** A connection string for pg-promise. */
  url: string;
  /**
   * PGlite behind the socket, for what the socket cannot carry: COPY FROM
   * STDIN (rows are loaded with `COPY ... FROM '/dev/blob'` instead). It is
   * the same single session as the socket connection.
   */
  pglite: EmbeddedSession;
  stop(): Promise<void>;
}

type FromWorker =
  | { type: 'ready'; port: number }
  | { type: 'result'; id: number; rows: unknown[]; affectedRows?: number; error?: undefined }
  | { type: 'result'; id: number; error: { message: string } & Record<string, unknown> };

/**
 * PostgreSQL compiled to WebAssembly (PGlite), persisted in `dataDir` and
 * served on a loopback port so that pg-promise talks to it like to any other
 * server. PGlite runs one session: callers must use a pool of one connection.
 *
 * It runs in a worker thread of its own (embedded.worker.mjs): its start
 * (~0.6-0.8 s of CPU, PGlite instantiating its WebAssembly and starting
 * PostgreSQL) goes on while the main thread loads the HTTP side, and its
 * queries beside the requests that send them.
 *
 * A new `dataDir` starts as a copy of `template` when that is a data
 * directory (the demo template, see src/embedded-demo.ts), or else of the
 * initdb template (see `embeddedTemplateDir`) instead of running initdb
 * inside PGlite: ~0.2-1 s instead of ~3 s of CPU (1.5-9 s, with the
 * machine's load). The worker copies it.
 */
export async function startEmbeddedPostgres(dataDir: string, template: string | null = null): Promise<EmbeddedPostgres> {
  const copyFrom = isDataDir(dataDir) ? null : await templateFor(template);
  const worker = new Worker(new URL('./embedded.worker.mjs', import.meta.url), { workerData: { dataDir, copyFrom } });
  const pending = new Map<number, { resolve(value: { rows: unknown[]; affectedRows?: number }): void; reject(error: Error): void }>();
  // Once the thread is stopping or has ended, statements fail at once.
  let failure: Error | null = null;
  const fail = (error: Error) => {
    failure ??= error;
    for (const call of pending.values()) call.reject(error);
    pending.clear();
  };
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'ready') resolve(message.port);
      else {
        const call = pending.get(message.id);
        pending.delete(message.id);
        if (message.error) call?.reject(Object.assign(new Error(message.error.message), message.error));
        else call?.resolve({ rows: message.rows, affectedRows: message.affectedRows });
      }
    });
    worker.on('error', (error: Error) => {
      reject(error);
      fail(error);
    });
    worker.on('exit', (code) => {
      const error = new Error(`the embedded PostgreSQL's thread ended (exit code ${code})`);
      reject(error);
      fail(error);
    });
  });
  let nextId = 0;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    pglite: {
      async query<T>(text: string, params: unknown[] = [], options: { blob?: Blob } = {}) {
        const blob = options.blob ? await options.blob.arrayBuffer() : null;
        if (failure) throw failure;
        const id = nextId++;
        const result = new Promise<{ rows: unknown[]; affectedRows?: number }>((resolve, reject) => {
          pending.set(id, { resolve, reject });
        });
        worker.postMessage({ type: 'query', id, text, params, blob }, blob ? [blob] : []);
        return result as Promise<{ rows: T[]; affectedRows?: number }>;
      },
    },
    // The thread closes the socket server and PGlite, then ends.
    stop() {
      if (!failure) {
        failure = new Error('the embedded PostgreSQL is stopped');
        worker.postMessage({ type: 'stop' });
      }
      return exited;
    },
  };
}

/** The embedded database of DATA_DIR `dataDir` (its `pgdata`): see `startEmbeddedPostgres`. */
export function startEmbeddedDatabase(dataDir: string, template: string | null): Promise<EmbeddedPostgres> {
  return startEmbeddedPostgres(path.join(dataDir, 'pgdata'), template);
}

/**
 * The server's embedded database when no DATABASE_URL is set (undefined
 * otherwise): a new one copied from the demo template of this build and day
 * when there is one.
 */
export function startServerDatabase(config: { databaseUrl: string | null; dataDir: string }): Promise<EmbeddedPostgres> | undefined {
  return config.databaseUrl === null ? startEmbeddedDatabase(config.dataDir, demoTemplateDir()) : undefined;
}

/**
 * The embedded database's templates, in `node_modules/.cache/segment-gateway/`,
 * one set per PGlite version: `pglite-<version>-<kind>`. The `initdb` one is
 * a PGlite data directory just after initdb, cleanly shut down. `npm install`
 * makes it (postinstall runs `node dist/embedded-template.js`); the first new
 * data directory makes it when it is missing. It holds nothing of the
 * gateway's (no migration, no tenant, no key, no secret): only what initdb
 * writes, the same for every install of that PGlite version.
 */
export function embeddedTemplateDir(kind = 'initdb'): string {
  // …/node_modules/@electric-sql/pglite/dist/index.cjs: the node_modules that holds PGlite.
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const marker = `${path.sep}node_modules${path.sep}`;
  const nodeModules = entry.slice(0, entry.lastIndexOf(marker) + marker.length - 1);
  const { version } = JSON.parse(
    readFileSync(path.join(nodeModules, '@electric-sql', 'pglite', 'package.json'), 'utf8'),
  ) as { version: string };
  return path.join(nodeModules, '.cache', 'segment-gateway', `pglite-${version}-${kind}`);
}

/**
 * The demo template of today and of this build (made by `makeDemoTemplate`
 * in src/embedded-demo.ts), or null when the code does not run from a build
 * (dist/.build-hash, see scripts/build.mjs).
 *
 * A first start copies it instead of migrating and seeding the demo tenant
 * (~1.2 s of a first start's ~4 s: PostgreSQL in WebAssembly runs the
 * migrations and the seed's statements for the first time). It is named by
 * the build, whose hash covers the migrations and the demo's code, and by
 * the UTC day: the demo rows are dated from the start of the day they are
 * made (see src/sql/demo.ts), so a template of an earlier day is not used,
 * and that first start seeds the demo itself.
 */
export function demoTemplateDir(now = new Date()): string | null {
  let build: string;
  try {
    build = readFileSync(new URL('./.build-hash', import.meta.url), 'utf8').trim().slice(0, 16);
  } catch {
    return null;
  }
  if (!/^[0-9a-f]{16}$/.test(build)) return null;
  return embeddedTemplateDir(`demo-${build}-${now.toISOString().slice(0, 10)}`);
}

/**
 * The data directory a new one is copied from: `preferred` when that is a
 * data directory, else the initdb template (made first when it is missing),
 * else none (PGlite then runs initdb itself).
 */
async function templateFor(preferred: string | null): Promise<string | null> {
  if (preferred !== null && isDataDir(preferred)) return preferred;
  const template = embeddedTemplateDir();
  try {
    if (!isDataDir(template)) await makeEmbeddedTemplate(template);
    return template;
  } catch {
    return null;
  }
}

/**
 * Whether `dir` holds a data directory (PGlite's own test: PG_VERSION is
 * there). Synchronous: the embedded database's start does not wait for a
 * turn of the event loop behind module loading.
 */
export function isDataDir(dir: string): boolean {
  return existsSync(path.join(dir, 'PG_VERSION'));
}

/**
 * A template made in a scratch directory by `fill` (by default initdb by
 * PGlite, then a clean shut down), then renamed to `dir` (so that `dir` is
 * whole or absent).
 */
export async function makeEmbeddedTemplate(
  dir = embeddedTemplateDir(),
  fill: (scratch: string) => Promise<void> = async (scratch) => {
    // Loaded only here: the server runs PGlite in its worker thread.
    const { PGlite } = await import('@electric-sql/pglite');
    const db = await PGlite.create(scratch);
    await db.close();
  },
): Promise<void> {
  await mkdir(path.dirname(dir), { recursive: true });
  const scratch = await mkdtemp(`${dir}.partial-`);
  try {
    await fill(scratch);
    await rename(scratch, dir).catch(async () => {
      // Made by another process in the meantime: as good as ours.
      if (isDataDir(dir)) return;
      // Something else in the way, not a whole template: replace it.
      await rm(dir, { recursive: true, force: true });
      await rename(scratch, dir);
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
