/**
 * 3. Loading rows: CSV (streamed through COPY) and JSON (batches of 10,000,
 * the most one request takes) through the REST API, against a raw `\copy` of
 * the same CSV file in psql, into the same empty table with the same indexes.
 */
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DEMO_CUSTOMER_FIELDS } from '../src/domain/schemas/service.js';
import { authHeaders, restOk, type RunContext } from './context.js';
import { psqlOutput, psqlTimes } from './psql.js';
import { log, median, round } from './util.js';

export interface LoadingResult {
  rows: { csv: number; json: number };
  csvBytes: number;
  /** Rows per second, medians over the repetitions. */
  rawCopyRowsPerSecond: number;
  csvRowsPerSecond: number;
  jsonRowsPerSecond: number;
  csvRatio: number;
  jsonRatio: number;
  samples: { raw: number[]; csv: number[]; json: number[] };
}

const FIELDS = DEMO_CUSTOMER_FIELDS;
const COLUMNS = FIELDS.map((f) => f.name).join(', ');
const JSON_BATCH = 10_000;

export async function measureLoading(ctx: RunContext): Promise<LoadingResult> {
  const { fixture, options } = ctx;
  const { big } = fixture;
  const ns = `"${big.tenant.namespace}"`;
  const schema = (
    await restOk<{ id: string; tableName: string }>(ctx, big.key, 'POST', '/api/v1/schemas', {
      name: 'load_customers',
      entityType: 'customer',
      fields: FIELDS,
    }, 201)
  ).body;
  const table = `${ns}."${schema.tableName}"`;
  const csvRows = Math.min(options.csvRows, options.customers);
  const jsonRows = Math.min(options.jsonRows, options.customers);
  const file = path.join(ctx.workDir, 'customers.csv');
  try {
    await psqlOutput(fixture.url, [
      `\\copy (SELECT ${COLUMNS} FROM ${ns}."${big.customersTable}" ORDER BY id LIMIT ${csvRows}) TO '${file}' WITH (FORMAT csv, HEADER true)`,
    ]);
    const csvBytes = (await stat(file)).size;
    const jsonBodies = (
      await fixture.database.db.map<string>(
        `SELECT json_agg(to_jsonb(c) - 'batch' ORDER BY c.id)::text AS rows FROM (
           SELECT ${COLUMNS}, (row_number() OVER (ORDER BY id) - 1) / $1 AS batch
           FROM ${ns}."${big.customersTable}" ORDER BY id LIMIT $2
         ) c GROUP BY batch ORDER BY batch`,
        [JSON_BATCH, jsonRows],
        (r: { rows: string }) => `{"rows":${r.rows}}`,
      )
    );

    const truncate = () => fixture.database.db.none(`TRUNCATE ${table}`);
    const countRows = async () => (await fixture.database.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).n;
    const samples = { raw: [] as number[], csv: [] as number[], json: [] as number[] };
    const repeats = options.profile === 'smoke' ? 1 : 2;
    for (let rep = 0; rep < repeats; rep++) {
      await truncate();
      const [, copyMs] = await psqlTimes(fixture.url, [
        'SELECT 1',
        `\\copy ${table} (${COLUMNS}) FROM '${file}' WITH (FORMAT csv, HEADER true)`,
      ]);
      if ((await countRows()) !== csvRows) throw new Error('raw COPY did not load every row');
      samples.raw.push((csvRows / copyMs!) * 1000);

      await truncate();
      const csvMs = await postCsv(ctx, big.key, schema.id, file);
      if ((await countRows()) !== csvRows) throw new Error('the CSV load did not load every row');
      samples.csv.push((csvRows / csvMs) * 1000);

      await truncate();
      const started = performance.now();
      for (const body of jsonBodies) {
        const response = await fetch(`${ctx.gateway.url}/api/v1/schemas/${schema.id}/data`, {
          method: 'POST',
          headers: authHeaders(big.key, true),
          body,
        });
        const text = await response.text();
        if (response.status !== 201) throw new Error(`JSON load answered ${response.status}: ${text.slice(0, 300)}`);
      }
      const jsonMs = performance.now() - started;
      if ((await countRows()) !== jsonRows) throw new Error('the JSON load did not load every row');
      samples.json.push((jsonRows / jsonMs) * 1000);
      log(
        `  raw COPY ${Math.round(samples.raw.at(-1)!)} rows/s, CSV ${Math.round(samples.csv.at(-1)!)} rows/s, JSON ${Math.round(samples.json.at(-1)!)} rows/s`,
      );
    }
    await truncate();
    const raw = median(samples.raw);
    return {
      rows: { csv: csvRows, json: jsonRows },
      csvBytes,
      rawCopyRowsPerSecond: Math.round(raw),
      csvRowsPerSecond: Math.round(median(samples.csv)),
      jsonRowsPerSecond: Math.round(median(samples.json)),
      csvRatio: round(median(samples.csv) / raw, 2),
      jsonRatio: round(median(samples.json) / raw, 2),
      samples: {
        raw: samples.raw.map(Math.round),
        csv: samples.csv.map(Math.round),
        json: samples.json.map(Math.round),
      },
    };
  } finally {
    await rm(file, { force: true });
    await restOk(ctx, big.key, 'DELETE', `/api/v1/schemas?id=${schema.id}`, undefined, 204).catch(() => {});
  }
}

/** Streams the file as `text/csv` to the schema's data route; milliseconds to the answer. */
async function postCsv(ctx: RunContext, key: string, schemaId: string, file: string): Promise<number> {
  const started = performance.now();
  const url = new URL(`${ctx.gateway.url}/api/v1/schemas/${schemaId}/data`);
  const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...authHeaders(key), 'content-type': 'text/csv' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    pipeline(createReadStream(file), req).catch(reject);
  });
  if (status.status !== 201) throw new Error(`CSV load answered ${status.status}: ${status.body.slice(0, 300)}`);
  return performance.now() - started;
}
