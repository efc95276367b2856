import { isObjectType, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { buildSchema } from '../../src/schema/index.js';
import {
  classifyGraphQLRequest,
  classifyOperation,
  classifyRestRoute,
  HEAVY_FIELD,
  HEAVY_ROOT_FIELDS,
} from '../../src/server/request-class.js';
import { REST_OPERATIONS } from '../../src/rest/operations.js';

const classOf = (query: string, operationName?: string) => classifyOperation(parse(query), operationName);

describe('request classes for rate limits', () => {
  it('a query reads and a mutation writes', () => {
    expect(classOf('{ segments(first: 5) { totalCount } }')).toBe('read');
    expect(classOf('query { viewer { tenantId } segment(id: "seg_1") { name } }')).toBe('read');
    expect(classOf('mutation { deleteSegment(id: "seg_1") { deletedId } }')).toBe('write');
    expect(classOf('mutation M($i: CreateSegmentInput!) { createSegment(input: $i) { segment { id } } }')).toBe('write');
  });

  it('overlaps, refreshes and row loads are heavy whatever else they select', () => {
    expect(classOf('{ viewer { role } segmentOverlap(ids: ["a", "b"]) { totalUniqueCustomers } }')).toBe('heavy');
    expect(classOf('mutation { refreshSegment(id: "seg_1") { segment { id } } }')).toBe('heavy');
    expect(classOf('mutation { a: loadRows(schemaId: "s", rows: []) { inserted } }')).toBe('heavy');
  });

  it('selecting a preview anywhere is heavy: nested, aliased, in fragments and inline fragments', () => {
    expect(classOf('{ segment(id: "s") { first: preview(limit: 3) { count } } }')).toBe('heavy');
    expect(classOf('{ node(id: "s") { ... on Segment { preview { rows } } } }')).toBe('heavy');
    expect(classOf('{ segments { edges { node { ...P } } } } fragment P on Segment { preview { count } }')).toBe('heavy');
    expect(
      classOf('mutation($i: UpdateSegmentInput!) { updateSegment(input: $i) { segment { ...A } } } fragment A on Segment { ...B } fragment B on Segment { preview { count } }'),
    ).toBe('heavy');
  });

  it('only the operation that runs counts, chosen by its name', () => {
    const document = 'query Light { viewer { role } } mutation Refresh { refreshSegment(id: "s") { segment { id } } }';
    expect(classOf(document, 'Light')).toBe('read');
    expect(classOf(document, 'Refresh')).toBe('heavy');
    // A fragment that no selected field spreads does not count.
    expect(classOf('{ viewer { role } } fragment Unused on Segment { preview { count } }')).toBe('read');
  });

  it('a fragment that spreads itself does not loop', () => {
    expect(classOf('{ segment(id: "s") { ...F } } fragment F on Segment { id ...F }')).toBe('read');
  });

  it('a request without a document or with one that does not parse counts as a read', () => {
    expect(classifyGraphQLRequest({})).toBe('read');
    expect(classifyGraphQLRequest({ query: '{ nope' })).toBe('read');
    expect(classifyGraphQLRequest({ query: 'mutation { refreshSegment(id: "s") { segment { id } } }' })).toBe('heavy');
    // Cached by text and operation name.
    expect(classifyGraphQLRequest({ query: 'mutation { refreshSegment(id: "s") { segment { id } } }' })).toBe('heavy');
  });

  it('REST routes are read on GET, write otherwise, unless they say heavy', () => {
    expect(classifyRestRoute({ method: 'GET' })).toBe('read');
    expect(classifyRestRoute({ method: 'POST' })).toBe('write');
    expect(classifyRestRoute({ method: 'DELETE' })).toBe('write');
    expect(classifyRestRoute({ method: 'POST', requestClass: 'heavy' })).toBe('heavy');
  });

  it('the REST operations behind heavy routes are heavy as GraphQL documents too', () => {
    const byName = new Map(REST_OPERATIONS.map((o) => [o.name, classifyOperation(o.document)]));
    expect(byName.get('PreviewSegment')).toBe('heavy');
    expect(byName.get('RefreshSegment')).toBe('heavy');
    expect(byName.get('SegmentOverlap')).toBe('heavy');
    expect(byName.get('LoadRows')).toBe('heavy');
    expect(byName.get('ListSegments')).toBe('read');
    expect(byName.get('CreateSegment')).toBe('write');
  });

  it('every field named heavy exists in the schema, so a rename cannot silently make it light', () => {
    const schema = buildSchema();
    const queryFields = Object.keys(schema.getQueryType()!.getFields());
    const mutationFields = Object.keys(schema.getMutationType()!.getFields());
    for (const name of HEAVY_ROOT_FIELDS.query) expect(queryFields).toContain(name);
    for (const name of HEAVY_ROOT_FIELDS.mutation) expect(mutationFields).toContain(name);
    const segment = schema.getType('Segment');
    expect(isObjectType(segment) && Object.keys(segment.getFields())).toContain(HEAVY_FIELD);
  });
});
