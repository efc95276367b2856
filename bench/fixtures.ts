import { createBaseSchema } from '../src/domain/schemas/service.js';
import { createSegment } from '../src/domain/segments/service.js';
import { seedDemoTenant } from '../src/domain/demo.js';
import { mintApiKey } from '../src/domain/keys.js';
import { createTenant, getTenant, type Tenant } from '../src/domain/tenants.js';
import { connectDatabase, type Database } from '../src/sql/db.js';
import { migrate } from '../src/sql/migrate.js';
import { databaseUrl, type BenchOptions } from './options.js';
import { inParallel, log, round, timed } from './util.js';

/** The HMAC secret every process of the run shares (keys minted here are verified by the servers). */
export const BENCH_AUTH_SECRET = 'bench-secret-bench-secret-bench-secret-0123456789';
/** The tenant with the demo data at full size. */
export const BIG_TENANT = 'bench';
/** The tenant with `manySegments` segments over a tiny table of its own. */
export const MANY_TENANT = 'bench-many';
const TENANT_PREFIX = 'bench-t';
/** Rows of the tiny demo table under the 10,000 segments: counting 10,000 views over 1M rows would take hours. */
const MANY_TENANT_CUSTOMERS = 200;

export interface TenantHandle {
  tenant: Tenant;
  /** An admin key of the tenant. */
  key: string;
}

export interface Fixture {
  url: string;
  database: Database;
  big: TenantHandle & { customersId: string; ordersId: string; customersTable: string; ordersTable: string };
  many: TenantHandle & { segments: number };
  tenants: TenantHandle[];
  /** Seconds spent building each part (null when a seeded database was reused). */
  setup: { seedBigSeconds: number | null; manySegmentsSeconds: number | null; tenantsSeconds: number | null };
  shape: FixtureShape;
}

interface FixtureShape {
  customers: number;
  manySegments: number;
  tenants: number;
  segmentsPerTenant: number;
}

const SERVICE_OPTIONS = { queryTimeoutMs: 600_000 };

/** Creates (or, with `--reuse`, finds) the bench database and everything the sections read. */
export async function prepareFixture(options: BenchOptions): Promise<Fixture> {
  const url = databaseUrl(options.serverUrl, options.databaseName);
  const shape: FixtureShape = {
    customers: options.customers,
    manySegments: options.manySegments,
    tenants: options.tenants,
    segmentsPerTenant: options.segmentsPerTenant,
  };
  if (options.reuse) {
    const reused = await reuseFixture(options, url, shape);
    if (reused) return reused;
  }
  await recreateDatabase(options);
  const database = connectDatabase({ url, max: 8, applicationName: 'segment-gateway-bench' });
  await migrate(database.db);
  const { db } = database;

  log(`seeding tenant ${BIG_TENANT}: ${options.customers} customers (demo seed)`);
  const bigTenant = await createTenant(db, BIG_TENANT);
  const seeded = await timed(() => seedDemoTenant(db, bigTenant, options.customers, SERVICE_OPTIONS));
  log(`  ${seeded.value.customers.total} customers, ${seeded.value.orders.total} orders in ${(seeded.ms / 1000).toFixed(1)} s`);
  const big = {
    tenant: bigTenant,
    key: await adminKey(database, BIG_TENANT),
    customersId: seeded.value.customers.schema.id,
    ordersId: seeded.value.orders.schema.id,
    customersTable: seeded.value.customers.schema.tableName,
    ordersTable: seeded.value.orders.schema.tableName,
  };

  log(`tenant ${MANY_TENANT}: ${options.manySegments} segments`);
  const many = await timed(() => seedManySegments(database, options.manySegments));
  log(`  in ${(many.ms / 1000).toFixed(1)} s`);

  log(`${options.tenants} tenants x ${options.segmentsPerTenant} segments`);
  const tenants = await timed(() => seedTenants(database, options.tenants, options.segmentsPerTenant));
  log(`  in ${(tenants.ms / 1000).toFixed(1)} s`);

  await db.none('VACUUM ANALYZE');
  const fixture: Fixture = {
    url,
    database,
    big,
    many: many.value,
    tenants: tenants.value,
    setup: {
      seedBigSeconds: round(seeded.ms / 1000, 1),
      manySegmentsSeconds: round(many.ms / 1000, 1),
      tenantsSeconds: round(tenants.ms / 1000, 1),
    },
    shape,
  };
  await rememberFixture(fixture);
  return fixture;
}

async function recreateDatabase(options: BenchOptions): Promise<void> {
  const admin = connectDatabase({ url: options.serverUrl, max: 1, applicationName: 'segment-gateway-bench-admin' });
  try {
    await admin.db.none('DROP DATABASE IF EXISTS $1:name WITH (FORCE)', [options.databaseName]);
    await admin.db.none('CREATE DATABASE $1:name', [options.databaseName]);
  } finally {
    await admin.close();
  }
}

