import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GraphQLSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/keys.js';
import { createRestRouter } from '../../src/rest/router.js';
import { builder } from '../../src/schema/builder.js';
import { canRead, isAdmin } from '../../src/schema/rules.js';
import type { ShieldRule } from '../../src/schema/shield-plugin.js';
import { startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { TcpProxy } from '../support/proxy.js';
import { restCall, type RestResponse } from '../support/rest.js';

interface ErrorBody {
  error: { code: string; message: string; status: number; details?: Array<{ path: string; message: string }> };
}

let gw: TestGateway;
let keys: Record<Role, string>;
let tenant: string;
let schemaId: string;

function rest<T = ErrorBody>(
  method: string,
  path: string,
  options: { key?: string | null; json?: unknown; body?: string; headers?: Record<string, string>; base?: string } = {},
): Promise<RestResponse<T>> {
  return restCall<T>(options.base ?? gw.url, options.key === undefined ? keys.admin : options.key, method, path, options);
}

/** The envelope, exactly: `{"error":{"code","message","status","details"?}}` and nothing else. */
function expectEnvelope(
  response: { status: number; body: unknown; headers: Headers },
  status: number,
  code: string,
): ErrorBody['error'] {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(response.headers.get('x-request-id')).toBeTruthy();
  const body = response.body as ErrorBody;
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).filter((k) => k !== 'details')).toEqual(['code', 'message', 'status']);
  expect(body.error.code).toBe(code);
  expect(body.error.status).toBe(status);
  expect(typeof body.error.message).toBe('string');
  return body.error;
}

