import { randomBytes } from 'node:crypto';
import type { ITask } from 'pg-promise';
import { Conflict, Invalid, NotFound, QueryTimeout, type ErrorDetail } from '../errors.js';
import { recordCodec, runOnce, type IdempotentRequest } from '../idempotency.js';
import type { BaseSchemaRecord } from '../schemas/types.js';
import type { Tenant } from '../tenants.js';
import type { Db } from '../../sql/db.js';
import { isQueryCanceled, isUndefinedTable, isUniqueViolation } from '../../sql/pg-errors.js';
import { findBaseSchema, findBaseSchemasByIds } from '../../sql/schemas.js';
import {
  countSegments,
  countViewMembersWithin,
  createOrReplaceView,
  deleteSegmentRow,
  dropView,
  findReferencedSegments,
  findReferrers,
  findSegment,
  findSegmentsByIds,
  findSegmentsOnSchema,
  insertSegment,
  limitStatementTime,
  overlapMasks,
  previewViewRows,
  referencesReach,
  replaceSegmentDependencies,
  setSegmentCount,
  updateSegmentRow,
  type PageRequest,
  type Queryable,
  type SegmentChanges,
  type SegmentFilter,
  type SegmentRow,
  type SegmentSummaryRow,
  isCompleteRow,
  listSegmentPageWith,
  findSegmentsWithSchemas,
  type SegmentPageExtras,
} from '../../sql/segments.js';
import { retryingTx } from '../../sql/transactions.js';
import { compileOverlapQuery, compileSegmentQuery } from './compile.js';
import type { ReferencedSegment, SegmentDefinition } from './definition.js';
import { fieldsUsed, referencedSegmentIds, validateDefinition } from './validate.js';

export const SEGMENT_STATUSES = ['draft', 'active', 'paused', 'archived'] as const;
export type SegmentStatus = (typeof SEGMENT_STATUSES)[number];
export const SEGMENT_ENTITY_TYPES = ['customer', 'account', 'custom'] as const;

export const MAX_NAME_LENGTH = 255;
export const MAX_DESCRIPTION_LENGTH = 2_000;
export const MAX_PREVIEW_ROWS = 100;
export const DEFAULT_PREVIEW_ROWS = 20;

export interface SegmentRecord {
  id: string;
  tenantId: string;
  name: string;
  description: string | null;
  status: SegmentStatus;
  entityType: string;
  baseSchemaId: string;
  joins: unknown[];
  filters: unknown[];
  viewName: string;
  customerCount: number;
  lastRefreshedAt: Date | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** What a segment's summary leaves out: its definition, description and last update and count times. */
export type SegmentDetail = 'description' | 'joins' | 'filters' | 'lastRefreshedAt' | 'updatedAt';

/** A segment as a list that shows no definition reads it. */
export type SegmentSummary = Omit<SegmentRecord, SegmentDetail>;

export function isCompleteSegment(segment: SegmentSummary): segment is SegmentRecord {
  return 'updatedAt' in segment;
}

export interface SegmentServiceOptions {
  /** Statement timeout for counts, previews and overlaps. */
  queryTimeoutMs: number;
}

/** A created segment as an idempotency key keeps it. */
const SEGMENT_RESULT = recordCodec<SegmentRecord>(['createdAt', 'updatedAt', 'lastRefreshedAt']);

export function toSegmentRecord(row: SegmentRow): SegmentRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    description: row.description,
    status: row.status,
    entityType: row.entity_type,
    baseSchemaId: row.base_schema_id,
    joins: row.joins,
    filters: row.filters,
    viewName: row.view_name,
    customerCount: Number(row.customer_count),
    lastRefreshedAt: row.last_refreshed_at,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toSegmentSummary(row: SegmentSummaryRow): SegmentSummary {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    status: row.status,
    entityType: row.entity_type,
    baseSchemaId: row.base_schema_id,
    viewName: row.view_name,
    customerCount: Number(row.customer_count),
    version: row.version,
    createdAt: row.created_at,
  };
}

