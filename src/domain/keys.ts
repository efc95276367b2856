import { createHmac, hash, randomBytes } from 'node:crypto';
import { Invalid, NotFound } from './errors.js';
import { getTenant } from './tenants.js';
import type { Db } from '../sql/db.js';
import {
  findLiveApiKeyByHash,
  insertApiKey,
  listApiKeysOfTenant,
  revokeApiKeyRow,
  touchApiKeyLastUsed,
  type ApiKeyRow,
} from '../sql/keys.js';

export const ROLES = ['admin', 'editor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export interface ApiKeyInfo {
  id: string;
  tenantId: string;
  name: string | null;
  role: Role;
  /** The first characters of the key, enough to recognise it; never the key. */
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export interface MintedKey {
  key: string;
  info: ApiKeyInfo;
}

/** Who a request is, once its key is verified. */
export interface Principal {
  keyId: string;
  keyName: string | null;
  tenantId: string;
  role: Role;
}

const KEY_PREFIX = 'sgk_';

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** HMAC-SHA256 of the key under the server secret: all that is ever stored. */
export function hashApiKey(secret: string, key: string): Buffer {
  return createHmac('sha256', secret).update(key).digest();
}

export async function mintApiKey(
  db: Db,
  secret: string,
  input: { tenantId: string; role: string; name?: string | null },
): Promise<MintedKey> {
  if (!isRole(input.role)) throw Invalid.at('role', 'must be admin, editor or viewer');
  const name = input.name?.trim() || null;
  if (name !== null && name.length > 255) throw Invalid.at('name', 'must be at most 255 characters');
  if (!(await getTenant(db, input.tenantId))) throw new NotFound('Tenant', input.tenantId);
  // 256 bits of entropy, URL-safe so it travels in headers as is.
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  const row = await insertApiKey(db, {
    id: `key_${randomBytes(8).toString('hex')}`,
    tenantId: input.tenantId,
    name,
    role: input.role,
    prefix: key.slice(0, KEY_PREFIX.length + 8),
    hash: hashApiKey(secret, key),
  });
  return { key, info: toInfo(row) };
}

export async function listApiKeys(db: Db, tenantId: string): Promise<ApiKeyInfo[]> {
  return (await listApiKeysOfTenant(db, tenantId)).map(toInfo);
}

/** Revokes a key; `tenantId` null lets an operator revoke any key by id. */
export async function revokeApiKey(db: Db, id: string, tenantId: string | null): Promise<ApiKeyInfo> {
  const row = await revokeApiKeyRow(db, id, tenantId);
  if (!row) throw new NotFound('API key', id);
  return toInfo(row);
}

function toInfo(row: ApiKeyRow): ApiKeyInfo {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    role: row.role,
    prefix: row.prefix,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

/**
 * Verifies keys. A verified key is remembered for `cacheTtlMs` so that a busy
 * client costs no lookup per request; a revocation on this instance takes
 * effect at once, on other instances within the TTL. `last_used_at` is
 * written at most once a minute per key, off the request's path.
 */
export class KeyVerifier {
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  private readonly lastTouched = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly secret: string,
    private readonly cacheTtlMs: number,
    private readonly onBackgroundError: (error: unknown) => void = () => {},
  ) {}

  async verify(key: string): Promise<Principal | null> {
    if (!key.startsWith(KEY_PREFIX) || key.length > 200) return null;
    // Remembered under a SHA-256 of the key, never the key: a one-shot digest
    // is ~6× cheaper than the HMAC, which only a lookup needs.
    const cacheKey = hash('sha256', key, 'base64');
    const now = Date.now();
    const cached = this.cache.get(cacheKey);
    let principal: Principal | null;
    if (cached && cached.until > now) {
      principal = cached.principal;
    } else {
      const row = await findLiveApiKeyByHash(this.db, hashApiKey(this.secret, key));
      principal = row && { keyId: row.id, keyName: row.name, tenantId: row.tenant_id, role: row.role };
      if (principal && this.cacheTtlMs > 0) {
        if (this.cache.size > 10_000) this.cache.clear();
        this.cache.set(cacheKey, { principal, until: now + this.cacheTtlMs });
      } else {
        this.cache.delete(cacheKey);
      }
    }
    if (principal) this.noteUse(principal.keyId, now);
    return principal;
  }

  /** Forgets a revoked key at once on this instance. */
  forget(keyId: string): void {
    for (const [digest, entry] of this.cache) {
      if (entry.principal.keyId === keyId) this.cache.delete(digest);
    }
  }

  private noteUse(keyId: string, now: number): void {
    const last = this.lastTouched.get(keyId) ?? 0;
    if (now - last < 60_000) return;
    this.lastTouched.set(keyId, now);
    touchApiKeyLastUsed(this.db, keyId).catch(this.onBackgroundError);
  }
}
