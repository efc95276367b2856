import {
  AGGREGATE_FUNCTIONS,
  COMPARISON_OPERATORS,
  JOIN_TYPES,
  LIST_OPERATORS,
  NULL_OPERATORS,
  RECENCY_OPERATORS,
  TEXT_MATCH_OPERATORS,
  TIME_UNITS,
} from '../domain/segments/definition.js';
import { DEFAULT_ROW_LIMIT, MAX_ROW_LIMIT } from '../domain/schemas/service.js';
import { DATA_TYPES, ENTITY_TYPES } from '../domain/schemas/types.js';
import { MAX_NAME_LENGTH, SEGMENT_STATUSES } from '../domain/segments/service.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../schema/cursors.js';
import { REST_ERRORS } from '../server/respond.js';
import { JSON_BODY_LIMIT, ROWS_JSON_BODY_LIMIT } from './body.js';

/*
 * The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.
 * test/integration/openapi.test.ts checks that it lists exactly the routes
 * of the router and validates real responses of every route against it.
 */

type Json = Record<string, unknown>;

const schemaRef = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const timestamp = (description: string): Json => ({ type: 'string', format: 'date-time', description });

const OPERATORS = [
  '=',
  '!=',
  '>',
  '>=',
  '<',
  '<=',
  ...COMPARISON_OPERATORS,
  ...LIST_OPERATORS,
  'between',
  ...TEXT_MATCH_OPERATORS,
  ...NULL_OPERATORS,
  ...RECENCY_OPERATORS,
];

// ---------------------------------------------------------------------------
// Examples (those of the reference page, plus what it leaves out)

const SEGMENT_EXAMPLE = {
  id: 'seg_001',
  tenantId: 'tenant_001',
  name: 'high_value_customers',
  description: 'Customers with lifetime value > $10,000',
  status: 'active',
  entityType: 'customer',
  baseSchemaId: 'schema_001',
  baseSchema: { name: 'customers' },
  baseSchemaName: 'customers',
  customerCount: 4521,
  joins: [],
  filters: [{ field: 'lifetime_value', operator: '>', value: 10000 }],
  viewName: 'seg_a1b2c3d4e5f6',
  lastRefreshedAt: null,
  createdAt: '2026-02-01T10:00:00.000Z',
  updatedAt: '2026-02-01T10:00:00.000Z',
  version: 1,
};

const SCHEMA_EXAMPLE = {
  id: 'sch_0a1b2c3d4e5f',
  tenantId: 'my-tenant',
  name: 'customers',
  displayName: 'Customers',
  description: null,
  entityType: 'customer',
  tableName: 'ds_customers',
  fields: [
    {
      name: 'id',
      displayName: 'Id',
      dataType: 'text',
      isNullable: false,
      isPrimaryKey: true,
      isUnique: true,
      description: null,
      length: null,
      precision: null,
      scale: null,
    },
    {
      name: 'email',
      displayName: 'Email',
      dataType: 'text',
      isNullable: true,
      isPrimaryKey: false,
      isUnique: true,
      description: null,
      length: null,
      precision: null,
      scale: null,
    },
    {
      name: 'lifetime_value',
      displayName: 'Lifetime value',
      dataType: 'numeric',
      isNullable: true,
      isPrimaryKey: false,
      isUnique: false,
      description: null,
      length: null,
      precision: 12,
      scale: 2,
    },
  ],
  createdAt: '2026-02-01T09:00:00.000Z',
  updatedAt: '2026-02-01T09:00:00.000Z',
};

const ERROR_EXAMPLES: Record<string, { code: keyof typeof REST_ERRORS; message: string; details?: Json[] }> = {
  BadRequest: {
    code: 'BAD_USER_INPUT',
    message: 'filters[0].value: expected a number for numeric field lifetime_value',
    details: [{ path: 'filters[0].value', message: 'expected a number for numeric field lifetime_value' }],
  },
  Unauthenticated: {
    code: 'UNAUTHENTICATED',
    message: 'A valid API key is required (Authorization: Bearer <key> or X-API-Key)',
  },
  Forbidden: { code: 'FORBIDDEN', message: 'Your role does not allow this operation' },
  NotFound: { code: 'NOT_FOUND', message: 'Segment seg_0123456789ab not found' },
  MethodNotAllowed: {
    code: 'METHOD_NOT_ALLOWED',
    message: 'PATCH is not allowed on /api/v1/segments; use GET, POST, PUT, DELETE',
  },
  Conflict: { code: 'CONFLICT', message: 'A segment named "high_value_customers" already exists' },
  PayloadTooLarge: { code: 'PAYLOAD_TOO_LARGE', message: 'The body is larger than 1 MiB' },
  UnsupportedMediaType: {
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'Content-Type text/plain is not accepted here; send application/json',
  },
  RateLimited: { code: 'RATE_LIMITED', message: 'Too many requests; retry later' },
  Internal: { code: 'INTERNAL_SERVER_ERROR', message: 'Unexpected error.' },
  ServiceUnavailable: { code: 'SERVICE_UNAVAILABLE', message: 'The database is unavailable; try again shortly' },
};

