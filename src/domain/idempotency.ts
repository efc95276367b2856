import { createHash } from 'node:crypto';
import { Conflict } from './errors.js';
import {
  claimIdempotencyKey,
  deleteExpiredIdempotencyKeys,
  findIdempotencyKey,
  recordIdempotentResult,
} from '../sql/idempotency.js';
import type { Queryable } from '../sql/segments.js';

/** How long a key remembers its result. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

/** A create the client marked with a key of its choosing, to be done at most once. */
export interface IdempotentRequest {
  key: string;
  operation: string;
  /** SHA-256 of the payload (see `fingerprintOf`). */
  fingerprint: string;
}

/** How a result is kept in the key's entry (JSON) and given back. */
export interface ResultCodec<T> {
  encode(result: T): unknown;
  decode(stored: unknown): T;
}

/** The request to make idempotent, or undefined when the client sent no key. */
export function idempotentRequest(key: string | null, operation: string, payload: unknown): IdempotentRequest | undefined {
  return key === null ? undefined : { key, operation, fingerprint: fingerprintOf(payload) };
}

/**
 * SHA-256 of the payload's canonical JSON (object keys sorted, so the order a
 * client writes them in does not matter), or of its bytes for a Buffer.
 */
export function fingerprintOf(payload: unknown): string {
  const hash = createHash('sha256');
  if (Buffer.isBuffer(payload)) hash.update(payload);
  else hash.update(JSON.stringify(payload, (_key, value: unknown) => sortedKeys(value)) ?? 'undefined');
  return hash.digest('hex');
}

function sortedKeys(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Runs `create` in transaction `t` at most once per tenant and key. The key
 * is claimed first, in the same transaction, and the result recorded before
 * it commits: a retry after the commit gets the recorded result; a duplicate
 * sent while the first is still running waits on the key's row, then gets
 * the same; if the first fails, nothing was recorded and the retry runs anew.
 * The same key with another operation or payload is refused.
 */
export async function runOnce<T>(
  t: Queryable,
  tenantId: string,
  request: IdempotentRequest | undefined,
  codec: ResultCodec<T>,
  create: () => Promise<T>,
): Promise<T> {
  if (!request) return create();
  // Twice at most: an entry can expire and be purged between the claim and the read.
  for (let attempt = 0; attempt < 2; attempt++) {
    const claim = { tenantId, ...request, ttlSeconds: IDEMPOTENCY_TTL_SECONDS };
    if (await claimIdempotencyKey(t, claim)) {
      const result = await create();
      await recordIdempotentResult(t, tenantId, request.key, codec.encode(result));
      return result;
    }
    const first = await findIdempotencyKey(t, tenantId, request.key);
    if (!first) continue;
    if (first.operation !== request.operation || first.fingerprint !== request.fingerprint) {
      throw new Conflict(
        `Idempotency-Key ${request.key} was already used for another request (${first.operation}); send a new key with a new request`,
      );
    }
    return codec.decode(first.result);
  }
  throw new Conflict(`Idempotency-Key ${request.key} is changing hands; retry the request`);
}

/** Forgets the keys older than a day, of every tenant. */
export function purgeExpiredIdempotencyKeys(db: Queryable): Promise<number> {
  return deleteExpiredIdempotencyKeys(db, IDEMPOTENCY_TTL_SECONDS);
}

/** A record whose `Date` fields travel as ISO strings in JSON. */
export function recordCodec<T extends object>(dateFields: ReadonlyArray<keyof T>): ResultCodec<T> {
  return {
    encode: (record) => record,
    decode(stored) {
      const record = { ...(stored as Record<string, unknown>) };
      for (const field of dateFields) {
        const value = record[field as string];
        if (typeof value === 'string') record[field as string] = new Date(value);
      }
      return record as T;
    },
  };
}

export const numberCodec: ResultCodec<number> = { encode: (n) => n, decode: (stored) => Number(stored) };

/** Purges expired keys now and then every hour, until the returned function is called. */
export function scheduleIdempotencyPurge(db: Queryable, onError: (error: unknown) => void): () => void {
  const purge = () => void purgeExpiredIdempotencyKeys(db).catch(onError);
  const timer = setInterval(purge, 60 * 60 * 1000);
  // Never what keeps the process alive.
  timer.unref();
  purge();
  return () => clearInterval(timer);
}
