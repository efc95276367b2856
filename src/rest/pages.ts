import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../schema/cursors.js';
import { RestError } from './errors.js';
import { queryParam } from './route.js';

/** What the list operations select of a relay connection. */
export interface Connection<T> {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  edges: Array<{ node: T }>;
}

export interface PageRequest {
  limit: number;
  /** GraphQL `first` and `after`. */
  variables: { first: number; after?: string };
}

/**
 * `limit` (1 to 100, default 20) and the opaque `cursor` of the REST page are
 * GraphQL's `first` and `after`; the cursor is checked by the GraphQL layer,
 * which reports a bad one under `cursor`.
 */
export function pageRequest(query: URLSearchParams): PageRequest {
  const raw = queryParam(query, 'limit');
  const limit = raw === undefined ? DEFAULT_PAGE_SIZE : /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(limit >= 1 && limit <= MAX_PAGE_SIZE)) {
    throw RestError.badRequest('limit', `must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  }
  const after = queryParam(query, 'cursor');
  return { limit, variables: { first: limit, ...(after === undefined ? {} : { after }) } };
}

/** `{total, hasMore, limit, cursor}`: `cursor` opens the next page, null on the last. */
interface Pagination {
  total: number;
  hasMore: boolean;
  limit: number;
  cursor: string | null;
}

function paginationOf(total: number, hasMore: boolean, limit: number, endCursor: string | null): Pagination {
  return { total, hasMore, limit, cursor: hasMore ? endCursor : null };
}

/** `{data, pagination:{total, hasMore, limit, cursor}}` of a GraphQL connection. */
export function pageBody<T>(connection: Connection<T>, limit: number) {
  const { hasNextPage, endCursor } = connection.pageInfo;
  return {
    data: connection.edges.map((edge) => edge.node),
    pagination: paginationOf(connection.totalCount, hasNextPage, limit, endCursor),
  };
}

/**
 * The same page as `pageBody`, as JSON text, from items already written as
 * JSON: `found` holds up to `limit + 1` of them, the last only to tell that
 * another page follows; `cursorOf(i)` is the cursor after item `i`.
 */
export function pageJson(
  found: readonly string[],
  limit: number,
  total: number,
  cursorOf: (index: number) => string | null,
): string {
  const hasMore = found.length > limit;
  const shown = hasMore ? found.slice(0, limit) : found;
  const pagination = paginationOf(total, hasMore, limit, hasMore ? cursorOf(shown.length - 1) : null);
  return `{"data":[${shown.join(',')}],"pagination":${JSON.stringify(pagination)}}`;
}