// ---------------------------------------------------------------------------
// Schemas

const conditionSchemas: Record<string, Json> = {
  FieldCondition: {
    type: 'object',
    description:
      'A test of one field: `field` is a base field or `alias.field` of a join. Operators have a symbol and a word form (`>` or `gt`). `between` takes `[lo, hi]`, `in`/`not_in` a list, `is_null`/`is_not_null` no value, `within_last`/`not_within_last` `{amount, unit}`.',
    required: ['field', 'operator'],
    additionalProperties: false,
    properties: {
      field: { type: 'string' },
      operator: { enum: OPERATORS },
      value: {
        anyOf: [
          { type: ['string', 'number', 'boolean'] },
          { type: 'array', items: { type: ['string', 'number', 'boolean'] } },
          schemaRef('Recency'),
        ],
      },
    },
  },
  Recency: {
    type: 'object',
    required: ['amount', 'unit'],
    additionalProperties: false,
    properties: { amount: { type: 'number' }, unit: { enum: [...TIME_UNITS] } },
  },
  AggregateCondition: {
    type: 'object',
    description: 'A test of an aggregate over the rows of a join, e.g. at least 3 orders over 100 in the last 90 days.',
    required: ['aggregate', 'join', 'operator', 'value'],
    additionalProperties: false,
    properties: {
      aggregate: { enum: [...AGGREGATE_FUNCTIONS] },
      join: { type: 'string', description: 'The alias of the join whose rows are aggregated' },
      field: { type: 'string', description: 'A field of the joined schema; absent for count' },
      operator: { enum: OPERATORS },
      value: {
        anyOf: [
          { type: ['string', 'number', 'boolean'] },
          { type: 'array', items: { type: ['string', 'number', 'boolean'] } },
        ],
      },
      where: { type: 'array', items: schemaRef('Condition') },
    },
  },
  SegmentReference: {
    type: 'object',
    description: 'Members (or non-members) of another segment of the same base schema.',
    required: ['segment', 'operator'],
    additionalProperties: false,
    properties: { segment: { type: 'string' }, operator: { enum: ['in', 'not_in'] } },
  },
  Condition: {
    description: 'A condition or a group of conditions (`all`, `any`, `not`).',
    anyOf: [
      schemaRef('FieldCondition'),
      schemaRef('AggregateCondition'),
      schemaRef('SegmentReference'),
      {
        type: 'object',
        required: ['all'],
        additionalProperties: false,
        properties: { all: { type: 'array', items: schemaRef('Condition') } },
      },
      {
        type: 'object',
        required: ['any'],
        additionalProperties: false,
        properties: { any: { type: 'array', items: schemaRef('Condition') } },
      },
      { type: 'object', required: ['not'], additionalProperties: false, properties: { not: schemaRef('Condition') } },
    ],
  },
  Join: {
    type: 'object',
    description: 'A join to another schema of the same tenant; `alias` defaults to its name, `type` to inner.',
    required: ['schemaId', 'localField', 'foreignField'],
    additionalProperties: false,
    properties: {
      schemaId: { type: 'string' },
      alias: { type: 'string' },
      type: { enum: [...JOIN_TYPES] },
      localField: { type: 'string', description: 'A field of the base schema' },
      foreignField: { type: 'string', description: 'A field of the joined schema' },
    },
  },
};

