import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ITask } from 'pg-promise';
import { Conflict, Invalid, NotFound, type ErrorDetail } from '../errors.js';
import { numberCodec, recordCodec, runOnce, type IdempotentRequest } from '../idempotency.js';
import type { Tenant } from '../tenants.js';
import type { BaseSchemaRecord, FieldDefinition } from './types.js';
import { tableNameFor, validateCreateBaseSchema, validateUpdateBaseSchema } from './validate.js';
import {
  checkCsvColumns,
  copyFailureDetail,
  CsvLineMap,
  JsonRowsEncoder,
  readCsvHeader,
  type CsvHeader,
  type EncodedRows,
} from './rows.js';
import type { Db } from '../../sql/db.js';
import { countDemoRows, indexDemoTable, insertDemoCustomers, insertDemoOrders, type DemoTable } from '../../sql/demo.js';
import { isForeignKeyViolation, isUniqueViolation } from '../../sql/pg-errors.js';
import { retryingTx } from '../../sql/transactions.js';
import {
  alterDataTable,
  attemptBehindSavepoint,
  countBaseSchemasOfTenant,
  createDataTable,
  createLoadStage,
  deleteBaseSchemaRow,
  dropDataTable,
  findBaseSchema,
  findBaseSchemaByName,
  findBaseSchemaPage,
  findBaseSchemasByIds,
  findExistingKeys,
  findRowPage,
  findSegmentsUsingSchema,
  findStagedDuplicate,
  inLoadTransaction,
  insertBaseSchema,
  insertFromStage,
  lockTableForLoad,
  rollbackToLoadSavepoint,
  STAGE_TABLE,
  startLoad,
  tableHasRows,
  updateBaseSchemaRow,
  type CopyInto,
  type LoadSession,
  type LoadTarget,
  type SchemaPageQuery,
  type SchemaUse,
} from '../../sql/schemas.js';

export type { LoadTarget, SchemaPageQuery } from '../../sql/schemas.js';

/**
 * Segment views select from a schema's table, so dropping or renaming its
 * columns needs them out of the way. The segments module implements this;
 * both calls run inside the schema change's transaction.
 */
export interface SegmentViewsHook {
  dropFor(t: ITask<unknown>, tenant: Tenant, schemaId: string): Promise<void>;
  recreateFor(t: ITask<unknown>, tenant: Tenant, schemaId: string): Promise<void>;
}

/** A created schema as an idempotency key keeps it. */
const SCHEMA_RESULT = recordCodec<BaseSchemaRecord>(['createdAt', 'updatedAt']);

export function newSchemaId(): string {
  return `sch_${randomBytes(6).toString('hex')}`;
}

// ---------------------------------------------------------------------------
// Metadata

/** Validates, then inserts the metadata row and creates the table, in one transaction. */
export async function createBaseSchema(
  db: Db,
  tenant: Tenant,
  input: unknown,
  idempotency?: IdempotentRequest,
): Promise<BaseSchemaRecord> {
  const draft = validateCreateBaseSchema(input);
  const tableName = tableNameFor(draft.name);
  try {
    return await retryingTx(db, 'create base schema', (t) =>
      runOnce(t, tenant.id, idempotency, SCHEMA_RESULT, async () => {
        if (await findBaseSchemaByName(t, tenant.id, draft.name)) throw nameTaken(draft.name);
        const record = await insertBaseSchema(t, { id: newSchemaId(), tenantId: tenant.id, tableName, ...draft });
        await createDataTable(t, tenant.namespace, tableName, draft.fields);
        return record;
      }),
    );
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTaken(draft.name);
    if (sqlState(error) === '42P07') {
      throw new Conflict(`a table named ${tableName} already exists in this tenant's namespace`);
    }
    throw error;
  }
}

function nameTaken(name: string): Conflict {
  return new Conflict(`a schema named "${name}" already exists`);
}

/**
 * Changes display name, description, entity type and fields. Fields are
 * added, renamed (`renameFrom`) or dropped (left out); a new NOT NULL field
 * needs an empty table. Fields a segment reads cannot be renamed or dropped.
 */
