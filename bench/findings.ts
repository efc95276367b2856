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
    'The gateway\'s own CPU on a shared machine, or a list the direct path did not write. Since 27 November 22:00 a known list document that selects only column fields is answered with JSON PostgreSQL writes in the page\'s one statement (docs/performance.md, "Writing the page"): 0.27-0.34 ms of CPU a list in the full run of 22:18 against PostGraphile\'s 0.70-0.92 and raw\'s 0.18-0.24 (raw sends the same statement); before, 0.58-0.60 ms, 1.25-1.45× PostGraphile. Single rounds move by up to 40% in req/s on this machine (1,638 to 3,171 for the gateway in that run).',
  next:
    'Compare the CPU column: above ~0.4 ms a list, check that `segment_gateway_graphql_direct_total{outcome="written_by_database"}` counted the load\'s requests, then profile (`bench/profile.ts --read list`).',
};

const SHORT_COUNT_NOISE: Finding = {
  why:
    'The machine: this count of a 72,327-member view is bimodal here (~150 or ~210 ms, in psql as through the gateway). In the full runs of 27 November 20:20 and 20:43 psql took 150-283 ms and ours 148-228 ms, and the medians of three landed on either side: create 1.23× and 1.38×, refresh 0.86× and 1.17× (the run before: 1.07× and 1.03×). The fixed cost around a count is ~4-6 ms (see the simple segment), ~3% of these.',
  next: 'Re-measure; a miss that holds across runs gets EXPLAIN (ANALYZE, BUFFERS) of the count inside the create\'s transaction against psql\'s, parallel workers launched included.',
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
    why: 'Queueing on the gateway\'s event loop and on two cores shared with PostgreSQL and the load generator: at ~2,600 req/s, 32 connections wait ~12 ms on average (Little\'s law, p50 ~11.5 ms), and a request that arrives behind a burst, a scavenge or a time slice given to another process waits for it. Per round the p99 moved from 22 to 45 ms in the full run of 22:18 (median 25.5 ms), raw\'s from 16 to 28 ms at ~0.2 ms of CPU a request; before the lists written by PostgreSQL it was 47-51 ms.',
    next: 'The fixed cost a request still adds to raw (~0.1 ms: admission with its key digest, the body\'s parse, variable coercion and the cost check, response headers, metrics); then GC pauses under load (`--trace-gc`) if p99 stays above twice p50.',
  },

  'rest-vs-graphql': {
    why:
      'The REST page\'s size, not its route: 20 whole segments (18 fields, ~11.4 KB) against the GraphQL list\'s four fields (~2.3 KB). Both are written by PostgreSQL now, and the GraphQL list got 45% cheaper (docs/performance.md). PostgreSQL executes the REST page\'s statement in ~0.3-0.5 ms against ~0.10 ms for the GraphQL page (EXPLAIN ANALYZE, TIMING OFF, 200 runs: 21 whole rows as JSON, four instants formatted each, a cursor), and the gateway spends 0.34-0.41 ms of CPU a REST page against 0.30-0.34 ms (the larger socket write: writev ~40% of the REST profile, ~33% of the GraphQL one). On two cores shared by the gateway, PostgreSQL and the load generator, REST runs out of machine first: 1,333-1,738 req/s against the GraphQL list\'s 2,258-2,803 in the full run of 22:49 (0.61× in the run of 22:18). Before the GraphQL lists were written by PostgreSQL it measured 0.98×.',
    next:
      'Less for PostgreSQL to do per REST page: the 21st row (fetched only to tell that another page follows) without its JSON, the per-row subquery replaced by a composite type (~8% of the statement\'s time in a psql loop of 1,000 runs); and the REST route measured against a GraphQL list of the same whole segments, to separate the route\'s cost from the payload\'s.',
  },
  'shield-cost': {
    why: 'A fixed cost a request: graphql-middleware\'s wrapper and shield\'s asynchronous rule evaluation on the root field; on lists written by PostgreSQL, the same rule evaluated by the plugin\'s verdict before the statement (the gateway without shield replaces both). Measured against the gateway without shield: -4% to +10.7% of CPU a request across the runs of 27 November, whose rounds differ by 15-40% in req/s.',
    next: 'Root fields\' rules called directly (the same shield rule objects, without graphql-middleware\'s wrapper), as the REST routes that stream already check them.',
  },
  'create-simple': POOLED_PARALLEL,
  'create-any': SHORT_COUNT_NOISE,
  'create-reference': POOLED_PARALLEL,
  'create-join': LONG_COUNT,
  'create-aggregate': LONG_COUNT,
  'refresh-join': LONG_COUNT,
  'refresh-aggregate': LONG_COUNT,
  'refresh-simple': POOLED_PARALLEL,
  'refresh-any': SHORT_COUNT_NOISE,
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
      'PGlite itself, mostly: in a first start logged at debug level the embedded PostgreSQL was up at ~2.0 s (process start, module loading, the initdb template\'s copy, PGlite instantiating its WebAssembly and starting PostgreSQL; a restart pays all of it but the copy, 1.8-1.9 s), the three migrations took ~0.45 s and the demo seed (2,000 customers, ~6,000 orders, 3 segments counted) ~0.7 s, PostgreSQL code running in WebAssembly for the first time (~1.1 s of a profiled first start). The template (~0.1-0.3 s) already replaces initdb (~3 s of CPU). V8\'s WebAssembly flags (lazy compilation, no tier-up, no dynamic tiering) and source maps off made no difference or were slower.',
    next:
      'The same start path has taken 1.95 s, 2.85 s, 3.18-3.46 s, 3.88 s, 4.06 s, 4.48 s, 4.74 s and 4.3-5.0 s on machines of this kind, as the machine\'s load goes (restarts 1.3-2.8 s; 2.11 s in the run of 22:49). A template with the migrations applied would save only ~0.1-0.25 s (the warm-up moves to the seed); the demo data cannot be in one (it is dated from the first start\'s day); a smaller demo seed would trade the demo segments\' interest for time. Next: open the embedded database before the GraphQL and HTTP modules load rather than beside them, if a profile shows the two competing for the main thread.',
  },
};
