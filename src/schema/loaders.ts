import DataLoader from 'dataloader';
import type { BaseSchemaRecord } from '../domain/schemas/types.js';
import { getSegmentsByIds, type SegmentRecord } from '../domain/segments/service.js';
import type { Tenant } from '../domain/tenants.js';
import { findBaseSchemasByIds } from '../sql/schemas.js';
import type { Services } from './context.js';

/**
 * Per-request dataloaders. Each batches the lookups of one request into one
 * statement, scoped by the caller's tenant; an id of another tenant loads as
 * null, exactly like a missing one.
 */
export interface Loaders {
  baseSchema: DataLoader<string, BaseSchemaRecord | null>;
  segment: DataLoader<string, SegmentRecord | null>;
}

function byId<T extends { id: string }>(ids: readonly string[], rows: T[]): (T | null)[] {
  const map = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => map.get(id) ?? null);
}

export function createLoaders(ctx: { services: Services; tenant: Tenant | null }): Loaders {
  const { db } = ctx.services.database;
  const tenantId = ctx.tenant?.id ?? '';
  return {
    baseSchema: new DataLoader(async (ids) => byId(ids, await findBaseSchemasByIds(db, tenantId, ids)), {
      maxBatchSize: 500,
    }),
    segment: new DataLoader(async (ids) => byId(ids, await getSegmentsByIds(db, tenantId, ids)), {
      maxBatchSize: 500,
    }),
  };
}