// ---- input -------------------------------------------------------------------

export interface CreateSegmentInput {
  name?: unknown;
  description?: unknown;
  status?: unknown;
  entityType?: unknown;
  baseSchemaId?: unknown;
  joins?: unknown;
  filters?: unknown;
}

export interface UpdateSegmentInput extends CreateSegmentInput {
  id: string;
  version?: unknown;
}

interface CheckedAttributes {
  name?: string;
  description?: string | null;
  status?: SegmentStatus;
  entityType?: string;
  baseSchemaId?: string;
}

/** The plain attributes of a create or update; `required` names the ones a create needs. */
function checkAttributes(input: CreateSegmentInput, required: boolean, problems: ErrorDetail[]): CheckedAttributes {
  const out: CheckedAttributes = {};
  if (input.name !== undefined || required) {
    if (typeof input.name !== 'string' || input.name.trim() === '') {
      problems.push({ path: 'name', message: 'is required and must be a non-empty string' });
    } else if (input.name.length > MAX_NAME_LENGTH) {
      problems.push({ path: 'name', message: `must be at most ${MAX_NAME_LENGTH} characters` });
    } else out.name = input.name;
  }
  if (input.description !== undefined) {
    if (input.description !== null && typeof input.description !== 'string') {
      problems.push({ path: 'description', message: 'must be a string or null' });
    } else if (typeof input.description === 'string' && input.description.length > MAX_DESCRIPTION_LENGTH) {
      problems.push({ path: 'description', message: `must be at most ${MAX_DESCRIPTION_LENGTH} characters` });
    } else out.description = input.description;
  }
  if (input.status !== undefined) {
    if (!(SEGMENT_STATUSES as readonly unknown[]).includes(input.status)) {
      problems.push({ path: 'status', message: `must be one of ${SEGMENT_STATUSES.join(', ')}` });
    } else out.status = input.status as SegmentStatus;
  }
  if (input.entityType !== undefined) {
    if (!(SEGMENT_ENTITY_TYPES as readonly unknown[]).includes(input.entityType)) {
      problems.push({ path: 'entityType', message: `must be one of ${SEGMENT_ENTITY_TYPES.join(', ')}` });
    } else out.entityType = input.entityType as string;
  }
  if (input.baseSchemaId !== undefined || required) {
    if (typeof input.baseSchemaId !== 'string' || input.baseSchemaId === '') {
      problems.push({ path: 'baseSchemaId', message: 'is required and must be a schema id' });
    } else out.baseSchemaId = input.baseSchemaId;
  }
  return out;
}

// ---- definition ----------------------------------------------------------------

interface PreparedDefinition {
  definition: SegmentDefinition;
  baseSchema: BaseSchemaRecord;
  select: string;
  schemaUses: Map<string, string[]>;
  references: string[];
}

/** Ids of schemas and segments a raw definition names, to load just those. */
function namedIds(raw: { joins?: unknown; filters?: unknown }): { schemaIds: string[]; segmentIds: string[] } {
  const schemaIds = new Set<string>();
  const segmentIds = new Set<string>();
  if (Array.isArray(raw.joins)) {
    for (const j of raw.joins) {
      if (j && typeof j === 'object' && typeof (j as { schemaId?: unknown }).schemaId === 'string') {
        schemaIds.add((j as { schemaId: string }).schemaId);
      }
    }
  }
  const visit = (node: unknown, depth: number): void => {
    if (depth > 20 || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const n of node.slice(0, 1_000)) visit(n, depth + 1);
      return;
    }
    const segment = (node as { segment?: unknown }).segment;
    if (typeof segment === 'string') segmentIds.add(segment);
    for (const key of ['all', 'any', 'not', 'where']) visit((node as Record<string, unknown>)[key], depth + 1);
  };
  visit(raw.filters, 0);
  return { schemaIds: [...schemaIds].slice(0, 50), segmentIds: [...segmentIds].slice(0, 200) };
}

