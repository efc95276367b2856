import type { IBaseProtocol } from 'pg-promise';
import { named, pgp } from './db.js';
import { BASE_SCHEMA_COLUMNS, toBaseSchemaRecord, type BaseSchemaRow } from './schemas.js';
import type { BaseSchemaRecord } from '../domain/schemas/types.js';

/** Statements of the segments aggregate. Every one filters by tenant_id. */

export type Queryable = IBaseProtocol<unknown>;

export interface SegmentRow {
  tenant_id: string;
  id: string;
  name: string;
  description: string | null;
  status: 'draft' | 'active' | 'paused' | 'archived';
  entity_type: string;
  base_schema_id: string;
  joins: unknown[];
  filters: unknown[];
  view_name: string;
  customer_count: number;
  last_refreshed_at: Date | null;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `tenant_id, id, name, description, status, entity_type, base_schema_id, joins, filters,
  view_name, customer_count, last_refreshed_at, version, created_at, updated_at`;

/** A segment's columns less its definition, description and last update and count times. */
export type SegmentSummaryRow = Omit<SegmentRow, 'description' | 'joins' | 'filters' | 'last_refreshed_at' | 'updated_at'>;

/** The columns of a SegmentSummaryRow: what a list shows without the definitions. */
const SUMMARY_COLUMNS = 'tenant_id, id, name, status, entity_type, base_schema_id, view_name, customer_count, version, created_at';

export function isCompleteRow(row: SegmentSummaryRow): row is SegmentRow {
  return 'updated_at' in row;
}

/**
 * Row locks that order concurrent changes of one segment: `FOR UPDATE` to
 * change or delete it, `FOR NO KEY UPDATE` to recount it, `FOR KEY SHARE` to
 * keep a referenced segment from being deleted while a reference to it is made.
 */
export type SegmentLock = 'FOR UPDATE' | 'FOR NO KEY UPDATE' | 'FOR KEY SHARE';

export function findSegment(db: Queryable, tenantId: string, id: string, lock?: SegmentLock): Promise<SegmentRow | null> {
  return db.oneOrNone<SegmentRow>(
    `SELECT ${COLUMNS} FROM segments WHERE tenant_id = $1 AND id = $2${lock ? ` ${lock}` : ''}`,
    [tenantId, id],
  );
}

export function findSegmentsByIds(
  db: Queryable,
  tenantId: string,
  ids: readonly string[],
  lock?: SegmentLock,
): Promise<SegmentRow[]> {
  return db.any<SegmentRow>(
    `SELECT ${COLUMNS} FROM segments WHERE tenant_id = $1 AND id = ANY($2::text[])${lock ? ` ${lock}` : ''}`,
    [tenantId, ids],
  );
}

/** Segments by id with, in the same statement, the base schemas they stand on. */
export async function findSegmentsWithSchemas(
  db: Queryable,
  tenantId: string,
  ids: readonly string[],
): Promise<{ rows: SegmentRow[]; baseSchemas: BaseSchemaRecord[] }> {
  const selected = `SELECT ${COLUMNS} FROM segments WHERE tenant_id = $1 AND id = ANY($2::text[])`;
  const rows = await db.any<WithSchema<SegmentRow>>(named(withBaseSchemas(selected, 'id'), [tenantId, ids]));
  return splitBaseSchemas(rows);
}

/**
 * Each row of `segments` (a select of COLUMNS whose `$1` is the tenant),
 * ordered by `order`, with the columns of its base schema, prefixed
 * `schema_`, on the first row of each base schema and nulls on the others:
 * a page of 21 segments of one schema carries that schema once.
 */
function withBaseSchemas(segments: string, order: string): string {
  return `SELECT s.*, ${SCHEMA_SELECT}
    FROM (SELECT p.*, row_number() OVER (PARTITION BY p.base_schema_id) = 1 AS first_of_schema FROM (${segments}) p) s
    LEFT JOIN base_schemas b ON s.first_of_schema AND b.tenant_id = $1 AND b.id = s.base_schema_id
    ORDER BY ${qualified(order, 's')}`;
}

/** `created_at DESC, id DESC` as `s.created_at DESC, s.id DESC`: the same order, of an outer select. */
function qualified(order: string, alias: string): string {
  const key = `${alias} ${order}`;
  let text = qualifiedOrders.get(key);
  if (text === undefined) {
    text = order.replace(/(^|, )/g, `$1${alias}.`);
    qualifiedOrders.set(key, text);
  }
  return text;
}

/** The few orders and aliases statements use, qualified once. */
const qualifiedOrders = new Map<string, string>();

/** `value` appended to a statement's `values`, as the `$n` that stands for it. */
function parameter(values: unknown[], value: unknown): string {
  return `$${values.push(value)}`;
}

const SCHEMA_SELECT = BASE_SCHEMA_COLUMNS.split(',')
  .map((column) => `b.${column.trim()} AS schema_${column.trim()}`)
  .join(', ');

type PrefixedSchemaRow = { [K in keyof BaseSchemaRow as `schema_${K}`]: BaseSchemaRow[K] | null };
type WithSchema<Row> = Row & PrefixedSchemaRow & { first_of_schema?: boolean; total?: number };

function splitBaseSchemas<Row>(rows: Array<WithSchema<Row>>): { rows: Row[]; baseSchemas: BaseSchemaRecord[] } {
  const baseSchemas: BaseSchemaRecord[] = [];
  for (const row of rows) {
    if (row.schema_id === null) continue;
    baseSchemas.push(
      toBaseSchemaRecord({
        tenant_id: row.schema_tenant_id!,
        id: row.schema_id,
        name: row.schema_name!,
        display_name: row.schema_display_name!,
        description: row.schema_description,
        entity_type: row.schema_entity_type!,
        table_name: row.schema_table_name!,
        fields: row.schema_fields!,
        created_at: row.schema_created_at!,
        updated_at: row.schema_updated_at!,
      }),
    );
  }
  return { rows, baseSchemas };
}

export interface SegmentFilter {
  status?: string | null;
  /** Case-insensitive literal substring of the name. */
  search?: string | null;
  baseSchemaId?: string | null;
}

export interface Keyset {
  createdAt: Date;
  id: string;
}

export interface PageRequest {
  after?: Keyset;
  before?: Keyset;
  /** Rows to fetch (the caller asks one more than it shows, to know whether another page follows). */
  limit: number;
  /** Walking backwards: newest first, for the caller to reverse. */
  inverted: boolean;
}

/**
 * Conditions of a statement whose `$1` is the tenant, every value a further
 * parameter appended to `values`: the text depends only on which filters are
 * set, so that it can be prepared.
 */
function filterClause(filter: SegmentFilter, values: unknown[]): string {
  const param = (value: unknown) => parameter(values, value);
  const parts = ['tenant_id = $1'];
  if (filter.status) parts.push(`status = ${param(filter.status)}`);
  if (filter.baseSchemaId) parts.push(`base_schema_id = ${param(filter.baseSchemaId)}`);
  if (filter.search) parts.push(`name ILIKE ${param(`%${escapeLike(filter.search)}%`)} ESCAPE '\\'`);
  return parts.join(' AND ');
}

/** `%`, `_` and `\` match themselves in a LIKE pattern built from this. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * One page by keyset on (created_at, id), of the segments `where` (a
 * filterClause of `values`) selects: the same cost on page 1 and page 400.
 */
function pageQuery(where: string, page: PageRequest, values: unknown[], columns: string): string {
  const param = (value: unknown) => parameter(values, value);
  const conditions = [where];
  if (page.after) conditions.push(`(created_at, id) > (${param(page.after.createdAt)}, ${param(page.after.id)})`);
  if (page.before) conditions.push(`(created_at, id) < (${param(page.before.createdAt)}, ${param(page.before.id)})`);
  return `SELECT ${columns} FROM segments WHERE ${conditions.join(' AND ')} ORDER BY ${pageOrder(page)} LIMIT ${param(page.limit)}`;
}

function pageOrder(page: PageRequest): string {
  return page.inverted ? 'created_at DESC, id DESC' : 'created_at, id';
}

export async function countSegments(db: Queryable, tenantId: string, filter: SegmentFilter): Promise<number> {
  const values: unknown[] = [tenantId];
  const where = filterClause(filter, values);
  const row = await db.one<{ n: number }>(named(`SELECT ${countExpression(filter, where)} AS n`, values));
  return row.n;
}

/**
 * The number of segments `where` (the filterClause of `filter`) selects, as
 * a scalar subquery. Unfiltered, it is the tenant's counter (kept at commit
 * by a trigger, migration 0003), one row instead of an index scan over every
 * segment of the tenant.
 */
function countExpression(filter: SegmentFilter, where: string): string {
  if (!filter.status && !filter.search && !filter.baseSchemaId) {
    return 'coalesce((SELECT segments::int FROM segment_counts WHERE tenant_id = $1), 0)';
  }
  return `(SELECT count(*)::int FROM segments WHERE ${where})`;
}

export interface SegmentPageExtras {
  /** Also the base schemas of the page's segments. */
  baseSchemas: boolean;
  /** Also the number of segments the filter matches. */
  total: boolean;
  /** Summary rows (SegmentSummaryRow) rather than whole ones: the read shows no definition. */
  summary: boolean;
}

export interface SegmentPageResult {
  rows: Array<SegmentRow | SegmentSummaryRow>;
  baseSchemas: BaseSchemaRecord[];
  total: number | null;
}

/**
 * A page with what a read asks along with it, in one prepared statement:
 * the page, the base schemas its segments stand on (see `withBaseSchemas`),
 * the total (on every row; an empty page is one row of nulls that carries it).
 */
export async function listSegmentPageWith(
  db: Queryable,
  tenantId: string,
  filter: SegmentFilter,
  page: PageRequest,
  extras: SegmentPageExtras,
): Promise<SegmentPageResult> {
  const values: unknown[] = [tenantId];
  const where = filterClause(filter, values);
  let text = pageQuery(where, page, values, extras.summary ? SUMMARY_COLUMNS : COLUMNS);
  if (extras.baseSchemas) text = withBaseSchemas(text, pageOrder(page));
  type Row = WithSchema<SegmentRow | SegmentSummaryRow>;
  if (!extras.total) {
    const rows = await db.any<Row>(named(text, values));
    return { ...(extras.baseSchemas ? splitBaseSchemas(rows) : { rows, baseSchemas: [] }), total: null };
  }
  const rows = await db.any<Row>(named(withTotal(text, filter, where, page), values));
  const found = rows.filter((row) => row.id !== null);
  return { ...(extras.baseSchemas ? splitBaseSchemas(found) : { rows: found, baseSchemas: [] }), total: rows[0]!.total! };
}

/**
 * The rows of `page` (a page statement over the filterClause `where`), each
 * with the number of segments `filter` matches as `total`; an empty page is
 * one row of nulls that carries it.
 */
function withTotal(page: string, filter: SegmentFilter, where: string, request: PageRequest, columns = 'page.*'): string {
  const total = countExpression(filter, where);
  return `SELECT ${columns}, total.n AS total FROM (SELECT ${total} AS n) total LEFT JOIN (${page}) page ON true ORDER BY ${qualified(pageOrder(request), 'page')}`;
}

/** A timestamptz as the DateTime scalar writes it (JavaScript's toISOString): UTC, to the millisecond, `Z`. */
function isoText(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/**
 * The fields of a segment and of its base schema as a list written by
 * PostgreSQL shows them: each field's GraphQL value as an SQL expression
 * (text for a JSON string, integer for a number, null for null) over
 * a page row `p` and its base schema `b`, written by `row_to_json` as the
 * compiled execution writes it (`customer_count` is an Int there, so a count
 * past its range fails the statement, as it fails the field).
 */
export const SEGMENT_JSON_FIELDS = {
  id: 'p.id',
  tenantId: 'p.tenant_id',
  name: 'p.name',
  description: 'p.description',
  status: 'p.status',
  entityType: 'p.entity_type',
  baseSchemaId: 'p.base_schema_id',
  baseSchemaName: 'b.name',
  customerCount: 'p.customer_count::int',
  viewName: 'p.view_name',
  lastRefreshedAt: isoText('p.last_refreshed_at'),
  createdAt: isoText('p.created_at'),
  updatedAt: isoText('p.updated_at'),
  version: 'p.version',
} as const;

export const BASE_SCHEMA_JSON_FIELDS = {
  id: 'b.id',
  tenantId: 'b.tenant_id',
  name: 'b.name',
  displayName: 'b.display_name',
  description: 'b.description',
  entityType: 'b.entity_type',
  tableName: 'b.table_name',
  createdAt: isoText('b.created_at'),
  updatedAt: isoText('b.updated_at'),
} as const;

/** The row's relay cursor, as `encodeCursor` (src/schema/cursors.ts) makes it: base64url of `{"c":createdAt,"i":id}`. */
export const SEGMENT_CURSOR = `rtrim(translate(encode(convert_to('{"c":"' || ${isoText('p.created_at')} || '","i":' || to_json(p.id)::text || '}', 'UTF8'), 'base64'), E'+/\\n', '-_'), '=')`;

/** A constant string, as a value expression. */
export function textConstant(text: string): string {
  return `${pgp.as.text(text)}::text`;
}

/** A JSON object of `entries` (key, value expression), in their order, as compact JSON (`row_to_json`). */
export function jsonObject(entries: ReadonlyArray<readonly [key: string, value: string]>): string {
  return `(SELECT row_to_json(o) FROM (SELECT ${entries.map(([key, value]) => `${value} AS ${pgp.as.name(key)}`).join(', ')}) o)`;
}

/** What a page written by PostgreSQL holds for each row. */
export interface SegmentJsonShape {
  /** The JSON of an edge (`jsonObject` of the expressions above). */
  edge: string;
  /** Whether `edge` reads the base schema `b`. */
  baseSchema: boolean;
  /** Also each row's cursor, as text. */
  cursor: boolean;
  /**
   * The last row a full page fetches (its `limit`-th) only tells that
   * another page follows: its JSON is an empty text, and the cursor, when
   * asked, is written for the row before it alone (null for the others).
   */
  peek?: boolean;
  /** Also the number of segments the filter matches. */
  total: boolean;
}

/** Statement texts of JSON pages, by shape and variant (at most 64 variants a shape). */
const jsonPageTexts = new WeakMap<SegmentJsonShape, Map<string, string>>();

/**
 * A page of segments with each row's edge written as JSON by PostgreSQL,
 * in one statement: the rows (`limit` of them at most, in the page's
 * order) and, when asked, the total.
 */
export async function listSegmentJsonPage(
  db: Queryable,
  tenantId: string,
  filter: SegmentFilter,
  page: PageRequest,
  shape: SegmentJsonShape,
  prepared: boolean,
): Promise<{ rows: Array<{ json: string; cursor: string | null }>; total: number | null }> {
  const values: unknown[] = [tenantId];
  const where = filterClause(filter, values);
  // With `peek`, each row's place in the page (numbered in the index's order, before the LIMIT).
  const paged = pageQuery(where, page, values, shape.peek ? `${COLUMNS}, row_number() OVER (ORDER BY ${pageOrder(page)}) AS n` : COLUMNS);
  // The LIMIT: the last value pageQuery adds.
  const limit = `$${values.length}`;
  // The text depends on the shape and on which filters and cursors are set: kept per shape, not rebuilt.
  const variant = `${filter.status ? 's' : ''}${filter.search ? 'q' : ''}${filter.baseSchemaId ? 'b' : ''}${page.after ? 'a' : ''}${page.before ? 'z' : ''}${page.inverted ? 'i' : ''}`;
  let texts = jsonPageTexts.get(shape);
  if (!texts) {
    texts = new Map();
    jsonPageTexts.set(shape, texts);
  }
  let text = texts.get(variant);
  if (text === undefined) {
    const join = shape.baseSchema ? ' JOIN base_schemas b ON b.tenant_id = $1 AND b.id = p.base_schema_id' : '';
    let json = `${shape.edge}::text`;
    let cursor = shape.cursor ? `, ${SEGMENT_CURSOR} AS cursor` : '';
    if (shape.peek) {
      json = `CASE WHEN p.n < ${limit} THEN ${json} ELSE '' END`;
      if (shape.cursor) cursor = `, CASE WHEN p.n = ${limit} - 1 THEN ${SEGMENT_CURSOR} END AS cursor`;
    }
    const rowsOf = `SELECT ${json} AS json${cursor}, p.created_at, p.id FROM (${paged}) p${join}`;
    const columns = shape.cursor ? 'page.json, page.cursor' : 'page.json';
    text = shape.total
      ? withTotal(rowsOf, filter, where, page, columns)
      : `SELECT ${columns} FROM (${rowsOf}) page ORDER BY ${qualified(pageOrder(page), 'page')}`;
    texts.set(variant, text);
  }
  type Row = { json: string | null; cursor: string | null; total?: number };
  const query = prepared ? named(text, values) : new pgp.ParameterizedQuery({ text, values });
  const rows = await db.any<Row>(query);
  return {
    rows: rows.filter((row): row is Row & { json: string } => row.json !== null),
    total: shape.total ? rows[0]!.total! : null,
  };
}

/**
 * The REST segment (the `RestSegment` fragment of src/rest/operations.ts:
 * its fields, in its order) as a page written by PostgreSQL shows it, with
 * each row's cursor and the total. Two fields differ from the GraphQL
 * list's: jsonb definitions pass through as they are stored, and the count
 * is written as the number it is (REST has no 32-bit Int).
 */
const REST_SEGMENT_PAGE: SegmentJsonShape = {
  edge: jsonObject([
    ...(['id', 'tenantId', 'name', 'description', 'status', 'entityType', 'baseSchemaId'] as const).map(
      (field) => [field, SEGMENT_JSON_FIELDS[field]] as const,
    ),
    ['baseSchema', jsonObject([['name', BASE_SCHEMA_JSON_FIELDS.name]])],
    ['baseSchemaName', SEGMENT_JSON_FIELDS.baseSchemaName],
    ['customerCount', 'p.customer_count'],
    ['joins', 'p.joins'],
    ['filters', 'p.filters'],
    ...(['viewName', 'lastRefreshedAt', 'createdAt', 'updatedAt', 'version'] as const).map(
      (field) => [field, SEGMENT_JSON_FIELDS[field]] as const,
    ),
  ]),
  baseSchema: true,
  cursor: true,
  total: true,
  // The extra row REST fetches to know whether another page follows: its JSON and 20 of the cursors went unused.
  peek: true,
};

/**
 * One REST segment as JSON text (empty for the row that only tells that
 * another page follows), with its relay cursor when it is the page's last.
 */
export interface RestSegmentRow {
  json: string;
  cursor: string | null;
}

/**
 * A page of REST segments built as JSON by PostgreSQL, the page's last
 * cursor, and the number of segments the filter matches, in one prepared
 * statement: the REST list sends the JSON on as it comes.
 */
export async function listRestSegmentPage(
  db: Queryable,
  tenantId: string,
  filter: SegmentFilter,
  page: PageRequest,
): Promise<{ rows: RestSegmentRow[]; total: number }> {
  const { rows, total } = await listSegmentJsonPage(db, tenantId, filter, page, REST_SEGMENT_PAGE, true);
  return { rows, total: total! };
}

export interface NewSegment {
  tenantId: string;
  id: string;
  name: string;
  description: string | null;
  status: string;
  entityType: string;
  baseSchemaId: string;
  joins: unknown[];
  filters: unknown[];
  viewName: string;
}

export function insertSegment(t: Queryable, s: NewSegment): Promise<SegmentRow> {
  return t.one<SegmentRow>(
    `INSERT INTO segments (tenant_id, id, name, description, status, entity_type, base_schema_id, joins, filters, view_name)
     VALUES ($<tenantId>, $<id>, $<name>, $<description>, $<status>, $<entityType>, $<baseSchemaId>,
             $<joins:json>, $<filters:json>, $<viewName>)
     RETURNING ${COLUMNS}`,
    s,
  );
}

export interface SegmentChanges {
  name?: string;
  description?: string | null;
  status?: string;
  entityType?: string;
  baseSchemaId?: string;
  joins?: unknown[];
  filters?: unknown[];
}

/** Applies the changes and bumps the version. */
export function updateSegmentRow(t: Queryable, tenantId: string, id: string, changes: SegmentChanges): Promise<SegmentRow> {
  const sets: string[] = [];
  const values: Record<string, unknown> = { tenantId, id };
  const column: Record<keyof SegmentChanges, string> = {
    name: 'name',
    description: 'description',
    status: 'status',
    entityType: 'entity_type',
    baseSchemaId: 'base_schema_id',
    joins: 'joins',
    filters: 'filters',
  };
  for (const key of Object.keys(column) as (keyof SegmentChanges)[]) {
    if (changes[key] === undefined) continue;
    const json = key === 'joins' || key === 'filters' ? ':json' : '';
    sets.push(`${column[key]} = $<${key}${json}>`);
    values[key] = changes[key];
  }
  sets.push('version = version + 1', `updated_at = date_trunc('milliseconds', clock_timestamp())`);
  return t.one<SegmentRow>(
    `UPDATE segments SET ${sets.join(', ')} WHERE tenant_id = $<tenantId> AND id = $<id> RETURNING ${COLUMNS}`,
    values,
  );
}

export function setSegmentCount(t: Queryable, tenantId: string, id: string, count: number): Promise<SegmentRow> {
  return t.one<SegmentRow>(
    `UPDATE segments SET customer_count = $3, last_refreshed_at = date_trunc('milliseconds', clock_timestamp())
     WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    [tenantId, id, count],
  );
}

export function deleteSegmentRow(t: Queryable, tenantId: string, id: string): Promise<null> {
  return t.none('DELETE FROM segments WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
}

/** What the definition stands on: schemas (with the fields it reads) and other segments. */
export async function replaceSegmentDependencies(
  t: Queryable,
  tenantId: string,
  segmentId: string,
  schemaUses: ReadonlyMap<string, readonly string[]>,
  referencedIds: readonly string[],
): Promise<void> {
  await t.none(
    `DELETE FROM segment_schema_uses WHERE tenant_id = $1 AND segment_id = $2;
     DELETE FROM segment_references WHERE tenant_id = $1 AND segment_id = $2`,
    [tenantId, segmentId],
  );
  const uses = [...schemaUses].map(([schemaId, fields]) => ({ tenant_id: tenantId, segment_id: segmentId, schema_id: schemaId, fields: [...fields] }));
  if (uses.length > 0) {
    await t.none(pgp.helpers.insert(uses, USES_COLUMNS));
  }
  const refs = referencedIds.map((id) => ({ tenant_id: tenantId, segment_id: segmentId, referenced_id: id }));
  if (refs.length > 0) {
    await t.none(pgp.helpers.insert(refs, REFS_COLUMNS));
  }
}

const USES_COLUMNS = new pgp.helpers.ColumnSet(['tenant_id', 'segment_id', 'schema_id', { name: 'fields', cast: 'text[]' }], {
  table: 'segment_schema_uses',
});
const REFS_COLUMNS = new pgp.helpers.ColumnSet(['tenant_id', 'segment_id', 'referenced_id'], { table: 'segment_references' });

/** Segments whose definitions reference this one (by name), which block its deletion. */
export function findReferrers(t: Queryable, tenantId: string, segmentId: string): Promise<Array<{ id: string; name: string }>> {
  return t.any(
    `SELECT s.id, s.name FROM segment_references r
     JOIN segments s ON s.tenant_id = r.tenant_id AND s.id = r.segment_id
     WHERE r.tenant_id = $1 AND r.referenced_id = $2 ORDER BY s.name`,
    [tenantId, segmentId],
  );
}

/** Would referencing `targets` from `segmentId` close a loop? */
export async function referencesReach(t: Queryable, tenantId: string, targets: readonly string[], segmentId: string): Promise<boolean> {
  if (targets.length === 0) return false;
  const row = await t.one<{ reached: boolean }>(
    `WITH RECURSIVE reach(id) AS (
       SELECT unnest($2::text[])
       UNION
       SELECT r.referenced_id FROM segment_references r JOIN reach ON r.segment_id = reach.id
       WHERE r.tenant_id = $1
     )
     SELECT EXISTS (SELECT 1 FROM reach WHERE id = $3) AS reached`,
    [tenantId, targets, segmentId],
  );
  return row.reached;
}

/** The segments built on a schema, referenced segments first (so views can be recreated in order). */
export function findSegmentsOnSchema(t: Queryable, tenantId: string, schemaId: string): Promise<SegmentRow[]> {
  return t.any<SegmentRow>(
    `WITH RECURSIVE depth(id, d) AS (
       SELECT id, 0 FROM segments WHERE tenant_id = $1 AND base_schema_id = $2
       UNION ALL
       SELECT r.segment_id, depth.d + 1 FROM segment_references r JOIN depth ON r.referenced_id = depth.id
       WHERE r.tenant_id = $1 AND depth.d < 100
     )
     SELECT ${COLUMNS.split(',').map((c) => `s.${c.trim()}`).join(', ')}
     FROM segments s JOIN (SELECT id, max(d) AS d FROM depth GROUP BY id) o ON o.id = s.id
     WHERE s.tenant_id = $1
     ORDER BY o.d, s.created_at, s.id`,
    [tenantId, schemaId],
  );
}

// ---- views ----------------------------------------------------------------

export function createOrReplaceView(t: Queryable, namespace: string, viewName: string, select: string): Promise<null> {
  return t.none(`CREATE OR REPLACE VIEW $1:name.$2:name AS ${select}`, [namespace, viewName]);
}

export function dropView(t: Queryable, namespace: string, viewName: string): Promise<null> {
  return t.none('DROP VIEW IF EXISTS $1:name.$2:name', [namespace, viewName]);
}

/** `SET LOCAL statement_timeout` of `ms` (at least 1: 0 would turn the timeout off). */
function statementTimeout(ms: number): string {
  return `SET LOCAL statement_timeout = ${Math.max(1, Math.trunc(ms))}`;
}

/** Bounds every statement that follows in this transaction. */
export function limitStatementTime(t: Queryable, ms: number): Promise<null> {
  return t.none(statementTimeout(ms));
}

/**
 * The view's count under a statement timeout of `ms` for the rest of the
 * transaction: the `SET LOCAL` and the count in one round trip (PostgreSQL
 * applies the timeout to each statement of a query string, with the value
 * in force when the statement starts).
 */
export async function countViewMembersWithin(t: Queryable, namespace: string, viewName: string, ms: number): Promise<number> {
  const [, rows] = await t.multi<{ n: string | number }>(
    `${statementTimeout(ms)}; ${pgp.as.format('SELECT count(*) AS n FROM $1:name.$2:name', [namespace, viewName])}`,
  );
  return Number(rows![0]!.n);
}

export function previewViewRows(
  t: Queryable,
  namespace: string,
  viewName: string,
  primaryKey: readonly string[],
  limit: number,
): Promise<Record<string, unknown>[]> {
  return t.any('SELECT * FROM $1:name.$2:name ORDER BY $3:name LIMIT $4', [namespace, viewName, primaryKey, limit]);
}

/**
 * Sizes of every combination of membership in one statement: `maskSelect`
 * (the compiler's one-pass overlap query) gives each base row its bit set,
 * and rows are counted by bit set. Rows in none of the segments (mask 0) are
 * dropped here: a `WHERE mask <> 0` would be pushed down next to the scan and
 * make PostgreSQL compute every mask twice.
 */
export async function overlapMasks(t: Queryable, maskSelect: string): Promise<Array<{ mask: number; n: number }>> {
  const rows = await t.any<{ mask: number; n: number }>(
    `SELECT mask, count(*)::int AS n FROM (${maskSelect}) AS members GROUP BY mask`,
  );
  return rows.filter((r) => r.mask !== 0);
}

/** The segments that `ids` reference, directly or through others, to any depth. */
export function findReferencedSegments(db: Queryable, tenantId: string, ids: readonly string[]): Promise<SegmentRow[]> {
  return db.any<SegmentRow>(
    `WITH RECURSIVE reach(id) AS (
       SELECT referenced_id FROM segment_references WHERE tenant_id = $1 AND segment_id = ANY($2::text[])
       UNION
       SELECT r.referenced_id FROM segment_references r JOIN reach ON r.segment_id = reach.id
       WHERE r.tenant_id = $1
     )
     SELECT ${COLUMNS} FROM segments WHERE tenant_id = $1 AND id IN (SELECT id FROM reach)`,
    [tenantId, ids],
  );
}

export async function findSegmentNames(db: Queryable, tenantId: string): Promise<string[]> {
  return db.map('SELECT name FROM segments WHERE tenant_id = $1', [tenantId], (r: { name: string }) => r.name);
}