/** Sends only the headers of a POST that declares `length` bytes, and reads the answer. */
function declaredPost(
  path: string,
  contentType: string,
  length: number,
): Promise<{ status: number; body: ErrorBody; connection?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${gw.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.admin}`, 'content-type': contentType, 'content-length': String(length) },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(text) as ErrorBody,
          connection: res.headers.connection,
        });
        req.destroy();
      });
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

beforeAll(async () => {
  gw = await startTestGateway();
  tenant = uniqueTenant('rest-err');
  keys = await gw.tenantWithKeys(tenant);
  const schema = await rest<{ id: string }>('POST', '/api/v1/schemas', {
    json: {
      name: 'customers',
      fields: [
        { name: 'id', dataType: 'text', isPrimaryKey: true },
        { name: 'lifetime_value', dataType: 'numeric' },
      ],
    },
  });
  schemaId = schema.body.id;
});
afterAll(() => gw.close());

describe('401 UNAUTHENTICATED', () => {
  it('no key, or a key that is not one', async () => {
    expectEnvelope(await rest('GET', '/api/v1/segments', { key: null }), 401, 'UNAUTHENTICATED');
    expectEnvelope(await rest('GET', '/api/v1/segments', { key: `sgk_${'x'.repeat(43)}` }), 401, 'UNAUTHENTICATED');
    expectEnvelope(
      await rest('POST', `/api/v1/schemas/${schemaId}/data`, {
        key: null,
        body: 'id\n1\n',
        headers: { 'content-type': 'text/csv' },
      }),
      401,
      'UNAUTHENTICATED',
    );
  });

  it('X-API-Key works as well as a Bearer token', async () => {
    expect((await rest('GET', '/api/v1/segments', { key: null, headers: { 'x-api-key': keys.viewer } })).status).toBe(
      200,
    );
  });
});

describe('403 FORBIDDEN', () => {
  it("an X-Tenant-Id that is not the key's tenant", async () => {
    expectEnvelope(
      await rest('GET', '/api/v1/segments', { headers: { 'x-tenant-id': 'someone-else' } }),
      403,
      'FORBIDDEN',
    );
    expect((await rest('GET', '/api/v1/segments', { headers: { 'x-tenant-id': tenant } })).status).toBe(200);
  });

  it('a role the rule refuses', async () => {
    const refused = await rest('POST', '/api/v1/segments', {
      key: keys.viewer,
      json: { name: 'x', baseSchemaId: schemaId },
    });
    expectEnvelope(refused, 403, 'FORBIDDEN');
  });
});

describe('400 hints', () => {
  it('"Did you mean" hints are for admins only, as on /graphql', async () => {
    const body = { json: { name: 'x', baseSchemaId: schemaId, status: 'activ' } };
    const asAdmin = expectEnvelope(await rest('POST', '/api/v1/segments', { ...body, key: keys.admin }), 400, 'BAD_REQUEST');
    const asEditor = expectEnvelope(await rest('POST', '/api/v1/segments', { ...body, key: keys.editor }), 400, 'BAD_REQUEST');
    expect(asAdmin.details?.[0]?.path).toBe('status');
    expect(asEditor.details?.[0]?.path).toBe('status');
    expect(JSON.stringify(asAdmin)).toMatch(/Did you mean/);
    expect(JSON.stringify(asEditor)).not.toMatch(/Did you mean/);
  });
});

describe('404 NOT_FOUND', () => {
  it('unknown routes, in the same envelope', async () => {
    for (const path of ['/api/v1', '/api/v1/nothing', '/api/v1/segments/a/b', '/api/v2/segments']) {
      const response = await rest('GET', path, { key: null });
      expectEnvelope(response, 404, 'NOT_FOUND');
    }
  });

  it('a segment or schema that does not exist', async () => {
    const error = expectEnvelope(await rest('GET', '/api/v1/segments/seg_000000000000'), 404, 'NOT_FOUND');
    expect(error.message).toContain('seg_000000000000');
    expectEnvelope(await rest('GET', '/api/v1/schemas/sch_000000000000'), 404, 'NOT_FOUND');
    expectEnvelope(await rest('DELETE', '/api/v1/segments?id=seg_000000000000'), 404, 'NOT_FOUND');
  });
});

describe('405 with Allow', () => {
  it('a method a route does not have', async () => {
    const patch = await rest('PATCH', '/api/v1/segments', { json: {} });
    expectEnvelope(patch, 405, 'METHOD_NOT_ALLOWED');
    expect(patch.headers.get('allow')).toBe('GET, POST, PUT, DELETE');
    const overlap = await rest('GET', '/api/v1/segments/overlap');
    expectEnvelope(overlap, 405, 'METHOD_NOT_ALLOWED');
    expect(overlap.headers.get('allow')).toBe('POST');
    const one = await rest('DELETE', '/api/v1/segments/seg_000000000000');
    expect(one.headers.get('allow')).toBe('GET, POST');
    const doc = await rest('POST', '/api/v1/openapi.json', { key: null });
    expectEnvelope(doc, 405, 'METHOD_NOT_ALLOWED');
    expect(doc.headers.get('allow')).toBe('GET');
  });
});

describe('409 CONFLICT', () => {
  it('a second segment of the same name', async () => {
    const body = { name: 'unique_name', baseSchemaId: schemaId };
    expect((await rest('POST', '/api/v1/segments', { json: body })).status).toBe(201);
    const error = expectEnvelope(await rest('POST', '/api/v1/segments', { json: body }), 409, 'CONFLICT');
    expect(error.message).toContain('unique_name');
  });
});

describe('413 PAYLOAD_TOO_LARGE', () => {
  it('a JSON body over 1 MiB on a segment route', async () => {
    const body = JSON.stringify({ name: 'big', baseSchemaId: schemaId, description: 'x'.repeat(1024 * 1024) });
    const response = await rest('POST', '/api/v1/segments', { body, headers: { 'content-type': 'application/json' } });
    expectEnvelope(response, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('a body streamed without a length is cut off at the limit too', async () => {
    const chunk = new TextEncoder().encode(`{"name":"big","description":"${'x'.repeat(256 * 1024)}`);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 6) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const response = await fetch(`${gw.url}/api/v1/segments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.admin}`, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expectEnvelope(
      { status: response.status, headers: response.headers, body: await response.json() },
      413,
      'PAYLOAD_TOO_LARGE',
    );
  });

  it('the data route allows 64 MiB of JSON: a declared larger body is refused before it is read', async () => {
    const over = await declaredPost(`/api/v1/schemas/${schemaId}/data`, 'application/json', 64 * 1024 * 1024 + 1);
    expect(over.status).toBe(413);
    expect(over.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413 });
    expect(over.connection).toBe('close');
    const segments = await declaredPost('/api/v1/segments', 'application/json', 1024 * 1024 + 1);
    expect(segments.status).toBe(413);
  });
});