/**
 * Validates a definition against the tenant's metadata and compiles its view.
 * Everything it reads is scoped by the tenant: another tenant's schema or
 * segment is simply not found.
 */
async function prepareDefinition(
  t: Queryable,
  tenant: Tenant,
  baseSchemaId: string,
  raw: { joins?: unknown; filters?: unknown },
  selfId: string | undefined,
): Promise<PreparedDefinition> {
  const baseSchema = await findBaseSchema(t, tenant.id, baseSchemaId, 'share');
  if (!baseSchema) throw Invalid.at('baseSchemaId', `Schema ${baseSchemaId} not found`);
  const { schemaIds, segmentIds } = namedIds(raw);
  const [schemas, segments] = await Promise.all([
    findBaseSchemasByIds(t, tenant.id, schemaIds),
    // Referenced segments stay until this transaction ends: a delete of one waits, then sees the reference.
    findSegmentsByIds(t, tenant.id, segmentIds, 'FOR KEY SHARE'),
  ]);
  const schemasById = new Map(schemas.map((s) => [s.id, s]));
  schemasById.set(baseSchema.id, baseSchema);
  const segmentsById = new Map<string, ReferencedSegment>(
    segments.map((s) => [s.id, { id: s.id, baseSchemaId: s.base_schema_id, viewName: s.view_name }]),
  );
  const ctx = { baseSchema, schemasById, segmentsById, namespace: tenant.namespace, ...(selfId ? { selfId } : {}) };
  const definition = validateDefinition(raw, ctx);
  const references = referencedSegmentIds(definition);
  if (selfId && (await referencesReach(t, tenant.id, references, selfId))) {
    throw Invalid.at('filters', 'a segment reference would make this segment depend on itself (a cycle)');
  }
  const schemaUses = new Map<string, string[]>([[baseSchema.id, []]]);
  for (const { schemaId, field } of fieldsUsed(definition, baseSchema)) {
    const fields = schemaUses.get(schemaId) ?? [];
    if (!fields.includes(field)) fields.push(field);
    schemaUses.set(schemaId, fields);
  }
  return { definition, baseSchema, select: compileSegmentQuery(definition, ctx), schemaUses, references };
}

function normalizedRaw(raw: unknown, path: string, problems: ErrorDetail[]): unknown[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) {
    problems.push({ path, message: 'must be an array' });
    return undefined;
  }
  return raw;
}

/** The members of a segment's view, counted under the statement timeout (QUERY_TIMEOUT_MS). */
async function countMembers(t: Queryable, tenant: Tenant, viewName: string, options: SegmentServiceOptions): Promise<number> {
  return countViewMembersWithin(t, tenant.namespace, viewName, options.queryTimeoutMs);
}

function newSegmentId(): string {
  return `seg_${randomBytes(6).toString('hex')}`;
}

/** Domain errors for what PostgreSQL refused. */
function translate(error: unknown, name?: string): never {
  if (isUniqueViolation(error, 'segments_tenant_id_name_key')) {
    throw new Conflict(`A segment named "${name}" already exists`);
  }
  if (isQueryCanceled(error)) {
    throw new QueryTimeout('Counting the segment took longer than the statement timeout (QUERY_TIMEOUT_MS)');
  }
  throw error;
}

// ---- lifecycle -------------------------------------------------------------------

/**
 * Metadata row, view and member count, in one transaction: a failure leaves
 * nothing behind. With `idempotency`, a repeated request gets the first
 * one's segment (src/domain/idempotency.ts).
 */
