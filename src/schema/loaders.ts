import DataLoader from 'dataloader';
import type { BaseSchemaRecord } from '../domain/schemas/types.js';
import { getSegmentsWithSchemas, type SegmentRecord } from '../domain/segments/service.js';
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
  /**
   * The base schemas this request already holds (primed or loaded): a field
   * that needs one answers it without a promise, which keeps compiled
   * execution of a page's nodes synchronous.
   */
  heldBaseSchemas: Map<string, BaseSchemaRecord>;
}

/** Primes the loader with a base schema the request got some other way. */
export function primeBaseSchema(loaders: Loaders, schema: BaseSchemaRecord): void {
  loaders.baseSchema.prime(schema.id, schema);
  hold(loaders, schema);
}

/** The first record of a schema the request got is the one it keeps, as DataLoader's prime does. */
function hold(loaders: Loaders, schema: BaseSchemaRecord): void {
  if (!loaders.heldBaseSchemas.has(schema.id)) loaders.heldBaseSchemas.set(schema.id, schema);
}

function byId<T extends { id: string }>(ids: readonly string[], rows: T[]): (T | null)[] {
  const map = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => map.get(id) ?? null);
}

export function createLoaders(ctx: { services: Services; tenant: Tenant | null }): Loaders {
  const { db } = ctx.services.database;
  const tenantId = ctx.tenant?.id ?? '';
  const loaders: Loaders = {
    baseSchema: new DataLoader(
      async (ids) => {
        const found = await findBaseSchemasByIds(db, tenantId, ids);
        for (const schema of found) hold(loaders, schema);
        return byId(ids, found);
      },
      { maxBatchSize: 500 },
    ),
    // A segment is rarely read without its base schema: both come in one round trip.
    segment: new DataLoader(
      async (ids) => {
        const { segments, baseSchemas } = await getSegmentsWithSchemas(db, tenantId, ids);
        for (const schema of baseSchemas) primeBaseSchema(loaders, schema);
        return byId(ids, segments);
      },
      { maxBatchSize: 500 },
    ),
    heldBaseSchemas: new Map(),
  };
  return loaders;
}