export async function updateBaseSchema(
  db: Db,
  tenant: Tenant,
  id: string,
  input: unknown,
  views?: SegmentViewsHook,
): Promise<BaseSchemaRecord> {
  try {
    return await retryingTx(db, 'update base schema', async (t) => {
      const current = await findBaseSchema(t, tenant.id, id, 'update');
      if (!current) throw new NotFound('Schema', id);
      const change = validateUpdateBaseSchema(current, input);

      const touched = new Set([...change.dropped, ...change.renamed.map((r) => r.from)]);
      const uses = touched.size > 0 ? await findSegmentsUsingSchema(t, tenant.id, id) : [];
      const blocking = uses.filter((use) => use.fields.some((f) => touched.has(f)));
      if (blocking.length > 0) {
        const list = blocking
          .map((use) => `"${use.segmentName}" (${use.fields.filter((f) => touched.has(f)).join(', ')})`)
          .join(', ');
        throw new Conflict(`fields used by segments cannot be renamed or dropped: used by segment ${list}`);
      }

      const notNullAdded = change.added.filter((a) => !a.field.isNullable);
      if (notNullAdded.length > 0 && (await tableHasRows(t, tenant.namespace, current.tableName))) {
        Invalid.throwIfAny(
          notNullAdded.map((a) => ({
            path: `fields[${a.index}].isNullable`,
            message: 'a field added to a table that has rows must be nullable',
          })),
        );
      }

      const replaceViews = views !== undefined && touched.size > 0 && uses.length > 0;
      if (replaceViews) await views.dropFor(t, tenant, id);
      await alterDataTable(t, tenant.namespace, current.tableName, {
        dropped: change.dropped,
        renamed: change.renamed,
        added: change.added.map((a) => a.field),
      });
      const record = await updateBaseSchemaRow(t, tenant.id, id, change);
      if (replaceViews) await views.recreateFor(t, tenant, id);
      return record;
    });
  } catch (error) {
    if (sqlState(error) === '2BP01') {
      throw new Conflict(`segment views depend on the fields being changed in schema ${id}`);
    }
    throw error;
  }
}

/** Refused while any segment stands on the schema; else drops the table and the row together. */
export async function deleteBaseSchema(db: Db, tenant: Tenant, id: string): Promise<void> {
  try {
    await retryingTx(db, 'delete base schema', async (t) => {
      const current = await findBaseSchema(t, tenant.id, id, 'update');
      if (!current) throw new NotFound('Schema', id);
      const uses = await findSegmentsUsingSchema(t, tenant.id, id);
      if (uses.length > 0) throw usedBySegments(current, uses);
      await dropDataTable(t, tenant.namespace, current.tableName);
      await deleteBaseSchemaRow(t, tenant.id, id);
    });
  } catch (error) {
    if (isForeignKeyViolation(error) || sqlState(error) === '2BP01') {
      throw new Conflict(`schema ${id} is used by segments; delete or change them first`);
    }
    throw error;
  }
}

function usedBySegments(schema: BaseSchemaRecord, uses: SchemaUse[]): Conflict {
  const names = uses.map((use) => `"${use.segmentName}"`).join(', ');
  return new Conflict(`schema "${schema.name}" is used by segment${uses.length === 1 ? '' : 's'} ${names}`);
}

export function getBaseSchema(db: Db, tenantId: string, id: string): Promise<BaseSchemaRecord | null> {
  return findBaseSchema(db, tenantId, id);
}

/** One statement for a dataloader batch; ids of other tenants or of nothing are left out. */
export function getBaseSchemasByIds(db: Db, tenantId: string, ids: readonly string[]): Promise<BaseSchemaRecord[]> {
  return findBaseSchemasByIds(db, tenantId, ids);
}

export function listBaseSchemaPage(db: Db, tenantId: string, page: SchemaPageQuery): Promise<BaseSchemaRecord[]> {
  return findBaseSchemaPage(db, tenantId, page);
}

export function countBaseSchemas(db: Db, tenantId: string): Promise<number> {
  return countBaseSchemasOfTenant(db, tenantId);
}

async function requireSchema(db: Db, tenant: Tenant, id: string): Promise<BaseSchemaRecord> {
  const schema = await findBaseSchema(db, tenant.id, id);
  if (!schema) throw new NotFound('Schema', id);
  return schema;
}

