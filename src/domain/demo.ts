import { seedDemo, type DemoSeedResult } from './schemas/service.js';
import { createSegment, type SegmentServiceOptions } from './segments/service.js';
import type { Tenant } from './tenants.js';
import type { Db } from '../sql/db.js';
import { findSegmentNames } from '../sql/segments.js';

/** Segments a demo tenant starts with, over the demo customers and orders. */
function demoSegments(customersId: string, ordersId: string) {
  const orders = [{ schemaId: ordersId, alias: 'orders', type: 'left', localField: 'id', foreignField: 'customer_id' }];
  return [
    {
      name: 'high_value_customers',
      description: 'Customers with lifetime value > $10,000',
      status: 'active',
      baseSchemaId: customersId,
      filters: [{ field: 'lifetime_value', operator: '>', value: 10000 }],
    },
    {
      name: 'recent_buyers',
      description: 'Customers who ordered in the last 30 days',
      status: 'active',
      baseSchemaId: customersId,
      joins: orders,
      filters: [{ field: 'orders.created_at', operator: 'within_last', value: { amount: 30, unit: 'days' } }],
    },
    {
      name: 'us_frequent_high_value',
      description: 'US customers with lifetime value over 10,000 and at least 3 orders in the last 90 days',
      status: 'draft',
      baseSchemaId: customersId,
      joins: orders,
      filters: [
        { field: 'country', operator: '=', value: 'US' },
        { field: 'lifetime_value', operator: '>', value: 10000 },
        {
          aggregate: 'count',
          join: 'orders',
          operator: '>=',
          value: 3,
          where: [{ field: 'created_at', operator: 'within_last', value: { amount: 90, unit: 'days' } }],
        },
      ],
    },
  ];
}

/** Demo schemas and rows (see `seedDemo`), plus the demo segments that are not there yet. */
export async function seedDemoTenant(
  db: Db,
  tenant: Tenant,
  customers: number,
  options: SegmentServiceOptions,
): Promise<DemoSeedResult & { segmentsCreated: number }> {
  const seeded = await seedDemo(db, tenant, { customers });
  const existing = new Set(await findSegmentNames(db, tenant.id));
  let segmentsCreated = 0;
  for (const segment of demoSegments(seeded.customers.schema.id, seeded.orders.schema.id)) {
    if (existing.has(segment.name)) continue;
    await createSegment(db, tenant, segment, options);
    segmentsCreated += 1;
  }
  return { ...seeded, segmentsCreated };
}
