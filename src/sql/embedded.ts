import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
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
 */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  await mkdir(dataDir, { recursive: true });
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
