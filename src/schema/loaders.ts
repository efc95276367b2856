import type { GraphQLContext } from './context.js';

/**
 * Per-request dataloaders. Each batches the lookups of one request into one
 * statement, scoped by the caller's tenant.
 */
export type Loaders = Record<string, never>;

export function createLoaders(_ctx: Pick<GraphQLContext, 'services' | 'tenant'>): Loaders {
  return {};
}
