import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { DomainError } from '../domain/errors.js';
import type { GraphQLContext, Services } from '../schema/context.js';
import { httpStatusOf, isMasked, publicError, toPublicError } from '../schema/errors.js';
import { buildSchema } from '../schema/index.js';
import { createRestRouter, REST_PREFIX } from '../rest/router.js';
import { ping } from '../sql/db.js';
import { admitRequest } from './admission.js';
import { classifyGraphQLRequest } from './request-class.js';
import { requestIdOf } from './request-id.js';
import { GRAPHIQL_ASSETS_PATH, renderLocalGraphiQL, sendGraphiQLAsset } from './graphiql-assets.js';
import { useCsrfPrevention, useResponseGuards, type ObservedOperation } from './graphql-guards.js';
import { countLimitRefusal, metrics, metricsText, operationLabel, routeLabeler } from './metrics.js';
import { operationLimitPlugins } from './operation-limits.js';
import { useCompiledExecution } from './compiled-execution.js';
import { createDirectExecution, type DirectHandover } from './direct-execution.js';
import { sendError, sendJson } from './respond.js';
import { readBody, ROWS_JSON_BODY_LIMIT } from '../rest/body.js';
import { RestError } from '../rest/errors.js';

export interface ServerContext {
  requestId: string;
  /** The node response, for headers decided before yoga answers (rate limits). */
  res: ServerResponse;
  /** Filled in while yoga works, for the request's log line and metrics. */
  observed: ObservedOperation;
  /** What the direct path leaves yoga to finish: an admitted context, a refusal, a result with errors. */
  direct?: DirectHandover;
}

export interface AppOptions {
  /** Headers GraphiQL starts with (the embedded demo key on a local machine). */
  graphiqlHeaders?: Record<string, string>;
}

export interface App {
  schema: GraphQLSchema;
  yoga: YogaServerInstance<ServerContext, GraphQLContext>;
  handle(req: IncomingMessage, res: ServerResponse): void;
}

const DEFAULT_QUERY = `# Welcome to the segment gateway.
# Your API key goes in the Headers tab: {"Authorization": "Bearer <key>"}

query Me {
  viewer {
    tenantId
    role
  }
}
`;

