/**
 * 1. API reads under load: our GraphQL and REST, the same gateway without
 * graphql-shield, the raw node:http + pg-promise baseline and PostGraphile v4,
 * each a child process on the same database, measured in turns (A B A B) so
 * that drift shows between rounds.
 */
import path from 'node:path';
import { authHeaders, noteRss, type RunContext } from './context.js';
import { MANY_TENANT } from './fixtures.js';
import { probe, runLoad, type LoadRequest, type LoadResult } from './load.js';
import { freePort, processCpuMs, sampleMemory, startChild, stopAll, type ChildServer } from './processes.js';
import { startGatewayWithoutShield } from './servers.js';
import { GetSegment, ListSegments } from '../src/rest/operations.js';
import { log, median, round } from './util.js';

export type ReadKind = 'list' | 'get';
export type SystemId = 'graphql' | 'rest' | 'graphql-whole' | 'graphql-no-shield' | 'raw' | 'postgraphile';

export interface ApiMeasurement extends LoadResult {
  read: ReadKind;
  system: SystemId;
  round: number;
  /** CPU time of the server process per request during the measurement (not the warm-up), ms. */
  cpuMsPerRequest: number | null;
}

export interface ApiSummary {
  read: ReadKind;
  system: SystemId;
  /** Medians over the rounds. */
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  rounds: number[];
  cpuMsPerRequest: number | null;
}

export interface ApiReadsResult {
  connections: number;
  warmupSeconds: number;
  measureSeconds: number;
  measurements: ApiMeasurement[];
  summaries: ApiSummary[];
  /** Peak resident memory (VmHWM) of each server process after its loads, MiB. */
  peakRssMb: Record<string, number | null>;
}

const GRAPHQL_LIST = '{ segments(first: 20) { edges { node { id name customerCount baseSchema { name } } } } }';
const GRAPHQL_GET = 'query ($id: ID!) { segment(id: $id) { id name customerCount baseSchema { name } } }';
const PEER_LIST =
  '{ allSegments(first: 20, orderBy: [CREATED_AT_ASC, ID_ASC]) { edges { node { id name customerCount baseSchemaByBaseSchemaId { name } } } } }';
const PEER_GET = 'query ($id: String!) { segmentById(id: $id) { id name customerCount baseSchemaByBaseSchemaId { name } } }';

/** Views of one tenant's rows for PostGraphile, with the keys and relation it cannot see on views. */
async function preparePeerSchema(ctx: RunContext): Promise<void> {
  await ctx.fixture.database.db.tx(async (t) => {
    await t.none('DROP SCHEMA IF EXISTS bench_pg CASCADE');
    await t.none('CREATE SCHEMA bench_pg');
    await t.none(
      `CREATE VIEW bench_pg.segments AS
         SELECT id, name, customer_count::int AS customer_count, base_schema_id, created_at
         FROM public.segments WHERE tenant_id = $1`,
      [MANY_TENANT],
    );
    await t.none('CREATE VIEW bench_pg.base_schemas AS SELECT id, name FROM public.base_schemas WHERE tenant_id = $1', [
      MANY_TENANT,
    ]);
    await t.none(
      `COMMENT ON VIEW bench_pg.segments IS E'@primaryKey id\\n@foreignKey (base_schema_id) references bench_pg.base_schemas (id)'`,
    );
    await t.none(`COMMENT ON VIEW bench_pg.base_schemas IS E'@primaryKey id'`);
  });
}

interface System {
  id: SystemId;
  server: ChildServer;
  requests: Record<ReadKind, LoadRequest>;
}

function graphqlPost(query: string, headers: Record<string, string>, variables?: Record<string, unknown>): LoadRequest {
  return {
    method: 'POST',
    path: '/graphql',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(variables ? { query, variables } : { query }),
  };
}

/** The segment ids a response lists, whatever its shape, to check that every system answers the same rows. */
function idsIn(body: string): string[] {
  return [...body.matchAll(/"id":"(seg_[0-9a-f]+)"/g)].map((m) => m[1]!);
}