export async function createSegment(
  db: Db,
  tenant: Tenant,
  input: CreateSegmentInput,
  options: SegmentServiceOptions,
  idempotency?: IdempotentRequest,
): Promise<SegmentRecord> {
  const problems: ErrorDetail[] = [];
  const attrs = checkAttributes(input, true, problems);
  const joins = normalizedRaw(input.joins, 'joins', problems) ?? [];
  const filters = normalizedRaw(input.filters, 'filters', problems) ?? [];
  Invalid.throwIfAny(problems);
  const create = async (t: ITask<unknown>): Promise<SegmentRecord> => {
    const prepared = await prepareDefinition(t, tenant, attrs.baseSchemaId!, { joins, filters }, undefined);
    const id = newSegmentId();
    const viewName = id;
    await insertSegment(t, {
      tenantId: tenant.id,
      id,
      name: attrs.name!,
      description: attrs.description ?? null,
      status: attrs.status ?? 'draft',
      entityType: attrs.entityType ?? 'customer',
      baseSchemaId: prepared.baseSchema.id,
      joins,
      filters,
      viewName,
    });
    await createOrReplaceView(t, tenant.namespace, viewName, prepared.select);
    await replaceSegmentDependencies(t, tenant.id, id, prepared.schemaUses, prepared.references);
    const count = await countMembers(t, tenant, viewName, options);
    return toSegmentRecord(await setSegmentCount(t, tenant.id, id, count));
  };
  try {
    return await retryingTx(db, 'create segment', (t) =>
      runOnce(t, tenant.id, idempotency, SEGMENT_RESULT, () => create(t)),
    );
  } catch (error) {
    translate(error, attrs.name);
  }
}

/**
 * Changes a segment. A change of joins, filters or base schema replaces the
 * view and recounts, atomically; `version`, when given, must be the current
 * one (no lost update).
 */
export async function updateSegment(
  db: Db,
  tenant: Tenant,
  input: UpdateSegmentInput,
  options: SegmentServiceOptions,
): Promise<SegmentRecord> {
  const problems: ErrorDetail[] = [];
  const attrs = checkAttributes(input, false, problems);
  const joins = normalizedRaw(input.joins, 'joins', problems);
  const filters = normalizedRaw(input.filters, 'filters', problems);
  if (input.version !== undefined && input.version !== null && !Number.isInteger(input.version)) {
    problems.push({ path: 'version', message: 'must be an integer' });
  }
  Invalid.throwIfAny(problems);
  try {
    return await retryingTx(db, 'update segment', async (t) => {
      const current = await findSegment(t, tenant.id, input.id, 'FOR UPDATE');
      if (!current) throw new NotFound('Segment', input.id);
      if (typeof input.version === 'number' && input.version !== current.version) {
        throw new Conflict(
          `Segment ${input.id} was changed by someone else (version ${current.version}, yours ${input.version}); reload and retry`,
        );
      }
      const baseSchemaId = attrs.baseSchemaId ?? current.base_schema_id;
      const definitionChanged =
        joins !== undefined || filters !== undefined || baseSchemaId !== current.base_schema_id;
      const changes: SegmentChanges = { ...attrs };
      if (definitionChanged) {
        const nextJoins = joins ?? current.joins;
        const nextFilters = filters ?? current.filters;
        const prepared = await prepareDefinition(t, tenant, baseSchemaId, { joins: nextJoins, filters: nextFilters }, current.id);
        if (baseSchemaId !== current.base_schema_id) {
          const referrers = await findReferrers(t, tenant.id, current.id);
          if (referrers.length > 0) {
            throw new Conflict(
              `The base schema of segment ${current.id} cannot change while other segments reference it: ${names(referrers)}`,
            );
          }
          // A view over another table has other columns: it cannot be replaced in place.
          await dropView(t, tenant.namespace, current.view_name);
        }
        await createOrReplaceView(t, tenant.namespace, current.view_name, prepared.select);
        await replaceSegmentDependencies(t, tenant.id, current.id, prepared.schemaUses, prepared.references);
        changes.joins = nextJoins;
        changes.filters = nextFilters;
        changes.baseSchemaId = baseSchemaId;
      }
      const updated = await updateSegmentRow(t, tenant.id, current.id, changes);
      if (!definitionChanged) return toSegmentRecord(updated);
      const count = await countMembers(t, tenant, current.view_name, options);
      return toSegmentRecord(await setSegmentCount(t, tenant.id, current.id, count));
    });
  } catch (error) {
    translate(error, attrs.name);
  }
}

