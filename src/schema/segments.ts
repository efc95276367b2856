import type { GraphQLResolveInfo } from 'graphql';
import { builder } from './builder.js';
import { selectedFieldNames } from './lookahead.js';
import { BaseSchemaRef, DeletePayload, EntityType } from './base-schemas.js';
import { tenantOf, type GraphQLContext } from './context.js';
import { keysetConnection, type KeysetConnection } from './cursors.js';
import { canRead, canWrite, isAuthenticated } from './rules.js';
import { primeBaseSchema } from './loaders.js';
import { NotFound } from '../domain/errors.js';
import { idempotentRequest } from '../domain/idempotency.js';
import {
  createSegment,
  deleteSegment,
  DEFAULT_PREVIEW_ROWS,
  previewSegment,
  refreshSegment,
  SEGMENT_STATUSES,
  segmentOverlap,
  updateSegment,
  type SegmentOverlap,
  type SegmentPreview,
  countSegmentsOf,
  listSegmentsWith,
  type SegmentFilter,
  type SegmentRecord,
  type SegmentDetail,
  type SegmentSummary,
  isCompleteSegment,
} from '../domain/segments/service.js';
import type { BaseSchemaRecord } from '../domain/schemas/types.js';

export const SegmentStatus = builder.enumType('SegmentStatus', { values: SEGMENT_STATUSES });

const SegmentPreviewRef = builder.objectRef<SegmentPreview>('SegmentPreview').implement({
  fields: (t) => ({
    rows: t.field({ type: ['JSON'], resolve: (p) => p.rows }),
    count: t.exposeInt('count', { description: 'How many rows this preview holds' }),
  }),
});

/** A whole segment, or a summary from a list whose query selects none of the details. */
export const SegmentRef = builder.objectRef<SegmentSummary>('Segment');

/** The segment's fields a summary leaves out. */
const DETAIL_FIELDS: Record<SegmentDetail, true> = {
  description: true,
  joins: true,
  filters: true,
  lastRefreshedAt: true,
  updatedAt: true,
};

/**
 * A detail of the segment: at once from a whole record, else from the whole
 * record loaded by id (a list reads summaries only when its selection holds
 * no detail, so this is the rare path: a selection the lookahead did not see).
 */
function detail<K extends SegmentDetail>(segment: SegmentSummary, key: K, ctx: GraphQLContext): SegmentRecord[K] | Promise<SegmentRecord[K]> {
  if (isCompleteSegment(segment)) return segment[key];
  return ctx.loaders.segment.load(segment.id).then((whole) => {
    if (!whole) throw new NotFound('Segment', segment.id);
    return whole[key];
  });
}

/** The segment's base schema: at once when the request holds it (a list brought it), else through the loader. */
function baseSchemaOf(segment: SegmentSummary, ctx: GraphQLContext): BaseSchemaRecord | Promise<BaseSchemaRecord> {
  const held = ctx.loaders.heldBaseSchemas.get(segment.baseSchemaId);
  if (held) return held;
  return ctx.loaders.baseSchema.load(segment.baseSchemaId).then((schema) => {
    if (!schema) throw new NotFound('Schema', segment.baseSchemaId);
    return schema;
  });
}

builder.node(SegmentRef, {
  description: 'A saved definition over a base schema, with a PostgreSQL view of exactly its members',
  id: { resolve: (s) => s.id },
  loadMany: (ids, ctx: GraphQLContext) => Promise.all(ids.map((id) => ctx.loaders.segment.load(id))),
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'viewName' in value,
  fields: (t) => ({
    tenantId: t.exposeString('tenantId'),
    name: t.exposeString('name'),
    description: t.string({ nullable: true, resolve: (s, _args, ctx) => detail(s, 'description', ctx) }),
    status: t.field({ type: SegmentStatus, resolve: (s) => s.status }),
    entityType: t.exposeString('entityType'),
    baseSchemaId: t.exposeID('baseSchemaId'),
    baseSchema: t.field({ type: BaseSchemaRef, resolve: (s, _args, ctx) => baseSchemaOf(s, ctx) }),
    baseSchemaName: t.string({
      resolve: (s, _args, ctx) => {
        const schema = baseSchemaOf(s, ctx);
        return schema instanceof Promise ? schema.then((held) => held.name) : schema.name;
      },
    }),
    customerCount: t.exposeInt('customerCount', { description: 'Members at the last count' }),
    joins: t.field({ type: 'JSON', resolve: (s, _args, ctx) => detail(s, 'joins', ctx) }),
    filters: t.field({ type: 'JSON', resolve: (s, _args, ctx) => detail(s, 'filters', ctx) }),
    viewName: t.exposeString('viewName'),
    lastRefreshedAt: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: (s, _args, ctx) => detail(s, 'lastRefreshedAt', ctx),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (s) => s.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (s, _args, ctx) => detail(s, 'updatedAt', ctx) }),
    version: t.exposeInt('version', { description: 'Increments on every change; send it back to update safely' }),
    preview: t.field({
      type: SegmentPreviewRef,
      shield: canWrite,
      description: 'The first members, ordered by primary key',
      args: { limit: t.arg.int({ defaultValue: DEFAULT_PREVIEW_ROWS }) },
      resolve: (s, { limit }, ctx) =>
        previewSegment(ctx.services.database.heavy, tenantOf(ctx), s, limit ?? DEFAULT_PREVIEW_ROWS, ctx.services.config),
    }),
  }),
});

