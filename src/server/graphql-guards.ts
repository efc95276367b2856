import { GraphQLError, getOperationAST, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../logger.js';
import type { KeyVerifier, Principal } from '../domain/keys.js';
import { publicError } from '../schema/errors.js';
import { mediaType } from '../rest/body.js';
import { authenticate } from './auth.js';

/**
 * A page of another site can make a browser send a form
 * (`application/x-www-form-urlencoded`, `multipart/form-data`, `text/plain`),
 * a plain GET, or (in some Chromium releases) a few more content types,
 * without asking the server first. A GraphQL request must therefore have a
 * content type no browser sends unasked, `application/json` (as GraphiQL,
 * curl and every GraphQL client send it) or `application/graphql`, or carry
 * this header, which only a preflighted request can have. An allow list,
 * not Apollo's list of the three form types: it stays right when a browser
 * adds a safelisted type.
 */
export const CSRF_HEADER = 'x-graphql-yoga-csrf';
const PREFLIGHTED_CONTENT_TYPES = new Set(['application/json', 'application/graphql']);

/** CSRF prevention: refuses what a page of another site could send unasked. */
export function useCsrfPrevention(requestHeaders: readonly string[] = [CSRF_HEADER]): Plugin {
  return {
    onRequestParse({ request }) {
      const type = mediaType(request.headers.get('content-type'));
      const preflighted =
        (type !== undefined && PREFLIGHTED_CONTENT_TYPES.has(type)) || requestHeaders.some((name) => request.headers.has(name));
      if (!preflighted) {
        throw publicError(
          'FORBIDDEN',
          `Send GraphQL requests as application/json, or with an ${requestHeaders[0]} header (CSRF prevention)`,
          undefined,
          { http: { status: 403 } },
        );
      }
    },
  };
}

/** What the HTTP layer learns about a GraphQL request while yoga handles it (metrics, logs). */
export interface ObservedOperation {
  /** The operation's name; null for an anonymous one or a document that does not parse. */
  name: string | null;
}

/** Context fields these plugins read; the server context and the request context both carry them. */
interface GuardedContext {
  requestId?: string;
  principal?: Principal | null;
  observed?: ObservedOperation;
  params?: { operationName?: string | null };
}

const SUGGESTION = /Did you mean [^?]*\?/;
const SUGGESTIONS = /\s*Did you mean [^?]*\?/g;

/**
 * "Did you mean ...?" hints name fields, arguments and enum values the caller
 * did not ask for. Only admins see them; everyone else gets the same message
 * without the hint. Done on the result rather than in validation, because
 * yoga caches validation results by document, for every caller alike.
 */
function hideSuggestions(errors: readonly GraphQLError[]): GraphQLError[] {
  return errors.map((error) =>
    SUGGESTION.test(error.message)
      ? new GraphQLError(withoutSuggestions(error.message), {
          nodes: error.nodes,
          source: error.source,
          positions: error.positions,
          path: error.path,
          originalError: error.originalError,
          extensions: error.extensions,
        })
      : error,
  );
}

/** The message without its "Did you mean ...?" hints; REST strips them with this too. */
export function withoutSuggestions(message: string): string {
  return message.replace(SUGGESTIONS, '').trim();
}

export interface GuardOptions {
  keys: KeyVerifier;
  logger: Logger;
  /** Errors whose cause `maskError` hid, to be logged with the request id. */
  maskedCauses: WeakMap<GraphQLError, unknown>;
}

/**
 * What every GraphQL response goes through before it is sent: suggestions
 * only for admins, 503 when the database was unavailable and nothing could
 * be answered, masked errors logged with their request id, and the
 * operation's name noted for metrics.
 */
export function useResponseGuards(options: GuardOptions): Plugin {
  return {
    onValidate({ context, params }) {
      const ctx = context as GuardedContext;
      if (!ctx.observed) return;
      const operation = getOperationAST(params.documentAST, ctx.params?.operationName ?? undefined);
      ctx.observed.name = operation?.name?.value ?? null;
    },
    async onExecutionResult({ result, setResult, context, request }) {
      if (Array.isArray(result) || !isExecutionResult(result) || !result.errors?.length) return;
      let next: ExecutionResult = result;
      if (result.errors.some((e) => SUGGESTION.test(e.message)) && (await roleOf(context as GuardedContext, request, options.keys)) !== 'admin') {
        next = { ...next, errors: hideSuggestions(result.errors) };
      }
      if (next.data == null && result.errors.some((e) => e.extensions?.code === 'SERVICE_UNAVAILABLE')) {
        next = { ...next, extensions: { ...next.extensions, http: { status: 503 } } };
      }
      if (next !== result) setResult(next);
    },
    onResultProcess({ result, serverContext }) {
      const results = Array.isArray(result) ? result : [result];
      for (const one of results) {
        if (!isExecutionResult(one)) continue;
        for (const error of one.errors ?? []) {
          if (!options.maskedCauses.has(error)) continue;
          const requestId = (serverContext as GuardedContext).requestId;
          options.logger.error({ err: options.maskedCauses.get(error), requestId }, 'unexpected error');
          options.maskedCauses.delete(error);
        }
      }
    },
  };
}

function isExecutionResult(value: unknown): value is ExecutionResult {
  return typeof value === 'object' && value !== null && !(Symbol.asyncIterator in value);
}

/**
 * The caller's role: from the request's context once it is built, else (the
 * document failed validation before authentication) from its key.
 */
async function roleOf(context: GuardedContext, request: Request, keys: KeyVerifier): Promise<string | null> {
  if (context.principal) return context.principal.role;
  try {
    return (await authenticate(request.headers, keys)).role;
  } catch {
    return null;
  }
}