function names(segments: Array<{ id: string; name: string }>): string {
  return segments.map((s) => `${s.name} (${s.id})`).join(', ');
}

/** Drops the view and the row; refused while another segment references this one. */
export async function deleteSegment(db: Db, tenant: Tenant, id: string): Promise<void> {
  await retryingTx(db, 'delete segment', async (t) => {
    const current = await findSegment(t, tenant.id, id, 'FOR UPDATE');
    if (!current) throw new NotFound('Segment', id);
    const referrers = await findReferrers(t, tenant.id, id);
    if (referrers.length > 0) {
      throw new Conflict(`Segment ${id} is referenced by other segments: ${names(referrers)}`);
    }
    await dropView(t, tenant.namespace, current.view_name);
    await deleteSegmentRow(t, tenant.id, id);
  });
}

/** Recounts the members and stamps `lastRefreshedAt`. */
export async function refreshSegment(
  db: Db,
  tenant: Tenant,
  id: string,
  options: SegmentServiceOptions,
): Promise<SegmentRecord> {
  try {
    return await retryingTx(db, 'refresh segment', async (t) => {
      // Waits for an update or a delete of this segment to finish; a deleted one is not found.
      const current = await findSegment(t, tenant.id, id, 'FOR NO KEY UPDATE');
      if (!current) throw new NotFound('Segment', id);
      const count = await countMembers(t, tenant, current.view_name, options);
      return toSegmentRecord(await setSegmentCount(t, tenant.id, id, count));
    });
  } catch (error) {
    translate(error);
  }
}

export interface SegmentPreview {
  rows: Record<string, unknown>[];
  count: number;
}

/** The first members by primary key. */
export async function previewSegment(
  db: Db,
  tenant: Tenant,
  segment: Pick<SegmentRecord, 'id' | 'baseSchemaId' | 'viewName'>,
  limit: number,
  options: SegmentServiceOptions,
): Promise<SegmentPreview> {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PREVIEW_ROWS) {
    throw Invalid.at('limit', `must be an integer from 1 to ${MAX_PREVIEW_ROWS}`);
  }
  try {
    return await retryingTx(db, 'preview segment', async (t) => {
      const schema = await findBaseSchema(t, tenant.id, segment.baseSchemaId);
      if (!schema) throw new NotFound('Schema', segment.baseSchemaId);
      await limitStatementTime(t, options.queryTimeoutMs);
      const primaryKey = schema.fields.filter((f) => f.isPrimaryKey).map((f) => f.name);
      const rows = await previewViewRows(t, tenant.namespace, segment.viewName, primaryKey, limit);
      return { rows, count: rows.length };
    });
  } catch (error) {
    // Deleted since it was loaded: its view went with it.
    if (isUndefinedTable(error)) throw new NotFound('Segment', segment.id);
    translate(error);
  }
}

export interface SegmentOverlap {
  segments: Array<{ id: string; name: string; size: number }>;
  overlaps: Array<{ segments: [string, string]; count: number; percent: number }>;
  totalUniqueCustomers: number;
}

/**
 * Exact sizes, pairwise intersections (percent of the smaller segment) and
 * the size of the union of 2 to 10 segments of one base schema, from one
 * statement that reads the base table once (see overlapQuery).
 */
