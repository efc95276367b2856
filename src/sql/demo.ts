import type { IBaseProtocol } from 'pg-promise';
import { pgp } from './db.js';

/**
 * Synthetic demo data, generated inside PostgreSQL with generate_series so
 * that a million customers never cross the wire. Deterministic: every value
 * derives from hashes of the row number (hashint8), and every timestamp is an
 * offset from an `anchor` instant passed in; the same N and anchor give the
 * same rows. Inserts can skip existing ids, so seeding again is harmless.
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

/** Uniform in [0, 1) from the k-th hash of the row number `n` (an SQL expression). */
function uniform(n: string, k: number): string {
  return `((hashint8(${n} * 16 + ${k}) & 2147483647)::float8 / 2147483648)`;
}

/** Uniform in (0, 1]: safe under ln(). */
function uniformPositive(n: string, k: number): string {
  return `(((hashint8(${n} * 16 + ${k}) & 2147483647)::float8 + 1) / 2147483648)`;
}

/** Standard normal from two uniforms (Box–Muller). */
function normal(u1: string, u2: string): string {
  return `(sqrt(-2 * ln(${u1})) * cos(2 * pi() * ${u2}))`;
}

function pick(values: readonly string[], u: string): string {
  return pgp.as.format(`($1::text[])[1 + floor(${u} * $2)::int]`, [values, values.length]);
}

/** A CASE over cumulative country shares, answering `value(country)`. */
function byCountry(u: string, value: (c: Country) => string): string {
  let cumulative = 0;
  const branches = COUNTRIES.map((c, i) => {
    cumulative += c.share;
    return i === COUNTRIES.length - 1 ? `ELSE ${value(c)}` : `WHEN ${u} < ${cumulative / 100} THEN ${value(c)}`;
  });
  return `CASE ${branches.join(' ')} END`;
}

/*
 * The SQL below is a template: `$1`..`$3` are bound by the statements that
 * use it (from, to, anchor), and the literals spliced in (names, cities) hold
 * no `$`. Values are computed in layers of derived tables; `OFFSET 0` keeps
 * PostgreSQL from merging a layer into the next, where every use of a column
 * would compute its hashes and logarithms again.
 */

/** Per customer number: the values both the customers and the orders need. */
const CUSTOMER_PROFILE = `
  SELECT n.*,
         exp(4.5 + 0.6 * ln(1 + n.orders) + 0.8 * ${normal('n.u_spend1', 'n.u_spend2')}) AS spend,
         $3::timestamptz - interval '1 second' * floor(94608000 * power(n.u_signup, 0.8)) AS signup_at,
         ${byCountry('n.u_country', (c) => pgp.as.format('$1', [c.code]))} AS country,
         ${byCountry('n.u_country', (c) => pick(c.cities, 'n.u_city'))} AS city,
         ${byCountry('n.u_country', (c) => pgp.as.format('$1', [c.currency]))} AS currency
  FROM (
    SELECT u.*, least(400, floor(1.75 * power(1 - u.u_orders, -0.62)) - 1)::int AS orders
    FROM (
      SELECT g AS id,
             ${uniform('g', 1)} AS u_country, ${uniform('g', 2)} AS u_orders, ${uniformPositive('g', 3)} AS u_spend1,
             ${uniform('g', 4)} AS u_spend2, ${uniform('g', 5)} AS u_signup, ${uniform('g', 6)} AS u_city,
             ${uniform('g', 7)} AS u_name, ${uniform('g', 8)} AS u_age1, ${uniform('g', 9)} AS u_age2,
             ${uniform('g', 10)} AS u_plan
      FROM generate_series($1::bigint, $2::bigint) AS g
      OFFSET 0
    ) AS u
    OFFSET 0
  ) AS n
  OFFSET 0`;

