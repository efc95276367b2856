import type { Logger } from '../logger.js';
import type { Principal } from '../domain/keys.js';
import { tenantNamespace } from '../domain/schemas/types.js';
import type { GraphQLContext, Services } from '../schema/context.js';
import { createLoaders } from '../schema/loaders.js';

/**
 * The context of one authenticated request; REST and GraphQL build it alike.
 * Its logger (a child carrying the request id and tenant) is made on first
 * use: most reads log nothing.
 */
export function createContext(
  services: Services,
  principal: Principal,
  requestId: string,
  idempotencyKey: string | null = null,
): GraphQLContext {
  const tenant = { id: principal.tenantId, namespace: tenantNamespace(principal.tenantId) };
  let logger: Logger | undefined;
  return {
    requestId,
    services,
    principal,
    tenant,
    loaders: createLoaders({ services, tenant }),
    idempotencyKey,
    get logger(): Logger {
      return (logger ??= services.logger.child({ requestId, tenantId: tenant.id }));
    },
  };
}
