import { spawn } from 'node:child_process';

/**
 * Runs statements "by hand" in psql, the limit the product is held to: one
 * session, `\timing on`, results discarded. Returns psql's own time of each
 * statement (the round trip of that statement alone, without connecting), in
 * the order given. A statement may be a psql meta-command (`\copy ...`).
 */
export async function psqlTimes(url: string, statements: readonly string[]): Promise<number[]> {
  const script = ['\\set ON_ERROR_STOP on', '\\timing on', '\\o /dev/null', ...statements.map(terminated)].join('\n');
  const output = await runPsql(url, script);
  const times = [...output.matchAll(/^Time: ([\d.]+) ms/gm)].map((m) => Number(m[1]));
  if (times.length !== statements.length) {
    throw new Error(`psql printed ${times.length} timings for ${statements.length} statements:\n${output.slice(-2000)}`);
  }
  return times;
}

/**
 * Like psqlTimes, but keeps what the statements print (tuples only, `|`
 * between columns), for statements whose results are small: a count.
 */
export async function psqlTimesAndRows(url: string, statements: readonly string[]): Promise<{ times: number[]; rows: string[] }> {
  const script = ['\\set ON_ERROR_STOP on', '\\timing on', ...statements.map(terminated)].join('\n');
  const lines = (await runPsql(url, script)).split('\n').filter((l) => l.trim() !== '');
  const times = lines.flatMap((l) => /^Time: ([\d.]+) ms/.exec(l)?.[1] ?? []).map(Number);
  if (times.length !== statements.length) throw new Error(`psql printed ${times.length} timings for ${statements.length} statements`);
  return { times, rows: lines.filter((l) => !l.startsWith('Time: ') && l !== 'Timing is on.') };
}

/** Runs a script and returns what it printed (query results included). */
export function psqlOutput(url: string, statements: readonly string[]): Promise<string> {
  return runPsql(url, ['\\set ON_ERROR_STOP on', ...statements.map(terminated)].join('\n'));
}

function terminated(statement: string): string {
  const s = statement.trim();
  return s.startsWith('\\') || s.endsWith(';') ? s : `${s};`;
}

function runPsql(url: string, script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('psql', ['-X', '-q', '-A', '-t', '-d', url], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`psql exited ${code}: ${err.slice(-2000)}`));
    });
    child.stdin.end(`${script}\n`);
  });
}