/**
 * A page of segments in one round trip with what the query asks along with
 * it: the nodes' base schemas (primed into the request's dataloader; under a
 * base schema, that schema) and `totalCount`.
 */
function segmentConnection(
  ctx: GraphQLContext,
  info: GraphQLResolveInfo,
  args: Parameters<typeof keysetConnection>[0],
  filter: SegmentFilter,
  parent?: BaseSchemaRecord,
) {
  const { db } = ctx.services.database;
  const tenantId = tenantOf(ctx).id;
  // The segments of one base schema stand on it: the dataloader has it already.
  if (parent) primeBaseSchema(ctx.loaders, parent);
  const nodeFields = selectedFieldNames(info, ['edges', 'node']);
  const extras = {
    baseSchemas: !parent && (nodeFields.has('baseSchema') || nodeFields.has('baseSchemaName')),
    total: selectedFieldNames(info, []).has('totalCount'),
    summary: ![...nodeFields].some((field) => Object.hasOwn(DETAIL_FIELDS, field)),
  };
  let total: number | null = null;
  return keysetConnection(
    args,
    async (page) => {
      const found = await listSegmentsWith(db, tenantId, filter, page, extras);
      for (const schema of found.baseSchemas) primeBaseSchema(ctx.loaders, schema);
      total = found.total;
      return found.segments;
    },
    async () => total ?? countSegmentsOf(db, tenantId, filter),
  );
}

builder.queryField('segments', (t) =>
  t.connection(
    {
      type: SegmentRef,
      shield: canRead,
      description: "The tenant's segments, oldest first",
      args: {
        status: t.arg({ type: SegmentStatus }),
        search: t.arg.string({ description: 'Case-insensitive substring of the name' }),
      },
      resolve: (_root, args, ctx, info) => segmentConnection(ctx, info, args, { status: args.status, search: args.search }),
    },
    {
      name: 'SegmentConnection',
      fields: (c) => ({
        totalCount: c.int({ resolve: (conn) => (conn as unknown as KeysetConnection<SegmentSummary>).totalCount() }),
      }),
    },
  ),
);

builder.objectField(BaseSchemaRef, 'segments', (t) =>
  t.connection({
    type: SegmentRef,
    description: 'The segments built on this schema',
    resolve: (schema, args, ctx, info) => segmentConnection(ctx, info, args, { baseSchemaId: schema.id }, schema),
  }),
);

builder.queryField('segment', (t) =>
  t.field({
    type: SegmentRef,
    nullable: true,
    shield: isAuthenticated,
    args: { id: t.arg.id({ required: true }) },
    description: 'One segment, or null when the tenant has none with this id',
    resolve: (_root, { id }, ctx) => ctx.loaders.segment.load(id),
  }),
);

const CreateSegmentInput = builder.inputType('CreateSegmentInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    baseSchemaId: t.id({ required: true }),
    description: t.string(),
    status: t.field({ type: SegmentStatus }),
    entityType: t.field({ type: EntityType }),
    joins: t.field({ type: 'JSON', description: '[{schemaId, alias?, type: "inner"|"left", localField, foreignField}]' }),
    filters: t.field({ type: 'JSON', description: 'Conditions that must all hold' }),
  }),
});