const segmentSchemas: Record<string, Json> = {
  SegmentStatus: { enum: [...SEGMENT_STATUSES] },
  EntityType: { enum: [...ENTITY_TYPES] },
  Segment: {
    type: 'object',
    required: Object.keys(SEGMENT_EXAMPLE),
    additionalProperties: false,
    properties: {
      id: { type: 'string', description: '`seg_` + 12 hex' },
      tenantId: { type: 'string' },
      name: { type: 'string', maxLength: MAX_NAME_LENGTH },
      description: { type: ['string', 'null'] },
      status: schemaRef('SegmentStatus'),
      entityType: { type: 'string' },
      baseSchemaId: { type: 'string' },
      baseSchema: {
        type: 'object',
        required: ['name'],
        additionalProperties: false,
        properties: { name: { type: 'string' } },
      },
      baseSchemaName: { type: 'string' },
      customerCount: { type: 'integer', minimum: 0, description: 'Members at the last count' },
      joins: { type: 'array', items: schemaRef('Join') },
      filters: { type: 'array', items: schemaRef('Condition') },
      viewName: { type: 'string', pattern: '^seg_[0-9a-f]{12}$', description: 'The PostgreSQL view of the members' },
      lastRefreshedAt: { type: ['string', 'null'], format: 'date-time' },
      createdAt: timestamp('ISO-8601, UTC'),
      updatedAt: timestamp('ISO-8601, UTC'),
      version: {
        type: 'integer',
        minimum: 1,
        description: 'Increments on every change; send it back with PUT to update safely',
      },
    },
  },
  CreateSegmentRequest: {
    type: 'object',
    required: ['name', 'baseSchemaId'],
    additionalProperties: false,
    properties: {
      name: { type: 'string', maxLength: MAX_NAME_LENGTH },
      baseSchemaId: { type: 'string' },
      description: { type: ['string', 'null'] },
      status: { ...schemaRef('SegmentStatus'), description: 'Default: draft' },
      entityType: { ...schemaRef('EntityType'), description: 'Default: customer' },
      joins: { type: 'array', items: schemaRef('Join') },
      filters: { type: 'array', items: schemaRef('Condition') },
    },
  },
  UpdateSegmentRequest: {
    type: 'object',
    description:
      'Fields left out keep their value. Changing joins, filters or the base schema rebuilds the view and recounts.',
    required: ['id'],
    additionalProperties: false,
    properties: {
      id: { type: 'string' },
      version: { type: 'integer', description: 'The version you read; a stale one is refused with 409' },
      name: { type: 'string', maxLength: MAX_NAME_LENGTH },
      baseSchemaId: { type: 'string' },
      description: { type: ['string', 'null'] },
      status: schemaRef('SegmentStatus'),
      entityType: schemaRef('EntityType'),
      joins: { type: 'array', items: schemaRef('Join') },
      filters: { type: 'array', items: schemaRef('Condition') },
    },
  },
  Pagination: {
    type: 'object',
    required: ['total', 'hasMore', 'limit', 'cursor'],
    additionalProperties: false,
    properties: {
      total: { type: 'integer', minimum: 0, description: 'All matching items, on every page' },
      hasMore: { type: 'boolean' },
      limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE },
      cursor: { type: ['string', 'null'], description: "The next page's `cursor`; null on the last page" },
    },
  },
  SegmentList: {
    type: 'object',
    required: ['data', 'pagination'],
    additionalProperties: false,
    properties: { data: { type: 'array', items: schemaRef('Segment') }, pagination: schemaRef('Pagination') },
  },
  SegmentPreview: {
    type: 'object',
    required: ['rows', 'count'],
    additionalProperties: false,
    properties: {
      rows: { type: 'array', items: { type: 'object' }, description: 'The first 20 members, by primary key' },
      count: { type: 'integer', minimum: 0, description: 'Rows in this preview' },
    },
  },
  OverlapRequest: {
    type: 'object',
    required: ['segmentIds'],
    additionalProperties: false,
    properties: {
      segmentIds: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 10, uniqueItems: true },
    },
  },
  SegmentOverlap: {
    type: 'object',
    required: ['segments', 'overlaps', 'totalUniqueCustomers'],
    additionalProperties: false,
    properties: {
      segments: {
        type: 'array',
        items: {
          type: 'object',
          required: ['id', 'name', 'size'],
          additionalProperties: false,
          properties: { id: { type: 'string' }, name: { type: 'string' }, size: { type: 'integer', minimum: 0 } },
        },
      },
      overlaps: {
        type: 'array',
        items: {
          type: 'object',
          required: ['segments', 'count', 'percent'],
          additionalProperties: false,
          properties: {
            segments: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 },
            count: { type: 'integer', minimum: 0 },
            percent: { type: 'number', minimum: 0, maximum: 100, description: 'Of the smaller segment' },
          },
        },
      },
      totalUniqueCustomers: { type: 'integer', minimum: 0, description: 'Members of at least one segment' },
    },
  },
};

