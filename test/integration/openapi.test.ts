import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/keys.js';
import { openApiDocument } from '../../src/rest/openapi.js';
import { createRestRouter } from '../../src/rest/router.js';
import { startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';

/*
 * The document cannot drift from the behaviour: it must list exactly the
 * router's routes, its examples must fit its schemas, and the real responses
 * of every route (and every error we can provoke) must validate against the
 * schema it documents for that route and status.
 */

type Json = Record<string, unknown>;
interface Doc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { responses: Record<string, ResponseObject>; schemas: Record<string, Json> };
}
interface Operation {
  requestBody?: { content: Record<string, { schema: Json; example?: unknown }> };
  responses: Record<string, ResponseObject | { $ref: string }>;
}
interface ResponseObject {
  content?: Record<string, { schema: Json; example?: unknown; examples?: Record<string, { value: unknown }> }>;
}

const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

let gw: TestGateway;
let keys: Record<Role, string>;
let doc: Doc;
let ajv: Ajv2020;
const validators = new Map<string, ValidateFunction>();
/** `METHOD template status` of every response seen, and of every request body the API accepted. */
const seen = new Set<string>();

/** A schema of the document, its `#/components/...` references made absolute so that it compiles on its own. */
function validatorFor(schema: Json): ValidateFunction {
  const text = JSON.stringify(schema).replaceAll('"#/components/', '"openapi.json#/components/');
  let validate = validators.get(text);
  if (!validate) {
    validate = ajv.compile(JSON.parse(text) as Json);
    validators.set(text, validate);
  }
  return validate;
}

function expectValid(schema: Json, value: unknown, what: string): void {
  const validate = validatorFor(schema);
  const ok = validate(value);
  expect(ok ? [] : validate.errors, `${what}: ${JSON.stringify(value).slice(0, 300)}`).toEqual([]);
}

function resolveResponse(response: ResponseObject | { $ref: string }): ResponseObject {
  if ('$ref' in response) {
    const name = response.$ref.replace('#/components/responses/', '');
    return doc.components.responses[name]!;
  }
  return response;
}

/** The document's path template of a concrete path; literal segments win over `{param}`. */
function templateOf(pathname: string): string | undefined {
  const parts = pathname.split('/');
  const matches = Object.keys(doc.paths).filter((template) => {
    const segments = template.split('/');
    return segments.length === parts.length && segments.every((s, i) => s.startsWith('{') || s === parts[i]);
  });
  const literals = (t: string) => t.split('/').filter((s) => !s.startsWith('{')).length;
  return matches.sort((a, b) => literals(b) - literals(a))[0];
}

/** One request, its response checked against the document. */
async function call<T = Json>(
  method: string,
  path: string,
  options: { key?: string | null; json?: unknown; body?: string; contentType?: string } = {},
): Promise<{ status: number; body: T }> {
  const key = options.key === undefined ? keys.admin : options.key;
  const contentType = options.contentType ?? (options.json !== undefined ? 'application/json' : undefined);
  const response = await fetch(`${gw.url}${path}`, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(contentType ? { 'content-type': contentType } : {}),
    },
    body: options.json !== undefined ? JSON.stringify(options.json) : options.body,
  });
  const text = await response.text();
  const body = (text ? JSON.parse(text) : undefined) as T;
  const pathname = new URL(path, gw.url).pathname;
  const template = templateOf(pathname);
  const operation = template ? doc.paths[template]![method.toLowerCase()] : undefined;
  const label = `${method} ${template ?? pathname} ${response.status}`;

  let documented: ResponseObject;
  if (!operation) {
    // No such route: the documented envelopes for an unknown path or method.
    expect([404, 405], label).toContain(response.status);
    documented = doc.components.responses[response.status === 404 ? 'NotFound' : 'MethodNotAllowed']!;
  } else {
    const declared = operation.responses[String(response.status)];
    expect(declared, `${label} is documented`).toBeDefined();
    documented = resolveResponse(declared!);
    if (options.json !== undefined && response.status < 300) {
      const requestSchema = operation.requestBody?.content['application/json']?.schema;
      expect(requestSchema, `${label} documents its JSON body`).toBeDefined();
      expectValid(requestSchema!, options.json, `request body of ${label}`);
    }
  }
  if (documented.content) {
    expect(response.headers.get('content-type'), label).toMatch(/^application\/json/);
    expectValid(documented.content['application/json']!.schema, body, label);
  } else {
    expect(text, `${label} has no body`).toBe('');
  }
  seen.add(label);
  return { status: response.status, body };
}