const UpdateSegmentInput = builder.inputType('UpdateSegmentInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    version: t.int({ description: 'The version you read; a stale one is refused with CONFLICT' }),
    name: t.string(),
    baseSchemaId: t.id(),
    description: t.string(),
    status: t.field({ type: SegmentStatus }),
    entityType: t.field({ type: EntityType }),
    joins: t.field({ type: 'JSON' }),
    filters: t.field({ type: 'JSON' }),
  }),
});

const SegmentPayload = (name: string) =>
  builder.objectRef<{ segment: SegmentRecord }>(name).implement({
    fields: (t) => ({ segment: t.field({ type: SegmentRef, resolve: (p) => p.segment }) }),
  });
const CreateSegmentPayload = SegmentPayload('CreateSegmentPayload');
const UpdateSegmentPayload = SegmentPayload('UpdateSegmentPayload');
const RefreshSegmentPayload = SegmentPayload('RefreshSegmentPayload');

/*
 * Counting members reads a whole view: creates, definition changes,
 * refreshes, previews and overlaps run on the heavy pool (HEAVY_POOL_MAX), so
 * that they cannot take every connection from cheap reads. A create or an
 * update stays one transaction, on that pool.
 */

/** An update that may change the definition, and so recount. */
function recounts(input: { joins?: unknown; filters?: unknown; baseSchemaId?: unknown }): boolean {
  return input.joins != null || input.filters != null || input.baseSchemaId != null;
}

/** GraphQL leaves absent input fields undefined; explicit nulls stay. */
function given<T extends object>(input: T): Partial<T> {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as Partial<T>;
}

builder.mutationField('createSegment', (t) =>
  t.field({
    type: CreateSegmentPayload,
    shield: canWrite,
    args: { input: t.arg({ type: CreateSegmentInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({
      segment: await createSegment(
        ctx.services.database.heavy,
        tenantOf(ctx),
        given(input),
        ctx.services.config,
        idempotentRequest(ctx.idempotencyKey, 'createSegment', given(input)),
      ),
    }),
  }),
);

builder.mutationField('updateSegment', (t) =>
  t.field({
    type: UpdateSegmentPayload,
    shield: canWrite,
    args: { input: t.arg({ type: UpdateSegmentInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({
      segment: await updateSegment(
        recounts(input) ? ctx.services.database.heavy : ctx.services.database.db,
        tenantOf(ctx),
        { ...given(input), id: input.id },
        ctx.services.config,
      ),
    }),
  }),
);

builder.mutationField('deleteSegment', (t) =>
  t.field({
    type: DeletePayload,
    shield: canWrite,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      await deleteSegment(ctx.services.database.db, tenantOf(ctx), id);
      return { deletedId: id };
    },
  }),
);

builder.mutationField('refreshSegment', (t) =>
  t.field({
    type: RefreshSegmentPayload,
    shield: canWrite,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => ({
      segment: await refreshSegment(ctx.services.database.heavy, tenantOf(ctx), id, ctx.services.config),
    }),
  }),
);

const OverlapSegment = builder.objectRef<SegmentOverlap['segments'][number]>('OverlapSegment').implement({
  fields: (t) => ({ id: t.exposeID('id'), name: t.exposeString('name'), size: t.exposeInt('size') }),
});
const OverlapPair = builder.objectRef<SegmentOverlap['overlaps'][number]>('OverlapPair').implement({
  fields: (t) => ({
    segments: t.idList({ resolve: (p) => p.segments }),
    count: t.exposeInt('count'),
    percent: t.exposeFloat('percent', { description: 'Of the smaller segment, 0 to 100' }),
  }),
});
const SegmentOverlapRef = builder.objectRef<SegmentOverlap>('SegmentOverlap').implement({
  fields: (t) => ({
    segments: t.field({ type: [OverlapSegment], resolve: (o) => o.segments }),
    overlaps: t.field({ type: [OverlapPair], resolve: (o) => o.overlaps }),
    totalUniqueCustomers: t.exposeInt('totalUniqueCustomers', { description: 'Members of at least one segment' }),
  }),
});

builder.queryField('segmentOverlap', (t) =>
  t.field({
    type: SegmentOverlapRef,
    shield: canWrite,
    description: 'Exact sizes, pairwise intersections and union of 2 to 10 segments of one base schema',
    args: { ids: t.arg.idList({ required: true }) },
    resolve: (_root, { ids }, ctx) => segmentOverlap(ctx.services.database.heavy, tenantOf(ctx), ids, ctx.services.config),
  }),
);
