import type { IncomingMessage } from 'node:http';
import type { GraphQLContext } from '../schema/context.js';
import type { RequestClass } from '../server/request-class.js';
import type { RestOperation } from './operations.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** One authenticated REST request, as a route handler sees it. */
export interface RestCall {
  req: IncomingMessage;
  /** Path parameters, decoded: `{ id }` of `/api/v1/segments/{id}`. */
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
  context: GraphQLContext;
  /** Executes a REST operation with this request's context; throws its first error, mapped. */
  graphql<T>(operation: RestOperation, variables: Record<string, unknown>): Promise<T>;
}

/** A status and a JSON body (none for 204), or the body already written as JSON text. */
export interface RestReply {
  status: number;
  body?: unknown;
  json?: string;
}

interface RouteBase {
  method: HttpMethod;
  /** `/api/v1/segments/{id}`: literal segments and `{param}` segments. */
  path: string;
  /** For rate limits; by default GET is `read` and the other methods `write`. */
  requestClass?: RequestClass;
}

export type RestRoute =
  | (RouteBase & { public: true; handle(): RestReply })
  | (RouteBase & { public?: false; handle(call: RestCall): Promise<RestReply> });

/** A query parameter, absent when missing or empty. */
export function queryParam(query: URLSearchParams, name: string): string | undefined {
  const value = query.get(name);
  return value === null || value === '' ? undefined : value;
}
