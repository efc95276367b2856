import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { log, sleep } from './util.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BENCH_DIR = path.join(ROOT, 'bench');

/**
 * A server the bench started as a child process in the repository root: the
 * gateway as `npm start` runs it (bench/servers.ts), or a peer's TypeScript
 * through tsx (`node --import tsx <script>`).
 */
export interface ChildServer {
  name: string;
  url: string;
  pid: number;
  /** Milliseconds from spawn to the first good answer of `readyPath`. */
  readyMs: number;
  /** Resident memory now and at its peak (VmRSS, VmHWM), in MiB; null where /proc is missing. */
  memory(): Promise<{ rssMb: number; peakMb: number } | null>;
  stop(): Promise<void>;
}

export interface StartOptions {
  name: string;
  /** Relative to the repository root. */
  script: string;
  env: Record<string, string>;
  port: number;
  readyPath?: string;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** `tsx` (the default) runs TypeScript; `none` runs a JavaScript file as is. */
  loader?: 'tsx' | 'none';
  logFile: string;
  timeoutMs?: number;
}

export async function startChild(options: StartOptions): Promise<ChildServer> {
  const started = performance.now();
  const out = createWriteStream(options.logFile, { flags: 'a' });
  const loader = options.loader === 'none' ? [] : ['--import', 'tsx'];
  const child: ChildProcess = spawn(process.execPath, [...(options.nodeArgs ?? []), ...loader, options.script], {
    cwd: ROOT,
    env: { ...cleanEnv(), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    if (exited !== undefined) {
      throw new Error(`${options.name} exited (${exited}) before it was ready; see ${options.logFile}:\n${await tail(options.logFile)}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} was not ready in time; see ${options.logFile}`);
    }
    try {
      const response = await fetch(`${url}${options.readyPath ?? '/readyz'}`);
      await response.arrayBuffer();
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    await sleep(10);
  }
  const readyMs = performance.now() - started;
  const pid = child.pid!;
  return {
    name: options.name,
    url,
    pid,
    readyMs,
    memory: () => processMemory(pid),
    async stop() {
      if (exited !== undefined) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(killer);
      out.end();
    },
  };
}

/** The bench's own settings stay out of the servers' environment. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('BENCH_') || ['DATABASE_URL', 'TEST_DATABASE_URL', 'DATA_DIR', 'PORT', 'AUTH_SECRET'].includes(name)) {
      delete env[name];
    }
  }
  return env;
}

async function tail(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-30).join('\n');
  } catch {
    return '';
  }
}

export async function processMemory(pid: number): Promise<{ rssMb: number; peakMb: number } | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used so far, in ms; null where /proc is missing. */
export async function processCpuMs(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** `getconf CLK_TCK`: 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

/** Samples a process's RSS while `work` runs; the highest sample, in MiB. */
export async function sampleMemory<T>(pid: number, work: () => Promise<T>): Promise<{ value: T; maxRssMb: number | null }> {
  let max: number | null = null;
  let running = true;
  const sampler = (async () => {
    while (running) {
      const m = await processMemory(pid);
      if (m) max = Math.max(max ?? 0, m.rssMb);
      await sleep(200);
    }
  })();
  try {
    const value = await work();
    return { value, maxRssMb: max };
  } finally {
    running = false;
    await sampler;
  }
}

/** A port nothing listens on at the moment, on 127.0.0.1. */
export function freePort(): Promise<number> {
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


export async function stopAll(servers: Array<ChildServer | undefined>): Promise<void> {
  await Promise.all(
    servers.map((s) =>
      s?.stop().catch((error: unknown) => log(`could not stop ${s.name}: ${String(error)}`)),
    ),
  );
}
