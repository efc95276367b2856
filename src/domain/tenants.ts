import { Conflict, Invalid } from './errors.js';
import { tenantNamespace } from './schemas/types.js';
import type { Db } from '../sql/db.js';
import { isUniqueViolation } from '../sql/pg-errors.js';
import { findTenant, insertTenantWithNamespace, type TenantRow } from '../sql/tenants.js';

export const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A tenant as requests see it: its id and the namespace of its tables and views. */
export interface Tenant {
  id: string;
  namespace: string;
}

export interface TenantRecord extends Tenant {
  createdAt: Date;
}

export function assertTenantId(id: string, path = 'tenantId'): void {
  if (!TENANT_ID.test(id)) {
    throw Invalid.at(path, 'must be 1 to 63 lowercase letters, digits or "-", starting with a letter or digit');
  }
}

/** Creates a tenant and its PostgreSQL namespace, in one transaction. */
export async function createTenant(db: Db, id: string): Promise<TenantRecord> {
  assertTenantId(id);
  if (await findTenant(db, id)) throw new Conflict(`tenant ${id} already exists`);
  try {
    return toTenant(await insertTenantWithNamespace(db, id, tenantNamespace(id)));
  } catch (error) {
    if (isUniqueViolation(error)) throw new Conflict(`tenant ${id} already exists`);
    throw error;
  }
}

export async function getTenant(db: Db, id: string): Promise<TenantRecord | null> {
  const row = await findTenant(db, id);
  return row ? toTenant(row) : null;
}

function toTenant(row: TenantRow): TenantRecord {
  return { id: row.id, namespace: row.namespace, createdAt: row.created_at };
}