const fieldProperties: Json = {
  name: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,62}$' },
  displayName: { type: 'string' },
  dataType: { enum: [...DATA_TYPES] },
  isNullable: { type: 'boolean' },
  isPrimaryKey: { type: 'boolean' },
  isUnique: { type: 'boolean' },
  description: { type: ['string', 'null'] },
  length: { type: ['integer', 'null'], description: 'varchar only' },
  precision: { type: ['integer', 'null'], description: 'numeric only' },
  scale: { type: ['integer', 'null'], description: 'numeric only' },
};

const schemaSchemas: Record<string, Json> = {
  Field: {
    type: 'object',
    required: Object.keys(fieldProperties),
    additionalProperties: false,
    properties: fieldProperties,
  },
  FieldInput: {
    type: 'object',
    required: ['name', 'dataType'],
    additionalProperties: false,
    properties: {
      ...fieldProperties,
      renameFrom: { type: 'string', description: 'On update: the current name of a field being renamed' },
    },
  },
  BaseSchema: {
    type: 'object',
    required: Object.keys(SCHEMA_EXAMPLE),
    additionalProperties: false,
    properties: {
      id: { type: 'string', description: '`sch_` + 12 hex' },
      tenantId: { type: 'string' },
      name: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,62}$' },
      displayName: { type: 'string' },
      description: { type: ['string', 'null'] },
      entityType: schemaRef('EntityType'),
      tableName: { type: 'string', description: '`ds_` + name, in the tenant’s own PostgreSQL namespace' },
      fields: { type: 'array', items: schemaRef('Field') },
      createdAt: timestamp('ISO-8601, UTC'),
      updatedAt: timestamp('ISO-8601, UTC'),
    },
  },
  CreateSchemaRequest: {
    type: 'object',
    description: 'A primary key is required. Creating the schema creates its table in the same transaction.',
    required: ['name', 'fields'],
    additionalProperties: false,
    properties: {
      name: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,62}$' },
      displayName: { type: 'string' },
      description: { type: ['string', 'null'] },
      entityType: schemaRef('EntityType'),
      fields: { type: 'array', items: schemaRef('FieldInput'), minItems: 1 },
    },
  },
  UpdateSchemaRequest: {
    type: 'object',
    description:
      '`fields` is the whole desired list: fields left out are dropped, `renameFrom` renames. Fields a segment reads cannot be dropped or renamed (409).',
    required: ['id'],
    additionalProperties: false,
    properties: {
      id: { type: 'string' },
      displayName: { type: 'string' },
      description: { type: ['string', 'null'] },
      entityType: schemaRef('EntityType'),
      fields: { type: 'array', items: schemaRef('FieldInput'), minItems: 1 },
    },
  },
  SchemaList: {
    type: 'object',
    required: ['data', 'pagination'],
    additionalProperties: false,
    properties: { data: { type: 'array', items: schemaRef('BaseSchema') }, pagination: schemaRef('Pagination') },
  },
  LoadRowsRequest: {
    type: 'object',
    required: ['rows'],
    additionalProperties: false,
    properties: {
      rows: {
        type: 'array',
        items: { type: 'object' },
        minItems: 1,
        maxItems: 10_000,
        description: 'Objects by field name; one bad value rejects the whole batch',
      },
    },
  },
  LoadResult: {
    type: 'object',
    required: ['inserted', 'tableName'],
    additionalProperties: false,
    properties: {
      inserted: { type: 'integer', minimum: 0, description: 'Rows written; rows whose key already exists are skipped' },
      tableName: { type: 'string' },
    },
  },
  RowPage: {
    type: 'object',
    required: ['total', 'limit', 'offset', 'rows'],
    additionalProperties: false,
    properties: {
      total: { type: 'integer', minimum: 0 },
      limit: { type: 'integer', minimum: 1, maximum: MAX_ROW_LIMIT },
      offset: { type: 'integer', minimum: 0 },
      rows: {
        type: 'array',
        items: { type: 'object' },
        description: 'By primary key; timestamps as ISO-8601 UTC strings',
      },
    },
  },
};