/** Customers numbered `from`..`to`; returns how many were inserted. */
export async function insertDemoCustomers(
  db: Queryable,
  table: DemoTable,
  from: number,
  to: number,
  anchor: Date,
  skipExisting = true,
): Promise<number> {
  const result = await db.result(
    `INSERT INTO $4:name.$5:name
       (id, email, first_name, country, city, lifetime_value, signup_at, vip, age, plan)
     SELECT c.id, lower(c.first_name) || '.' || c.id || '@example.com', c.first_name, c.country, c.city,
            c.lifetime_value, c.signup_at, c.lifetime_value >= 5000,
            18 + floor(67 * power((c.u_age1 + c.u_age2) / 2, 1.4))::int,
            CASE WHEN c.lifetime_value >= 20000 OR c.u_plan < 0.03 THEN 'enterprise'
                 WHEN c.u_plan < 0.15 THEN 'pro'
                 WHEN c.u_plan < 0.40 THEN 'basic'
                 ELSE 'free' END
     FROM (
       SELECT p.*, ${pick(FIRST_NAMES, 'p.u_name')} AS first_name,
              least(round((p.orders * p.spend)::numeric, 2), 9999999999.99) AS lifetime_value
       FROM (${CUSTOMER_PROFILE}) AS p
       OFFSET 0
     ) AS c
     $6:raw`,
    [from, to, anchor, table.namespace, table.tableName, skipExisting ? 'ON CONFLICT DO NOTHING' : ''],
  );
  return result.rowCount;
}

/** The orders of customers `from`..`to` (id = customer × 1000 + n); returns how many were inserted. */
export async function insertDemoOrders(
  db: Queryable,
  table: DemoTable,
  from: number,
  to: number,
  anchor: Date,
  skipExisting = true,
): Promise<number> {
  const result = await db.result(
    `INSERT INTO $4:name.$5:name (id, customer_id, amount, currency, status, created_at)
     SELECT o.id, o.customer_id,
            -- around the customer's usual spend, from half to one and a half times it
            least(round((o.spend * (0.5 + o.u_amount))::numeric, 2), 99999999.99),
            o.currency,
            CASE WHEN o.u_status < 0.82 THEN 'completed'
                 WHEN o.u_status < 0.90 THEN 'pending'
                 WHEN o.u_status < 0.95 THEN 'refunded'
                 ELSE 'cancelled' END,
            -- between the customer's signup and the anchor
            o.signup_at + ($3::timestamptz - o.signup_at) * o.u_time
     FROM (
       SELECT o.*, ${uniform('o.id', 1)} AS u_amount, ${uniform('o.id', 3)} AS u_status, ${uniform('o.id', 4)} AS u_time
       FROM (
         SELECT p.id * 1000 + j AS id, p.id AS customer_id, p.spend, p.currency, p.signup_at
         FROM (${CUSTOMER_PROFILE}) AS p
         CROSS JOIN LATERAL generate_series(1, p.orders) AS j
       ) AS o
       OFFSET 0
     ) AS o
     $6:raw`,
    [from, to, anchor, table.namespace, table.tableName, skipExisting ? 'ON CONFLICT DO NOTHING' : ''],
  );
  return result.rowCount;
}

/** Indexes on the columns demo segments filter and join on (kept if they exist), then fresh statistics. */
export async function indexDemoTable(db: Queryable, table: DemoTable, columns: readonly string[]): Promise<void> {
  for (const column of columns) {
    await db.none('CREATE INDEX IF NOT EXISTS $3:name ON $1:name.$2:name ($4:name)', [
      table.namespace,
      table.tableName,
      `${table.tableName}_${column}_idx`,
      column,
    ]);
  }
  await db.none('ANALYZE $1:name.$2:name', [table.namespace, table.tableName]);
}

export async function countDemoRows(db: Queryable, table: DemoTable): Promise<number> {
  const row = await db.one<{ total: number }>('SELECT count(*) AS total FROM $1:name.$2:name', [
    table.namespace,
    table.tableName,
  ]);
  return row.total;
}