describe('415 UNSUPPORTED_MEDIA_TYPE', () => {
  it('a body that is not JSON (or, on the data route, CSV)', async () => {
    const plain = await rest('POST', '/api/v1/segments', {
      body: 'name=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectEnvelope(plain, 415, 'UNSUPPORTED_MEDIA_TYPE');
    const csv = await rest('PUT', '/api/v1/segments', { body: 'id\nx\n', headers: { 'content-type': 'text/csv' } });
    expectEnvelope(csv, 415, 'UNSUPPORTED_MEDIA_TYPE');
    const gzip = await rest('POST', '/api/v1/segments', {
      body: '{}',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    expectEnvelope(gzip, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('400 BAD_REQUEST', () => {
  it('malformed JSON', async () => {
    const response = await rest('POST', '/api/v1/segments', {
      body: '{"name": "x",',
      headers: { 'content-type': 'application/json' },
    });
    const error = expectEnvelope(response, 400, 'BAD_REQUEST');
    expect(error.message).toMatch(/not valid JSON/);
    expect(error.details).toBeUndefined();
  });

  it('JSON that is not an object, or no body at all', async () => {
    expectEnvelope(await rest('POST', '/api/v1/segments', { json: [{ name: 'x' }] }), 400, 'BAD_REQUEST');
    expectEnvelope(
      await rest('POST', '/api/v1/segments', { body: '', headers: { 'content-type': 'application/json' } }),
      400,
      'BAD_REQUEST',
    );
  });

  it('a value GraphQL cannot coerce ($input.status) is a detail at `status`', async () => {
    const response = await rest('POST', '/api/v1/segments', {
      json: { name: 'x', baseSchemaId: schemaId, status: 'bogus' },
    });
    const error = expectEnvelope(response, 400, 'BAD_REQUEST');
    expect(error.details?.[0]?.path).toBe('status');
    expect(error.message).toMatch(/^status: /);
    expect(error.message).not.toMatch(/\$input/);
  });

  it('missing, mistyped and unknown body fields are details at their paths', async () => {
    const response = await rest('POST', '/api/v1/segments', { json: { description: 7, filter: [] } });
    const error = expectEnvelope(response, 400, 'BAD_REQUEST');
    const byPath = Object.fromEntries((error.details ?? []).map((d) => [d.path, d.message]));
    expect(Object.keys(byPath).sort()).toEqual(['baseSchemaId', 'description', 'filter', 'name']);
    expect(byPath.name).toBe('is required');
    expect(byPath.filter).toMatch(/not a known field.*filters/);
    const put = await rest('PUT', '/api/v1/segments', { json: { name: 'no id' } });
    expect(expectEnvelope(put, 400, 'BAD_REQUEST').details?.[0]?.path).toBe('id');
  });

  it('a definition the domain refuses keeps its path, e.g. filters[0].value', async () => {
    const response = await rest('POST', '/api/v1/segments', {
      json: {
        name: 'bad_filter',
        baseSchemaId: schemaId,
        filters: [{ field: 'lifetime_value', operator: '>', value: 'lots' }],
      },
    });
    const error = expectEnvelope(response, 400, 'BAD_REQUEST');
    expect(error.details?.[0]?.path).toBe('filters[0].value');
  });

  it('limit out of range, a malformed cursor, a missing action or id', async () => {
    for (const limit of ['0', '101', '-1', 'ten', '1e2']) {
      const error = expectEnvelope(await rest('GET', `/api/v1/segments?limit=${limit}`), 400, 'BAD_REQUEST');
      expect(error.details?.[0]?.path).toBe('limit');
    }
    const cursor = expectEnvelope(await rest('GET', '/api/v1/segments?cursor=not-a-cursor'), 400, 'BAD_REQUEST');
    expect(cursor.details?.[0]?.path).toBe('cursor');
    const status = expectEnvelope(await rest('GET', '/api/v1/segments?status=gone'), 400, 'BAD_REQUEST');
    expect(status.details?.[0]?.path).toBe('status');
    const action = expectEnvelope(await rest('POST', '/api/v1/segments/seg_000000000000'), 400, 'BAD_REQUEST');
    expect(action.details?.[0]?.path).toBe('action');
    const id = expectEnvelope(await rest('DELETE', '/api/v1/segments'), 400, 'BAD_REQUEST');
    expect(id.details?.[0]?.path).toBe('id');
    const overlap = expectEnvelope(
      await rest('POST', '/api/v1/segments/overlap', { json: { ids: [] } }),
      400,
      'BAD_REQUEST',
    );
    expect(overlap.details?.map((d) => d.path)).toEqual(['ids']);
  });
});

describe('500 INTERNAL', () => {
  it('an unexpected database error says nothing of SQL or code', async () => {
    const namespace = `t_${tenant.replaceAll('-', '_')}`;
    const side = await rest<{ id: string }>('POST', '/api/v1/schemas', {
      json: { name: 'fragile', fields: [{ name: 'id', dataType: 'text', isPrimaryKey: true }] },
    });
    // Behind the API's back: the metadata now names a table that is gone.
    await gw.services.database.db.none('DROP TABLE $1:name.$2:name', [namespace, 'ds_fragile']);
    const response = await rest('GET', `/api/v1/schemas/${side.body.id}/data`);
    const error = expectEnvelope(response, 500, 'INTERNAL');
    expect(error.message).toBe('Unexpected error.');
    expect(response.text).not.toMatch(/ds_fragile|relation|SELECT|at .*\.ts|\n/i);
  });
});

const server = process.env.TEST_DATABASE_URL;
describe.skipIf(!server)('503 SERVICE_UNAVAILABLE', () => {
  let proxied: TestGateway;
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxy = TcpProxy.forUrl(server!);
    await proxy.start();
    proxied = await startTestGateway({ databaseUrl: (url) => proxy.wrap(url), env: { AUTH_CACHE_TTL_MS: '60000' } });
  });
  afterAll(async () => {
    await proxied.close();
    await proxy.stop();
  });

  it('the database away is 503, and the API answers again when it is back', async () => {
    const { admin } = await proxied.tenantWithKeys(uniqueTenant('rest-503'), ['admin']);
    expect((await rest('GET', '/api/v1/segments', { key: admin, base: proxied.url })).status).toBe(200);
    await proxy.stop();
    expectEnvelope(
      await rest('GET', '/api/v1/segments', { key: admin, base: proxied.url }),
      503,
      'SERVICE_UNAVAILABLE',
    );
    await proxy.start();
    expect((await rest('GET', '/api/v1/segments', { key: admin, base: proxied.url })).status).toBe(200);
  });
});

describe('one set of rules: the REST answer follows the rule in the schema', () => {
  /**
   * Changes the shield rule a field declares (the option the shield plugin
   * reads), builds a schema from the same builder, and serves the REST router
   * over it. The router holds no role of its own, so its answers change.
   */
  async function withRules(
    changes: Array<[type: 'Query' | 'Mutation', field: string, rule: ShieldRule]>,
    run: (base: string) => Promise<void>,
  ): Promise<void> {
    const schema: GraphQLSchema = gw.app.schema;
    const restore: Array<() => void> = [];
    let router: ReturnType<typeof createRestRouter>;
    try {
      for (const [typeName, fieldName, rule] of changes) {
        const type = typeName === 'Query' ? schema.getQueryType() : schema.getMutationType();
        const options = type!.getFields()[fieldName]!.extensions.pothosOptions as { shield: ShieldRule };
        const original = options.shield;
        options.shield = rule;
        restore.push(() => (options.shield = original));
      }
      router = createRestRouter(builder.toSchema(), gw.services);
    } finally {
      for (const undo of restore) undo();
    }
    const httpServer: Server = createServer((req, res) => {
      res.setHeader('x-request-id', 'rule-test');
      void router.handle(req, res, 'rule-test');
    });
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    try {
      await run(`http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`);
    } finally {
      await new Promise((resolve) => httpServer.close(resolve));
    }
  }

  it('tightened: listing segments for admins only refuses editors and viewers', async () => {
    expect((await rest('GET', '/api/v1/segments', { key: keys.viewer })).status).toBe(200);
    await withRules([['Query', 'segments', isAdmin]], async (base) => {
      expectEnvelope(await rest('GET', '/api/v1/segments', { key: keys.viewer, base }), 403, 'FORBIDDEN');
      expectEnvelope(await rest('GET', '/api/v1/segments', { key: keys.editor, base }), 403, 'FORBIDDEN');
      expect((await rest('GET', '/api/v1/segments', { key: keys.admin, base })).status).toBe(200);
    });
    // The gateway's own schema is unchanged.
    expect((await rest('GET', '/api/v1/segments', { key: keys.viewer })).status).toBe(200);
  });

  it('loosened: viewers may create segments and load CSV rows; the streamed routes follow their field rules', async () => {
    const csv = { key: keys.viewer, body: 'id,lifetime_value\nV1,5\n', headers: { 'content-type': 'text/csv' } };
    expect((await rest('POST', `/api/v1/schemas/${schemaId}/data`, csv)).status).toBe(403);
    await withRules(
      [
        ['Mutation', 'createSegment', canRead],
        ['Mutation', 'loadRows', canRead],
        ['Query', 'baseSchema', isAdmin],
      ],
      async (base) => {
        const created = await rest('POST', '/api/v1/segments', {
          key: keys.viewer,
          json: { name: 'by_viewer', baseSchemaId: schemaId },
          base,
        });
        expect(created.status).toBe(201);
        const loaded = await rest('POST', `/api/v1/schemas/${schemaId}/data`, { ...csv, base });
        expect(loaded.status).toBe(201);
        expect(loaded.body).toMatchObject({ inserted: 1 });
        expectEnvelope(
          await rest('GET', `/api/v1/schemas/${schemaId}/data`, { key: keys.editor, base }),
          403,
          'FORBIDDEN',
        );
      },
    );
    expect((await rest('GET', `/api/v1/schemas/${schemaId}/data`, { key: keys.editor })).status).toBe(200);
  });
});
