import type { Db } from '../../src/sql/db.js';
import { gql } from './gateway.js';

/** A customers + orders pair of base schemas with a few rows, through the GraphQL API. */
export async function createShopSchemas(url: string, key: string): Promise<{ customers: string; orders: string }> {
  const customers = await gql<{ createBaseSchema: { baseSchema: { id: string } } }>(
    url,
    key,
    `mutation($input: CreateBaseSchemaInput!) { createBaseSchema(input: $input) { baseSchema { id } } }`,
    {
      input: {
        name: 'customers',
        fields: [
          { name: 'id', dataType: 'integer', isPrimaryKey: true },
          { name: 'email', dataType: 'text' },
          { name: 'country', dataType: 'text' },
          { name: 'lifetime_value', dataType: 'numeric' },
        ],
      },
    },
  );
  if (!customers.data) throw new Error(JSON.stringify(customers.errors));
  const orders = await gql<{ createBaseSchema: { baseSchema: { id: string } } }>(
    url,
    key,
    `mutation($input: CreateBaseSchemaInput!) { createBaseSchema(input: $input) { baseSchema { id } } }`,
    {
      input: {
        name: 'orders',
        fields: [
          { name: 'id', dataType: 'integer', isPrimaryKey: true },
          { name: 'customer_id', dataType: 'integer' },
          { name: 'amount', dataType: 'numeric' },
          { name: 'created_at', dataType: 'timestamptz' },
        ],
      },
    },
  );
  if (!orders.data) throw new Error(JSON.stringify(orders.errors));
  return { customers: customers.data.createBaseSchema.baseSchema.id, orders: orders.data.createBaseSchema.baseSchema.id };
}

export async function loadRowsGql(url: string, key: string, schemaId: string, rows: unknown[]): Promise<number> {
  const result = await gql<{ loadRows: { inserted: number } }>(
    url,
    key,
    'mutation($schemaId: ID!, $rows: [JSON!]!) { loadRows(schemaId: $schemaId, rows: $rows) { inserted } }',
    { schemaId, rows },
  );
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.loadRows.inserted;
}

/**
 * Segment views and segment rows stay one to one: every view `seg_*` in a
 * namespace has its metadata row and every row has its view.
 */
export async function assertViewsMatchMetadata(db: Db): Promise<void> {
  const views = await db.any<{ ns: string; view: string }>(
    `SELECT schemaname AS ns, viewname AS view FROM pg_views WHERE viewname LIKE 'seg\\_%' ORDER BY 1, 2`,
  );
  const rows = await db.any<{ ns: string; view: string }>(
    `SELECT t.namespace AS ns, s.view_name AS view FROM segments s JOIN tenants t ON t.id = s.tenant_id ORDER BY 1, 2`,
  );
  const key = (r: { ns: string; view: string }) => `${r.ns}.${r.view}`;
  const a = views.map(key);
  const b = rows.map(key);
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    throw new Error(`views and segment rows differ:\nviews: ${a.join(', ')}\nrows:  ${b.join(', ')}`);
  }
}