export async function dropDatabase(options: BenchOptions): Promise<void> {
  const admin = connectDatabase({ url: options.serverUrl, max: 1, applicationName: 'segment-gateway-bench-admin' });
  try {
    await admin.db.none('DROP DATABASE IF EXISTS $1:name WITH (FORCE)', [options.databaseName]);
  } finally {
    await admin.close();
  }
}

async function adminKey(database: Database, tenantId: string): Promise<string> {
  return (await mintApiKey(database.db, BENCH_AUTH_SECRET, { tenantId, role: 'admin', name: 'bench' })).key;
}

/** A tenant with a tiny demo table and `count` segments over it (the demo seed's 3 count toward it). */
async function seedManySegments(database: Database, count: number): Promise<TenantHandle & { segments: number }> {
  const { db } = database;
  const tenant = await createTenant(db, MANY_TENANT);
  const seeded = await seedDemoTenant(db, tenant, MANY_TENANT_CUSTOMERS, SERVICE_OPTIONS);
  const countries = ['US', 'GB', 'CA', 'DE', 'FR', 'AU', 'IN', 'BR', 'JP', 'ES'];
  const todo = Array.from({ length: Math.max(0, count - seeded.segmentsCreated) }, (_, i) => i);
  await inParallel(todo, 6, (i) =>
    createSegment(
      db,
      tenant,
      {
        name: `segment-${String(i).padStart(5, '0')}`,
        status: i % 3 === 0 ? 'active' : 'draft',
        baseSchemaId: seeded.customers.schema.id,
        filters: [
          { field: 'country', operator: '=', value: countries[i % countries.length] },
          { field: 'lifetime_value', operator: '>', value: (i % 50) * 100 },
        ],
      },
      SERVICE_OPTIONS,
    ),
  );
  return { tenant, key: await adminKey(database, MANY_TENANT), segments: count };
}

/** `count` tenants, each with a small customers table and `segments` segments over it. */
async function seedTenants(database: Database, count: number, segments: number): Promise<TenantHandle[]> {
  const { db } = database;
  const ids = Array.from({ length: count }, (_, i) => `${TENANT_PREFIX}${String(i + 1).padStart(4, '0')}`);
  return inParallel(ids, 6, async (id) => {
    const tenant = await createTenant(db, id);
    const schema = await createBaseSchema(db, tenant, {
      name: 'customers',
      entityType: 'customer',
      fields: [
        { name: 'id', dataType: 'bigint', isPrimaryKey: true },
        { name: 'country', dataType: 'text' },
        { name: 'lifetime_value', dataType: 'numeric', precision: 12, scale: 2 },
      ],
    });
    for (let i = 0; i < segments; i++) {
      await createSegment(
        db,
        tenant,
        {
          name: `segment-${i}`,
          baseSchemaId: schema.id,
          filters: [{ field: 'lifetime_value', operator: '>', value: i * 1000 }],
        },
        SERVICE_OPTIONS,
      );
    }
    return { tenant, key: await adminKey(database, id) };
  });
}

// ---- reuse (for iterating on the suite, `--reuse`) --------------------------------

type StoredFixture = Omit<Fixture, 'database' | 'url'>;

async function rememberFixture(fixture: Fixture): Promise<void> {
  const { database, url: _url, ...stored } = fixture;
  await database.db.none('CREATE TABLE bench_fixture (stored jsonb NOT NULL)');
  await database.db.none('INSERT INTO bench_fixture (stored) VALUES ($1:json)', [stored]);
}

async function reuseFixture(options: BenchOptions, url: string, shape: FixtureShape): Promise<Fixture | null> {
  const admin = connectDatabase({ url: options.serverUrl, max: 1, applicationName: 'segment-gateway-bench-admin' });
  let exists = false;
  try {
    exists = (await admin.db.oneOrNone('SELECT 1 FROM pg_database WHERE datname = $1', [options.databaseName])) !== null;
  } finally {
    await admin.close();
  }
  if (!exists) return null;
  const database = connectDatabase({ url, max: 8, applicationName: 'segment-gateway-bench' });
  const row = await database.db
    .oneOrNone<{ stored: StoredFixture }>('SELECT stored FROM bench_fixture')
    .catch(() => null);
  const sameShape = row && (Object.keys(shape) as (keyof FixtureShape)[]).every((k) => row.stored.shape[k] === shape[k]);
  if (!row || !sameShape || !(await getTenant(database.db, BIG_TENANT))) {
    await database.close();
    return null;
  }
  log(`reusing the seeded database ${options.databaseName}`);
  return { ...row.stored, url, database, setup: { seedBigSeconds: null, manySegmentsSeconds: null, tenantsSeconds: null } };
}
