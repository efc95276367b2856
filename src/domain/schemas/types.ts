import { createHash } from 'node:crypto';

/** The metadata of a base schema: a tenant's typed data table. */

export const DATA_TYPES = [
  'text',
  'varchar',
  'integer',
  'bigint',
  'numeric',
  'double',
  'boolean',
  'date',
  'timestamptz',
  'jsonb',
  'uuid',
] as const;
export type DataType = (typeof DATA_TYPES)[number];

export const ENTITY_TYPES = ['customer', 'account', 'custom'] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

export interface FieldDefinition {
  name: string;
  displayName: string;
  dataType: DataType;
  /** varchar only. */
  length: number | null;
  /** numeric only. */
  precision: number | null;
  scale: number | null;
  isNullable: boolean;
  isPrimaryKey: boolean;
  isUnique: boolean;
  description: string | null;
}

export interface BaseSchemaRecord {
  id: string;
  tenantId: string;
  name: string;
  displayName: string;
  description: string | null;
  entityType: EntityType;
  /** `ds_<name>`, inside the tenant's namespace. */
  tableName: string;
  fields: FieldDefinition[];
  createdAt: Date;
  updatedAt: Date;
}

/**
 * The PostgreSQL namespace (schema) holding a tenant's tables and views:
 * `t_` + the tenant id with `-` as `_` (ids hold no `_`, so no two collide).
 * Ids too long for a 63-byte identifier keep a prefix and a hash of the whole.
 * Always quoted where used.
 */
export function tenantNamespace(tenantId: string): string {
  const name = `t_${tenantId.replace(/-/g, '_')}`;
  if (name.length <= 63) return name;
  return `${name.slice(0, 46)}_${createHash('sha256').update(tenantId).digest('hex').slice(0, 16)}`;
}