// ---------------------------------------------------------------------------
// Rows

export interface LoadResult {
  inserted: number;
  tableName: string;
}

/**
 * Loads 1..10,000 JSON rows. Values are checked as they stream into COPY
 * (every problem reported as `rows[i].field`); rows whose primary key or
 * unique value already exists are skipped and not counted. All or nothing.
 */
export async function loadRows(
  database: LoadTarget,
  tenant: Tenant,
  schemaId: string,
  rows: unknown,
  idempotency?: IdempotentRequest,
): Promise<LoadResult> {
  const schema = await requireSchema(database.db, tenant, schemaId);
  const encoder = new JsonRowsEncoder(schema.fields, rows);
  const into = copyTarget(tenant, schema, schema.fields.map((f) => f.name), 'text');
  const toInvalid = (keep?: readonly number[]) => (error: unknown) => {
    // A key repeated within the request: name every repetition, not only the first the table met.
    if (isUniqueViolation(error)) encoder.finish();
    throw asInvalidRows(error, (line) => (keep ? (keep[line - 1] ?? line - 1) : line - 1));
  };
  const inserted = await inLoadTransactionOnce(database, tenant, idempotency, async ({ t, copyIn }) => {
    const start = await startLoad(t, tenant.id, schema.id, tenant.namespace, schema.tableName, encoder.firstKey());
    requireUnchanged(schema, start.schema);
    // Mostly the rows sent are new: COPY them all at once (checked as they stream; a bad one
    // aborts it, listing every problem). Only when a key turns out to exist, look up which;
    // when the first row's exists (a batch sent again), look them up without trying.
    if (!start.firstKeyExists) {
      try {
        return await copyIn(into, encoder.copyText());
      } catch (error) {
        // (Into an empty table, a key can only repeat one of the request.)
        if (!start.hasRows || !isUniqueViolation(error)) return toInvalid()(error);
      }
      await rollbackToLoadSavepoint(t);
    }
    const encoded = encoder.finish();
    const keep = await rowsNotYetStored(t, tenant, schema, encoded);
    return keep.length === 0 ? 0 : copyIn(into, copyLines(encoded, keep)).catch(toInvalid(keep));
  });
  return { inserted, tableName: schema.tableName };
}

/** A load's transaction; with `idempotency`, a repeated load gets the first one's count instead. */
function inLoadTransactionOnce(
  database: LoadTarget,
  tenant: Tenant,
  idempotency: IdempotentRequest | undefined,
  work: (session: LoadSession) => Promise<number>,
): Promise<number> {
  return inLoadTransaction(database, (session) => runOnce(session.t, tenant.id, idempotency, numberCodec, () => work(session)));
}

/** Row positions to insert: all of them, less those whose keys the table already holds. */
async function rowsNotYetStored(
  t: ITask<unknown>,
  tenant: Tenant,
  schema: BaseSchemaRecord,
  encoded: EncodedRows,
): Promise<number[]> {
  let keep = encoded.lines.map((_, i) => i);
  for (const key of encoded.keys) {
    if (keep.length === 0) break;
    // Each key is looked up only for the rows no earlier key found (a resent batch: all found by the first).
    const columns = keep.length === encoded.lines.length ? key.columns : key.columns.map((c) => keep.map((i) => c[i] ?? null));
    const found = await findExistingKeys(t, tenant.namespace, schema.tableName, key.fields, columns);
    if (found.size > 0) keep = keep.filter((_, position) => !found.has(position));
  }
  return keep;
}

function* copyLines(encoded: EncodedRows, keep: readonly number[]): Generator<string> {
  const batch = 2_000;
  const all = keep.length === encoded.lines.length;
  for (let start = 0; start < keep.length; start += batch) {
    const lines = all ? encoded.lines.slice(start, start + batch) : keep.slice(start, start + batch).map((i) => encoded.lines[i]);
    yield `${lines.join('\n')}\n`;
  }
}

/** A CSV body: a stream, or any (async) iterable of chunks. */
export type CsvSource = AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string> | NodeJS.ReadableStream;

