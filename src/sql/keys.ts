import type { Db } from './db.js';

export interface ApiKeyRow {
  id: string;
  tenant_id: string;
  name: string | null;
  role: 'admin' | 'editor' | 'viewer';
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = 'id, tenant_id, name, role, prefix, created_at, last_used_at, revoked_at';

export function insertApiKey(
  db: Db,
  key: { id: string; tenantId: string; name: string | null; role: string; prefix: string; hash: Buffer },
): Promise<ApiKeyRow> {
  return db.one<ApiKeyRow>(
    `INSERT INTO api_keys (id, tenant_id, name, role, prefix, hash)
     VALUES ($<id>, $<tenantId>, $<name>, $<role>, $<prefix>, $<hash>)
     RETURNING ${COLUMNS}`,
    key,
  );
}

/** The live key with this hash, whatever its tenant: keys are found before a tenant is known. */
export function findLiveApiKeyByHash(db: Db, hash: Buffer): Promise<ApiKeyRow | null> {
  return db.oneOrNone<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`, [hash]);
}

export function listApiKeysOfTenant(db: Db, tenantId: string): Promise<ApiKeyRow[]> {
  return db.any<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id`, [tenantId]);
}

/** Revokes a key of the tenant (or of any tenant when `tenantId` is null, for the operator's CLI). */
export function revokeApiKeyRow(db: Db, id: string, tenantId: string | null): Promise<ApiKeyRow | null> {
  return db.oneOrNone<ApiKeyRow>(
    `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
     WHERE id = $<id> AND ($<tenantId> IS NULL OR tenant_id = $<tenantId>)
     RETURNING ${COLUMNS}`,
    { id, tenantId },
  );
}

export function touchApiKeyLastUsed(db: Db, id: string): Promise<null> {
  return db.none(
    `UPDATE api_keys SET last_used_at = now()
     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
    [id],
  );
}