const errorSchemas: Record<string, Json> = {
  Error: {
    type: 'object',
    description: 'The one error envelope of the REST API.',
    required: ['error'],
    additionalProperties: false,
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message', 'status'],
        additionalProperties: false,
        properties: {
          code: { enum: [...new Set(Object.values(REST_ERRORS).map((e) => e.code))] },
          message: { type: 'string' },
          status: { type: 'integer', minimum: 400, maximum: 599 },
          details: { type: 'array', items: schemaRef('ErrorDetail'), minItems: 1, description: 'Validation problems' },
        },
      },
    },
  },
  ErrorDetail: {
    type: 'object',
    required: ['path', 'message'],
    additionalProperties: false,
    properties: {
      path: { type: 'string', description: 'Of the offending input, e.g. `filters[2].value`' },
      message: { type: 'string' },
    },
  },
  OpenApiDocument: {
    type: 'object',
    required: ['openapi', 'info', 'paths'],
    properties: { openapi: { const: '3.1.0' }, info: { type: 'object' }, paths: { type: 'object' } },
  },
};

// ---------------------------------------------------------------------------
// Responses and parameters

const ERROR_RESPONSES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthenticated',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  413: 'PayloadTooLarge',
  415: 'UnsupportedMediaType',
  429: 'RateLimited',
  500: 'Internal',
  503: 'ServiceUnavailable',
};

/** Sent on every counted request; `Retry-After` only with a 429. */
const RATE_LIMIT_HEADERS: Json = {
  'RateLimit-Limit': { $ref: '#/components/headers/RateLimitLimit' },
  'RateLimit-Remaining': { $ref: '#/components/headers/RateLimitRemaining' },
  'RateLimit-Reset': { $ref: '#/components/headers/RateLimitReset' },
  'Retry-After': { $ref: '#/components/headers/RetryAfter' },
};

const responses: Record<string, Json> = Object.fromEntries(
  Object.entries(ERROR_RESPONSES).map(([status, name]) => {
    const example = ERROR_EXAMPLES[name]!;
    const rest = REST_ERRORS[example.code];
    return [
      name,
      {
        description: `${rest.code}`,
        headers: {
          'X-Request-Id': { $ref: '#/components/headers/RequestId' },
          ...(example.code === 'RATE_LIMITED' ? RATE_LIMIT_HEADERS : {}),
        },
        content: {
          'application/json': {
            schema: schemaRef('Error'),
            example: {
              error: {
                code: rest.code,
                message: example.message,
                status: Number(status),
                ...(example.details ? { details: example.details } : {}),
              },
            },
          },
        },
      },
    ];
  }),
);

/** Refusals any authenticated route can give. */
const COMMON_ERRORS = [401, 403, 429, 500, 503];

function ok(description: string, schema: string, example?: unknown): Json {
  return {
    description,
    headers: { 'X-Request-Id': { $ref: '#/components/headers/RequestId' } },
    content: { 'application/json': { schema: schemaRef(schema), ...(example === undefined ? {} : { example }) } },
  };
}

const noContent: Json = {
  description: 'Done; no body',
  headers: { 'X-Request-Id': { $ref: '#/components/headers/RequestId' } },
};

interface OperationSpec {
  id: string;
  summary: string;
  roles: string;
  parameters?: Json[];
  body?: Json;
  success: Record<number, Json>;
  errors: number[];
}

function operation(spec: OperationSpec): Json {
  const errors = [...new Set([...spec.errors, ...COMMON_ERRORS])].sort((a, b) => a - b);
  return {
    operationId: spec.id,
    summary: spec.summary,
    description: `Roles: ${spec.roles}.`,
    parameters: [...(spec.parameters ?? []), { $ref: '#/components/parameters/TenantId' }],
    ...(spec.body ? { requestBody: spec.body } : {}),
    responses: {
      ...Object.fromEntries(Object.entries(spec.success).map(([status, r]) => [status, r])),
      ...Object.fromEntries(errors.map((s) => [String(s), { $ref: `#/components/responses/${ERROR_RESPONSES[s]}` }])),
    },
  };
}

function jsonBody(schema: string, limit: number, example?: unknown): Json {
  return {
    required: true,
    description: `JSON, at most ${limit / (1024 * 1024)} MiB`,
    content: { 'application/json': { schema: schemaRef(schema), ...(example === undefined ? {} : { example }) } },
  };
}

