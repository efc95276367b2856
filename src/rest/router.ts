import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GraphQLSchema } from 'graphql';
import type { Services } from '../schema/context.js';
import { admitRequest } from '../server/admission.js';
import { classifyRestRoute } from '../server/request-class.js';
import { sendError, sendJson, sendJsonText } from '../server/respond.js';
import { restErrorOf, RestError } from './errors.js';
import { createGraphQLRunner } from './graphql.js';
import { openApiDocument } from './openapi.js';
import type { HttpMethod, RestReply, RestRoute } from './route.js';
import { schemaRoutes } from './schemas.js';
import { segmentRoutes } from './segments.js';

export const REST_PREFIX = '/api/v1';

export interface RestRouter {
  /** Every route, for the OpenAPI document and its test. */
  routes: ReadonlyArray<{ method: HttpMethod; path: string }>;
  handle(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void>;
}

interface PathPattern {
  path: string;
  segments: string[];
  /** Literal segments win over `{param}` ones: `/segments/overlap` before `/segments/{id}`. */
  literals: number;
  routes: RestRoute[];
}

/**
 * The REST shim: a route table in front of GraphQL. A route turns a request
 * into an operation and variables and the result into the REST shape and
 * status; roles, validation and every other rule live behind `schema`.
 */
export function createRestRouter(schema: GraphQLSchema, services: Services): RestRouter {
  const runner = createGraphQLRunner(schema);
  const routes: RestRoute[] = [
    ...segmentRoutes(runner),
    ...schemaRoutes(runner),
    {
      method: 'GET',
      path: `${REST_PREFIX}/openapi.json`,
      public: true,
      handle: () => ({ status: 200, body: openApiDocument }),
    },
  ];
  const patterns = patternsOf(routes);

  async function dispatch(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<RestReply> {
    const url = new URL(req.url ?? '/', 'http://rest.invalid');
    const pathname = url.pathname.length > 1 ? url.pathname.replace(/\/$/, '') : url.pathname;
    const match = matchPath(patterns, pathname);
    if (!match) throw new RestError('NOT_FOUND', `No route for ${req.method} ${pathname}`);
    const route = match.pattern.routes.find((r) => r.method === req.method);
    if (!route) {
      const allow = match.pattern.routes.map((r) => r.method).join(', ');
      throw new RestError(
        'METHOD_NOT_ALLOWED',
        `${req.method} is not allowed on ${match.pattern.path}; use ${allow}`,
        undefined,
        {
          allow,
        },
      );
    }
    if (route.public) return route.handle();

    const context = await admitRequest(services, {
      headers: { get: (name) => req.headers[name] },
      requestId,
      requestClass: classifyRestRoute(route),
      response: res,
    });
    return route.handle({
      req,
      params: match.params,
      query: url.searchParams,
      context,
      graphql: (operation, variables) => runner.run(operation, variables, context),
    });
  }

  return {
    routes: routes.map(({ method, path }) => ({ method, path })),
    async handle(req, res, requestId) {
      try {
        const reply = await dispatch(req, res, requestId);
        if (reply.json !== undefined) {
          sendJsonText(res, reply.status, reply.json);
        } else if (reply.body === undefined) {
          res.writeHead(reply.status);
          res.end();
        } else {
          sendJson(res, reply.status, reply.body);
        }
      } catch (error) {
        if (!req.complete && req.destroyed) {
          services.logger.warn({ requestId }, 'the client went away before its request was read');
          return;
        }
        const refusal = restErrorOf(error);
        if (refusal.code === 'INTERNAL_SERVER_ERROR') {
          services.logger.error({ err: refusal.cause ?? error, requestId }, 'unexpected error');
        }
        if (res.headersSent) {
          res.destroy();
          return;
        }
        // A body left unread (refused early, or too large) is not worth reading to keep the connection.
        const headers = req.complete ? refusal.headers : { ...refusal.headers, connection: 'close' };
        sendError(res, refusal.code, refusal.message, refusal.details, headers);
      }
    },
  };
}

function patternsOf(routes: RestRoute[]): PathPattern[] {
  const byPath = new Map<string, PathPattern>();
  for (const route of routes) {
    let pattern = byPath.get(route.path);
    if (!pattern) {
      const segments = route.path.split('/').slice(1);
      pattern = { path: route.path, segments, literals: segments.filter((s) => !s.startsWith('{')).length, routes: [] };
      byPath.set(route.path, pattern);
    }
    pattern.routes.push(route);
  }
  return [...byPath.values()].sort((a, b) => b.literals - a.literals);
}

function matchPath(
  patterns: PathPattern[],
  pathname: string,
): { pattern: PathPattern; params: Record<string, string> } | undefined {
  const parts = pathname.split('/').slice(1);
  for (const pattern of patterns) {
    if (pattern.segments.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const matched = pattern.segments.every((segment, i) => {
      const part = parts[i]!;
      if (!segment.startsWith('{')) return segment === part;
      const value = decoded(part);
      if (value === undefined || value === '') return false;
      params[segment.slice(1, -1)] = value;
      return true;
    });
    if (matched) return { pattern, params };
  }
  return undefined;
}

function decoded(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}
