import { tenantNamespace } from '../../src/domain/schemas/types.js';
import type { Db } from '../../src/sql/db.js';
import { gql } from './gateway.js';
import { createShopSchemas, loadRowsGql } from './segments.js';

/** A tenant's shop schemas with a few customers, and segments over them. */
export async function shopWithSegments(
  url: string,
  key: string,
  names: readonly string[],
): Promise<{ customers: string; orders: string; segments: Record<string, { id: string; viewName: string }> }> {
  const schemas = await createShopSchemas(url, key);
  await loadRowsGql(
    url,
    key,
    schemas.customers,
    Array.from({ length: 20 }, (_, i) => ({ id: i + 1, email: `c${i + 1}@example.com`, country: i % 2 ? 'US' : 'FR', lifetime_value: i * 100 })),
  );
  const segments: Record<string, { id: string; viewName: string }> = {};
  for (const name of names) {
    const created = await gql<{ createSegment: { segment: { id: string; viewName: string } } }>(
      url,
      key,
      'mutation($input: CreateSegmentInput!) { createSegment(input: $input) { segment { id viewName } } }',
      { input: { name, baseSchemaId: schemas.customers, filters: [{ field: 'lifetime_value', operator: '>=', value: 0 }] } },
    );
    if (!created.data) throw new Error(JSON.stringify(created.errors));
    segments[name] = created.data.createSegment.segment;
  }
  return { ...schemas, segments };
}

/**
 * Makes a segment's view sleep `seconds` before it answers (same columns, same
 * rows): a stand-in for a segment over a very large table.
 */
export async function makeViewSlow(db: Db, tenantId: string, viewName: string, seconds: number): Promise<void> {
  await db.none(
    `CREATE OR REPLACE VIEW $1:name.$2:name AS
       SELECT b.* FROM $1:name.ds_customers b WHERE (SELECT true FROM pg_sleep($3))`,
    [tenantNamespace(tenantId), viewName, seconds],
  );
}

/**
 * Holds an exclusive lock on one of a tenant's tables for `seconds`, so that
 * every statement reading it waits: a stand-in for a statement over a very
 * large table where no view is read (an overlap reads the base table).
 * `locked` resolves once the lock is held, `released` once it is let go.
 */
export function lockTableFor(
  db: Db,
  tenantId: string,
  tableName: string,
  seconds: number,
): { locked: Promise<void>; released: Promise<void> } {
  let onLocked: () => void = () => undefined;
  const locked = new Promise<void>((resolve) => (onLocked = resolve));
  const released = db.tx(async (t) => {
    await t.none('LOCK TABLE $1:name.$2:name IN ACCESS EXCLUSIVE MODE', [tenantNamespace(tenantId), tableName]);
    onLocked();
    await t.any('SELECT pg_sleep($1)', [seconds]);
  });
  return { locked: Promise.race([locked, released]), released };
}

export interface JsonResponse {
  status: number;
  body: unknown;
}

/** A REST call with a key and an optional JSON body. */
export async function restJson(url: string, key: string, method: string, path: string, json?: unknown): Promise<JsonResponse> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

/** The value of one series of `/metrics` (summed over series whose labels include `labels`). */
export async function metricValue(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const wanted = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (wanted) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
