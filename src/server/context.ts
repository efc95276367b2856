import type { Logger } from '../logger.js';
import type { Principal } from '../domain/keys.js';
import { tenantNamespace } from '../domain/schemas/types.js';
import type { GraphQLContext, Services } from '../schema/context.js';
import { createLoaders, type Loaders } from '../schema/loaders.js';

/**
 * The context of one authenticated request; REST and GraphQL build it alike.
 * Its logger (a child carrying the request id and tenant) and its
 * dataloaders are made on first use: most reads log nothing, and reads
 * answered without resolvers load nothing.
 */
export function createContext(
  services: Services,
  principal: Principal,
  requestId: string,
  idempotencyKey: string | null = null,
): GraphQLContext {
  const tenant = { id: principal.tenantId, namespace: tenantNamespace(principal.tenantId) };
  let logger: Logger | undefined;
  let loaders: Loaders | undefined;
  return {
    requestId,
    services,
    principal,
    tenant,
    get loaders(): Loaders {
      return (loaders ??= createLoaders({ services, tenant }));
    },
    idempotencyKey,
    get logger(): Logger {
      return (logger ??= services.logger.child({ requestId, tenantId: tenant.id }));
    },
  };
}