/** The header line is read before the load starts; this much is enough for any real one. */
const MAX_HEADER_BYTES = 1 << 20;

/**
 * Loads a CSV body whose header line names fields (any order, a subset).
 * PostgreSQL parses and checks the values as they stream through COPY; the
 * first bad value aborts the load and is reported as `rows[i].field` (i
 * counts data rows from 0). Existing keys are skipped and not counted;
 * duplicates within the body are refused.
 */
export async function loadCsv(
  database: LoadTarget,
  tenant: Tenant,
  schemaId: string,
  csv: CsvSource,
  idempotency?: IdempotentRequest,
): Promise<LoadResult> {
  const schema = await requireSchema(database.db, tenant, schemaId);
  const iterator = chunksOf(csv);
  let body: CsvBody | undefined;
  try {
    const { header, head } = await readHeader(iterator);
    const columns = checkCsvColumns(schema.fields, header.columns);
    body = new CsvBody(head, iterator, new CsvLineMap(header.lineEnd));
    const { lines } = body;
    const csvBody = body;
    const inserted = await inLoadTransactionOnce(database, tenant, idempotency, async ({ t, copyIn }) => {
      await lockForLoad(t, tenant, schema);
      const into = copyTarget(tenant, schema, columns, 'csv');
      try {
        // Nothing to skip: COPY straight into the table, as fast as a raw COPY.
        if (!(await tableHasRows(t, tenant.namespace, schema.tableName))) return await copyIn(into, csvBody.once());
        // Mostly the rows are new: try the same, keeping the body aside in case a key exists...
        const direct = await attemptBehindSavepoint(t, () => copyIn(into, csvBody.spooled()), isUniqueViolation);
        if (direct !== undefined) return direct;
        // ...and when one does, stage the body and insert what is new.
        await createLoadStage(t, tenant.namespace, schema.tableName);
        const staged = await copyIn({ ...into, namespace: 'pg_temp', tableName: STAGE_TABLE }, csvBody.again());
        const inserted = await insertFromStage(t, tenant.namespace, schema.tableName, columns);
        if (inserted < staged) await refuseStagedDuplicates(t, schema.fields, columns);
        return inserted;
      } catch (error) {
        throw asInvalidRows(error, (line) => lines.dataRowAt(line));
      }
    });
    return { inserted, tableName: schema.tableName };
  } finally {
    await body?.dispose();
    await iterator.return?.();
  }
}

function chunksOf(csv: CsvSource): AsyncIterator<Uint8Array | string> {
  if (Symbol.asyncIterator in csv) return (csv as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]();
  return Readable.from(csv as Iterable<Uint8Array | string>, { objectMode: false })[Symbol.asyncIterator]();
}

async function readHeader(
  iterator: AsyncIterator<Uint8Array | string>,
): Promise<{ header: CsvHeader; head: Buffer }> {
  let head = Buffer.alloc(0);
  for (;;) {
    const next = await iterator.next();
    if (!next.done) head = Buffer.concat([head, toBuffer(next.value)]);
    if (next.done && head.length === 0) {
      throw Invalid.at('header', 'the body is empty: expected a header line naming fields');
    }
    const header = readCsvHeader(head, next.done === true);
    if (header) return { header, head };
    if (head.length > MAX_HEADER_BYTES) throw Invalid.at('header', 'the header line is longer than 1 MiB');
  }
}

/**
 * A CSV body as it arrives from the client, each chunk traced by the line map
 * on its way. `spooled()` also writes what passes to a temporary file, so that
 * `again()` can send the body a second time: what was read, then the rest.
 */
class CsvBody {
  private spool: { dir: string; file: FileHandle } | undefined;
  private spooledBytes = 0;

  constructor(
    private readonly head: Buffer,
    private readonly rest: AsyncIterator<Uint8Array | string>,
    readonly lines: CsvLineMap,
  ) {
    lines.push(head);
  }

  async *once(): AsyncGenerator<Buffer> {
    yield this.head;
    for (let chunk = await this.read(); chunk; chunk = await this.read()) yield chunk;
  }