beforeAll(async () => {
  gw = await startTestGateway();
  keys = await gw.tenantWithKeys(uniqueTenant('openapi'));
  const served = await fetch(`${gw.url}/api/v1/openapi.json`);
  expect(served.status).toBe(200);
  doc = (await served.json()) as Doc;
  ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
  addFormats.default(ajv);
  for (const keyword of [
    'openapi',
    'jsonSchemaDialect',
    'info',
    'servers',
    'security',
    'tags',
    'paths',
    'components',
  ]) {
    ajv.addKeyword(keyword);
  }
  ajv.addSchema(doc as unknown as Json, 'openapi.json');
});
afterAll(() => gw.close());

describe('the OpenAPI document', () => {
  it('is served at /api/v1/openapi.json without a key, as OpenAPI 3.1', async () => {
    const response = await call<Doc>('GET', '/api/v1/openapi.json', { key: null });
    expect(response.status).toBe(200);
    expect(response.body.openapi).toBe('3.1.0');
    expect(response.body).toEqual(JSON.parse(JSON.stringify(openApiDocument)));
  });

  it('describes exactly the routes of the router', () => {
    const router = createRestRouter(gw.app.schema, gw.services);
    const routed = router.routes.map((r) => `${r.method} ${r.path}`).sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, item]) =>
        Object.keys(item)
          .filter((m) => METHODS.includes(m))
          .map((m) => `${m.toUpperCase()} ${path}`),
      )
      .sort();
    expect(documented).toEqual(routed);
  });

  it('every example fits the schema next to it', () => {
    let checked = 0;
    const check = (content: ResponseObject['content'], where: string) => {
      const json = content?.['application/json'];
      if (!json) return;
      if (json.example !== undefined) {
        expectValid(json.schema, json.example, `example of ${where}`);
        checked += 1;
      }
      for (const [name, example] of Object.entries(json.examples ?? {})) {
        expectValid(json.schema, example.value, `example ${name} of ${where}`);
        checked += 1;
      }
    };
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        check(operation.requestBody?.content, `${method} ${path} request`);
        for (const [status, response] of Object.entries(operation.responses)) {
          if (!('$ref' in response)) check(response.content, `${method} ${path} ${status}`);
        }
      }
    }
    for (const [name, response] of Object.entries(doc.components.responses)) check(response.content, name);
    expect(checked).toBeGreaterThan(25);
  });
});

