import type { Db } from './db.js';

export interface TenantRow {
  id: string;
  namespace: string;
  created_at: Date;
}

export async function insertTenantWithNamespace(db: Db, id: string, namespace: string): Promise<TenantRow> {
  return db.tx('create tenant', async (t) => {
    const row = await t.one<TenantRow>(
      'INSERT INTO tenants (id, namespace) VALUES ($1, $2) RETURNING id, namespace, created_at',
      [id, namespace],
    );
    await t.none('CREATE SCHEMA $1:name', [namespace]);
    return row;
  });
}

export function findTenant(db: Db, id: string): Promise<TenantRow | null> {
  return db.oneOrNone<TenantRow>('SELECT id, namespace, created_at FROM tenants WHERE id = $1', [id]);
}

/** Removes a tenant, its namespace with every table and view in it, and its metadata. */
export async function deleteTenantAndNamespace(db: Db, id: string): Promise<boolean> {
  return db.tx('delete tenant', async (t) => {
    const row = await t.oneOrNone<TenantRow>('SELECT namespace FROM tenants WHERE id = $1 FOR UPDATE', [id]);
    if (!row) return false;
    await t.none('DELETE FROM segment_references WHERE tenant_id = $1', [id]);
    await t.none('DELETE FROM segments WHERE tenant_id = $1', [id]);
    await t.none('DELETE FROM tenants WHERE id = $1', [id]);
    await t.none('DROP SCHEMA IF EXISTS $1:name CASCADE', [row.namespace]);
    return true;
  });
}