  async *spooled(): AsyncGenerator<Buffer> {
    const dir = await mkdtemp(path.join(tmpdir(), 'segment-gateway-csv-'));
    this.spool = { dir, file: await open(path.join(dir, 'body.csv'), 'w+') };
    for (let chunk: Buffer | null = this.head; chunk; chunk = await this.read()) {
      await this.spool.file.write(chunk, 0, chunk.length, this.spooledBytes);
      this.spooledBytes += chunk.length;
      yield chunk;
    }
  }

  async *again(): AsyncGenerator<Buffer> {
    const file = this.spool?.file;
    const size = 1 << 20;
    for (let position = 0; file && position < this.spooledBytes; position += size) {
      const { bytesRead, buffer } = await file.read(Buffer.alloc(Math.min(size, this.spooledBytes - position)), 0, undefined, position);
      yield buffer.subarray(0, bytesRead);
    }
    for (let chunk = await this.read(); chunk; chunk = await this.read()) yield chunk;
  }

  async dispose(): Promise<void> {
    if (!this.spool) return;
    await this.spool.file.close();
    await rm(this.spool.dir, { recursive: true, force: true });
    this.spool = undefined;
  }

  private async read(): Promise<Buffer | null> {
    const next = await this.rest.next();
    if (next.done) return null;
    const chunk = toBuffer(next.value);
    this.lines.push(chunk);
    return chunk;
  }
}

function toBuffer(chunk: Uint8Array | string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Inserting fewer rows than were staged means existing keys, or repeats within the body: refuse the latter. */
async function refuseStagedDuplicates(
  t: ITask<unknown>,
  fields: readonly FieldDefinition[],
  columns: readonly string[],
): Promise<void> {
  const primaryKey = fields.filter((f) => f.isPrimaryKey).map((f) => f.name);
  const keys = [primaryKey, ...fields.filter((f) => f.isUnique && columns.includes(f.name)).map((f) => [f.name])];
  const details: ErrorDetail[] = [];
  for (const [k, key] of keys.entries()) {
    const duplicate = await findStagedDuplicate(t, key);
    if (!duplicate) continue;
    const what = k === 0 ? 'primary key' : 'value of a unique field';
    details.push({
      path: `rows[${duplicate.row}].${key.join('+')}`,
      message: `duplicate ${what} in this request (same as rows[${duplicate.firstRow}])`,
    });
  }
  Invalid.throwIfAny(details.sort((a, b) => rowIndex(a.path) - rowIndex(b.path)));
}

function rowIndex(path: string): number {
  return Number(/^rows\[(\d+)\]/.exec(path)?.[1] ?? 0);
}

/**
 * Inside the load's transaction: the schema as validated must still be the
 * schema (no concurrent change), and loads into one table take turns.
 */
async function lockForLoad(t: ITask<unknown>, tenant: Tenant, schema: BaseSchemaRecord): Promise<void> {
  requireUnchanged(schema, await findBaseSchema(t, tenant.id, schema.id, 'share'));
  await lockTableForLoad(t, tenant.namespace, schema.tableName);
}

/** `locked` (the schema's row read in the load's transaction) is `schema` as it was validated. */
function requireUnchanged(schema: BaseSchemaRecord, locked: BaseSchemaRecord | null): void {
  if (!locked) throw new NotFound('Schema', schema.id);
  if (locked.updatedAt.getTime() !== schema.updatedAt.getTime()) {
    throw new Conflict(`schema ${schema.id} changed while the rows were being loaded; send them again`);
  }
}

function copyTarget(
  tenant: Tenant,
  schema: BaseSchemaRecord,
  columns: readonly string[],
  format: CopyInto['format'],
): CopyInto {
  return { namespace: tenant.namespace, tableName: schema.tableName, columns, format };
}

function asInvalidRows(error: unknown, rowAtLine: (line: number) => number): unknown {
  const detail = copyFailureDetail(error, rowAtLine);
  return detail ? new Invalid(`${detail.path}: ${detail.message}`, [detail]) : error;
}

export interface RowPage {
  total: number;
  limit: number;
  offset: number;
  rows: Record<string, unknown>[];
}

export const DEFAULT_ROW_LIMIT = 50;
export const MAX_ROW_LIMIT = 500;

/** A page of rows in primary-key order; timestamps as ISO-8601 UTC strings. */
export async function readRows(
  db: Db,
  tenant: Tenant,
  schemaId: string,
  page: { limit?: number | string | null; offset?: number | string | null } = {},
): Promise<RowPage> {
  const details: ErrorDetail[] = [];
  const limit = pageNumber(page.limit, 'limit', DEFAULT_ROW_LIMIT, 1, MAX_ROW_LIMIT, details);
  const offset = pageNumber(page.offset, 'offset', 0, 0, Number.MAX_SAFE_INTEGER, details);
  Invalid.throwIfAny(details);
  const schema = await requireSchema(db, tenant, schemaId);
  const { total, rows } = await findRowPage(db, {
    namespace: tenant.namespace,
    tableName: schema.tableName,
    columns: schema.fields.map((f) => f.name),
    orderBy: schema.fields.filter((f) => f.isPrimaryKey).map((f) => f.name),
    limit,
    offset,
  });
  for (const row of rows) {
    for (const [key, value] of Object.entries(row)) if (value instanceof Date) row[key] = value.toISOString();
  }
  return { total, limit, offset, rows };
}

function pageNumber(
  value: unknown,
  path: string,
  fallback: number,
  min: number,
  max: number,
  details: ErrorDetail[],
): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
    details.push({ path, message: `must be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}` });
    return fallback;
  }
  return n;
}

