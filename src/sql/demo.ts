import type { IBaseProtocol } from 'pg-promise';
import { pgp } from './db.js';

/**
 * Synthetic demo data, generated inside PostgreSQL with generate_series so
 * that a million customers never cross the wire. Deterministic: every value
 * derives from hashes of the row number (hashint8), and every timestamp is an
 * offset from an `anchor` instant passed in; the same N and anchor give the
 * same rows. Inserts skip existing ids, so seeding again is harmless.
 *
 * Shapes: countries US-heavy; orders per customer Pareto-like (a quarter
 * with none, a few with hundreds, about 3 on average); order value grows with
 * order count, so lifetime value is long-tailed (over 10,000 for ~2.5%).
 */

type Queryable = IBaseProtocol<unknown>;

export interface DemoTable {
  namespace: string;
  tableName: string;
}

interface Country {
  code: string;
  /** Share of customers, in percent. */
  share: number;
  currency: string;
  cities: string[];
}

const COUNTRIES: Country[] = [
  { code: 'US', share: 40, currency: 'USD', cities: ['New York', 'Los Angeles', 'Chicago', 'Houston', 'Phoenix', 'Seattle', 'Austin', 'Boston'] },
  { code: 'GB', share: 10, currency: 'GBP', cities: ['London', 'Manchester', 'Birmingham', 'Leeds', 'Glasgow', 'Bristol'] },
  { code: 'CA', share: 7, currency: 'CAD', cities: ['Toronto', 'Montreal', 'Vancouver', 'Calgary'] },
  { code: 'DE', share: 7, currency: 'EUR', cities: ['Berlin', 'Hamburg', 'Munich', 'Cologne', 'Frankfurt'] },
  { code: 'FR', share: 6, currency: 'EUR', cities: ['Paris', 'Lyon', 'Marseille', 'Toulouse'] },
  { code: 'AU', share: 5, currency: 'AUD', cities: ['Sydney', 'Melbourne', 'Brisbane', 'Perth'] },
  { code: 'IN', share: 5, currency: 'INR', cities: ['Mumbai', 'Delhi', 'Bangalore', 'Chennai'] },
  { code: 'BR', share: 5, currency: 'BRL', cities: ['São Paulo', 'Rio de Janeiro', 'Brasília', 'Salvador'] },
  { code: 'JP', share: 4, currency: 'JPY', cities: ['Tokyo', 'Osaka', 'Yokohama', 'Nagoya'] },
  { code: 'ES', share: 3, currency: 'EUR', cities: ['Madrid', 'Barcelona', 'Valencia', 'Seville'] },
  { code: 'IT', share: 3, currency: 'EUR', cities: ['Rome', 'Milan', 'Naples', 'Turin'] },
  { code: 'NL', share: 2, currency: 'EUR', cities: ['Amsterdam', 'Rotterdam', 'Utrecht'] },
  { code: 'MX', share: 2, currency: 'MXN', cities: ['Mexico City', 'Guadalajara', 'Monterrey'] },
  { code: 'SE', share: 1, currency: 'SEK', cities: ['Stockholm', 'Gothenburg', 'Malmö'] },
];

const FIRST_NAMES = [
  'James', 'Mary', 'John', 'Patricia', 'Robert', 'Jennifer', 'Michael', 'Linda', 'David', 'Elizabeth',
  'William', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Carlos', 'Karen',
  'Daniel', 'Lisa', 'Matthew', 'Nancy', 'Anthony', 'Sandra', 'Mark', 'Ashley', 'Priya', 'Emily',
  'Wei', 'Yuki', 'Lukas', 'Sofia', 'Mateo', 'Chloe', 'Noah', 'Emma', 'Liam', 'Olivia',
  'Arjun', 'Ana', 'Hiroshi', 'Léa', 'Oliver', 'Amelia', 'Jack', 'Isla', 'Lars', 'Freya',
];

/** Uniform in [0, 1) from the k-th hash of a row number `n` (an SQL expression). */
function uniform(n: string, k: number): string {
  return `((hashint8(${n} * 16 + ${k}) & 2147483647)::float8 / 2147483648)`;
}

/** Uniform in (0, 1]: safe under ln(). */
function uniformPositive(n: string, k: number): string {
  return `(((hashint8(${n} * 16 + ${k}) & 2147483647)::float8 + 1) / 2147483648)`;
}

/** Standard normal (Box–Muller over two hashes). */
function normal(n: string, k: number): string {
  return `(sqrt(-2 * ln(${uniformPositive(n, k)})) * cos(2 * pi() * ${uniform(n, k + 1)}))`;
}

function pick(values: readonly string[], u: string): string {
  return pgp.as.format(`($1::text[])[1 + floor(${u} * $2)::int]`, [values, values.length]);
}

/** A CASE over cumulative shares: country code, or a per-country column. */
function byCountry(u: string, value: (c: Country) => string): string {
  let cumulative = 0;
  const branches = COUNTRIES.map((c, i) => {
    cumulative += c.share;
    return i === COUNTRIES.length - 1 ? `ELSE ${value(c)}` : `WHEN ${u} < ${cumulative / 100} THEN ${value(c)}`;
  });
  return `CASE ${branches.join(' ')} END`;
}

