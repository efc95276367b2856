/**
 * The raw baseline: the least a Node service can do to answer the benchmark's
 * reads. node:http and pg-promise, the product's own SQL statements
 * (src/sql: the page and its base schemas in one prepared statement, as the
 * gateway sends them), no GraphQL, no authentication, no validation: the limit any Node
 * service over this database has on this machine.
 *
 *   GET /segments?limit=20   a page of the tenant's segments with their base schema's name
 *   GET /segments/<id>       one segment, the same fields
 */
import { createServer, type ServerResponse } from 'node:http';
import { connectDatabase } from '../src/sql/db.js';
import type { BaseSchemaRecord } from '../src/domain/schemas/types.js';
import { findSegmentsWithSchemas, listSegmentPageWith, type SegmentSummaryRow } from '../src/sql/segments.js';

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

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://raw.invalid');
  const answer = async () => {
    if (url.pathname === '/readyz') return send(res, 200, { status: 'ready' });
    if (url.pathname === '/segments') {
      const limit = Math.min(100, Math.max(1, Number(url.searchParams.get('limit') ?? 20)));
      // LIMIT n+1, as the relay connection asks, to know whether there is a next page.
      const page = await listSegmentPageWith(db, tenantId, {}, { limit: limit + 1, inverted: false }, { baseSchemas: true, total: false, summary: true });
      const nodes = withSchemaNames(page.rows.slice(0, limit), page.baseSchemas);
      return send(res, 200, { data: { segments: { edges: nodes.map((node) => ({ node })) } } });
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
