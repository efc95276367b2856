import { NotFound } from '../domain/errors.js';
import { fingerprintOf, idempotentRequest } from '../domain/idempotency.js';
import { loadCsv, readRows } from '../domain/schemas/service.js';
import { tenantOf } from '../schema/context.js';
import {
  bodyChunks,
  bodyKindOf,
  onlyFields,
  parseJsonObject,
  readBody,
  readJsonObject,
  ROWS_JSON_BODY_LIMIT,
} from './body.js';
import type { GraphQLRunner } from './graphql.js';
import { CreateSchema, DeleteSchema, GetSchema, ListSchemas, LoadRows, UpdateSchema } from './operations.js';
import { pageBody, pageRequest, type Connection } from './pages.js';
import { queryParam, type RestCall, type RestReply, type RestRoute } from './route.js';

type BaseSchema = Record<string, unknown>;

/**
 * `/api/v1/schemas`: base schemas and their rows. Every route executes a
 * GraphQL operation, but two: a CSV body is streamed to `loadCsv` and a page
 * of rows is read with `readRows`, because neither is a GraphQL-shaped value
 * (a stream in, untyped rows out). Those two are held to the shield rule of
 * the GraphQL field that does the same thing, read off the schema this
 * router serves (`Mutation.loadRows`, `Query.baseSchema`), so that changing
 * the rule there changes them too; no role is named here.
 */
export function schemaRoutes(runner: GraphQLRunner): RestRoute[] {
  const mayLoadRows = runner.ruleOf('Mutation', 'loadRows');
  const mayReadSchema = runner.ruleOf('Query', 'baseSchema');

  async function loadData(call: RestCall): Promise<RestReply> {
    const id = call.params.id!;
    if (bodyKindOf(call.req, ['json', 'csv']) === 'csv') {
      await mayLoadRows(call.context);
      const { idempotencyKey } = call.context;
      // An idempotent load is fingerprinted by its bytes, so it is read whole first (up to the JSON rows' limit).
      const whole = idempotencyKey === null ? null : await readBody(call.req, ROWS_JSON_BODY_LIMIT);
      const loaded = await loadCsv(
        call.context.services.loadTarget,
        tenantOf(call.context),
        id,
        whole === null ? bodyChunks(call.req) : [whole],
        idempotentRequest(idempotencyKey, 'loadCsv', { schemaId: id, csvSha256: whole && fingerprintOf(whole) }),
      );
      return { status: 201, body: { inserted: loaded.inserted, tableName: loaded.tableName } };
    }
    const body = parseJsonObject(await readBody(call.req, ROWS_JSON_BODY_LIMIT));
    onlyFields(body, ['rows']);
    const data = await call.graphql<{ loadRows: unknown }>(LoadRows, { schemaId: id, rows: body.rows });
    return { status: 201, body: data.loadRows };
  }

  async function readData(call: RestCall): Promise<RestReply> {
    await mayReadSchema(call.context);
    const page = await readRows(call.context.services.database.db, tenantOf(call.context), call.params.id!, {
      limit: call.query.get('limit'),
      offset: call.query.get('offset'),
    });
    return { status: 200, body: page };
  }

  return [
    { method: 'GET', path: '/api/v1/schemas', handle: listSchemas },
    { method: 'POST', path: '/api/v1/schemas', handle: createSchema },
    { method: 'PUT', path: '/api/v1/schemas', handle: updateSchema },
    { method: 'DELETE', path: '/api/v1/schemas', handle: deleteSchema },
    { method: 'GET', path: '/api/v1/schemas/{id}', handle: getSchema },
    { method: 'POST', path: '/api/v1/schemas/{id}/data', requestClass: 'heavy', handle: loadData },
    { method: 'GET', path: '/api/v1/schemas/{id}/data', handle: readData },
  ];
}

async function listSchemas(call: RestCall): Promise<RestReply> {
  const page = pageRequest(call.query);
  const { baseSchemas } = await call.graphql<{ baseSchemas: Connection<BaseSchema> }>(ListSchemas, page.variables);
  return { status: 200, body: pageBody(baseSchemas, page.limit) };
}

async function getSchema(call: RestCall): Promise<RestReply> {
  const id = call.params.id!;
  const { baseSchema } = await call.graphql<{ baseSchema: BaseSchema | null }>(GetSchema, { id });
  if (!baseSchema) throw new NotFound('Schema', id);
  return { status: 200, body: baseSchema };
}

async function createSchema(call: RestCall): Promise<RestReply> {
  const input = await readJsonObject(call.req);
  const data = await call.graphql<{ createBaseSchema: { baseSchema: BaseSchema } }>(CreateSchema, { input });
  return { status: 201, body: data.createBaseSchema.baseSchema };
}

async function updateSchema(call: RestCall): Promise<RestReply> {
  const input = await readJsonObject(call.req);
  const data = await call.graphql<{ updateBaseSchema: { baseSchema: BaseSchema } }>(UpdateSchema, { input });
  return { status: 200, body: data.updateBaseSchema.baseSchema };
}

async function deleteSchema(call: RestCall): Promise<RestReply> {
  await call.graphql(DeleteSchema, { id: queryParam(call.query, 'id') });
  return { status: 204 };
}
