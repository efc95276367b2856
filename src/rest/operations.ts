import { parse, type DocumentNode } from 'graphql';
import type { RestNames } from './errors.js';

/**
 * The GraphQL operations behind the REST routes, parsed once when the module
 * loads and validated once against the schema when a router is built
 * (src/rest/graphql.ts). Selection order is the REST field order.
 */
export interface RestOperation {
  name: string;
  document: DocumentNode;
  /** REST names of the variables and arguments, for error paths. */
  names: RestNames;
}

const SEGMENT_FIELDS = /* GraphQL */ `
  fragment RestSegment on Segment {
    id
    tenantId
    name
    description
    status
    entityType
    baseSchemaId
    baseSchema {
      name
    }
    baseSchemaName
    customerCount
    joins
    filters
    viewName
    lastRefreshedAt
    createdAt
    updatedAt
    version
  }
`;

const SCHEMA_FIELDS = /* GraphQL */ `
  fragment RestBaseSchema on BaseSchema {
    id
    tenantId
    name
    displayName
    description
    entityType
    tableName
    fields {
      name
      displayName
      dataType
      isNullable
      isPrimaryKey
      isUnique
      description
      length
      precision
      scale
    }
    createdAt
    updatedAt
  }
`;

function operation(name: string, source: string, names: RestNames = {}): RestOperation {
  return { name, document: parse(source), names };
}

/** List pages: `limit` and `cursor` are GraphQL's `first` and `after`. */
const PAGE_NAMES = { first: 'limit', after: 'cursor' };

export const ListSegments = operation(
  'ListSegments',
  `query ListSegments($first: Int, $after: String, $status: SegmentStatus, $search: String) {
    segments(first: $first, after: $after, status: $status, search: $search) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { ...RestSegment } }
    }
  }
  ${SEGMENT_FIELDS}`,
  PAGE_NAMES,
);

export const GetSegment = operation(
  'GetSegment',
  `query GetSegment($id: ID!) { segment(id: $id) { ...RestSegment } } ${SEGMENT_FIELDS}`,
);

export const CreateSegment = operation(
  'CreateSegment',
  `mutation CreateSegment($input: CreateSegmentInput!) {
    createSegment(input: $input) { segment { ...RestSegment } }
  }
  ${SEGMENT_FIELDS}`,
  { input: '' },
);

export const UpdateSegment = operation(
  'UpdateSegment',
  `mutation UpdateSegment($input: UpdateSegmentInput!) {
    updateSegment(input: $input) { segment { ...RestSegment } }
  }
  ${SEGMENT_FIELDS}`,
  { input: '' },
);

export const DeleteSegment = operation(
  'DeleteSegment',
  `mutation DeleteSegment($id: ID!) { deleteSegment(id: $id) { deletedId } }`,
);

export const RefreshSegment = operation(
  'RefreshSegment',
  `mutation RefreshSegment($id: ID!) { refreshSegment(id: $id) { segment { ...RestSegment } } } ${SEGMENT_FIELDS}`,
);

export const PreviewSegment = operation(
  'PreviewSegment',
  `query PreviewSegment($id: ID!) { segment(id: $id) { preview { rows count } } }`,
);

export const SegmentOverlap = operation(
  'SegmentOverlap',
  `query SegmentOverlap($ids: [ID!]!) {
    segmentOverlap(ids: $ids) {
      segments { id name size }
      overlaps { segments count percent }
      totalUniqueCustomers
    }
  }`,
  { ids: 'segmentIds' },
);

export const ListSchemas = operation(
  'ListSchemas',
  `query ListSchemas($first: Int, $after: String) {
    baseSchemas(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { ...RestBaseSchema } }
    }
  }
  ${SCHEMA_FIELDS}`,
  PAGE_NAMES,
);

export const GetSchema = operation(
  'GetSchema',
  `query GetSchema($id: ID!) { baseSchema(id: $id) { ...RestBaseSchema } } ${SCHEMA_FIELDS}`,
);

export const CreateSchema = operation(
  'CreateSchema',
  `mutation CreateSchema($input: CreateBaseSchemaInput!) {
    createBaseSchema(input: $input) { baseSchema { ...RestBaseSchema } }
  }
  ${SCHEMA_FIELDS}`,
  { input: '' },
);

export const UpdateSchema = operation(
  'UpdateSchema',
  `mutation UpdateSchema($input: UpdateBaseSchemaInput!) {
    updateBaseSchema(input: $input) { baseSchema { ...RestBaseSchema } }
  }
  ${SCHEMA_FIELDS}`,
  { input: '' },
);

export const DeleteSchema = operation(
  'DeleteSchema',
  `mutation DeleteSchema($id: ID!) { deleteBaseSchema(id: $id) { deletedId } }`,
);

export const LoadRows = operation(
  'LoadRows',
  `mutation LoadRows($schemaId: ID!, $rows: [JSON!]!) { loadRows(schemaId: $schemaId, rows: $rows) { inserted tableName } }`,
  { schemaId: 'id' },
);

export const REST_OPERATIONS: readonly RestOperation[] = [
  ListSegments,
  GetSegment,
  CreateSegment,
  UpdateSegment,
  DeleteSegment,
  RefreshSegment,
  PreviewSegment,
  SegmentOverlap,
  ListSchemas,
  GetSchema,
  CreateSchema,
  UpdateSchema,
  DeleteSchema,
  LoadRows,
];
