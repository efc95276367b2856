/**
 * What profiles and plans showed for each target a run misses: why, and the
 * next step. Written by hand after looking (bench/profile.ts, node
 * --cpu-prof, auto_explain, EXPLAIN (ANALYZE, BUFFERS)); shown beside a miss
 * in the table of docs/performance.md, whose "Findings" section has the
 * measurements behind each one.
 */
interface Finding {
  why: string;
  next: string;
}

const API_CPU: Finding = {
  why:
    'CPU per request, not the database: the gateway spends ~1.2-1.5 ms of CPU on this list against ~0.3 ms for the raw server (same two statements) and ~0.56 ms for PostGraphile (one statement that builds the JSON in PostgreSQL). ' +
    'No single hotspot (cpu-prof): yoga\'s Fetch-API pipeline and plugins cost ~0.33 ms a request (GraphQL get 0.80 ms vs the REST shim running the same resolvers with graphql-js directly, 0.47 ms); ' +
    'executing the nodes costs ~18 µs each beyond row parsing (resolver promises, a cursor encoded for every edge, Date objects for three timestamps per row); GC ~14%.',
  next:
    'Run known operations (the REST shim\'s and persisted ones) through a precompiled executor (graphql-jit) behind a thin node:http handler instead of the Fetch adapter; select only the columns a list asks for and encode cursors only when asked; then re-measure with bench/profile.ts.',
};

const POOLED_PARALLEL: Finding = {
  why:
    'Same SQL, same plan (auto_explain), but the count on the gateway\'s long-lived heavy-pool connection gets its two parallel workers late after that connection has run a big join, so the leader scans most of the table alone (EXPLAIN VERBOSE: workers read 32 and 1,384 of 13,900 buffers vs ~2,600 each on a fresh connection). ' +
    'psql opens a fresh session per statement. Reproduced in psql alone: the same count takes 264-322 ms in a session that just ran the join count, 174-233 ms in a new one. The gateway\'s own work per create is ~20-30 ms.',
  next:
    'Find what delays worker start on a reused backend (PostgreSQL side); meanwhile recycle heavy-pool connections (pg Pool maxUses / maxLifetimeSeconds) and re-measure; the join and aggregate rows show the opposite (the leader alone beats 3 processes on 2 busy cores).',
};

const OVERLAP: Finding = {
  why:
    'One statement, not one per pair, but each view is read on its own and members are grouped by id: N+1 passes over the base table. For plain conditions one scan is 2.6× faster; for joins and aggregates the one-scan form is slower (ours 0.63-0.69× of it), because an EXISTS or correlated count inside CASE runs per row (1M index probes) while each view gets a hash semi-join.',
  next:
    'Compile overlap as one pass over the base table: plain conditions inline as bits, joined conditions as uncorrelated `id IN (SELECT customer_id FROM orders WHERE ...)` (hashed once) — a compiler mode to cover with the differential tests.',
};

export const FINDINGS: Record<string, Finding> = {
  'list-vs-peer': API_CPU,
  'list-vs-raw': API_CPU,
  'list-p99': {
    why: 'Follows from throughput: 32 connections at ~870 req/s queue ~37 ms on average (Little\'s law); p99 ≤ 25 ms needs well over 1,300 req/s with little spread on 2 cores shared with PostgreSQL and the load generator.',
    next: 'The API CPU work above; then re-measure p99.',
  },
  'rest-vs-graphql': {
    why:
      'The REST list must answer pagination.total, a count(*) over the tenant\'s 10,000 segments per request (4-12 ms of PostgreSQL time in psql; an index-only scan whose heap fetches grow until VACUUM), and returns the full segment (18 fields, joins and filters JSON) where the GraphQL query asks 4: 1.9 vs 1.2 ms of gateway CPU.',
    next: 'Keep a per-tenant segment count maintained in the create and delete transactions (filters by status/search still count), and re-measure.',
  },
  'shield-cost': {
    why: 'Within 10% of CPU per request; the req/s difference is mostly the machine (rounds differ by 15-30%).',
    next: 'None needed; rules are applied to root fields only (docs/decisions.md).',
  },
  'create-simple': POOLED_PARALLEL,
  'create-any': POOLED_PARALLEL,
  'create-reference': POOLED_PARALLEL,
  'refresh-simple': POOLED_PARALLEL,
  'refresh-any': POOLED_PARALLEL,
  'refresh-reference': POOLED_PARALLEL,
  'overlap-2': OVERLAP,
  'overlap-5': OVERLAP,
  'overlap-10': OVERLAP,
  'overlap-one-pass': OVERLAP,
  'json-vs-copy': {
    why:
      'A batch of 10,000 rows is one request after the other, with nothing overlapping: parse and check the JSON in Node (~60 ms, GC-heavy), then two key probes against the table (primary key and the unique e-mail: 10,000 index lookups each, ~80 ms in psql), then COPY (~60 ms). psql\'s \\copy streams while the server inserts.',
    next: 'Send the rows of a non-empty table through the CSV route\'s staging table (COPY, then INSERT ... ON CONFLICT DO NOTHING) instead of probing keys first, and accept a second batch while the first is in the database; re-measure.',
  },
  rss: {
    why:
      'tsx, not the gateway: `npm start` runs TypeScript through tsx, whose loader thread keeps every transformed module; the same code compiled to JavaScript idles at ~108 MiB instead of ~187 MiB and peaks at 179 MiB under the same load (pass). The JS heap grows by ~70-90 MiB under load either way.',
    next: 'Ship compiled JavaScript (a build step, `node dist/main.js` for npm start); the bench already measures that variant (scale section).',
  },
  'cold-start-restart': {
    why:
      'cpu-prof of a restart: PGlite (WASM PostgreSQL) opening its data directory ~1 s, loading the gateway\'s modules through tsx\'s loader thread ~1.3 s, GC; ~4 s on a quiet machine, 6-9 s on a busy one.',
    next: 'Compiled JavaScript (no tsx at start) and a lazy import of PGlite only when no DATABASE_URL is set; re-measure.',
  },
  'cold-start-first': {
    why: 'The first start runs initdb inside PGlite, the migrations and the demo seed (2,000 customers, ~6,000 orders, 3 segments counted): 62% of the CPU is PGlite/WASM.',
    next: 'Ship a prebuilt demo data directory (PGlite loadDataDir from a tarball) so the first start only unpacks it.',
  },
};
