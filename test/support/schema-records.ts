import type { BaseSchemaRecord, DataType, FieldDefinition } from '../../src/domain/schemas/types.js';

/** A field as the schema service stores it: nullable unless it is the key, unique if it is. */
export function field(name: string, dataType: DataType, isPrimaryKey = false): FieldDefinition {
  return {
    name,
    displayName: name,
    dataType,
    length: null,
    precision: null,
    scale: null,
    isNullable: !isPrimaryKey,
    isPrimaryKey,
    isUnique: isPrimaryKey,
    description: null,
  };
}

/** A base schema record of tenant `acme`, its table `ds_<name>` unless given. */
export function schema(id: string, name: string, fields: FieldDefinition[], tableName = `ds_${name}`): BaseSchemaRecord {
  const at = new Date('2026-01-01T00:00:00Z');
  return {
    id,
    tenantId: 'acme',
    name,
    displayName: name,
    description: null,
    entityType: 'customer',
    tableName,
    fields,
    createdAt: at,
    updatedAt: at,
  };
}