describe('real responses of every route validate against the document', () => {
  it('segments, schemas, rows and the errors on the way', async () => {
    // Schemas
    const schema = await call<{ id: string }>('POST', '/api/v1/schemas', {
      json: {
        name: 'customers',
        displayName: 'Customers',
        fields: [
          { name: 'id', dataType: 'text', isPrimaryKey: true },
          { name: 'email', dataType: 'varchar', length: 200, isUnique: true },
          { name: 'lifetime_value', dataType: 'numeric', precision: 12, scale: 2 },
          { name: 'signed_up_at', dataType: 'timestamptz' },
        ],
      },
    });
    expect(schema.status).toBe(201);
    const schemaId = schema.body.id;
    expect((await call('POST', '/api/v1/schemas', { json: { name: 'Bad Name', fields: [] } })).status).toBe(400);
    expect(
      (
        await call('POST', '/api/v1/schemas', {
          json: { name: 'customers', fields: [{ name: 'id', dataType: 'text', isPrimaryKey: true }] },
        })
      ).status,
    ).toBe(409);
    expect((await call('POST', '/api/v1/schemas', { body: 'x', contentType: 'text/plain' })).status).toBe(415);
    expect((await call('GET', '/api/v1/schemas')).status).toBe(200);
    expect((await call('GET', '/api/v1/schemas?limit=500')).status).toBe(400);
    expect((await call('GET', `/api/v1/schemas/${schemaId}`)).status).toBe(200);
    expect((await call('GET', '/api/v1/schemas/sch_000000000000')).status).toBe(404);
    expect(
      (await call('PUT', '/api/v1/schemas', { json: { id: schemaId, description: 'Everyone who bought' } })).status,
    ).toBe(200);

    // Rows
    const rows = [
      { id: 'CUST001', email: 'john@example.com', lifetime_value: 15200.5, signed_up_at: '2025-06-01T12:00:00Z' },
      { id: 'CUST002', email: 'jane@example.com', lifetime_value: 800 },
      { id: 'CUST003', email: 'kim@example.com', lifetime_value: 12000 },
    ];
    expect((await call('POST', `/api/v1/schemas/${schemaId}/data`, { json: { rows } })).status).toBe(201);
    const csv = 'id,email,lifetime_value\nCUST004,lee@example.com,25000\n';
    expect(
      (await call('POST', `/api/v1/schemas/${schemaId}/data`, { body: csv, contentType: 'text/csv' })).status,
    ).toBe(201);
    expect(
      (await call('POST', `/api/v1/schemas/${schemaId}/data`, { json: { rows: [{ id: 'X', lifetime_value: 'no' }] } }))
        .status,
    ).toBe(400);
    expect(
      (await call('POST', `/api/v1/schemas/${schemaId}/data`, { body: 'x', contentType: 'text/plain' })).status,
    ).toBe(415);
    expect((await call('GET', `/api/v1/schemas/${schemaId}/data?limit=2&offset=1`)).status).toBe(200);
    expect((await call('GET', `/api/v1/schemas/${schemaId}/data?offset=-1`)).status).toBe(400);
    expect((await call('GET', '/api/v1/schemas/sch_000000000000/data')).status).toBe(404);

    // Segments: the reference page's example, then every route
    const created = await call<{ id: string }>('POST', '/api/v1/segments', {
      json: {
        name: 'high_value_customers',
        baseSchemaId: schemaId,
        description: 'Customers with lifetime value > $10,000',
        status: 'active',
        filters: [{ field: 'lifetime_value', operator: '>', value: 10000 }],
      },
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const other = await call<{ id: string }>('POST', '/api/v1/segments', {
      json: {
        name: 'recent_or_big',
        baseSchemaId: schemaId,
        filters: [
          {
            any: [
              { field: 'signed_up_at', operator: 'within_last', value: { amount: 3, unit: 'months' } },
              { field: 'lifetime_value', operator: 'between', value: [10000, 20000] },
            ],
          },
        ],
      },
    });
    expect(other.status).toBe(201);
    expect(
      (await call('POST', '/api/v1/segments', { json: { name: 'high_value_customers', baseSchemaId: schemaId } }))
        .status,
    ).toBe(409);
    expect(
      (await call('POST', '/api/v1/segments', { json: { name: 'x', baseSchemaId: schemaId, status: 'bogus' } })).status,
    ).toBe(400);
    expect((await call('POST', '/api/v1/segments', { body: '{', contentType: 'application/json' })).status).toBe(400);
    expect((await call('POST', '/api/v1/segments', { body: 'x', contentType: 'text/csv' })).status).toBe(415);
    const big = JSON.stringify({ name: 'big', baseSchemaId: schemaId, description: 'x'.repeat(1024 * 1024) });
    expect((await call('POST', '/api/v1/segments', { body: big, contentType: 'application/json' })).status).toBe(413);
    expect(
      (await call('POST', '/api/v1/segments', { key: keys.viewer, json: { name: 'v', baseSchemaId: schemaId } }))
        .status,
    ).toBe(403);

    const firstPage = await call<{ pagination: { cursor: string } }>('GET', '/api/v1/segments?limit=1');
    expect(firstPage.status).toBe(200);
    expect(firstPage.body.pagination.cursor).toEqual(expect.any(String));
    expect(
      (
        await call(
          'GET',
          `/api/v1/segments?limit=1&cursor=${firstPage.body.pagination.cursor}&status=active&search=high`,
        )
      ).status,
    ).toBe(200);
    expect((await call('GET', '/api/v1/segments?cursor=nope')).status).toBe(400);
    expect((await call('GET', '/api/v1/segments', { key: null })).status).toBe(401);
    expect((await call('GET', `/api/v1/segments/${id}`, { key: keys.viewer })).status).toBe(200);
    expect((await call('GET', '/api/v1/segments/seg_000000000000')).status).toBe(404);
    expect((await call('PUT', '/api/v1/segments', { json: { id, version: 1, status: 'paused' } })).status).toBe(200);
    expect((await call('PUT', '/api/v1/segments', { json: { id, version: 1, status: 'active' } })).status).toBe(409);
    expect((await call('PUT', '/api/v1/segments', { json: { id: 'seg_000000000000', name: 'x' } })).status).toBe(404);
    expect((await call('POST', `/api/v1/segments/${id}?action=refresh`)).status).toBe(200);
    expect((await call('POST', `/api/v1/segments/${id}?action=preview`)).status).toBe(200);
    expect((await call('POST', `/api/v1/segments/${id}?action=explode`)).status).toBe(400);
    expect((await call('POST', '/api/v1/segments/seg_000000000000?action=refresh')).status).toBe(404);
    expect((await call('POST', '/api/v1/segments/overlap', { json: { segmentIds: [id, other.body.id] } })).status).toBe(
      200,
    );
    expect((await call('POST', '/api/v1/segments/overlap', { json: { segmentIds: [id] } })).status).toBe(400);
    expect(
      (await call('POST', '/api/v1/segments/overlap', { json: { segmentIds: [id, 'seg_000000000000'] } })).status,
    ).toBe(404);

    // Routing
    expect((await call('PATCH', '/api/v1/segments', { json: {} })).status).toBe(405);
    expect((await call('GET', '/api/v1/segments/overlap')).status).toBe(405);
    expect((await call('GET', '/api/v1/everything')).status).toBe(404);

    // Deleting
    expect((await call('DELETE', `/api/v1/schemas?id=${schemaId}`)).status).toBe(409);
    expect((await call('DELETE', `/api/v1/segments?id=${id}`)).status).toBe(204);
    expect((await call('DELETE', `/api/v1/segments?id=${other.body.id}`)).status).toBe(204);
    expect((await call('DELETE', `/api/v1/segments?id=${id}`)).status).toBe(404);
    expect((await call('DELETE', '/api/v1/segments')).status).toBe(400);
    expect((await call('DELETE', `/api/v1/schemas?id=${schemaId}`)).status).toBe(204);
    expect((await call('DELETE', `/api/v1/schemas?id=${schemaId}`)).status).toBe(404);

    // An unexpected failure: a table dropped behind the API's back
    const fragile = await call<{ id: string; tableName: string; tenantId: string }>('POST', '/api/v1/schemas', {
      json: { name: 'fragile', fields: [{ name: 'id', dataType: 'text', isPrimaryKey: true }] },
    });
    await gw.services.database.db.none('DROP TABLE $1:name.$2:name', [
      `t_${fragile.body.tenantId.replaceAll('-', '_')}`,
      fragile.body.tableName,
    ]);
    expect((await call('GET', `/api/v1/schemas/${fragile.body.id}/data`)).status).toBe(500);
  });

  it('covered every route, its success statuses, and each error status', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        for (const status of Object.keys(operation.responses).filter((s) => s.startsWith('2'))) {
          expect(seen, `${method.toUpperCase()} ${path} ${status} was exercised`).toContain(
            `${method.toUpperCase()} ${path} ${status}`,
          );
        }
      }
    }
    const statuses = new Set([...seen].map((label) => label.split(' ').pop()));
    for (const status of ['400', '401', '403', '404', '405', '409', '413', '415', '500']) {
      expect(statuses, `a ${status} was validated`).toContain(status);
    }
  });
});