function sqlState(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

// ---------------------------------------------------------------------------
// Demo data

export const MAX_DEMO_CUSTOMERS = 10_000_000;
const DEMO_BATCH = 100_000;

/** The fields of the demo `customers` schema (also what the benchmarks load). */
export const DEMO_CUSTOMER_FIELDS = [
  { name: 'id', dataType: 'bigint', isPrimaryKey: true },
  { name: 'email', dataType: 'text', isUnique: true },
  { name: 'first_name', dataType: 'text' },
  { name: 'country', dataType: 'text' },
  { name: 'city', dataType: 'text' },
  { name: 'lifetime_value', dataType: 'numeric', precision: 12, scale: 2 },
  { name: 'signup_at', dataType: 'timestamptz' },
  { name: 'vip', dataType: 'boolean' },
  { name: 'age', dataType: 'integer' },
  { name: 'plan', dataType: 'text' },
] as const;

const DEMO_CUSTOMERS = {
  name: 'customers',
  displayName: 'Customers',
  description: 'Demo customers (synthetic)',
  entityType: 'customer',
  fields: DEMO_CUSTOMER_FIELDS,
} as const;

const DEMO_ORDERS = {
  name: 'orders',
  displayName: 'Orders',
  description: 'Demo orders (synthetic)',
  entityType: 'custom',
  fields: [
    { name: 'id', dataType: 'bigint', isPrimaryKey: true },
    { name: 'customer_id', dataType: 'bigint' },
    { name: 'amount', dataType: 'numeric', precision: 10, scale: 2 },
    { name: 'currency', dataType: 'text' },
    { name: 'status', dataType: 'text' },
    { name: 'created_at', dataType: 'timestamptz' },
  ],
} as const;

export interface DemoSeedOptions {
  customers: number;
  /**
   * The instant timestamps are spread back from (signups over ~3 years,
   * orders between signup and it). Default: the start of the current UTC
   * day, so "in the last 30 days" finds orders and two seeds on one day agree.
   */
  anchor?: Date;
  /** Customers per INSERT statement (default 100,000). */
  batch?: number;
}

export interface DemoSeedResult {
  customers: { schema: BaseSchemaRecord; inserted: number; total: number };
  orders: { schema: BaseSchemaRecord; inserted: number; total: number };
}

/**
 * Creates (or reuses) the `customers` and `orders` schemas and fills them
 * inside PostgreSQL; rows that exist are skipped, so seeding twice is safe
 * and seeding a larger N adds the missing rows.
 */
export async function seedDemo(db: Db, tenant: Tenant, options: DemoSeedOptions): Promise<DemoSeedResult> {
  const n = options.customers;
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_DEMO_CUSTOMERS) {
    throw Invalid.at('customers', `must be an integer from 0 to ${MAX_DEMO_CUSTOMERS}`);
  }
  if (options.batch !== undefined && (!Number.isSafeInteger(options.batch) || options.batch < 1)) {
    throw Invalid.at('batch', 'must be a positive integer');
  }
  const anchor = options.anchor ?? startOfUtcDay(new Date());
  // Check both before creating either, so that a misfit leaves nothing behind.
  for (const definition of [DEMO_CUSTOMERS, DEMO_ORDERS]) {
    const existing = await findBaseSchemaByName(db, tenant.id, definition.name);
    if (existing) refuseMisfit(existing, definition);
  }
  const customerSchema = await demoSchema(db, tenant, DEMO_CUSTOMERS);
  const orderSchema = await demoSchema(db, tenant, DEMO_ORDERS);
  const customers: DemoTable = { namespace: tenant.namespace, tableName: customerSchema.tableName };
  const orders: DemoTable = { namespace: tenant.namespace, tableName: orderSchema.tableName };
  // Into an empty table nothing can collide: the inserts skip the conflict checks.
  const skipCustomers = await tableHasRows(db, customers.namespace, customers.tableName);
  const skipOrders = await tableHasRows(db, orders.namespace, orders.tableName);
  const inserted = { customers: 0, orders: 0 };
  // (A seed running at the same time may have filled the batch meanwhile: then skip what exists.)
  const fill = (insert: typeof insertDemoCustomers, table: DemoTable, from: number, to: number, skip: boolean) =>
    insert(db, table, from, to, anchor, skip).catch((error: unknown) => {
      if (skip || !isUniqueViolation(error)) throw error;
      return insert(db, table, from, to, anchor, true);
    });
  // Orders derive from the customer number, not from customer rows, so every batch of either
  // table is independent: two connections (a core each) take them in turn.
  const batches: (() => Promise<void>)[] = [];
  const size = options.batch ?? DEMO_BATCH;
  for (let from = 1; from <= n; from += size) {
    const to = Math.min(n, from + size - 1);
    batches.push(async () => {
      const count = await fill(insertDemoCustomers, customers, from, to, skipCustomers);
      inserted.customers += count;
    });
    batches.push(async () => {
      const count = await fill(insertDemoOrders, orders, from, to, skipOrders);
      inserted.orders += count;
    });
  }
  const worker = async () => {
    for (let batch = batches.shift(); batch; batch = batches.shift()) await batch();
  };
  await Promise.all([worker(), worker()]);
  await Promise.all([
    indexDemoTable(db, customers, ['country', 'lifetime_value']),
    indexDemoTable(db, orders, ['customer_id', 'created_at']),
  ]);
  return {
    customers: { schema: customerSchema, inserted: inserted.customers, total: await countDemoRows(db, customers) },
    orders: { schema: orderSchema, inserted: inserted.orders, total: await countDemoRows(db, orders) },
  };
}

function startOfUtcDay(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

/** The tenant's schema of that name when its fields fit the demo data; created when missing. */
async function demoSchema(db: Db, tenant: Tenant, definition: DemoDefinition): Promise<BaseSchemaRecord> {
  let schema = await findBaseSchemaByName(db, tenant.id, definition.name);
  if (!schema) {
    try {
      schema = await createBaseSchema(db, tenant, definition);
    } catch (error) {
      // Created meanwhile by someone else: use theirs.
      if (!(error instanceof Conflict)) throw error;
      schema = await findBaseSchemaByName(db, tenant.id, definition.name);
      if (!schema) throw error;
    }
  }
  refuseMisfit(schema, definition);
  return schema;
}

type DemoDefinition = typeof DEMO_CUSTOMERS | typeof DEMO_ORDERS;

function refuseMisfit(schema: BaseSchemaRecord, definition: DemoDefinition): void {
  const byName = new Map(schema.fields.map((f) => [f.name, f]));
  const misfits = definition.fields.filter((f) => byName.get(f.name)?.dataType !== f.dataType);
  if (misfits.length > 0) {
    throw new Conflict(
      `schema "${definition.name}" exists but does not fit the demo data (fields ${misfits.map((f) => f.name).join(', ')})`,
    );
  }
}
