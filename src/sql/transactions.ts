import type { IBaseProtocol, ITask } from 'pg-promise';
import { isRetryableConflict } from './pg-errors.js';

export interface RetryPolicy {
  /** Runs in all, the first included. */
  attempts: number;
  /** The longest pause before the next run grows from this... */
  baseDelayMs: number;
  /** ...to at most this; the pause itself is random below it (full jitter). */
  maxDelayMs: number;
}

export const CONFLICT_RETRIES: RetryPolicy = { attempts: 6, baseDelayMs: 10, maxDelayMs: 250 };

/**
 * A transaction that is run again when PostgreSQL aborts it to break a
 * deadlock (40P01) or a serialization failure (40001): two requests that
 * collide are not the client's problem. Runs are bounded and spaced by a
 * random pause, so that the colliding transactions do not collide again in
 * step. Within an outer transaction it is a savepoint, retried alike.
 *
 * `work` may run more than once, so it must only do database work.
 */
export async function retryingTx<T>(
  db: IBaseProtocol<unknown>,
  tag: string,
  work: (t: ITask<unknown>) => Promise<T>,
  policy: RetryPolicy = CONFLICT_RETRIES,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.tx(tag, work);
    } catch (error) {
      if (!isRetryableConflict(error) || attempt >= policy.attempts) throw error;
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
    }
  }
}
