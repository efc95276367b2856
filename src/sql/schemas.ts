import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { IBaseProtocol, ITask } from 'pg-promise';
import { from as copyFrom } from 'pg-copy-streams';
import { pgp, type Db } from './db.js';
import type { BaseSchemaRecord, EntityType, FieldDefinition } from '../domain/schemas/types.js';

/**
 * Every statement about base schemas: the metadata rows, the DDL of their
 * tables (identifiers always through pg-promise's `:name`), reading rows and
 * loading them with COPY. Metadata statements filter by tenant_id.
 */

type Queryable = IBaseProtocol<unknown>;

interface BaseSchemaRow {
  tenant_id: string;
  id: string;
  name: string;
  display_name: string;
  description: string | null;
  entity_type: EntityType;
  table_name: string;
  fields: FieldDefinition[];
  created_at: Date;
  updated_at: Date;
}

const SCHEMA_COLUMNS =
  'tenant_id, id, name, display_name, description, entity_type, table_name, fields, created_at, updated_at';

function toRecord(row: BaseSchemaRow): BaseSchemaRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    displayName: row.display_name,
    description: row.description,
    entityType: row.entity_type,
    tableName: row.table_name,
    fields: row.fields,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export type NewBaseSchema = Omit<BaseSchemaRecord, 'createdAt' | 'updatedAt'>;

export async function insertBaseSchema(db: Queryable, schema: NewBaseSchema): Promise<BaseSchemaRecord> {
  const row = await db.one<BaseSchemaRow>(
    `INSERT INTO base_schemas (tenant_id, id, name, display_name, description, entity_type, table_name, fields)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8:json)
     RETURNING ${SCHEMA_COLUMNS}`,
    [
      schema.tenantId,
      schema.id,
      schema.name,
      schema.displayName,
      schema.description,
      schema.entityType,
      schema.tableName,
      schema.fields,
    ],
  );
  return toRecord(row);
}

/** `lock`: hold the row until the transaction ends (`share` for loads, `update` for changes). */
export async function findBaseSchema(
  db: Queryable,
  tenantId: string,
  id: string,
  lock?: 'share' | 'update',
): Promise<BaseSchemaRecord | null> {
  const suffix = lock === 'update' ? ' FOR UPDATE' : lock === 'share' ? ' FOR SHARE' : '';
  const row = await db.oneOrNone<BaseSchemaRow>(
    `SELECT ${SCHEMA_COLUMNS} FROM base_schemas WHERE tenant_id = $1 AND id = $2${suffix}`,
    [tenantId, id],
  );
  return row ? toRecord(row) : null;
}

export async function findBaseSchemaByName(
  db: Queryable,
  tenantId: string,
  name: string,
): Promise<BaseSchemaRecord | null> {
  const row = await db.oneOrNone<BaseSchemaRow>(
    `SELECT ${SCHEMA_COLUMNS} FROM base_schemas WHERE tenant_id = $1 AND name = $2`,
    [tenantId, name],
  );
  return row ? toRecord(row) : null;
}

/** One statement for any number of ids (a dataloader batch); unknown ids are left out. */
export async function findBaseSchemasByIds(
  db: Queryable,
  tenantId: string,
  ids: readonly string[],
): Promise<BaseSchemaRecord[]> {
  if (ids.length === 0) return [];
  const rows = await db.any<BaseSchemaRow>(
    `SELECT ${SCHEMA_COLUMNS} FROM base_schemas
     WHERE tenant_id = $1 AND id = ANY ($2::text[])
     ORDER BY created_at, id`,
    [tenantId, [...ids]],
  );
  return rows.map(toRecord);
}

export interface SchemaCursor {
  createdAt: Date;
  id: string;
}

export interface SchemaPageQuery {
  after?: SchemaCursor;
  before?: SchemaCursor;
  limit: number;
  /** Walk backwards from `before`: rows come newest first and the caller reverses them. */
  inverted: boolean;
}

/** Keyset page on (created_at, id). */
export async function findBaseSchemaPage(
  db: Queryable,
  tenantId: string,
  page: SchemaPageQuery,
): Promise<BaseSchemaRecord[]> {
  const conditions = [pgp.as.format('tenant_id = $1', [tenantId])];
  if (page.after) {
    conditions.push(pgp.as.format('(created_at, id) > ($1::timestamptz, $2)', [page.after.createdAt, page.after.id]));
  }
  if (page.before) {
    conditions.push(
      pgp.as.format('(created_at, id) < ($1::timestamptz, $2)', [page.before.createdAt, page.before.id]),
    );
  }
  const direction = page.inverted ? 'DESC' : 'ASC';
  const rows = await db.any<BaseSchemaRow>(
    `SELECT ${SCHEMA_COLUMNS} FROM base_schemas WHERE $1:raw
     ORDER BY created_at $2:raw, id $2:raw LIMIT $3`,
    [conditions.join(' AND '), direction, page.limit],
  );
  return rows.map(toRecord);
}

