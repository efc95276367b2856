/**
 * The raw baseline: the least a Node service can do to answer the benchmark's
 * reads. node:http and pg-promise, the product's own SQL statements as the
 * gateway sends them (src/sql: the page with each edge written as JSON by
 * PostgreSQL, as the gateway's list written by the database sends it; a
 * segment and its base schema in one prepared statement), no GraphQL, no
 * authentication, no validation: the limit any Node service over this
 * database has on this machine.
 *
 *   GET /segments?limit=20   a page of the tenant's segments with their base schema's name
 *   GET /segments/<id>       one segment, the same fields
 */
import { createServer, type ServerResponse } from 'node:http';
import { connectDatabase } from '../src/sql/db.js';
import type { BaseSchemaRecord } from '../src/domain/schemas/types.js';
import {
  BASE_SCHEMA_JSON_FIELDS,
  findSegmentsWithSchemas,
  jsonObject,
  listSegmentJsonPage,
  SEGMENT_JSON_FIELDS,
  type SegmentSummaryRow,
} from '../src/sql/segments.js';

const tenantId = process.env.RAW_TENANT ?? 'bench-many';
const database = connectDatabase({
  url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/sg_bench',
  max: Number(process.env.DB_POOL_MAX ?? 10),
  applicationName: 'bench-raw',
});
const { db } = database;

function withSchemaNames(rows: SegmentSummaryRow[], schemas: BaseSchemaRecord[]) {
  const names = new Map(schemas.map((s) => [s.id, s.name]));
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    customerCount: Number(r.customer_count),
    baseSchema: { name: names.get(r.base_schema_id) ?? null },
  }));
}

/** The benchmark's edge, `{ node { id name customerCount baseSchema { name } } }`, as the gateway has PostgreSQL write it. */
const EDGE = {
  edge: jsonObject([
    [
      'node',
      jsonObject([
        ['id', SEGMENT_JSON_FIELDS.id],
        ['name', SEGMENT_JSON_FIELDS.name],
        ['customerCount', SEGMENT_JSON_FIELDS.customerCount],
        ['baseSchema', jsonObject([['name', BASE_SCHEMA_JSON_FIELDS.name]])],
      ]),
    ],
  ]),
  baseSchema: true,
  cursor: false,
  total: false,
};

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, JSON.stringify(body));
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://raw.invalid');
  const answer = async () => {
    if (url.pathname === '/readyz') return send(res, 200, { status: 'ready' });
    if (url.pathname === '/segments') {
      const limit = Math.min(100, Math.max(1, Number(url.searchParams.get('limit') ?? 20)));
      // LIMIT n+1, as the relay connection asks, to know whether there is a next page.
      const page = await listSegmentJsonPage(db, tenantId, {}, { limit: limit + 1, inverted: false }, EDGE, true);
      const edges = page.rows.slice(0, limit).map((row) => row.json);
      return sendText(res, 200, `{"data":{"segments":{"edges":[${edges.join(',')}]}}}`);
    }
    const match = /^\/segments\/([^/]+)$/.exec(url.pathname);
    if (match) {
      const found = await findSegmentsWithSchemas(db, tenantId, [decodeURIComponent(match[1]!)]);
      const [segment] = withSchemaNames(found.rows, found.baseSchemas);
      return send(res, 200, { data: { segment: segment ?? null } });
    }
    return send(res, 404, { error: 'not found' });
  };
  answer().catch((error: unknown) => send(res, 500, { error: String(error) }));
});
server.keepAliveTimeout = 5_000;
server.listen(Number(process.env.PORT ?? 4100), '127.0.0.1');

process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void database.close().then(() => process.exit(0));
});
