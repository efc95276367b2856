// The embedded PostgreSQL (PGlite) in a worker thread of its own, served on
// a loopback port (see `startEmbeddedPostgres` in embedded.ts). Its start
// (copying a template into a new data directory, PGlite instantiating its
// WebAssembly and starting PostgreSQL) and its queries run beside the main
// thread rather than on it. Plain JavaScript: it runs as it is from src/ and
// from dist/ (the build copies it there).
//
// workerData: { dataDir, copyFrom (a template, or null) }.
// Messages in: { type: 'query', id, text, params, blob (an ArrayBuffer, or
// null) } and { type: 'stop' } (the thread ends once PGlite is closed).
// Messages out: { type: 'ready', port }, { type: 'result', id, rows,
// affectedRows } or { type: 'result', id, error }.
import { constants } from 'node:fs';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';

const { dataDir, copyFrom } = workerData;

/**
 * Copies the data directory `template` into `dataDir`. PG_VERSION, which is
 * how PGlite tells a data directory from an empty one, is copied last, so
 * that a copy cut short is copied again at the next start.
 */
async function copyDataDir(template) {
  const entries = await readdir(template, { withFileTypes: true, recursive: true });
  const relative = (entry) => path.relative(template, path.join(entry.parentPath, entry.name));
  for (const dir of entries.filter((entry) => entry.isDirectory())) {
    await mkdir(path.join(dataDir, relative(dir)), { recursive: true });
  }
  const pending = entries
    .filter((entry) => entry.isFile())
    .map(relative)
    .filter((file) => file !== 'PG_VERSION');
  // ~1,000 small files, ~40 MiB: a few at a time (copyFile is a native copy,
  // off the thread; a copy-on-write clone where the file system has them).
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
        await copyFile(path.join(template, file), path.join(dataDir, file), constants.COPYFILE_FICLONE);
      }
    }),
  );
  await copyFile(path.join(template, 'PG_VERSION'), path.join(dataDir, 'PG_VERSION'));
}

/** What a PostgreSQL error carries (code, detail, position, …) besides its message: its fields of plain values. */
function errorFields(error) {
  if (!(error instanceof Error)) return { message: String(error) };
  const fields = Object.entries(error).filter(([, value]) => ['string', 'number', 'boolean'].includes(typeof value));
  return { ...Object.fromEntries(fields), message: error.message };
}

/** A port nothing listens on at the moment, on 127.0.0.1. */
function freeLoopbackPort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

// PGlite's modules load while the data directory is copied.
const modules = Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')]);
await mkdir(dataDir, { recursive: true });
if (copyFrom !== null) {
  // Without PG_VERSION, PGlite.create initialises the directory itself.
  await copyDataDir(copyFrom).catch(() => {});
}
const [{ PGlite }, { PGLiteSocketServer }] = await modules;
const db = await PGlite.create(dataDir);
const port = await freeLoopbackPort();
const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections: 1 });
await server.start();

parentPort.on('message', async (message) => {
  if (message.type === 'query') {
    const { id, text, params, blob } = message;
    try {
      const result = await db.query(text, params, blob === null ? undefined : { blob: new Blob([blob]) });
      parentPort.postMessage({ type: 'result', id, rows: result.rows, affectedRows: result.affectedRows });
    } catch (error) {
      parentPort.postMessage({ type: 'result', id, error: errorFields(error) });
    }
  } else if (message.type === 'stop') {
    await server.stop();
    await db.close();
    parentPort.close();
  }
});
parentPort.postMessage({ type: 'ready', port });
