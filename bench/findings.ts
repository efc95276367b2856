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
    'Above the limit the raw server sets, not a cost of the gateway alone: in the same run the raw server (node:http + pg-promise sending the same statements, no GraphQL, no keys, no limits) answers only 1.14-1.26× PostGraphile\'s list in the last two full runs (PostGraphile builds the JSON in PostgreSQL), so no Node service over these statements reaches 1.5× here. ' +
    'The gateway\'s list costs 0.86-1.05 ms of CPU against the raw server\'s 0.47-0.59 (medians of the last two runs; 1.23 ms against 0.30 before the performance work, on a faster machine). Known queries are now answered without yoga\'s pipeline (~20% of the list\'s CPU, docs/decisions.md); what remains besides what raw pays too (the statement\'s and the response\'s socket writes, row parsing, GC): admission (key HMAC, rate limit) ~4.5% of the profile, the POST body and its JSON ~2%, metrics ~1.5%, and the compiled execution of the page with its shield rule.',
  next:
    'Fewer bytes per page from PostgreSQL (the page reads all 15 columns of 21 rows to show 4 fields: select the columns the selection needs) and a prepared statement for the page (it is planned on every request); both lower the raw server\'s cost too, so they move the peer ratio, not the raw one.',
};

const POOLED_PARALLEL: Finding = {
  why:
    'A fixed cost around the count: the HTTP request, the GraphQL mutation and the transaction\'s round trips (begin, lock, the count with its statement timeout, which now share one, update, commit, then the base schema the response shows) take ~4-6 ms besides it, measured in one process on a quiet machine (heavy-pool count 14.5 ms, the domain\'s refresh 16.5 ms, the REST refresh 20 ms; psql 14 ms), which 1.15× allows only above ~35 ms counts. ' +
    'The larger gap of earlier runs (~25 ms) was PostgreSQL\'s JIT: once a join count had been JIT-compiled on a pooled session, every parallel worker of its later counts loaded LLVM as it started; sessions now run with jit off (docs/decisions.md).',
  next:
    'Fewer round trips still: the base schema the response shows read with the lock rather than after the commit, the update and the commit in one; then re-measure (short counts near 1.15× move by ±10% between runs here).',
};

const LONG_COUNT: Finding = {
  why:
    'The machine, not the statement: these are ~2 s counts (parallel workers over 3M orders) on two cores shared with the load generator and other servers. In the run where create with a join measured 1.26×, its psql samples spread from 1.77 to 3.09 s, the refresh of the same segment (the same count without the CREATE VIEW and the dependency rows, which take milliseconds) measured 1.03×, and a segments-only run ten minutes later measured create 0.95× and refresh 0.95×; the run before measured 0.99× and 1.04×.',
  next: 'Re-measure; if a miss holds across runs, EXPLAIN (ANALYZE, BUFFERS) the count inside the create\'s transaction against psql\'s, workers launched included.',
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
    why: 'Follows from throughput on 2 cores shared by the server, PostgreSQL and the load generator: 32 connections at ~840-980 req/s queue ~33-38 ms on average (Little\'s law); the raw server itself has a p99 of 38-43 ms in the same runs, and PostGraphile 60-67 ms.',
    next: 'The API CPU work above; then re-measure p99 on a quieter machine (the previous session\'s run: raw p99 16 ms at ~2,900 req/s).',
  },
  'rest-vs-graphql': {
    why:
      'The payload, not the REST machinery: a REST page is the full segment (18 fields) with pagination, ~11.4 KB, where the GraphQL query asks 4 fields, ~2.3 KB. Per request (cpu-prof) REST spends ~51 µs more in JSON.stringify, ~39 µs formatting 60 timestamps and ~10 µs encoding the next cursor; `GET /segments/{id}` (one segment either way) runs at 1.1-1.2× the GraphQL get. The GraphQL list also got ~20% faster with the direct path (docs/decisions.md), which REST (no yoga to skip) cannot share.',
    next: 'A serialiser compiled for the REST segment\'s fixed shape instead of JSON.stringify, and timestamps written from PostgreSQL\'s ISO text instead of formatted from Date objects.',
  },
  'shield-cost': {
    why: 'Within 10% of CPU per request; the req/s difference is mostly the machine (rounds differ by 15-30%).',
    next: 'None needed; rules are applied to root fields only (docs/decisions.md).',
  },
  'create-simple': POOLED_PARALLEL,
  'create-any': POOLED_PARALLEL,
  'create-reference': POOLED_PARALLEL,
  'create-join': LONG_COUNT,
  'create-aggregate': LONG_COUNT,
  'refresh-join': LONG_COUNT,
  'refresh-aggregate': LONG_COUNT,
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
    next: 'Re-measure on a quiet machine (on the latest run\'s machine the previous session\'s build starts as slowly, in alternating runs: first start 4.3-4.8 s against 4.4-5.0 s for this one, restart 2.5-2.8 s against 2.1-2.6 s; the run before measured 1.95 s and 1.28 s). What is left is mostly PGlite warming up, which no template holds: one with the migrations applied would save only ~0.1-0.25 s (the warm-up moves to the seed), and the demo data cannot be in one (it is dated from the first start\'s day).',
  },
};
