import { NotFound } from '../domain/errors.js';
import { onlyFields, readJsonObject } from './body.js';
import { RestError } from './errors.js';
import {
  CreateSegment,
  DeleteSegment,
  GetSegment,
  ListSegments,
  PreviewSegment,
  RefreshSegment,
  SegmentOverlap,
  UpdateSegment,
} from './operations.js';
import { pageJson, pageRequest } from './pages.js';
import type { GraphQLRunner } from './graphql.js';
import { tenantOf } from '../schema/context.js';
import { decodeCursor } from '../schema/cursors.js';
import { listRestSegmentPage } from '../sql/segments.js';
import { queryParam, type RestCall, type RestReply, type RestRoute } from './route.js';

/** A segment as the REST API shows it: the selection of `RestSegment`, as is. */
type Segment = Record<string, unknown>;

/**
 * `/api/v1/segments`: the reference page's routes, each one GraphQL
 * operation (the list checks its operation and has PostgreSQL write it).
 */
export function segmentRoutes(runner: GraphQLRunner): RestRoute[] {
  return [
    { method: 'GET', path: '/api/v1/segments', handle: listSegments(runner) },
    { method: 'POST', path: '/api/v1/segments', handle: createSegment },
    { method: 'PUT', path: '/api/v1/segments', handle: updateSegment },
    { method: 'DELETE', path: '/api/v1/segments', handle: deleteSegment },
    { method: 'POST', path: '/api/v1/segments/overlap', requestClass: 'heavy', handle: segmentOverlap },
    { method: 'GET', path: '/api/v1/segments/{id}', handle: getSegment },
    // refresh and preview
    { method: 'POST', path: '/api/v1/segments/{id}', requestClass: 'heavy', handle: segmentAction },
  ];
}

/**
 * The page as the GraphQL operation `ListSegments` would give it (its
 * variables and rules are checked as running it would check them), with
 * each segment written as JSON by PostgreSQL in the page's one statement:
 * 20 whole segments are most of what a list costs to write
 * (docs/decisions.md). The tests hold the two to the same JSON.
 */
function listSegments(runner: GraphQLRunner) {
  return async (call: RestCall): Promise<RestReply> => {
    const page = pageRequest(call.query);
    const status = queryParam(call.query, 'status');
    const search = queryParam(call.query, 'search');
    await runner.check(ListSegments, { ...page.variables, status, search }, call.context);
    const after = page.variables.after === undefined ? undefined : decodeCursor(page.variables.after, 'cursor');
    const { rows, total } = await listRestSegmentPage(
      call.context.services.database.db,
      tenantOf(call.context).id,
      { status, search },
      { ...(after ? { after } : {}), limit: page.limit + 1, inverted: false },
    );
    const json = pageJson(
      rows.map((row) => row.json),
      page.limit,
      total,
      (i) => rows[i]!.cursor,
    );
    return { status: 200, json };
  };
}

async function createSegment(call: RestCall): Promise<RestReply> {
  const input = await readJsonObject(call.req);
  const data = await call.graphql<{ createSegment: { segment: Segment } }>(CreateSegment, { input });
  return { status: 201, body: data.createSegment.segment };
}

async function updateSegment(call: RestCall): Promise<RestReply> {
  const input = await readJsonObject(call.req);
  const data = await call.graphql<{ updateSegment: { segment: Segment } }>(UpdateSegment, { input });
  return { status: 200, body: data.updateSegment.segment };
}

async function deleteSegment(call: RestCall): Promise<RestReply> {
  await call.graphql(DeleteSegment, { id: queryParam(call.query, 'id') });
  return { status: 204 };
}

async function getSegment(call: RestCall): Promise<RestReply> {
  const id = call.params.id!;
  const { segment } = await call.graphql<{ segment: Segment | null }>(GetSegment, { id });
  if (!segment) throw new NotFound('Segment', id);
  return { status: 200, body: segment };
}

/** `?action=refresh` → the recounted segment; `?action=preview` → its first 20 rows. */
async function segmentAction(call: RestCall): Promise<RestReply> {
  const id = call.params.id!;
  const action = queryParam(call.query, 'action');
  if (action === 'refresh') {
    const data = await call.graphql<{ refreshSegment: { segment: Segment } }>(RefreshSegment, { id });
    return { status: 200, body: data.refreshSegment.segment };
  }
  if (action === 'preview') {
    const { segment } = await call.graphql<{ segment: { preview: { rows: unknown[]; count: number } } | null }>(
      PreviewSegment,
      { id },
    );
    if (!segment) throw new NotFound('Segment', id);
    return { status: 200, body: segment.preview };
  }
  throw RestError.badRequest(
    'action',
    action === undefined ? 'is required: refresh or preview' : 'must be refresh or preview',
  );
}

async function segmentOverlap(call: RestCall): Promise<RestReply> {
  const body = await readJsonObject(call.req);
  onlyFields(body, ['segmentIds']);
  const data = await call.graphql<{ segmentOverlap: unknown }>(SegmentOverlap, { ids: body.segmentIds });
  return { status: 200, body: data.segmentOverlap };
}
