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

/** `{data, pagination:{total, hasMore, limit, cursor}}`; `cursor` opens the next page, null on the last. */
export function pageBody<T>(connection: Connection<T>, limit: number) {
  const { hasNextPage, endCursor } = connection.pageInfo;
  return {
    data: connection.edges.map((edge) => edge.node),
    pagination: {
      total: connection.totalCount,
      hasMore: hasNextPage,
      limit,
      cursor: hasNextPage ? endCursor : null,
    },
  };
}
