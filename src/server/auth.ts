import type { KeyVerifier, Principal } from '../domain/keys.js';
import { Forbidden, Unauthenticated } from '../domain/errors.js';

type HeaderValue = string | string[] | null | undefined;
export interface HeaderSource {
  get(name: string): HeaderValue;
}

function single(value: HeaderValue): string | undefined {
  if (Array.isArray(value)) return value[0];
  return value ?? undefined;
}

/** The key a request carries: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(headers: HeaderSource): string | undefined {
  const authorization = single(headers.get('authorization'))?.trim();
  if (authorization) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    return match?.[1];
  }
  return single(headers.get('x-api-key'))?.trim() || undefined;
}

/**
 * Verifies the caller. A missing or unknown key is UNAUTHENTICATED; an
 * `X-Tenant-Id` that is not the key's own tenant is FORBIDDEN (the header is
 * only ever checked, never trusted).
 */
export async function authenticate(headers: HeaderSource, keys: KeyVerifier): Promise<Principal> {
  const key = presentedKey(headers);
  if (!key) throw new Unauthenticated('A valid API key is required (Authorization: Bearer <key> or X-API-Key)');
  const principal = await keys.verify(key);
  if (!principal) throw new Unauthenticated('The API key is not valid');
  const claimedTenant = single(headers.get('x-tenant-id'))?.trim();
  if (claimedTenant && claimedTenant !== principal.tenantId) {
    throw new Forbidden('X-Tenant-Id does not match the tenant of the API key');
  }
  return principal;
}
