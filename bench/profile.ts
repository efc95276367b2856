/**
 * Where the gateway's CPU goes under one read: starts it with `node
 * --cpu-prof` on the seeded bench database (run `npm run bench` once first),
 * drives the read with autocannon, stops it, and prints self time by package
 * and by function.
 *
 *   tsx bench/profile.ts [--read list|rest-list|get|graphql-get|json-load] [--seconds 10] [--no-shield] [--keep]
 *   tsx bench/profile.ts --cold-start     the embedded database's first start and restart, to /readyz
 *
 * `json-load` posts batches of 10,000 JSON rows (one client) to a scratch
 * schema of the big tenant instead of a load of reads.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { authHeaders } from './context.js';
import { MANY_TENANT, prepareFixture, type Fixture } from './fixtures.js';
import { runLoad, type LoadRequest } from './load.js';
import { readOptions } from './options.js';
import { freePort } from './processes.js';
import { gatewayEnv, startGatewayWithoutShield, startNpmStartChild } from './servers.js';
import { summarizeProfile, type CpuProfile } from './profile-summary.js';
import { log } from './util.js';
import { DEMO_CUSTOMER_FIELDS } from '../src/domain/schemas/service.js';

/** `npm start` without DATABASE_URL, profiled from spawn to the first 200 of /readyz: first start, then restart. */
async function profileColdStart(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'segment-gateway-profile-'));
  try {
    for (const round of ['first start', 'restart']) {
      const profiles = path.join(dir, round.replace(' ', '-'));
      const port = await freePort();
      const server = await startNpmStartChild({
        name: 'embedded',
        env: { DATA_DIR: path.join(dir, 'data'), PORT: String(port), LOG_LEVEL: 'warn', HOST: '127.0.0.1' },
        port,
        nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profiles}`],
        logFile: path.join(dir, 'embedded.log'),
      });
      log(`${round}: ready in ${Math.round(server.readyMs)} ms (profiling slows it)`);
      await server.stop();
      const file = (await readdir(profiles)).find((f) => f.endsWith('.cpuprofile'))!;
      process.stdout.write(`\n== ${round}\n${summarizeProfile(JSON.parse(await readFile(path.join(profiles, file), 'utf8')) as CpuProfile, 15)}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--cold-start')) return profileColdStart();
  const arg = (name: string, fallback: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1]! : fallback;
  };
  const options = readOptions(['--reuse'], process.env);
  const fixture = await prepareFixture(options);
  const dir = await mkdtemp(path.join(tmpdir(), 'segment-gateway-profile-'));
  try {
    const port = await freePort();
    const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
    const gateway = argv.includes('--no-shield')
      ? await startGatewayWithoutShield({ fixture, workDir: dir }, port, nodeArgs)
      : await startNpmStartChild({
          name: 'gateway',
          env: gatewayEnv({ fixture }, port),
          port,
          nodeArgs,
          logFile: path.join(dir, 'gateway.log'),
        });
    const id = (
      await fixture.database.db.one<{ id: string }>(
        'SELECT id FROM segments WHERE tenant_id = $1 ORDER BY created_at, id OFFSET 10 LIMIT 1',
        [MANY_TENANT],
      )
    ).id;
    const auth = authHeaders(fixture.many.key);
    const reads: Record<string, LoadRequest> = {
      list: {
        method: 'POST',
        path: '/graphql',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ segments(first: 20) { edges { node { id name customerCount baseSchema { name } } } } }' }),
      },
      'rest-list': { method: 'GET', path: '/api/v1/segments?limit=20', headers: auth },
      get: { method: 'GET', path: `/api/v1/segments/${id}`, headers: auth },
      'graphql-get': {
        method: 'POST',
        path: '/graphql',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ query: `{ segment(id: "${id}") { id name customerCount baseSchema { name } } }` }),
      },
    };
    const seconds = Number(arg('seconds', '10'));
    if (arg('read', 'list') === 'json-load') {
      await profileJsonLoad(gateway.url, fixture, seconds);
    } else {
      const read = reads[arg('read', 'list')];
      if (!read) throw new Error(`--read is one of ${Object.keys(reads).join(', ')}, json-load`);
      await runLoad(gateway.url, read, { connections: 32, seconds: 3 });
      const result = await runLoad(gateway.url, read, { connections: 32, seconds });
      log(`${result.requestsPerSecond} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, errors ${result.errors} (profiling slows it)`);
    }
    await gateway.stop();
    const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no profile was written');
    process.stdout.write(summarizeProfile(JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile));
    if (argv.includes('--keep')) log(`profile kept in ${path.join(dir, file)}`);
  } finally {
    await fixture.database.close();
    if (!argv.includes('--keep')) await rm(dir, { recursive: true, force: true });
  }
}

/** Sequential batches of 10,000 JSON rows into an empty scratch copy of the customers table. */
async function profileJsonLoad(url: string, fixture: Fixture, seconds: number): Promise<void> {
  const { big } = fixture;
  const headers = authHeaders(big.key, true);
  const columns = 'id, email, first_name, country, city, lifetime_value, signup_at, vip, age, plan';
  const created = await fetch(`${url}/api/v1/schemas`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      name: 'profile_load',
      entityType: 'customer',
      fields: DEMO_CUSTOMER_FIELDS,
    }),
  });
  const schema = (await created.json()) as { id: string };
  try {
    const deadline = Date.now() + seconds * 1000;
    let rows = 0;
    const started = performance.now();
    for (let batch = 0; Date.now() < deadline; batch++) {
      const body = await fixture.database.db.one<{ rows: string }>(
        `SELECT json_agg(c ORDER BY c.id)::text AS rows FROM (
           SELECT ${columns} FROM $1:name.$2:name ORDER BY id OFFSET $3 LIMIT 10000) c`,
        [big.tenant.namespace, big.customersTable, batch * 10_000],
      );
      const response = await fetch(`${url}/api/v1/schemas/${schema.id}/data`, {
        method: 'POST',
        headers,
        body: `{"rows":${body.rows}}`,
      });
      if (response.status !== 201) throw new Error(await response.text());
      rows += 10_000;
    }
    log(`${Math.round((rows / (performance.now() - started)) * 1000)} rows/s (reading the rows included; profiling slows it)`);
  } finally {
    await fetch(`${url}/api/v1/schemas?id=${schema.id}`, { method: 'DELETE', headers });
  }
}

await main();
