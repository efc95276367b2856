import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/keys.js';
import { startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { restCall, type RestResponse } from '../support/rest.js';

interface BaseSchema {
  id: string;
  name: string;
  tableName: string;
  fields: Array<{ name: string; dataType: string; [key: string]: unknown }>;
  [key: string]: unknown;
}
interface ErrorBody {
  error: { code: string; message: string; status: number; details?: Array<{ path: string; message: string }> };
}

let gw: TestGateway;
let keys: Record<Role, string>;

function rest<T = Record<string, unknown>>(
  method: string,
  path: string,
  options: { key?: string | null; json?: unknown; body?: string; headers?: Record<string, string> } = {},
): Promise<RestResponse<T>> {
  return restCall<T>(gw.url, options.key === undefined ? keys.admin : options.key, method, path, options);
}

const csv = (key: string | null, body: string) => ({
  key,
  body,
  headers: { 'content-type': 'text/csv; charset=utf-8' },
});

const SCHEMA_FIELDS = [
  'id',
  'tenantId',
  'name',
  'displayName',
  'description',
  'entityType',
  'tableName',
  'fields',
  'createdAt',
  'updatedAt',
];

let people: BaseSchema;

beforeAll(async () => {
  gw = await startTestGateway();
  keys = await gw.tenantWithKeys(uniqueTenant('rest-sch'));
});
afterAll(() => gw.close());

describe('base schemas', () => {
  it('POST /api/v1/schemas creates the schema and its table: 201 with the schema', async () => {
    const response = await rest<BaseSchema>('POST', '/api/v1/schemas', {
      key: keys.editor,
      json: {
        name: 'people',
        displayName: 'People',
        fields: [
          { name: 'id', dataType: 'bigint', isPrimaryKey: true },
          { name: 'email', dataType: 'varchar', length: 120, isUnique: true },
          { name: 'score', dataType: 'numeric', precision: 8, scale: 2 },
          { name: 'joined_at', dataType: 'timestamptz' },
        ],
      },
    });
    expect(response.status).toBe(201);
    people = response.body;
    expect(Object.keys(people)).toEqual(SCHEMA_FIELDS);
    expect(people).toMatchObject({
      name: 'people',
      displayName: 'People',
      entityType: 'customer',
      tableName: 'ds_people',
    });
    expect(people.id).toMatch(/^sch_[0-9a-f]{12}$/);
    expect(people.fields.map((f) => [f.name, f.dataType, f.isPrimaryKey])).toEqual([
      ['id', 'bigint', true],
      ['email', 'varchar', false],
      ['score', 'numeric', false],
      ['joined_at', 'timestamptz', false],
    ]);
    expect(people.fields[1]).toMatchObject({ length: 120, isUnique: true, isNullable: true });
  });

  it('GET /api/v1/schemas lists them in the pagination envelope; GET /{id} is one', async () => {
    const list = await rest<{ data: BaseSchema[]; pagination: unknown }>('GET', '/api/v1/schemas', {
      key: keys.viewer,
    });
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ data: [people], pagination: { total: 1, hasMore: false, limit: 20, cursor: null } });
    const one = await rest<BaseSchema>('GET', `/api/v1/schemas/${people.id}`, { key: keys.viewer });
    expect(one.status).toBe(200);
    expect(one.body).toEqual(people);
    expect((await rest('GET', '/api/v1/schemas/sch_000000000000')).status).toBe(404);
  });

  it('PUT /api/v1/schemas (id in the body) changes the schema: a field added', async () => {
    const response = await rest<BaseSchema>('PUT', '/api/v1/schemas', {
      json: {
        id: people.id,
        description: 'Everyone',
        fields: [
          ...people.fields.map(({ name, dataType, length, precision, scale, isPrimaryKey, isUnique }) => ({
            name,
            dataType,
            length,
            precision,
            scale,
            isPrimaryKey,
            isUnique,
          })),
          { name: 'plan', dataType: 'text' },
        ],
      },
    });
    expect(response.status).toBe(200);
    expect(response.body.description).toBe('Everyone');
    expect(response.body.fields.map((f) => f.name)).toEqual(['id', 'email', 'score', 'joined_at', 'plan']);
    people = response.body;
  });

  it('a bad field type is a 400 whose detail names the field', async () => {
    const response = await rest<ErrorBody>('POST', '/api/v1/schemas', {
      json: {
        name: 'broken',
        fields: [
          { name: 'id', dataType: 'bigint', isPrimaryKey: true },
          { name: 'x', dataType: 'money' },
        ],
      },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('BAD_REQUEST');
    expect(response.body.error.details?.[0]?.path).toBe('fields[1].dataType');
  });

  it('a duplicate name is 409', async () => {
    const response = await rest<ErrorBody>('POST', '/api/v1/schemas', {
      json: { name: 'people', fields: [{ name: 'id', dataType: 'bigint', isPrimaryKey: true }] },
    });
    expect(response.status).toBe(409);
    expect(response.body.error.code).toBe('CONFLICT');
  });
});

describe('rows', () => {
  it('POST /{id}/data with JSON rows is 201 {inserted, tableName}; rows whose key exists are skipped', async () => {
    const rows = [
      { id: 1, email: 'ann@example.com', score: 10.5, joined_at: '2026-01-02T03:04:05Z' },
      { id: 2, email: 'bob@example.com', score: 20 },
    ];
    const first = await rest('POST', `/api/v1/schemas/${people.id}/data`, { key: keys.editor, json: { rows } });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ inserted: 2, tableName: 'ds_people' });
    const again = await rest('POST', `/api/v1/schemas/${people.id}/data`, { json: { rows: [...rows, { id: 3 }] } });
    expect(again.body).toEqual({ inserted: 1, tableName: 'ds_people' });
  });

  it('POST /{id}/data with text/csv streams the rows in: 201', async () => {
    const response = await rest(
      'POST',
      `/api/v1/schemas/${people.id}/data`,
      csv(keys.editor, 'id,email,plan\n4,dee@example.com,pro\n5,"eve, jr@example.com",free\n'),
    );
    expect(response.status).toBe(201);
    expect(response.body).toEqual({ inserted: 2, tableName: 'ds_people' });
  });

  it('GET /{id}/data pages rows by primary key: {total, limit, offset, rows}', async () => {
    const response = await rest<{ total: number; limit: number; offset: number; rows: Array<Record<string, unknown>> }>(
      'GET',
      `/api/v1/schemas/${people.id}/data?limit=2&offset=1`,
      { key: keys.viewer },
    );
    expect(response.status).toBe(200);
    expect(Object.keys(response.body)).toEqual(['total', 'limit', 'offset', 'rows']);
    expect(response.body).toMatchObject({ total: 5, limit: 2, offset: 1 });
    expect(response.body.rows.map((r) => Number(r.id))).toEqual([2, 3]);
    const first = await rest<{ rows: Array<Record<string, unknown>> }>(
      'GET',
      `/api/v1/schemas/${people.id}/data?limit=1`,
    );
    expect(first.body.rows[0]).toMatchObject({ email: 'ann@example.com', joined_at: '2026-01-02T03:04:05.000Z' });
  });

  it('a bad limit on the rows page is a 400 naming limit', async () => {
    const response = await rest<ErrorBody>('GET', `/api/v1/schemas/${people.id}/data?limit=0`);
    expect(response.status).toBe(400);
    expect(response.body.error.details?.[0]?.path).toBe('limit');
  });

  it('a bad value in JSON rows is a 400 naming the row and field; nothing is written', async () => {
    const response = await rest<ErrorBody>('POST', `/api/v1/schemas/${people.id}/data`, {
      json: { rows: [{ id: 10 }, { id: 11, score: 'lots' }] },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.details?.[0]?.path).toBe('rows[1].score');
    const page = await rest<{ total: number }>('GET', `/api/v1/schemas/${people.id}/data`);
    expect(page.body.total).toBe(5);
  });

  it('a bad value in CSV rows is a 400 naming the row and field', async () => {
    const response = await rest<ErrorBody>(
      'POST',
      `/api/v1/schemas/${people.id}/data`,
      csv(keys.admin, 'id,score\n20,1.5\n21,abc\n'),
    );
    expect(response.status).toBe(400);
    expect(response.body.error.details?.[0]?.path).toBe('rows[1].score');
  });

  it('a bad value early in a large streamed CSV is answered with its 400, not a reset connection', async () => {
    const line = `${'9'.repeat(7)},${'x'.repeat(100)}\n`;
    const chunk = new TextEncoder().encode(line.repeat(2_000));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode('id,score\n1000000,not-a-number\n'));
        if (sent++ < 40) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const response = await fetch(`${gw.url}/api/v1/schemas/${people.id}/data`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.admin}`, 'content-type': 'text/csv' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(400);
    const error = ((await response.json()) as ErrorBody).error;
    expect(error.details?.[0]?.path).toBe('rows[0].score');
  });

  it('the data route takes JSON beyond the 1 MiB of other routes, and CSV beyond that too', async () => {
    const pad = 'x'.repeat(150);
    const rows = Array.from({ length: 8_000 }, (_, i) => ({ id: 1_000 + i, plan: pad }));
    const json = JSON.stringify({ rows });
    expect(json.length).toBeGreaterThan(1024 * 1024);
    const big = await rest('POST', `/api/v1/schemas/${people.id}/data`, {
      body: json,
      headers: { 'content-type': 'application/json' },
    });
    expect(big.status).toBe(201);
    expect(big.body).toMatchObject({ inserted: 8_000 });

    let text = 'id,plan\n';
    for (let i = 0; i < 8_000; i += 1) text += `${100_000 + i},${pad}\n`;
    expect(text.length).toBeGreaterThan(1024 * 1024);
    const bigCsv = await rest('POST', `/api/v1/schemas/${people.id}/data`, csv(keys.admin, text));
    expect(bigCsv.status).toBe(201);
    expect(bigCsv.body).toMatchObject({ inserted: 8_000 });
  });

  it('a body that is neither JSON nor CSV is 415 on the data route; CSV is 415 elsewhere', async () => {
    const plain = await rest<ErrorBody>('POST', `/api/v1/schemas/${people.id}/data`, {
      body: 'id\n1\n',
      headers: { 'content-type': 'text/plain' },
    });
    expect(plain.status).toBe(415);
    expect(plain.body.error).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 });
    const csvOnSchemas = await rest<ErrorBody>('POST', '/api/v1/schemas', csv(keys.admin, 'name\nx\n'));
    expect(csvOnSchemas.status).toBe(415);
  });
});

describe('roles', () => {
  it('a viewer reads schemas and rows but cannot change them or load rows, as JSON or as CSV', async () => {
    const { viewer } = keys;
    expect((await rest('GET', `/api/v1/schemas/${people.id}/data`, { key: viewer })).status).toBe(200);
    const refusals = await Promise.all([
      rest<ErrorBody>('POST', '/api/v1/schemas', {
        key: viewer,
        json: { name: 'nope', fields: [{ name: 'id', dataType: 'text', isPrimaryKey: true }] },
      }),
      rest<ErrorBody>('PUT', '/api/v1/schemas', { key: viewer, json: { id: people.id, description: 'nope' } }),
      rest<ErrorBody>('DELETE', `/api/v1/schemas?id=${people.id}`, { key: viewer }),
      rest<ErrorBody>('POST', `/api/v1/schemas/${people.id}/data`, { key: viewer, json: { rows: [{ id: 99 }] } }),
      rest<ErrorBody>('POST', `/api/v1/schemas/${people.id}/data`, csv(viewer, 'id\n99\n')),
    ]);
    for (const response of refusals) {
      expect(response.status).toBe(403);
      expect(response.body.error).toMatchObject({ code: 'FORBIDDEN', status: 403 });
    }
    const page = await rest<{ total: number; rows: Array<{ id: unknown }> }>(
      'GET',
      `/api/v1/schemas/${people.id}/data?limit=500`,
    );
    expect(page.body.rows.some((r) => Number(r.id) === 99)).toBe(false);
  });
});

describe('tenant isolation', () => {
  it("another tenant's schema is 404 on every route, and its rows are untouched", async () => {
    const { admin: theirs } = await gw.tenantWithKeys(uniqueTenant('rest-sch-other'), ['admin']);
    const attempts = await Promise.all([
      rest('GET', `/api/v1/schemas/${people.id}`, { key: theirs }),
      rest('GET', `/api/v1/schemas/${people.id}/data`, { key: theirs }),
      rest('POST', `/api/v1/schemas/${people.id}/data`, { key: theirs, json: { rows: [{ id: 77 }] } }),
      rest('POST', `/api/v1/schemas/${people.id}/data`, csv(theirs, 'id\n77\n')),
      rest('PUT', '/api/v1/schemas', { key: theirs, json: { id: people.id, description: 'mine now' } }),
      rest('DELETE', `/api/v1/schemas?id=${people.id}`, { key: theirs }),
    ]);
    expect(attempts.map((r) => r.status)).toEqual([404, 404, 404, 404, 404, 404]);
    expect((await rest<BaseSchema>('GET', `/api/v1/schemas/${people.id}`)).body.description).toBe('Everyone');
  });
});

describe('deleting', () => {
  it('a schema a segment stands on is 409 naming the segment; without it, DELETE is 204', async () => {
    const segment = await rest<{ id: string }>('POST', '/api/v1/segments', {
      json: { name: 'high_scorers', baseSchemaId: people.id, filters: [{ field: 'score', operator: '>', value: 15 }] },
    });
    expect(segment.status).toBe(201);
    const refused = await rest<ErrorBody>('DELETE', `/api/v1/schemas?id=${people.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain('high_scorers');

    expect((await rest('DELETE', `/api/v1/segments?id=${segment.body.id}`)).status).toBe(204);
    const deleted = await rest('DELETE', `/api/v1/schemas?id=${people.id}`);
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect((await rest('GET', `/api/v1/schemas/${people.id}`)).status).toBe(404);
  });

  it('DELETE without an id is a 400 naming id', async () => {
    const response = await rest<ErrorBody>('DELETE', '/api/v1/schemas');
    expect(response.status).toBe(400);
    expect(response.body.error.details?.[0]?.path).toBe('id');
  });
});
