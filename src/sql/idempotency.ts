import type { Queryable } from './segments.js';

/** Statements of idempotency keys. Every one but the purge filters by tenant_id. */

export interface IdempotencyKeyRow {
  operation: string;
  fingerprint: string;
  result: unknown;
}

/**
 * Takes the key for this transaction: true when it was free (or its entry
 * older than `ttlSeconds`, which is taken over). A concurrent transaction
 * holding the same key makes this wait until it commits (then false) or
 * rolls back (then true).
 */
export async function claimIdempotencyKey(
  t: Queryable,
  claim: { tenantId: string; key: string; operation: string; fingerprint: string; ttlSeconds: number },
): Promise<boolean> {
  const row = await t.oneOrNone(
    `INSERT INTO idempotency_keys (tenant_id, key, operation, fingerprint)
     VALUES ($<tenantId>, $<key>, $<operation>, $<fingerprint>)
     ON CONFLICT (tenant_id, key) DO UPDATE
       SET operation = EXCLUDED.operation, fingerprint = EXCLUDED.fingerprint, result = NULL,
           created_at = EXCLUDED.created_at
       WHERE idempotency_keys.created_at < now() - make_interval(secs => $<ttlSeconds>)
     RETURNING true AS claimed`,
    claim,
  );
  return row !== null;
}

export function findIdempotencyKey(t: Queryable, tenantId: string, key: string): Promise<IdempotencyKeyRow | null> {
  return t.oneOrNone<IdempotencyKeyRow>(
    'SELECT operation, fingerprint, result FROM idempotency_keys WHERE tenant_id = $1 AND key = $2',
    [tenantId, key],
  );
}

export function recordIdempotentResult(t: Queryable, tenantId: string, key: string, result: unknown): Promise<null> {
  return t.none('UPDATE idempotency_keys SET result = $3:json WHERE tenant_id = $1 AND key = $2', [tenantId, key, result]);
}

/** Removes the entries of every tenant older than `ttlSeconds`; how many went. */
export async function deleteExpiredIdempotencyKeys(db: Queryable, ttlSeconds: number): Promise<number> {
  const result = await db.result('DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)', [
    ttlSeconds,
  ]);
  return result.rowCount;
}
