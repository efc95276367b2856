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
    'Single samples move by more than that here: in the full run of 28 November 00:34 the simple segment\'s refresh took 63.6, 80.1 and 80.3 ms against psql\'s 59.9, 50.2 and 57.8 (1.39×), while its create, the same count plus the view and its rows, measured 0.99× (56.3-67.3 against 48.0-73.7 ms). ' +
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
    why: 'Queueing on two cores shared by the gateway, PostgreSQL and the load generator: at ~2,800 req/s, 32 connections wait ~11 ms on average (Little\'s law; p50 ~11 ms), and a request that arrives behind a burst, a scavenge or a time slice given to another process waits for it. p99 follows the machine\'s rate from round to round: in the full run of 28 November 00:34 it was 14.3 ms at 4,049 req/s (0.21 ms of CPU a request), then 25.1-39.0 ms at 1,922-2,800 req/s as the gateway\'s CPU per request rose to 0.28-0.37 ms with nothing changed but the machine (median 26.1 ms); 24.8 ms in the full run of 27 November 22:49, 25.5 ms in that of 22:18. In the same rounds the gateway without shield (a process that serves only the GraphQL list and get) stayed at 0.26-0.30 ms and 17.4-24.5 ms, raw at 0.18-0.21 ms and 15.7-26.7 ms. Before the lists written by PostgreSQL it was 47-51 ms.',
    next: 'The fixed cost a request still adds to raw (~0.1 ms: admission with its key digest, the body\'s parse, variable coercion and the cost check, response headers, metrics; the profile is flat, `writev` ~40% and no function of ours above ~1%). Not GC: under `--trace-gc` a 6-second list load had 57-70 scavenges of at most 2.4-5.1 ms and 0-1 mark-compact of ~4-6 ms (~27 MiB live), the same after a load of whole segments on the same process.',
  },

  'rest-vs-graphql': {
    why:
      'The page the reference fixes, not the route: 20 whole segments (18 fields, two jsonb values and three instants each, ~11.4 KB) against the GraphQL list\'s four fields (~2.3 KB), both written by PostgreSQL. The same whole segments asked through GraphQL (`graphql-whole`, the REST route\'s own ListSegments operation) run at about half the REST route\'s rate, so the route is not the cost. PostgreSQL executes the REST page\'s statement in ~0.40 ms against ~0.22-0.30 ms for the GraphQL page (pgbench, prepared; 0.50 ms before the extra row lost its JSON and 20 of its 21 cursors on 28 November), and the gateway spends ~0.30-0.39 ms of CPU a REST page against ~0.21-0.37 ms; the bytes themselves cost ~0.01-0.015 ms (a static server, 2.4 vs 11.4 KB). On two cores shared by the gateway, PostgreSQL and the load generator, the REST page runs out of machine first. Before the GraphQL lists were written by PostgreSQL it measured 0.98×.',
    next:
      'What is left is per field in PostgreSQL: the segment\'s JSON kept beside its row (written when the segment or its count changes, a trigger on segments and base schemas) would make the page a read of 20 texts; a migration and a second copy of every segment, for a target whose two sides do not carry the same data.',
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
      'Module loading and PGlite\'s start, on two shared cores: the main thread loads the bundled gateway (~1 s of CPU; before the packages were bundled, ~1,300 files of node_modules took ~1.6 s of it) while the embedded database\'s worker instantiates PGlite\'s WebAssembly and starts PostgreSQL (~0.6-0.8 s); restarts took 1.07-1.28 s in alternating runs on a quiet machine, up to ~2 s at load 4-7.',
    next: 'A Node with module.enableCompileCache (22+) would keep the compiled modules between starts; load ioredis (used only with REDIS_URL) and the GraphiQL page on first use.',
  },
  'cold-start-first': {
    why:
      'A restart plus the copy of the demo template (41 MiB, ~1,000 files): the copy runs in the embedded database\'s worker beside the main thread\'s module loading, but takes 0.3-1.5 s on this machine (kernel time creating the files), and PostgreSQL starts after it. Since 28 November the template holds the migrations and the demo tenant (made by `npm install`), PGlite runs in a worker thread started before the gateway\'s modules load, and the packages are bundled: first starts took 2.17-2.32 s against 3.69-3.95 s before (alternating runs); the bench makes the template first when it is missing, as `npm install` does.',
    next:
      'Fewer bytes to copy: the template\'s 16 MiB WAL segment is ~40% zeros after the demo seed and could be copied sparse; then the compile cache of a newer Node, as for restarts.',
  },
};
