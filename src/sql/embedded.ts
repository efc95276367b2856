import { constants, readFileSync, type Dirent } from 'node:fs';
import { access, copyFile, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  /** A connection string for pg-promise. */
  url: string;
  /**
   * The PGlite instance behind the socket, for what the socket cannot carry:
   * COPY FROM STDIN (rows are loaded with `COPY ... FROM '/dev/blob'` instead).
   * It is the same single session as the socket connection.
   */
  pglite: PGlite;
  stop(): Promise<void>;
}

/**
 * PostgreSQL compiled to WebAssembly (PGlite), persisted in `dataDir` and
 * served on a loopback port so that pg-promise talks to it like to any other
 * server. PGlite runs one session: callers must use a pool of one connection.
 *
 * A new `dataDir` starts as a copy of the initdb template (see
 * `embeddedTemplateDir`) instead of running initdb inside PGlite: ~0.2 s
 * instead of ~3 s of CPU (1.5-9 s, with the machine's load).
 */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  await mkdir(dataDir, { recursive: true });
  if (!(await isDataDir(dataDir))) await fromTemplate(dataDir);
  const db = await PGlite.create(dataDir);
  const port = await freeLoopbackPort();
  const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections: 1 });
  await server.start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    pglite: db,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

/** A port nothing listens on at the moment, on 127.0.0.1. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no loopback port'));
      });
    });
  });
}

/**
 * The embedded database's template: a PGlite data directory just after
 * initdb, cleanly shut down, in `node_modules/.cache/segment-gateway/`, one
 * per PGlite version. `npm install` makes it (postinstall runs
 * `node dist/embedded-template.js`); the first new data directory makes it
 * when it is missing. It holds nothing of the gateway's (no migration, no
 * tenant, no key, no secret): only what initdb writes, the same for every
 * install of that PGlite version.
 */
export function embeddedTemplateDir(): string {
  // …/node_modules/@electric-sql/pglite/dist/index.cjs: the node_modules that holds PGlite.
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const marker = `${path.sep}node_modules${path.sep}`;
  const nodeModules = entry.slice(0, entry.lastIndexOf(marker) + marker.length - 1);
  const { version } = JSON.parse(
    readFileSync(path.join(nodeModules, '@electric-sql', 'pglite', 'package.json'), 'utf8'),
  ) as { version: string };
  return path.join(nodeModules, '.cache', 'segment-gateway', `pglite-${version}-initdb`);
}

/**
 * Fills the new data directory `dataDir` from the template (made first when
 * it is missing). When neither works, PGlite runs initdb itself.
 * PG_VERSION, which is how PGlite tells a data directory from an empty one,
 * is copied last, so that a copy cut short is copied again at the next start.
 */
async function fromTemplate(dataDir: string): Promise<void> {
  try {
    const template = embeddedTemplateDir();
    if (!(await isDataDir(template))) await makeEmbeddedTemplate(template);
    const entries = await readdir(template, { withFileTypes: true, recursive: true });
    const relative = (e: Dirent) => path.relative(template, path.join(e.parentPath, e.name));
    for (const dir of entries.filter((e) => e.isDirectory())) {
      await mkdir(path.join(dataDir, relative(dir)), { recursive: true });
    }
    const files = entries.filter((e) => e.isFile()).map(relative);
    const pending = files.filter((f) => f !== 'PG_VERSION');
    // ~1,000 small files, 39 MiB: a few at a time (copyFile is a native copy, off the main
    // thread; a copy-on-write clone where the file system has them).
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
          await copyFile(path.join(template, file), path.join(dataDir, file), constants.COPYFILE_FICLONE);
        }
      }),
    );
    await copyFile(path.join(template, 'PG_VERSION'), path.join(dataDir, 'PG_VERSION'));
  } catch {
    // Without PG_VERSION, PGlite.create initialises the directory itself.
  }
}

/** Whether `dir` holds a data directory (PGlite's own test: PG_VERSION is there). */
export function isDataDir(dir: string): Promise<boolean> {
  return access(path.join(dir, 'PG_VERSION')).then(
    () => true,
    () => false,
  );
}

/** initdb by PGlite in a scratch directory, shut down, then renamed to `dir` (so that `dir` is whole or absent). */
export async function makeEmbeddedTemplate(dir = embeddedTemplateDir()): Promise<void> {
  await mkdir(path.dirname(dir), { recursive: true });
  const scratch = await mkdtemp(`${dir}.partial-`);
  try {
    const db = await PGlite.create(scratch);
    await db.close();
    await rename(scratch, dir).catch(async () => {
      // Made by another process in the meantime: as good as ours.
      if (await isDataDir(dir)) return;
      // Something else in the way, not a whole template: replace it.
      await rm(dir, { recursive: true, force: true });
      await rename(scratch, dir);
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
