import type { Principal } from '../domain/keys.js';
import { tenantNamespace } from '../domain/schemas/types.js';
import type { GraphQLContext, Services } from '../schema/context.js';
import { createLoaders } from '../schema/loaders.js';

/** The context of one authenticated request; REST and GraphQL build it alike. */
export function createContext(
  services: Services,
  principal: Principal,
  requestId: string,
  idempotencyKey: string | null = null,
): GraphQLContext {
  const tenant = { id: principal.tenantId, namespace: tenantNamespace(principal.tenantId) };
  const base = {
    requestId,
    services,
    principal,
    tenant,
    logger: services.logger.child({ requestId, tenantId: tenant.id }),
  };
  return { ...base, loaders: createLoaders(base), idempotencyKey };
}