export async function countBaseSchemasOfTenant(db: Queryable, tenantId: string): Promise<number> {
  const row = await db.one<{ total: number }>('SELECT count(*)::int AS total FROM base_schemas WHERE tenant_id = $1', [
    tenantId,
  ]);
  return row.total;
}

export interface BaseSchemaChanges {
  displayName: string;
  description: string | null;
  entityType: EntityType;
  fields: FieldDefinition[];
}

export async function updateBaseSchemaRow(
  db: Queryable,
  tenantId: string,
  id: string,
  changes: BaseSchemaChanges,
): Promise<BaseSchemaRecord> {
  // updated_at never goes backwards, even when the clock does or two updates share a millisecond.
  const row = await db.one<BaseSchemaRow>(
    `UPDATE base_schemas
     SET display_name = $3, description = $4, entity_type = $5, fields = $6:json,
         updated_at = greatest(date_trunc('milliseconds', clock_timestamp()), updated_at + interval '1 millisecond')
     WHERE tenant_id = $1 AND id = $2
     RETURNING ${SCHEMA_COLUMNS}`,
    [tenantId, id, changes.displayName, changes.description, changes.entityType, changes.fields],
  );
  return toRecord(row);
}

export async function deleteBaseSchemaRow(db: Queryable, tenantId: string, id: string): Promise<void> {
  await db.none('DELETE FROM base_schemas WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
}

/** A segment standing on a schema: as its base, or through joins and filters. */
export interface SchemaUse {
  segmentId: string;
  segmentName: string;
  /** The schema's fields the segment's definition reads. */
  fields: string[];
}

export async function findSegmentsUsingSchema(db: Queryable, tenantId: string, schemaId: string): Promise<SchemaUse[]> {
  return db.map(
    `SELECT s.id, s.name, coalesce(u.fields, '{}') AS fields
     FROM segments s
     LEFT JOIN segment_schema_uses u
       ON u.tenant_id = s.tenant_id AND u.segment_id = s.id AND u.schema_id = $2
     WHERE s.tenant_id = $1 AND (s.base_schema_id = $2 OR u.schema_id IS NOT NULL)
     ORDER BY s.name, s.id`,
    [tenantId, schemaId],
    (row: { id: string; name: string; fields: string[] }) => ({
      segmentId: row.id,
      segmentName: row.name,
      fields: row.fields,
    }),
  );
}

// ---------------------------------------------------------------------------
// DDL

/** The PostgreSQL type of a field; built from validated numbers only. */
export function columnType(field: FieldDefinition): string {
  switch (field.dataType) {
    case 'varchar':
      return pgp.as.format('varchar($1)', [field.length ?? 255]);
    case 'numeric':
      if (field.precision === null) return 'numeric';
      return pgp.as.format('numeric($1, $2)', [field.precision, field.scale ?? 0]);
    case 'double':
      return 'double precision';
    default:
      return field.dataType;
  }
}

function columnDefinition(field: FieldDefinition, uniqueInline: boolean): string {
  return pgp.as.format('$1:name $2:raw$3:raw$4:raw', [
    field.name,
    columnType(field),
    field.isNullable ? '' : ' NOT NULL',
    uniqueInline && field.isUnique ? ' UNIQUE' : '',
  ]);
}

export async function createDataTable(
  t: Queryable,
  namespace: string,
  tableName: string,
  fields: readonly FieldDefinition[],
): Promise<void> {
  const primaryKey = fields.filter((f) => f.isPrimaryKey).map((f) => f.name);
  // A lone primary-key field is unique already: no second index for it.
  const columns = fields.map((f) => columnDefinition(f, !(f.isPrimaryKey && primaryKey.length === 1)));
  await t.none('CREATE TABLE $1:name.$2:name ($3:raw, PRIMARY KEY ($4:name))', [
    namespace,
    tableName,
    columns.join(', '),
    primaryKey,
  ]);
}

export interface TableChange {
  dropped: readonly string[];
  renamed: readonly { from: string; to: string }[];
  added: readonly FieldDefinition[];
}

/** Drops first (a rename may take a dropped name), then renames, then additions. */
export async function alterDataTable(t: Queryable, namespace: string, tableName: string, change: TableChange) {
  if (change.dropped.length > 0) {
    const actions = change.dropped.map((name) => pgp.as.format('DROP COLUMN $1:name', [name]));
    await t.none('ALTER TABLE $1:name.$2:name $3:raw', [namespace, tableName, actions.join(', ')]);
  }
  for (const { from, to } of change.renamed) {
    await t.none('ALTER TABLE $1:name.$2:name RENAME COLUMN $3:name TO $4:name', [namespace, tableName, from, to]);
  }
  if (change.added.length > 0) {
    const actions = change.added.map((f) => `ADD COLUMN ${columnDefinition(f, true)}`);
    await t.none('ALTER TABLE $1:name.$2:name $3:raw', [namespace, tableName, actions.join(', ')]);
  }
}

export async function dropDataTable(t: Queryable, namespace: string, tableName: string): Promise<void> {
  await t.none('DROP TABLE IF EXISTS $1:name.$2:name', [namespace, tableName]);
}

export async function tableHasRows(t: Queryable, namespace: string, tableName: string): Promise<boolean> {
  const row = await t.one<{ has: boolean }>('SELECT EXISTS (SELECT 1 FROM $1:name.$2:name) AS has', [
    namespace,
    tableName,
  ]);
  return row.has;
}

// ---------------------------------------------------------------------------
// Reading rows

export interface RowPageQuery {
  namespace: string;
  tableName: string;
  columns: readonly string[];
  orderBy: readonly string[];
  limit: number;
  offset: number;
}

export async function findRowPage(
  db: Queryable,
  query: RowPageQuery,
): Promise<{ total: number; rows: Record<string, unknown>[] }> {
  return db.task('read rows', async (t) => {
    const { total } = await t.one<{ total: number }>('SELECT count(*) AS total FROM $1:name.$2:name', [
      query.namespace,
      query.tableName,
    ]);
    const rows = await t.any<Record<string, unknown>>(
      'SELECT $3:name FROM $1:name.$2:name ORDER BY $4:name LIMIT $5 OFFSET $6',
      [query.namespace, query.tableName, query.columns, query.orderBy, query.limit, query.offset],
    );
    return { total, rows };
  });
}

// ---------------------------------------------------------------------------
// Loading rows

/**
 * The part of PGlite that loads data: `COPY ... FROM '/dev/blob'` reads
 * `options.blob`. PGlite runs a single session, so this query runs inside
 * whatever transaction the socket connection has open.
 */
export interface BlobCopier {
  query(sql: string, params: unknown[], options: { blob: Blob }): Promise<{ affectedRows?: number }>;
}

/**
 * Where rows are loaded. On a PostgreSQL server data streams through
 * `COPY ... FROM STDIN` (pg-copy-streams) on a dedicated connection. The
 * embedded PostgreSQL cannot take COPY FROM STDIN through its socket, so with
 * `pglite` set the data goes to PGlite itself as a blob, in the same session.
 */
export interface LoadTarget {
  db: Db;
  pglite?: BlobCopier;
}

export type CopyData = AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;

export interface CopyInto {
  /** Schema of the table; `pg_temp` for the staging table. */
  namespace: string;
  tableName: string;
  columns: readonly string[];
  /** `csv`: with a header line (skipped); `text`: PostgreSQL's text format, no header. */
  format: 'csv' | 'text';
}

/** A transaction that can also take COPY data. */
export interface LoadSession {
  t: ITask<unknown>;
  /** Runs COPY into `into` with `data`; resolves to the number of rows copied. */
  copyIn(into: CopyInto, data: CopyData): Promise<number>;
}

export async function inLoadTransaction<T>(
  target: LoadTarget,
  work: (session: LoadSession) => Promise<T>,
): Promise<T> {
  const { pglite } = target;
  if (pglite) {
    return target.db.tx('load rows', (t) => work({ t, copyIn: (into, data) => copyThroughBlob(pglite, into, data) }));
  }
  const connection = await target.db.connect();
  try {
    return await connection.tx('load rows', (t) =>
      work({
        t,
        copyIn: async (into, data) => {
          // pg's Client.query returns a submittable (the COPY stream) as is; pg-promise's typing omits that.
          const client = connection.client as unknown as { query<Q>(submittable: Q): Q };
          const stream = client.query(copyFrom(copyStatement(into, 'STDIN')));
          await pipeline(Readable.from(data, { objectMode: false }), stream);
          return stream.rowCount;
        },
      }),
    );
  } finally {
    connection.done();
  }
}

function copyStatement(into: CopyInto, source: 'STDIN' | 'blob'): string {
  return pgp.as.format('COPY $1:name.$2:name ($3:name) FROM $4:raw$5:raw', [
    into.namespace,
    into.tableName,
    into.columns,
    source === 'STDIN' ? 'STDIN' : "'/dev/blob'",
    into.format === 'csv' ? ' WITH (FORMAT csv, HEADER true)' : '',
  ]);
}

async function copyThroughBlob(pglite: BlobCopier, into: CopyInto, data: CopyData): Promise<number> {
  const parts: BlobPart[] = [];
  for await (const chunk of data) parts.push(chunk as BlobPart);
  const result = await pglite.query(copyStatement(into, 'blob'), [], { blob: new Blob(parts) });
  return result.affectedRows ?? 0;
}

/** Serialises loads into one table (so that "is it empty", "which keys exist" stay true) while reads go on. */
export async function lockTableForLoad(t: Queryable, namespace: string, tableName: string): Promise<void> {
  await t.none('LOCK TABLE $1:name.$2:name IN SHARE ROW EXCLUSIVE MODE', [namespace, tableName]);
}

const LOAD_SAVEPOINT = 'load_attempt';

/** A key of one row: its fields and their canonical texts. */
export interface KeyValue {
  fields: readonly FieldDefinition[];
  values: readonly string[];
}

export interface LoadStart {
  /** The schema's row as the transaction holds it; null when it is gone. */
  schema: BaseSchemaRecord | null;
  hasRows: boolean;
  /** Whether the table holds `firstKey`. */
  firstKeyExists: boolean;
}

/**
 * A JSON load's first statements, in one round trip (each one costs a wait
 * on PostgreSQL, and a busy machine makes that wait long): the schema's row,
 * held FOR SHARE to the end of the transaction; the table locked as
 * `lockTableForLoad` does; whether it has rows, and whether it holds
 * `firstKey` (a batch sent again); and a savepoint
 * (`rollbackToLoadSavepoint`), so that a first attempt that runs into an
 * existing key can be undone without another trip.
 */
export async function startLoad(
  t: Queryable,
  tenantId: string,
  schemaId: string,
  namespace: string,
  tableName: string,
  firstKey: KeyValue | null,
): Promise<LoadStart> {
  const statements = [
    pgp.as.format(`SELECT ${SCHEMA_COLUMNS} FROM base_schemas WHERE tenant_id = $1 AND id = $2 FOR SHARE`, [
      tenantId,
      schemaId,
    ]),
    pgp.as.format('LOCK TABLE $1:name.$2:name IN SHARE ROW EXCLUSIVE MODE', [namespace, tableName]),
    pgp.as.format('SELECT EXISTS (SELECT 1 FROM $1:name.$2:name) AS has', [namespace, tableName]),
    firstKey
      ? pgp.as.format('SELECT EXISTS (SELECT 1 FROM $1:name.$2:name WHERE $3:raw) AS has', [
          namespace,
          tableName,
          firstKey.fields
            .map((f, i) => pgp.as.format('$1:name = $2::$3:raw', [f.name, firstKey.values[i], columnType(f)]))
            .join(' AND '),
        ])
      : 'SELECT false AS has',
    pgp.as.format('SAVEPOINT $1:name', [LOAD_SAVEPOINT]),
  ];
  const has = (result: unknown[] | undefined) => (result?.[0] as { has: boolean } | undefined)?.has === true;
  try {
    const [schemas, , rows, first] = await t.multi(statements.join(';\n'));
    const schema = (schemas?.[0] as BaseSchemaRow | undefined) ?? null;
    return { schema: schema && toRecord(schema), hasRows: has(rows), firstKeyExists: has(first) };
  } catch (error) {
    // The schema was deleted (its table dropped with it) since it was read.
    if ((error as { code?: unknown } | null)?.code === '42P01') return { schema: null, hasRows: false, firstKeyExists: false };
    throw error;
  }
}

/** Undoes what followed `startLoad` (the savepoint stays, for another attempt). */
export async function rollbackToLoadSavepoint(t: Queryable): Promise<void> {
  await t.none('ROLLBACK TO SAVEPOINT $1:name', [LOAD_SAVEPOINT]);
}

/**
 * Runs `attempt` behind a savepoint: `undefined` when it failed with an error
 * `recoverable` accepts (all of its work undone, the transaction usable).
 */
export async function attemptBehindSavepoint<T>(
  t: Queryable,
  attempt: () => Promise<T>,
  recoverable: (error: unknown) => boolean,
): Promise<T | undefined> {
  await t.none('SAVEPOINT $1:name', [LOAD_SAVEPOINT]);
  try {
    const result = await attempt();
    await t.none('RELEASE SAVEPOINT $1:name', [LOAD_SAVEPOINT]);
    return result;
  } catch (error) {
    if (!recoverable(error)) throw error;
    await t.none('ROLLBACK TO SAVEPOINT $1:name', [LOAD_SAVEPOINT]);
    return undefined;
  }
}

export const STAGE_TABLE = 'load_stage';

/** An empty copy of the table's columns and NOT NULLs, without its indexes, gone at commit. */
export async function createLoadStage(t: Queryable, namespace: string, tableName: string): Promise<void> {
  await t.none('CREATE TEMP TABLE $3:name (LIKE $1:name.$2:name INCLUDING DEFAULTS) ON COMMIT DROP', [
    namespace,
    tableName,
    STAGE_TABLE,
  ]);
}

/** Moves the staged rows in; rows whose primary key or unique value exists are skipped. */
export async function insertFromStage(
  t: Queryable,
  namespace: string,
  tableName: string,
  columns: readonly string[],
): Promise<number> {
  const result = await t.result(
    'INSERT INTO $1:name.$2:name ($3:name) SELECT $3:name FROM pg_temp.$4:name ON CONFLICT DO NOTHING',
    [namespace, tableName, columns, STAGE_TABLE],
  );
  return result.rowCount;
}

/**
 * The first staged row (0-based, in input order) repeating an earlier row's
 * `key` values, with the earlier row. A table filled by one COPY in this
 * transaction lies on its pages in input order, so ctid order is input order.
 */
export async function findStagedDuplicate(
  t: Queryable,
  key: readonly string[],
): Promise<{ row: number; firstRow: number } | null> {
  return t.oneOrNone<{ row: number; firstRow: number }>(
    `WITH numbered AS (
       SELECT (row_number() OVER (ORDER BY ctid) - 1)::int AS n, $1:name FROM pg_temp.$2:name
     ), keyed AS (
       SELECT n, min(n) OVER (PARTITION BY $1:name) AS first FROM numbered WHERE $3:raw
     )
     SELECT n AS "row", first AS "firstRow" FROM keyed WHERE n > first ORDER BY n LIMIT 1`,
    [key, STAGE_TABLE, key.map((k) => pgp.as.format('$1:name IS NOT NULL', [k])).join(' AND ')],
  );
}

/**
 * Which rows' keys already exist in the table: 0-based row positions.
 * `columns[f][row]` is the canonical text of `fields[f]` in each row.
 */
export async function findExistingKeys(
  t: Queryable,
  namespace: string,
  tableName: string,
  fields: readonly FieldDefinition[],
  columns: readonly (readonly (string | null)[])[],
): Promise<Set<number>> {
  if (columns.length === 0 || columns[0]!.length === 0) return new Set();
  // One array literal per column: PostgreSQL parses a single constant instead of thousands.
  const arrays = columns.map(arrayLiteral);
  const aliases = fields.map((_, i) => `k${i}`);
  const unnest = arrays.map((_, i) => `$${i + 4}::text[]`).join(', ');
  const matches = fields
    .map((f, i) => pgp.as.format(`x.$1:name = k.$2:name::$3:raw`, [f.name, aliases[i], columnType(f)]))
    .join(' AND ');
  // A LATERAL ... LIMIT 1 probes the index once per key. (As EXISTS, the planner, knowing the
  // array's length, prefers hashing the whole table: slower the larger it grows.)
  const rows = await t.any<{ n: number }>(
    `SELECT (k.n - 1)::int AS n FROM unnest(${unnest}) WITH ORDINALITY AS k($3:name, n)
     CROSS JOIN LATERAL (SELECT 1 FROM $1:name.$2:name AS x WHERE ${matches} LIMIT 1) AS hit`,
    [namespace, tableName, aliases, ...arrays],
  );
  return new Set(rows.map((r) => r.n));
}

/** `{"a","b",NULL}`: the text form of a text[] (quotes and backslashes escaped). */
function arrayLiteral(values: readonly (string | null)[]): string {
  let text = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) text += ',';
    text += value === null || value === undefined ? 'NULL' : `"${value.replace(/["\\]/g, '\\$&')}"`;
  }
  return `${text}}`;
}

/** For statements of other aggregates that return base schemas too (a segment page with its schemas). */
export { SCHEMA_COLUMNS as BASE_SCHEMA_COLUMNS, toRecord as toBaseSchemaRecord, type BaseSchemaRow };