export async function segmentOverlap(
  db: Db,
  tenant: Tenant,
  ids: readonly unknown[],
  options: SegmentServiceOptions,
): Promise<SegmentOverlap> {
  if (!Array.isArray(ids) || ids.length < 2 || ids.length > 10) {
    throw Invalid.at('segmentIds', 'must list 2 to 10 segment ids');
  }
  const problems: ErrorDetail[] = [];
  ids.forEach((id, i) => {
    if (typeof id !== 'string') problems.push({ path: `segmentIds[${i}]`, message: 'must be a segment id' });
  });
  Invalid.throwIfAny(problems);
  const unique = [...new Set(ids as string[])];
  if (unique.length !== ids.length) throw Invalid.at('segmentIds', 'must not repeat an id');
  try {
    return await retryingTx(db, 'segment overlap', async (t) => {
      const rows = await findSegmentsByIds(t, tenant.id, unique);
      const byId = new Map(rows.map((r) => [r.id, r]));
      const missing = unique.find((id) => !byId.has(id));
      if (missing) throw new NotFound('Segment', missing);
      const ordered = unique.map((id) => byId.get(id)!);
      const baseSchemaId = ordered[0]!.base_schema_id;
      if (ordered.some((s) => s.base_schema_id !== baseSchemaId)) {
        throw Invalid.at('segmentIds', 'segments must share one base schema to be compared');
      }
      const schema = await findBaseSchema(t, tenant.id, baseSchemaId);
      if (!schema) throw new NotFound('Schema', baseSchemaId);
      const query = await overlapQuery(t, tenant, schema, ordered);
      await limitStatementTime(t, options.queryTimeoutMs);
      const masks = await overlapMasks(t, query);
      return summarizeOverlap(ordered, masks);
    });
  } catch (error) {
    if (isUndefinedTable(error)) {
      // One of them was deleted between finding it and reading its view.
      const left = new Set((await findSegmentsByIds(db, tenant.id, unique)).map((s) => s.id));
      const gone = unique.find((id) => !left.has(id));
      if (gone) throw new NotFound('Segment', gone);
    }
    translate(error);
  }
}

/**
 * The one-pass statement giving each row of `baseSchema` its memberships in
 * `segments` (bit i for segments[i]): their stored definitions, and those of
 * every segment they reference, validated again and compiled into one
 * expression each (src/domain/segments/compile.ts, compileOverlapQuery). A
 * stored definition that no longer validates is read from its view instead.
 */
export async function overlapQuery(
  t: Queryable,
  tenant: Tenant,
  baseSchema: BaseSchemaRecord,
  segments: readonly SegmentRow[],
): Promise<string> {
  const referenced = await findReferencedSegments(t, tenant.id, segments.map((s) => s.id));
  const all = new Map([...referenced, ...segments].map((s) => [s.id, s]));
  const schemaIds = [...all.values()].flatMap((s) => namedIds({ joins: s.joins }).schemaIds);
  const schemasById = new Map((await findBaseSchemasByIds(t, tenant.id, [...new Set(schemaIds)])).map((s) => [s.id, s]));
  schemasById.set(baseSchema.id, baseSchema);
  const segmentsById = new Map<string, ReferencedSegment>(
    [...all.values()].map((s) => [s.id, { id: s.id, baseSchemaId: s.base_schema_id, viewName: s.view_name }]),
  );
  const ctx = { baseSchema, schemasById, segmentsById, namespace: tenant.namespace };
  const definitionsById = new Map<string, SegmentDefinition>();
  for (const s of all.values()) {
    if (s.base_schema_id !== baseSchema.id) continue;
    try {
      definitionsById.set(s.id, validateDefinition({ joins: s.joins, filters: s.filters }, ctx));
    } catch (error) {
      if (!(error instanceof Invalid)) throw error;
    }
  }
  return compileOverlapQuery(segments.map((s) => s.id), { ...ctx, definitionsById });
}

