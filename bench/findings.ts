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
    'CPU per request, not the database: ~0.61-0.64 ms of gateway CPU per list request (1.23 ms before the list went to one round trip, graphql-jit, bodies read once and lazy cursors) against ~0.30 ms for the raw server and ~0.45 ms for PostGraphile. ' +
    'Of what is left (cpu-prof): socket writes ~20% (on this VM\'s loopback the response\'s writev costs ~90 µs and the statement\'s write ~140 µs a request; the raw server pays them too), yoga\'s Fetch-API adapter and envelop hooks ~10% (the REST shim runs the same compiled operations without yoga: ~0.13 ms less per get), row parsing and Date objects ~8%, GC ~8%. ' +
    '1.5× PostGraphile would mean beating the raw server itself, which is 1.26-1.29× PostGraphile here.',
  next:
    'Serve JSON POSTs of known documents through a thin node:http path (the same admission, operation limits and error masking) instead of yoga\'s Fetch adapter; parse timestamps lazily; re-measure with bench/profile.ts.',
};

const POOLED_PARALLEL: Finding = {
  why:
    'A fixed cost around the count: the HTTP request, the GraphQL mutation and the transaction\'s round trips (lock, statement timeout, count, update, commit) take ~4-6 ms besides it, measured in one process on a quiet machine (heavy-pool count 14.5 ms, the domain\'s refresh 16.5 ms, the REST refresh 20 ms; psql 14 ms), which 1.15× allows only above ~35 ms counts. ' +
    'The larger gap of earlier runs (~25 ms) was PostgreSQL\'s JIT: once a join count had been JIT-compiled on a pooled session, every parallel worker of its later counts loaded LLVM as it started; sessions now run with jit off (docs/decisions.md).',
  next:
    'Fewer round trips per refresh and create (the lock and the statement timeout in one, the update and the commit in one), then re-measure.',
};

const OVERLAP: Finding = {
  why:
    'One statement over the base table: plain conditions inline as bits, joined conditions read from tables grouped by the join key and hash-joined once, references inlined from their definitions (docs/decisions.md).',
  next: 'Profile the statement with EXPLAIN (ANALYZE, BUFFERS) against the raw scan if a run misses.',
};

export const FINDINGS: Record<string, Finding> = {
  'list-vs-peer': API_CPU,
  'list-vs-raw': API_CPU,
  'list-p99': {
    why: 'Follows from throughput: 32 connections at ~1,490 req/s queue ~21 ms on average (Little\'s law), which is the p50; p99 ≤ 25 ms needs ~2,500 req/s or more with little spread, on 2 cores shared with PostgreSQL and the load generator (the raw server: p99 16 ms at ~2,900 req/s).',
    next: 'The API CPU work above; then re-measure p99.',
  },
  'rest-vs-graphql': {
    why:
      'The REST list answers the full segment (18 fields) and pagination.total where the GraphQL query asks 4 fields; the total is the tenant\'s counter (one row) and comes in the same round trip as the page.',
    next: 'Profile the REST list with bench/profile.ts --read rest-list.',
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