export function createApp(services: Services, options: AppOptions = {}): App {
  const schema = buildSchema();
  const { logger, config } = services;
  const maskedCauses = new WeakMap<GraphQLError, unknown>();
  const direct = createDirectExecution(services, schema, config.graphqlLimits);

  const yoga = createYoga<ServerContext, GraphQLContext>({
    schema,
    plugins: [
      ...operationLimitPlugins({
        limits: config.graphqlLimits,
        introspection: config.introspection,
        onRefused: countLimitRefusal,
      }),
      useCsrfPrevention(),
      useResponseGuards({ keys: services.keys, logger, maskedCauses }),
      useCompiledExecution({ onCompiledRun: direct.learn }),
    ],
    graphqlEndpoint: '/graphql',
    // POST bodies arrive read and bounded (readGraphQLBody); GET requests have none.
    maxRequestBodySize: false,
    landingPage: false,
    logging: false,
    renderGraphiQL: renderLocalGraphiQL,
    graphiql: config.graphiql
      ? {
          title: 'Segment gateway',
          defaultQuery: DEFAULT_QUERY,
          headers: JSON.stringify(options.graphiqlHeaders ?? {}),
          shouldPersistHeaders: false,
        }
      : false,
    maskedErrors: {
      isDev: false,
      maskError(error) {
        const shown = toPublicError(error);
        // Logged with its request id once the response is on its way (useResponseGuards).
        if (isMasked(shown)) maskedCauses.set(shown, unwrap(error));
        return shown;
      },
    },
    context: async ({ request, params, requestId, res, direct: handedOver }) => {
      if (handedOver) {
        if ('refusal' in handedOver) throw asRequestRefusal(handedOver.refusal);
        return handedOver.context;
      }
      try {
        return await admitRequest(services, {
          headers: request.headers,
          requestId,
          requestClass: classifyGraphQLRequest(params),
          response: res,
        });
      } catch (error) {
        throw asRequestRefusal(error);
      }
    },
  });

  const rest = createRestRouter(schema, services);
  const restRoute = routeLabeler(rest.routes);

  /** Which API a request went to, and which operation (never a raw path or id). */
  const operationOf = (method: string, pathname: string, observed: ObservedOperation): [api: string, operation: string] => {
    if (pathname === '/graphql') return ['graphql', operationLabel(observed.name)];
    if (pathname === REST_PREFIX || pathname.startsWith(`${REST_PREFIX}/`)) return ['rest', restRoute(method, pathname)];
    if (pathname === '/healthz' || pathname === '/readyz' || pathname === '/metrics') return ['ops', pathname];
    if (pathname.startsWith(GRAPHIQL_ASSETS_PATH)) return ['ops', GRAPHIQL_ASSETS_PATH];
    return ['other', 'unmatched'];
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const requestId = requestIdOf(req);
    const started = process.hrtime.bigint();
    const observed: ObservedOperation = { name: null };
    res.setHeader('x-request-id', requestId);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const url = req.url ?? '/';
      const query = url.indexOf('?');
      const pathname = query < 0 ? url : url.slice(0, query);
      const [api, operation] = operationOf(req.method ?? 'GET', pathname, observed);
      // Built whole, not spread: this runs for every request.
      const labels = { api, operation, status: String(res.statusCode) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, seconds);
      if (!logger.isLevelEnabled('info')) return;
      logger.info(
        {
          requestId,
          method: req.method,
          path: pathname,
          operation,
          status: res.statusCode,
          durationMs: seconds * 1e3,
        },
        'request',
      );
    });
    route(req, res, requestId, observed).catch((error: unknown) => {
      logger.error({ err: error, requestId }, 'request failed');
      if (!res.headersSent) sendError(res, 'INTERNAL_SERVER_ERROR', 'Unexpected error.');
      else res.destroy();
    });
  };

  const route = async (
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    observed: ObservedOperation,
  ): Promise<void> => {
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    if (pathname === '/graphql') {
      let handedOver: DirectHandover | undefined;
      if (req.method === 'POST') {
        if (!(await readGraphQLBody(req, res))) return;
        const outcome = await direct.answer(req, res, requestId, observed);
        if (outcome === true) return;
        handedOver = outcome;
      }
      await yoga.handle(req, res, { requestId, res, observed, direct: handedOver });
      return;
    }
    if (pathname.startsWith(GRAPHIQL_ASSETS_PATH) && config.graphiql) {
      await sendGraphiQLAsset(res, pathname);
      return;
    }
    if (pathname === REST_PREFIX || pathname.startsWith(`${REST_PREFIX}/`)) {
      await rest.handle(req, res, requestId);
      return;
    }
    if (pathname === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (pathname === '/readyz') {
      const ready = await ping(services.database.db);
      sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', database: ready ? 'up' : 'down' });
      return;
    }
    if (pathname === '/metrics' && config.metrics) {
      const { contentType, body } = await metricsText();
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    sendError(res, 'NOT_FOUND', `No route for ${req.method} ${pathname}`);
  };

  return { schema, yoga, handle };
}

/**
 * A POST body is read here, bounded (a mutation loading rows may carry as
 * much as the REST rows route takes), and handed to yoga whole: yoga uses a
 * body already read as it is, instead of streaming the request through a
 * Fetch-API pipeline of its own. False when the body was refused (413).
 */
async function readGraphQLBody(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  try {
    (req as IncomingMessage & { body?: Buffer }).body = await readBody(req, ROWS_JSON_BODY_LIMIT);
    return true;
  } catch (error) {
    if (!req.complete && req.destroyed) return false; // the client went away
    if (!(error instanceof RestError) || error.code !== 'PAYLOAD_TOO_LARGE') throw error;
    // The rest of the body is not worth reading to keep the connection.
    sendJson(res, 413, { errors: [{ message: error.message, extensions: { code: error.code } }] }, { connection: 'close' });
    return false;
  }
}

/** An error that refuses a whole GraphQL request, with its HTTP status. */
function asRequestRefusal(error: unknown): GraphQLError {
  if (error instanceof DomainError) {
    const status = httpStatusOf(error.code);
    return publicError(error.code, error.message, error.details, status ? { http: { status } } : {});
  }
  const shown = toPublicError(error);
  if (shown.extensions.code === 'SERVICE_UNAVAILABLE') {
    return publicError('SERVICE_UNAVAILABLE', shown.message, undefined, { http: { status: 503 } });
  }
  throw error;
}

function unwrap(error: unknown): unknown {
  return error instanceof GraphQLError && error.originalError ? error.originalError : error;
}
