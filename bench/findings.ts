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
      'Gateway CPU, and a busy machine: per 10,000-row request the COPY itself takes ~47 ms in PostgreSQL (as psql\'s COPY of such a batch), JSON.parse of the 2 MB body ~10-15 ms before it, and the gateway ~36-39 ms of CPU in all (was ~70: GC, a closure per timestamp, nine round trips; issue #7). The key probes only run when a key exists. Rounds on a loaded two-core machine range from 0.25x to 1.27x.',
    next: 'Re-measure on a quiet machine; if still short, parse the body a slice of rows at a time into COPY (measured: overlaps ~10 ms of parsing with the inserts, for ~3-5 ms more CPU a batch).',
  },
  rss: {
    why:
      'The JS heap, not the code: idle ~115 MiB (~35 MiB of it live heap); under a read load V8 lets old-generation garbage pile up between major GCs, up to 4× the live heap when the heap limit is 2 GiB or more (V8\'s default here: a quarter of RAM, at most 4 GiB): 214-230 MiB. `npm start` caps the old space at 1.5 GiB (--max-old-space-size=1536), which brings that factor down to ~1.8: 150-154 MiB under the same loads, CPU per request unchanged within the noise. A miss means the live heap grew (a cache, a leak) or the flag left the start script.',
    next: 'A heap snapshot under load (node --heapsnapshot-signal=SIGUSR2) to see what is live; --max-semi-space-size=8 takes ~15-20 MiB more off the peak (CPU cost to measure; 4 cost 10-20%).',
  },
  'cold-start-restart': {
    why:
      'cpu-prof of a restart (compiled, PGlite loaded): ~0.6-1 s loading modules (graphql-yoga with its envelop and whatwg-node tree, Pothos, graphql-shield with yup and lodash, graphql-jit), ~0.5-0.7 s PGlite instantiating its WASM and starting PostgreSQL, ~0.15 s the first connection (PGlite\'s WASM warming up), GC: ~1.7 s of CPU, 1.2-2.5 s to /readyz on the two shared cores at load 4-7.',
    next: 'Load ioredis (used only with REDIS_URL) and the GraphiQL page lazily; a Node with module.enableCompileCache (22+) would cache the compiled modules between starts.',
  },
  'cold-start-first': {
    why:
      'The initdb template (copied, ~0.1-0.3 s) replaces initdb (~3 s of CPU, 1.5-9 s of wall time); what is left is the restart\'s work, the migrations and the demo seed (2,000 customers, ~6,000 orders, 3 segments counted), mostly PGlite\'s WASM running code for the first time: the same migrations take ~0.37 s in a new process and ~0.1 s once warm. ~3.8 s of CPU with WASM tier-up on background threads, 2.1-4 s to /readyz on the two shared cores at load 4-7.',
    next: 'Re-measure on a quiet machine. What is left is mostly PGlite warming up, which no template holds: one with the migrations applied would save only ~0.1-0.25 s (the warm-up moves to the seed), and the demo data cannot be in one (it is dated from the first start\'s day).',
  },
};