/**
 * Per customer number `g` (from generate_series): the values both the
 * customers and the orders statements need. `$3` is the anchor.
 */
const CUSTOMER_PROFILE = `
  SELECT g AS id,
         p.orders,
         p.spend,
         $3::timestamptz - interval '1 second' * floor(94608000 * power(${uniform('g', 5)}, 1.3)) AS signup_at,
         ${byCountry(uniform('g', 1), (c) => pgp.as.format('$1', [c.code]))} AS country,
         ${byCountry(uniform('g', 1), (c) => pick(c.cities, uniform('g', 6)))} AS city,
         ${byCountry(uniform('g', 1), (c) => pgp.as.format('$1', [c.currency]))} AS currency
  FROM generate_series($1::bigint, $2::bigint) AS g
  CROSS JOIN LATERAL (
    SELECT least(400, floor(1.75 * power(1 - ${uniform('g', 2)}, -0.62)) - 1)::int AS orders
  ) AS n
  CROSS JOIN LATERAL (
    SELECT n.orders, exp(4.5 + 0.6 * ln(1 + n.orders) + 0.8 * ${normal('g', 3)}) AS spend
  ) AS p`;

/** Customers numbered `from`..`to`; returns how many were new. */
export async function insertDemoCustomers(
  db: Queryable,
  table: DemoTable,
  from: number,
  to: number,
  anchor: Date,
): Promise<number> {
  const result = await db.result(
    `INSERT INTO $4:name.$5:name
       (id, email, first_name, country, city, lifetime_value, signup_at, vip, age, plan)
     SELECT c.id,
            lower(c.first_name) || '.' || c.id || '@example.com',
            c.first_name, c.country, c.city, c.lifetime_value, c.signup_at,
            c.lifetime_value >= 5000,
            18 + floor(67 * power((${uniform('c.id', 8)} + ${uniform('c.id', 9)}) / 2, 1.4))::int,
            CASE WHEN c.lifetime_value >= 20000 OR ${uniform('c.id', 10)} < 0.03 THEN 'enterprise'
                 WHEN ${uniform('c.id', 10)} < 0.15 THEN 'pro'
                 WHEN ${uniform('c.id', 10)} < 0.40 THEN 'basic'
                 ELSE 'free' END
     FROM (
       SELECT profile.*,
              ${pick(FIRST_NAMES, uniform('profile.id', 7))} AS first_name,
              least(round((profile.orders * profile.spend)::numeric, 2), 9999999999.99) AS lifetime_value
       FROM (${CUSTOMER_PROFILE}) AS profile
     ) AS c
     ON CONFLICT DO NOTHING`,
    [from, to, anchor, table.namespace, table.tableName],
  );
  return result.rowCount;
}

/** The orders of customers `from`..`to` (id = customer × 1000 + n); returns how many were new. */
export async function insertDemoOrders(
  db: Queryable,
  table: DemoTable,
  from: number,
  to: number,
  anchor: Date,
): Promise<number> {
  const order = 'o.id';
  const result = await db.result(
    `INSERT INTO $4:name.$5:name (id, customer_id, amount, currency, status, created_at)
     SELECT o.id, o.customer_id,
            least(round((o.spend * exp(0.4 * ${normal(order, 1)}))::numeric, 2), 99999999.99),
            o.currency,
            CASE WHEN ${uniform(order, 3)} < 0.82 THEN 'completed'
                 WHEN ${uniform(order, 3)} < 0.90 THEN 'pending'
                 WHEN ${uniform(order, 3)} < 0.95 THEN 'refunded'
                 ELSE 'cancelled' END,
            -- between signup and the anchor, leaning towards recent
            o.signup_at + ($3::timestamptz - o.signup_at) * power(${uniform(order, 4)}, 0.6)
     FROM (
       SELECT profile.id * 1000 + j AS id, profile.id AS customer_id, profile.spend, profile.currency,
              profile.signup_at
       FROM (${CUSTOMER_PROFILE}) AS profile
       CROSS JOIN LATERAL generate_series(1, profile.orders) AS j
     ) AS o
     ON CONFLICT DO NOTHING`,
    [from, to, anchor, table.namespace, table.tableName],
  );
  return result.rowCount;
}

/** Indexes the demo segments filter and join on; kept if they exist. */
export async function createDemoIndexes(db: Queryable, customers: DemoTable, orders: DemoTable): Promise<void> {
  const indexes: [DemoTable, string][] = [
    [orders, 'customer_id'],
    [orders, 'created_at'],
    [customers, 'country'],
    [customers, 'lifetime_value'],
  ];
  for (const [table, column] of indexes) {
    await db.none('CREATE INDEX IF NOT EXISTS $3:name ON $1:name.$2:name ($4:name)', [
      table.namespace,
      table.tableName,
      `${table.tableName}_${column}_idx`,
      column,
    ]);
  }
  await db.none('ANALYZE $1:name.$2:name', [customers.namespace, customers.tableName]);
  await db.none('ANALYZE $1:name.$2:name', [orders.namespace, orders.tableName]);
}

export async function countDemoRows(db: Queryable, table: DemoTable): Promise<number> {
  const row = await db.one<{ total: number }>('SELECT count(*) AS total FROM $1:name.$2:name', [
    table.namespace,
    table.tableName,
  ]);
  return row.total;
}