const idQuery = (what: string): Json => ({
  name: 'id',
  in: 'query',
  required: true,
  description: `${what} id`,
  schema: { type: 'string' },
});
const idPath = (what: string): Json => ({
  name: 'id',
  in: 'path',
  required: true,
  description: `${what} id`,
  schema: { type: 'string' },
});
const IDEMPOTENCY_KEY: Json = { $ref: '#/components/parameters/IdempotencyKey' };
const PAGE_PARAMETERS: Json[] = [{ $ref: '#/components/parameters/Limit' }, { $ref: '#/components/parameters/Cursor' }];

const CREATE_SEGMENT_EXAMPLE = {
  name: 'high_value_customers',
  baseSchemaId: 'schema_001',
  description: 'Customers with lifetime value > $10,000',
  status: 'active',
  filters: [{ field: 'lifetime_value', operator: '>', value: 10000 }],
};

// ---------------------------------------------------------------------------
// The document

export const openApiDocument = {
  openapi: '3.1.0',
  jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
  info: {
    title: 'Segment gateway REST API',
    version: '1.0.0',
    description:
      'Customer segments over a tenant’s own PostgreSQL data. Every route runs the GraphQL operation of the same name on `/graphql`, with the same roles. Errors are `{"error":{"code","message","status","details"?}}` everywhere; every response carries `X-Request-Id` (a sane client-sent one is echoed).',
  },
  servers: [{ url: '/' }],
  security: [{ bearerAuth: [] }, { apiKey: [] }],
  tags: [{ name: 'segments' }, { name: 'schemas' }, { name: 'meta' }],
  paths: {
    '/api/v1/segments': {
      get: {
        tags: ['segments'],
        ...operation({
          id: 'listSegments',
          summary: 'List segments, oldest first, with their base schema names (cursor pagination)',
          roles: 'admin, editor, viewer',
          parameters: [
            ...PAGE_PARAMETERS,
            { name: 'status', in: 'query', schema: schemaRef('SegmentStatus') },
            {
              name: 'search',
              in: 'query',
              description: 'Case-insensitive substring of the name',
              schema: { type: 'string' },
            },
          ],
          success: {
            200: ok('A page of segments', 'SegmentList', {
              data: [{ ...SEGMENT_EXAMPLE }],
              pagination: { total: 8, hasMore: false, limit: 50, cursor: null },
            }),
          },
          errors: [400],
        }),
      },
      post: {
        tags: ['segments'],
        ...operation({
          id: 'createSegment',
          summary: 'Create a segment: its view is created and its members counted',
          roles: 'admin, editor',
          parameters: [IDEMPOTENCY_KEY],
          body: jsonBody('CreateSegmentRequest', JSON_BODY_LIMIT, CREATE_SEGMENT_EXAMPLE),
          success: { 201: ok('The new segment', 'Segment', { ...SEGMENT_EXAMPLE, status: 'active' }) },
          errors: [400, 409, 413, 415],
        }),
      },
      put: {
        tags: ['segments'],
        ...operation({
          id: 'updateSegment',
          summary: 'Update a segment (id in the body); changed joins or filters rebuild the view and recount',
          roles: 'admin, editor',
          body: jsonBody('UpdateSegmentRequest', JSON_BODY_LIMIT, { id: 'seg_001', version: 1, status: 'paused' }),
          success: { 200: ok('The updated segment', 'Segment', { ...SEGMENT_EXAMPLE, status: 'paused', version: 2 }) },
          errors: [400, 404, 409, 413, 415],
        }),
      },
      delete: {
        tags: ['segments'],
        ...operation({
          id: 'deleteSegment',
          summary: 'Delete a segment and drop its view',
          roles: 'admin, editor',
          parameters: [idQuery('Segment')],
          success: { 204: noContent },
          errors: [400, 404, 409],
        }),
      },
    },
    '/api/v1/segments/overlap': {
      post: {
        tags: ['segments'],
        ...operation({
          id: 'segmentOverlap',
          summary: 'Exact sizes, pairwise overlaps and union of 2 to 10 segments of one base schema',
          roles: 'admin, editor',
          body: jsonBody('OverlapRequest', JSON_BODY_LIMIT, { segmentIds: ['seg_001', 'seg_002'] }),
          success: {
            200: ok('The overlap', 'SegmentOverlap', {
              segments: [
                { id: 'seg_001', name: 'high_value_customers', size: 4521 },
                { id: 'seg_002', name: 'recent_buyers', size: 1200 },
              ],
              overlaps: [{ segments: ['seg_001', 'seg_002'], count: 300, percent: 25 }],
              totalUniqueCustomers: 5421,
            }),
          },
          errors: [400, 404, 413, 415],
        }),
      },
    },
    '/api/v1/segments/{id}': {
      get: {
        tags: ['segments'],
        ...operation({
          id: 'getSegment',
          summary: 'Full segment details, with the base schema name',
          roles: 'any authenticated',
          parameters: [idPath('Segment')],
          success: { 200: ok('The segment', 'Segment', SEGMENT_EXAMPLE) },
          errors: [404],
        }),
      },
      post: {
        tags: ['segments'],
        ...operation({
          id: 'segmentAction',
          summary:
            '`action=refresh`: recount the view, update customerCount and lastRefreshedAt (200 with the segment). `action=preview`: the first 20 rows of the view, by primary key.',
          roles: 'admin, editor',
          parameters: [
            idPath('Segment'),
            { name: 'action', in: 'query', required: true, schema: { enum: ['refresh', 'preview'] } },
          ],
          success: {
            200: {
              description: 'The refreshed segment, or the preview',
              headers: { 'X-Request-Id': { $ref: '#/components/headers/RequestId' } },
              content: {
                'application/json': {
                  schema: { oneOf: [schemaRef('Segment'), schemaRef('SegmentPreview')] },
                  examples: {
                    refresh: { value: { ...SEGMENT_EXAMPLE, lastRefreshedAt: '2026-02-02T08:00:00.000Z' } },
                    preview: {
                      value: {
                        rows: [{ id: 'CUST001', email: 'john@example.com', lifetime_value: 15200.5 }],
                        count: 20,
                      },
                    },
                  },
                },
              },
            },
          },
          errors: [400, 404],
        }),
      },
    },
    '/api/v1/schemas': {
      get: {
        tags: ['schemas'],
        ...operation({
          id: 'listSchemas',
          summary: 'List base schemas, oldest first (cursor pagination)',
          roles: 'admin, editor, viewer',
          parameters: PAGE_PARAMETERS,
          success: {
            200: ok('A page of schemas', 'SchemaList', {
              data: [SCHEMA_EXAMPLE],
              pagination: { total: 1, hasMore: false, limit: 20, cursor: null },
            }),
          },
          errors: [400],
        }),
      },
      post: {
        tags: ['schemas'],
        ...operation({
          id: 'createSchema',
          summary: 'Create a base schema and its table',
          roles: 'admin, editor',
          parameters: [IDEMPOTENCY_KEY],
          body: jsonBody('CreateSchemaRequest', JSON_BODY_LIMIT, {
            name: 'customers',
            displayName: 'Customers',
            entityType: 'customer',
            fields: [
              { name: 'id', dataType: 'text', isPrimaryKey: true },
              { name: 'email', dataType: 'text', isUnique: true },
              { name: 'lifetime_value', dataType: 'numeric', precision: 12, scale: 2 },
            ],
          }),
          success: { 201: ok('The new schema', 'BaseSchema', SCHEMA_EXAMPLE) },
          errors: [400, 409, 413, 415],
        }),
      },
      put: {
        tags: ['schemas'],
        ...operation({
          id: 'updateSchema',
          summary: 'Update a base schema (id in the body) and alter its table',
          roles: 'admin, editor',
          body: jsonBody('UpdateSchemaRequest', JSON_BODY_LIMIT, {
            id: 'sch_0a1b2c3d4e5f',
            description: 'All customers',
          }),
          success: { 200: ok('The updated schema', 'BaseSchema', { ...SCHEMA_EXAMPLE, description: 'All customers' }) },
          errors: [400, 404, 409, 413, 415],
        }),
      },
      delete: {
        tags: ['schemas'],
        ...operation({
          id: 'deleteSchema',
          summary: 'Delete a base schema and drop its table; refused while a segment uses it',
          roles: 'admin, editor',
          parameters: [idQuery('Schema')],
          success: { 204: noContent },
          errors: [400, 404, 409],
        }),
      },
    },
    '/api/v1/schemas/{id}': {
      get: {
        tags: ['schemas'],
        ...operation({
          id: 'getSchema',
          summary: 'One base schema with its fields',
          roles: 'admin, editor, viewer',
          parameters: [idPath('Schema')],
          success: { 200: ok('The schema', 'BaseSchema', SCHEMA_EXAMPLE) },
          errors: [404],
        }),
      },
    },
    '/api/v1/schemas/{id}/data': {
      post: {
        tags: ['schemas'],
        ...operation({
          id: 'loadRows',
          summary: 'Load rows: JSON `{"rows":[...]}` (up to 10,000 rows), or CSV with a header line, streamed',
          roles: 'admin, editor',
          parameters: [idPath('Schema'), IDEMPOTENCY_KEY],
          body: {
            required: true,
            description: `JSON up to ${ROWS_JSON_BODY_LIMIT / (1024 * 1024)} MiB, or text/csv of any size (streamed). Rows whose key already exists are skipped; one bad value rejects the whole load, reported as rows[i].field.`,
            content: {
              'application/json': {
                schema: schemaRef('LoadRowsRequest'),
                example: { rows: [{ id: 'CUST001', email: 'john@example.com', lifetime_value: 15200.5 }] },
              },
              'text/csv': {
                schema: { type: 'string' },
                example: 'id,email,lifetime_value\nCUST001,john@example.com,15200.50\n',
              },
            },
          },
          success: { 201: ok('Rows written', 'LoadResult', { inserted: 1, tableName: 'ds_customers' }) },
          errors: [400, 404, 409, 413, 415],
        }),
      },
      get: {
        tags: ['schemas'],
        ...operation({
          id: 'readRows',
          summary: 'A page of rows, by primary key',
          roles: 'admin, editor, viewer',
          parameters: [
            idPath('Schema'),
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: MAX_ROW_LIMIT, default: DEFAULT_ROW_LIMIT },
            },
            { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0, default: 0 } },
          ],
          success: {
            200: ok('Rows', 'RowPage', {
              total: 1,
              limit: DEFAULT_ROW_LIMIT,
              offset: 0,
              rows: [{ id: 'CUST001', email: 'john@example.com', lifetime_value: 15200.5 }],
            }),
          },
          errors: [400, 404],
        }),
      },
    },
    '/api/v1/openapi.json': {
      get: {
        tags: ['meta'],
        operationId: 'openApiDocument',
        summary: 'This document (no key needed)',
        security: [],
        responses: { 200: ok('The OpenAPI document', 'OpenApiDocument') },
      },
    },
  },
  components: {
    securitySchemes: {
      bearerAuth: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <key>' },
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
    },
    headers: {
      RequestId: {
        description: 'The request id: the client’s X-Request-Id when it is a sane token, else a new one',
        schema: { type: 'string' },
      },
      RateLimitLimit: {
        description: 'Requests of this class (read, write or heavy) the API key may make per window',
        schema: { type: 'integer' },
      },
      RateLimitRemaining: { description: 'Requests of this class left in the current window', schema: { type: 'integer' } },
      RateLimitReset: { description: 'Seconds until the current window ends', schema: { type: 'integer' } },
      RetryAfter: { description: 'Seconds to wait before trying again', schema: { type: 'integer' } },
    },
    parameters: {
      IdempotencyKey: {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description:
          'Optional, 1 to 255 visible ASCII characters (a UUID, say). A request sent again with the same key within 24 hours gets the first one’s status and body instead of creating twice, also while the first is still running; the same key with another body is a 409. An idempotent CSV load is read whole first, so it is limited to the JSON body limit.',
        schema: { type: 'string', minLength: 1, maxLength: 255 },
      },
      TenantId: {
        name: 'X-Tenant-Id',
        in: 'header',
        required: false,
        description: 'Optional; when sent it must be the tenant of the key (403 otherwise)',
        schema: { type: 'string' },
      },
      Limit: {
        name: 'limit',
        in: 'query',
        description: 'Max results per page',
        schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE },
      },
      Cursor: {
        name: 'cursor',
        in: 'query',
        description: 'Opaque: the `pagination.cursor` of the previous page',
        schema: { type: 'string' },
      },
    },
    responses,
    schemas: { ...conditionSchemas, ...segmentSchemas, ...schemaSchemas, ...errorSchemas },
  },
};