/** From the count of members per membership bitmask to sizes, pairs and the union. */
export function summarizeOverlap(
  segments: ReadonlyArray<{ id: string; name: string }>,
  masks: ReadonlyArray<{ mask: number; n: number }>,
): SegmentOverlap {
  const size = (bits: number) => masks.reduce((sum, m) => ((m.mask & bits) === bits ? sum + m.n : sum), 0);
  const sizes = segments.map((_, i) => size(1 << i));
  const overlaps: SegmentOverlap['overlaps'] = [];
  for (let a = 0; a < segments.length; a++) {
    for (let b = a + 1; b < segments.length; b++) {
      const count = size((1 << a) | (1 << b));
      const smaller = Math.min(sizes[a]!, sizes[b]!);
      overlaps.push({
        segments: [segments[a]!.id, segments[b]!.id],
        count,
        percent: smaller === 0 ? 0 : Math.round((count / smaller) * 10_000) / 100,
      });
    }
  }
  return {
    segments: segments.map((s, i) => ({ id: s.id, name: s.name, size: sizes[i]! })),
    overlaps,
    totalUniqueCustomers: masks.reduce((sum, m) => sum + m.n, 0),
  };
}

// ---- views of a schema ---------------------------------------------------------

/**
 * Drops and recreates the views of every segment on a schema, for a table
 * change their views depend on (a dropped or renamed column).
 */
export const segmentViewsOfSchema = {
  async dropFor(t: ITask<unknown>, tenant: Tenant, schemaId: string): Promise<void> {
    const segments = await findSegmentsOnSchema(t, tenant.id, schemaId);
    for (const s of [...segments].reverse()) await dropView(t, tenant.namespace, s.view_name);
  },
  async recreateFor(t: ITask<unknown>, tenant: Tenant, schemaId: string): Promise<void> {
    const segments = await findSegmentsOnSchema(t, tenant.id, schemaId);
    for (const s of segments) {
      const prepared = await prepareDefinition(t, tenant, s.base_schema_id, { joins: s.joins, filters: s.filters }, s.id);
      await createOrReplaceView(t, tenant.namespace, s.view_name, prepared.select);
    }
  },
};

export async function getSegment(db: Queryable, tenantId: string, id: string): Promise<SegmentRecord | null> {
  const row = await findSegment(db, tenantId, id);
  return row ? toSegmentRecord(row) : null;
}

/** Segments by id, with the base schemas they stand on, in one round trip. */
export async function getSegmentsWithSchemas(
  db: Queryable,
  tenantId: string,
  ids: readonly string[],
): Promise<{ segments: SegmentRecord[]; baseSchemas: BaseSchemaRecord[] }> {
  const { rows, baseSchemas } = await findSegmentsWithSchemas(db, tenantId, ids);
  return { segments: rows.map(toSegmentRecord), baseSchemas };
}

export type { SegmentFilter };

export interface SegmentPage {
  /** Whole records, or summaries when the read asked for them. */
  segments: SegmentSummary[];
  /** The schemas of the page's segments, when asked for. */
  baseSchemas: BaseSchemaRecord[];
  /** How many segments the filter matches, when asked for. */
  total: number | null;
}

/**
 * A keyset page of the tenant's segments (filter by status, name substring,
 * base schema) with, in the same round trip, the base schemas of its
 * segments and the total, as asked.
 */
export async function listSegmentsWith(
  db: Queryable,
  tenantId: string,
  filter: SegmentFilter,
  page: PageRequest,
  extras: SegmentPageExtras,
): Promise<SegmentPage> {
  const { rows, baseSchemas, total } = await listSegmentPageWith(db, tenantId, filter, page, extras);
  return { segments: rows.map((row) => (isCompleteRow(row) ? toSegmentRecord(row) : toSegmentSummary(row))), baseSchemas, total };
}

export function countSegmentsOf(db: Queryable, tenantId: string, filter: SegmentFilter): Promise<number> {
  return countSegments(db, tenantId, filter);
}
