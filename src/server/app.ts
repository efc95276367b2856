import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { DomainError } from '../domain/errors.js';
import type { GraphQLContext, Services } from '../schema/context.js';
import { isMasked, publicError, toPublicError } from '../schema/errors.js';
import { buildSchema } from '../schema/index.js';
import { createRestRouter, REST_PREFIX } from '../rest/router.js';
import { ping } from '../sql/db.js';
import { authenticate } from './auth.js';
import { createContext } from './context.js';
import { requestIdOf } from './request-id.js';
import { GRAPHIQL_ASSETS_PATH, renderLocalGraphiQL, sendGraphiQLAsset } from './graphiql-assets.js';
import { sendError, sendJson } from './respond.js';

export interface ServerContext {
  requestId: string;
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

  const yoga = createYoga<ServerContext, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
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
        if (isMasked(shown)) logger.error({ err: unwrap(error) }, 'unexpected error');
        return shown;
      },
    },
    context: async ({ request, requestId }) => {
      try {
        const principal = await authenticate(request.headers, services.keys);
        return createContext(services, principal, requestId);
      } catch (error) {
        throw asRequestRefusal(error);
      }
    },
  });

  const rest = createRestRouter(schema, services);

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const requestId = requestIdOf(req);
    const started = process.hrtime.bigint();
    res.setHeader('x-request-id', requestId);
    res.on('finish', () => {
      logger.info(
        {
          requestId,
          method: req.method,
          path: req.url?.split('?')[0],
          status: res.statusCode,
          durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        },
        'request',
      );
    });
    route(req, res, requestId).catch((error: unknown) => {
      logger.error({ err: error, requestId }, 'request failed');
      if (!res.headersSent) sendError(res, 'INTERNAL_SERVER_ERROR', 'Unexpected error.');
      else res.destroy();
    });
  };

  const route = async (req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> => {
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    if (pathname === '/graphql') {
      await yoga.handle(req, res, { requestId });
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
    sendError(res, 'NOT_FOUND', `No route for ${req.method} ${pathname}`);
  };

  return { schema, yoga, handle };
}

/** An error that refuses a whole GraphQL request, with its HTTP status. */
function asRequestRefusal(error: unknown): GraphQLError {
  if (error instanceof DomainError) {
    const status = error.code === 'UNAUTHENTICATED' ? 401 : error.code === 'FORBIDDEN' ? 403 : undefined;
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
