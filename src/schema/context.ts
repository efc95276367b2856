import type { Logger } from '../logger.js';
import type { Config } from '../config.js';
import type { KeyVerifier, Principal } from '../domain/keys.js';
import type { Tenant } from '../domain/tenants.js';
import type { Database } from '../sql/db.js';
import type { LoadTarget } from '../sql/schemas.js';
import type { RateLimiter } from '../server/rate-limit.js';
import type { Loaders } from './loaders.js';

/** What the process shares with every request. */
export interface Services {
  config: Config;
  database: Database;
  /** Where bulk row loads go (COPY on a server, blobs on the embedded database). */
  loadTarget: LoadTarget;
  keys: KeyVerifier;
  logger: Logger;
  /** HMAC secret of API keys (minting). */
  authSecret: string;
  /** Per-key request budgets; null when RATE_LIMIT_ENABLED is off. */
  rateLimiter: RateLimiter | null;
}

/** One request's context, for GraphQL and for the REST shim alike. */
export interface GraphQLContext {
  requestId: string;
  services: Services;
  /** The verified caller; null only before authentication refuses the request. */
  principal: Principal | null;
  /** The caller's tenant, derived from the key, never from a header alone. */
  tenant: Tenant | null;
  loaders: Loaders;
  logger: Logger;
  /** The request's `Idempotency-Key`: creates with one happen once (src/domain/idempotency.ts). */
  idempotencyKey: string | null;
}

/** The caller's tenant, for resolvers behind an authenticated rule. */
export function tenantOf(ctx: GraphQLContext): Tenant {
  if (!ctx.tenant) throw new Error('resolver reached without a tenant; a shield rule is missing');
  return ctx.tenant;
}