export async function measureApiReads(ctx: RunContext): Promise<ApiReadsResult> {
  const { options, fixture } = ctx;
  await preparePeerSchema(ctx);
  const getId = (
    await fixture.database.db.one<{ id: string }>(
      'SELECT id FROM segments WHERE tenant_id = $1 ORDER BY created_at, id OFFSET 10 LIMIT 1',
      [MANY_TENANT],
    )
  ).id;

  const started: ChildServer[] = [];
  try {
    const [noShieldPort, rawPort, peerPort] = [await freePort(), await freePort(), await freePort()];
    log('starting the gateway without graphql-shield, the raw baseline and PostGraphile');
    const [noShield, raw, peer] = await Promise.all([
      startGatewayWithoutShield(ctx, noShieldPort),
      startChild({
        name: 'raw',
        script: 'bench/raw-server.ts',
        env: { DATABASE_URL: fixture.url, PORT: String(rawPort), RAW_TENANT: MANY_TENANT, DB_POOL_MAX: '10', NODE_ENV: 'production' },
        port: rawPort,
        logFile: path.join(ctx.workDir, 'raw.log'),
      }),
      startChild({
        name: 'postgraphile',
        script: 'bench/postgraphile-server.ts',
        env: { DATABASE_URL: fixture.url, PORT: String(peerPort), NODE_ENV: 'production' },
        port: peerPort,
        logFile: path.join(ctx.workDir, 'postgraphile.log'),
      }),
    ]);
    started.push(noShield, raw, peer);

    const auth = authHeaders(fixture.many.key);
    const ours = (server: ChildServer, id: SystemId): System => ({
      id,
      server,
      requests: { list: graphqlPost(GRAPHQL_LIST, auth), get: graphqlPost(GRAPHQL_GET, auth, { id: getId }) },
    });
    const systems: System[] = [
      ours(ctx.gateway, 'graphql'),
      {
        id: 'rest',
        server: ctx.gateway,
        requests: {
          list: { method: 'GET', path: '/api/v1/segments?limit=20', headers: auth },
          get: { method: 'GET', path: `/api/v1/segments/${getId}`, headers: auth },
        },
      },
      // The REST route's own operations over GraphQL: the same whole segments, to tell the route's cost from the page's.
      {
        id: 'graphql-whole',
        server: ctx.gateway,
        requests: {
          list: graphqlPost(ListSegments.document.loc!.source.body, auth, { first: 20 }),
          get: graphqlPost(GetSegment.document.loc!.source.body, auth, { id: getId }),
        },
      },
      ours(noShield, 'graphql-no-shield'),
      {
        id: 'raw',
        server: raw,
        requests: {
          list: { method: 'GET', path: '/segments?limit=20' },
          get: { method: 'GET', path: `/segments/${getId}` },
        },
      },
      {
        id: 'postgraphile',
        server: peer,
        requests: { list: graphqlPost(PEER_LIST, {}), get: graphqlPost(PEER_GET, {}, { id: getId }) },
      },
    ];

    // Every system must answer the same rows, without errors, before it is timed.
    const expected: Record<string, string> = {};
    for (const read of ['list', 'get'] as const) {
      let reference: string[] | undefined;
      for (const system of systems) {
        const answer = await probe(system.server.url, system.requests[read]);
        if (answer.status !== 200 || answer.body.includes('"errors"')) {
          throw new Error(`${system.id} ${read} answered ${answer.status}: ${answer.body.slice(0, 400)}`);
        }
        const ids = idsIn(answer.body);
        reference ??= ids;
        if (ids.join() !== reference.join() || ids.length === 0) {
          throw new Error(`${system.id} ${read} lists other rows than graphql: ${ids.slice(0, 3).join()}...`);
        }
        expected[`${system.id}/${read}`] = answer.body;
      }
    }

    // A server just started is still compiling hot code and growing its heap: the first system
    // measured would pay for it. Every server gets an untimed load of its list first.
    for (const server of new Set(systems.map((s) => s.server))) {
      const system = systems.find((s) => s.server === server)!;
      await runLoad(server.url, system.requests.list, { connections: options.connections, seconds: 2 * options.warmupSeconds });
    }

    const measurements: ApiMeasurement[] = [];
    for (let turn = 1; turn <= options.rounds; turn++) {
      for (const read of ['list', 'get'] as const) {
        for (const system of systems) {
          const { url, pid } = system.server;
          let cpuMs: number | null = null;
          const load = async () => {
            if (options.warmupSeconds > 0) {
              await runLoad(url, system.requests[read], { connections: options.connections, seconds: options.warmupSeconds });
            }
            const before = await processCpuMs(pid);
            const measured = await runLoad(url, system.requests[read], {
              connections: options.connections,
              seconds: options.measureSeconds,
              expectBody: expected[`${system.id}/${read}`]!,
            });
            const after = await processCpuMs(pid);
            if (before !== null && after !== null) cpuMs = after - before;
            return measured;
          };
          let result: LoadResult;
          if (system.server === ctx.gateway) {
            const sampled = await sampleMemory(ctx.gateway.pid, load);
            noteRss(ctx, sampled.maxRssMb);
            result = sampled.value;
          } else {
            result = await load();
          }
          const cpuMsPerRequest = cpuMs === null || result.requests === 0 ? null : round(cpuMs / result.requests, 3);
          log(
            `  round ${turn} ${read.padEnd(4)} ${system.id.padEnd(17)} ${String(result.requestsPerSecond).padStart(8)} req/s  p50 ${result.p50} ms  p99 ${result.p99} ms  errors ${result.errors}  cpu ${cpuMsPerRequest} ms/req`,
          );
          measurements.push({ read, system: system.id, round: turn, ...result, cpuMsPerRequest });
        }
      }
    }
    const peakRssMb: Record<string, number | null> = {};
    for (const server of [ctx.gateway, noShield, raw, peer]) {
      const memory = await server.memory();
      peakRssMb[server.name] = memory ? round(memory.peakMb, 0) : null;
    }
    return {
      connections: options.connections,
      warmupSeconds: options.warmupSeconds,
      measureSeconds: options.measureSeconds,
      measurements,
      summaries: summarize(measurements),
      peakRssMb,
    };
  } finally {
    await stopAll(started);
  }
}

function summarize(measurements: ApiMeasurement[]): ApiSummary[] {
  const keys = [...new Set(measurements.map((m) => `${m.read}/${m.system}`))];
  return keys.map((key) => {
    const of = measurements.filter((m) => `${m.read}/${m.system}` === key);
    const first = of[0]!;
    return {
      read: first.read,
      system: first.system,
      requestsPerSecond: round(median(of.map((m) => m.requestsPerSecond)), 1),
      p50: round(median(of.map((m) => m.p50)), 2),
      p99: round(median(of.map((m) => m.p99)), 2),
      errors: of.reduce((sum, m) => sum + m.errors, 0),
      rounds: of.map((m) => m.requestsPerSecond),
      cpuMsPerRequest: of.some((m) => m.cpuMsPerRequest === null)
        ? null
        : round(median(of.map((m) => m.cpuMsPerRequest!)), 3),
    };
  });
}
