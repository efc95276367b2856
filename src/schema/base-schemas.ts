import { builder } from './builder.js';
import { tenantOf, type GraphQLContext } from './context.js';
import { keysetConnection, type KeysetConnection } from './cursors.js';
import { canRead, canWrite } from './rules.js';
import { idempotentRequest } from '../domain/idempotency.js';
import {
  countBaseSchemas,
  createBaseSchema,
  deleteBaseSchema,
  listBaseSchemaPage,
  loadRows,
  updateBaseSchema,
} from '../domain/schemas/service.js';
import { DATA_TYPES, ENTITY_TYPES, type BaseSchemaRecord, type FieldDefinition } from '../domain/schemas/types.js';
import { segmentViewsOfSchema } from '../domain/segments/service.js';

export const DataType = builder.enumType('DataType', { values: DATA_TYPES });
export const EntityType = builder.enumType('EntityType', { values: ENTITY_TYPES });

const Field = builder.objectRef<FieldDefinition>('Field').implement({
  description: 'A typed column of a base schema',
  fields: (t) => ({
    name: t.exposeString('name'),
    displayName: t.exposeString('displayName'),
    dataType: t.field({ type: DataType, resolve: (f) => f.dataType }),
    length: t.exposeInt('length', { nullable: true }),
    precision: t.exposeInt('precision', { nullable: true }),
    scale: t.exposeInt('scale', { nullable: true }),
    isNullable: t.exposeBoolean('isNullable'),
    isPrimaryKey: t.exposeBoolean('isPrimaryKey'),
    isUnique: t.exposeBoolean('isUnique'),
    description: t.exposeString('description', { nullable: true }),
  }),
});

export const BaseSchemaRef = builder.objectRef<BaseSchemaRecord>('BaseSchema');

builder.node(BaseSchemaRef, {
  description: "A tenant's typed data table (customers, accounts, orders...)",
  id: { resolve: (s) => s.id },
  loadMany: (ids, ctx: GraphQLContext) => Promise.all(ids.map((id) => ctx.loaders.baseSchema.load(id))),
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'tableName' in value,
  fields: (t) => ({
    tenantId: t.exposeString('tenantId'),
    name: t.exposeString('name'),
    displayName: t.exposeString('displayName'),
    description: t.exposeString('description', { nullable: true }),
    entityType: t.field({ type: EntityType, resolve: (s) => s.entityType }),
    tableName: t.exposeString('tableName'),
    fields: t.field({ type: [Field], resolve: (s) => s.fields }),
    createdAt: t.field({ type: 'DateTime', resolve: (s) => s.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (s) => s.updatedAt }),
  }),
});

builder.queryField('baseSchemas', (t) =>
  t.connection(
    {
      type: BaseSchemaRef,
      shield: canRead,
      description: "The tenant's base schemas, oldest first",
      resolve: (_root, args, ctx) => {
        const { db } = ctx.services.database;
        const tenantId = tenantOf(ctx).id;
        return keysetConnection(
          args,
          (page) => listBaseSchemaPage(db, tenantId, page),
          () => countBaseSchemas(db, tenantId),
        );
      },
    },
    {
      name: 'BaseSchemaConnection',
      fields: (c) => ({
        totalCount: c.int({ resolve: (conn) => (conn as unknown as KeysetConnection<BaseSchemaRecord>).totalCount() }),
      }),
    },
  ),
);

builder.queryField('baseSchema', (t) =>
  t.field({
    type: BaseSchemaRef,
    nullable: true,
    shield: canRead,
    args: { id: t.arg.id({ required: true }) },
    description: 'One base schema, or null when the tenant has none with this id',
    resolve: (_root, { id }, ctx) => ctx.loaders.baseSchema.load(id),
  }),
);

const FieldInput = builder.inputType('FieldInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    displayName: t.string(),
    dataType: t.field({ type: DataType, required: true }),
    length: t.int(),
    precision: t.int(),
    scale: t.int(),
    isNullable: t.boolean(),
    isPrimaryKey: t.boolean(),
    isUnique: t.boolean(),
    description: t.string(),
    renameFrom: t.string({ description: 'On update: the current name of a field being renamed' }),
  }),
});

const CreateBaseSchemaInput = builder.inputType('CreateBaseSchemaInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    displayName: t.string(),
    description: t.string(),
    entityType: t.field({ type: EntityType }),
    fields: t.field({ type: [FieldInput], required: true }),
  }),
});

const UpdateBaseSchemaInput = builder.inputType('UpdateBaseSchemaInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    displayName: t.string(),
    description: t.string(),
    entityType: t.field({ type: EntityType }),
    fields: t.field({ type: [FieldInput], description: 'The whole desired list of fields' }),
  }),
});

/** GraphQL leaves absent input fields out; null stays null. */
function present<T extends object>(input: T): Partial<T> {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const BaseSchemaPayload = builder.objectRef<{ baseSchema: BaseSchemaRecord }>('BaseSchemaPayload').implement({
  fields: (t) => ({ baseSchema: t.field({ type: BaseSchemaRef, resolve: (p) => p.baseSchema }) }),
});

builder.mutationField('createBaseSchema', (t) =>
  t.field({
    type: BaseSchemaPayload,
    shield: canWrite,
    args: { input: t.arg({ type: CreateBaseSchemaInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const payload = { ...present(input), fields: input.fields.map(present) };
      const idempotency = idempotentRequest(ctx.idempotencyKey, 'createBaseSchema', payload);
      return { baseSchema: await createBaseSchema(ctx.services.database.db, tenantOf(ctx), payload, idempotency) };
    },
  }),
);

builder.mutationField('updateBaseSchema', (t) =>
  t.field({
    type: BaseSchemaPayload,
    shield: canWrite,
    args: { input: t.arg({ type: UpdateBaseSchemaInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { id, ...rest } = input;
      const changes = present(rest);
      if (input.fields) changes.fields = input.fields.map(present) as typeof input.fields;
      return {
        baseSchema: await updateBaseSchema(ctx.services.database.db, tenantOf(ctx), id, changes, segmentViewsOfSchema),
      };
    },
  }),
);

const DeletePayload = builder.objectRef<{ deletedId: string }>('DeletePayload').implement({
  fields: (t) => ({ deletedId: t.exposeID('deletedId') }),
});

builder.mutationField('deleteBaseSchema', (t) =>
  t.field({
    type: DeletePayload,
    shield: canWrite,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      await deleteBaseSchema(ctx.services.database.db, tenantOf(ctx), id);
      return { deletedId: id };
    },
  }),
);

const LoadRowsPayload = builder.objectRef<{ inserted: number; tableName: string }>('LoadRowsPayload').implement({
  fields: (t) => ({
    inserted: t.exposeInt('inserted', { description: 'Rows written; rows whose key already existed are skipped' }),
    tableName: t.exposeString('tableName'),
  }),
});

builder.mutationField('loadRows', (t) =>
  t.field({
    type: LoadRowsPayload,
    shield: canWrite,
    description: 'Loads up to 10,000 rows; one bad value rejects the whole batch',
    args: {
      schemaId: t.arg.id({ required: true }),
      rows: t.arg({ type: ['JSON'], required: true }),
    },
    resolve: (_root, { schemaId, rows }, ctx) =>
      loadRows(
        ctx.services.loadTarget,
        tenantOf(ctx),
        schemaId,
        rows,
        idempotentRequest(ctx.idempotencyKey, 'loadRows', { schemaId, rows }),
      ),
  }),
);

export { DeletePayload };
