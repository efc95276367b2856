import type { IBaseProtocol } from 'pg-promise';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { fingerprintOf } from '../../src/domain/idempotency.js';
import { retryingTx } from '../../src/sql/transactions.js';

/** A database whose transactions run `work` directly and fail the first `failures` times with `code`. */
function flakyDb(failures: number, code: string): { db: IBaseProtocol<unknown>; runs: () => number } {
  let runs = 0;
  const db = {
    async tx(_tag: string, work: (t: unknown) => Promise<unknown>) {
      runs += 1;
      if (runs <= failures) throw Object.assign(new Error(`simulated ${code}`), { code });
      return work({});
    },
  } as unknown as IBaseProtocol<unknown>;
  return { db, runs: () => runs };
}

const FAST = { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 };

describe('transactions that collide', () => {
  it('a deadlock or a serialization failure is run again until it goes through', async () => {
    for (const code of ['40P01', '40001']) {
      const { db, runs } = flakyDb(3, code);
      await expect(retryingTx(db, 'test', async () => 'done', FAST)).resolves.toBe('done');
      expect(runs()).toBe(4);
    }
  });

  it('gives up after the bounded number of runs and lets the conflict through', async () => {
    const { db, runs } = flakyDb(10, '40P01');
    await expect(retryingTx(db, 'test', async () => 'done', FAST)).rejects.toMatchObject({ code: '40P01' });
    expect(runs()).toBe(4);
  });

  it('any other error is not retried', async () => {
    const { db, runs } = flakyDb(1, '23505');
    await expect(retryingTx(db, 'test', async () => 'done', FAST)).rejects.toMatchObject({ code: '23505' });
    expect(runs()).toBe(1);
  });
});

describe('request fingerprints', () => {
  it('do not depend on the order of object keys, only on the values', () => {
    const a = fingerprintOf({ name: 'x', filters: [{ field: 'f', operator: '=', value: 1 }] });
    const b = fingerprintOf({ filters: [{ value: 1, operator: '=', field: 'f' }], name: 'x' });
    expect(a).toBe(b);
    expect(fingerprintOf({ name: 'x', filters: [{ field: 'f', operator: '=', value: 2 }] })).not.toBe(a);
    // Array order is meaning, not presentation.
    expect(fingerprintOf([1, 2])).not.toBe(fingerprintOf([2, 1]));
  });

  it('of bytes are of the bytes', () => {
    expect(fingerprintOf(Buffer.from('id\n1\n'))).toBe(fingerprintOf(Buffer.from('id\n1\n')));
    expect(fingerprintOf(Buffer.from('id\n1\n'))).not.toBe(fingerprintOf(Buffer.from('id\n2\n')));
  });
});

describe('rate limit configuration', () => {
  it('defaults to 600 reads, 120 writes and 30 heavy requests a minute, in memory', () => {
    expect(loadConfig({}).rateLimit).toEqual({
      enabled: true,
      windowSeconds: 60,
      points: { read: 600, write: 120, heavy: 30 },
      redisUrl: null,
      redisPrefix: 'sg:rl:',
      redisTimeoutMs: 200,
    });
  });

  it('reads every setting and names bad ones', () => {
    const config = loadConfig({
      RATE_LIMIT_ENABLED: 'false',
      RATE_LIMIT_WINDOW_S: '10',
      RATE_LIMIT_READ: '5',
      RATE_LIMIT_WRITE: '4',
      RATE_LIMIT_HEAVY: '3',
      REDIS_URL: 'redis://127.0.0.1:6379/2',
      RATE_LIMIT_REDIS_PREFIX: 'app1:',
      REDIS_TIMEOUT_MS: '50',
    });
    expect(config.rateLimit).toEqual({
      enabled: false,
      windowSeconds: 10,
      points: { read: 5, write: 4, heavy: 3 },
      redisUrl: 'redis://127.0.0.1:6379/2',
      redisPrefix: 'app1:',
      redisTimeoutMs: 50,
    });
    const bad = () => loadConfig({ REDIS_URL: 'http://x', RATE_LIMIT_HEAVY: '0', RATE_LIMIT_ENABLED: 'maybe' });
    expect(bad).toThrow(/REDIS_URL must be a redis:\/\//);
    expect(bad).toThrow(/RATE_LIMIT_HEAVY must be an integer/);
    expect(bad).toThrow(/RATE_LIMIT_ENABLED must be true or false/);
  });
});
