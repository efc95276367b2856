import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  getOperationAST,
  getVariableValues,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import type { GraphQLLimits } from '../config.js';
import { mediaType } from '../rest/body.js';
import type { GraphQLContext, Services } from '../schema/context.js';
import { admitRequest } from './admission.js';
import { asInterpreted, type Compiled } from './compiled-execution.js';
import type { ObservedOperation } from './graphql-guards.js';
import { metrics } from './metrics.js';
import { costRefusals } from './operation-limits.js';
import { classifyOperation, type RequestClass } from './request-class.js';
import { sendJsonText } from './respond.js';
import { planSegmentList, type SegmentListPlan } from './segment-list-plan.js';

/**
 * A query document yoga has already parsed, validated (operation limits
 * included), executed and compiled: what the direct path needs to answer it
 * again without yoga's pipeline.
 */
interface KnownOperation {
  document: DocumentNode;
  operation: OperationDefinitionNode;
  requestClass: RequestClass;
  compiled: Compiled;
  /** Set when PostgreSQL can write the whole answer (segment-list-plan.ts). */
  plan: SegmentListPlan | null;
}

/**
 * What the direct path hands yoga when it does not answer a request itself
 * after admitting it: the request's context (admission is not done twice, a
 * rate limit is not counted twice), or the refusal admission raised, and the
 * result when execution ended with errors (yoga masks, logs and answers
 * them, exactly as it does for its own runs).
 */
export type DirectHandover = { refusal: unknown } | { context: GraphQLContext; result?: ExecutionResult };

const ANSWERED = Symbol('answered');
const WRITTEN_BY_DATABASE = Symbol('written by the database');
type Outcome = typeof ANSWERED | typeof WRITTEN_BY_DATABASE | DirectHandover | undefined;

/** How many known documents are kept; past that the oldest is forgotten (and learnt again on its next run). */
const KNOWN_DOCUMENTS = 1_000;
const PARAMETERS = new Set(['query', 'operationName', 'variables']);
/**
 * Larger bodies go to yoga without being parsed here first: a read's body is
 * a document and a few variables, while a `loadRows` mutation may carry
 * megabytes that would otherwise be parsed twice.
 */
const DIRECT_BODY_LIMIT = 256 * 1024;
const MEDIA_TYPES = ['application/graphql-response+json', 'application/json'] as const;

export interface DirectExecution {
  /**
   * Learns a document from yoga's run of it (the compiled execution plugin
   * calls this once the document is compiled): queries only.
   */
  learn(query: string, operationName: string | null | undefined, document: DocumentNode, compiled: Compiled): void;
  /**
   * Answers a GraphQL POST whose body has been read, when it can: `true`
   * when the response was sent, otherwise what yoga is to be handed (or
   * undefined: yoga handles the request from the start).
   */
  answer(req: IncomingMessage & { body?: Buffer }, res: ServerResponse, requestId: string, observed: ObservedOperation): Promise<true | DirectHandover | undefined>;
}

/**
 * The direct path for GraphQL reads: a POST of a query document this
 * process has already answered through yoga (so it parsed, passed
 * validation and every operation limit, and was compiled by graphql-jit) is
 * answered from here, by the same admission, the same compiled function
 * and graphql-js's own variable coercion, and written as yoga writes it.
 *
 * Everything else goes to yoga, untouched: documents not yet known,
 * mutations, GET requests, batches, `extensions`, bodies over 256 KiB,
 * requests with an `Origin`
 * (CORS headers are yoga's), an `Accept` that yoga's regular JSON answer
 * would not satisfy, variables that do not coerce, page sizes over the cost
 * limit. A request admitted here but answered with errors is handed to yoga
 * with its context and result, so that masking, logging and status codes
 * have one implementation.
 */
export function createDirectExecution(services: Services, schema: GraphQLSchema, limits: GraphQLLimits): DirectExecution {
  const known = new Map<string, KnownOperation>();
  const keyOf = (query: string, operationName: string | null | undefined) => `${operationName ?? ''}\u0000${query}`;

  const attempt = async (
    req: IncomingMessage & { body?: Buffer },
    res: ServerResponse,
    requestId: string,
    observed: ObservedOperation,
  ): Promise<Outcome> => {
    if (req.headers.origin !== undefined || !req.body || req.body.length > DIRECT_BODY_LIMIT) return undefined;
    if (mediaType(req.headers['content-type']) !== 'application/json') return undefined;
    const answerType = responseMediaType(req.headers.accept);
    if (!answerType) return undefined;
    const params = parseParams(req.body);
    if (!params) return undefined;
    const entry = known.get(keyOf(params.query, params.operationName));
    if (!entry) return undefined;

    const variables = params.variables ?? {};
    let coercedVariables: Record<string, unknown> = {};
    if (entry.operation.variableDefinitions?.length) {
      const coerced = getVariableValues(schema, entry.operation.variableDefinitions, variables, { maxErrors: 50 });
      if (coerced.errors) return undefined;
      coercedVariables = coerced.coerced;
    }
    if (costRefusals(schema, entry.document, variables, limits).length > 0) return undefined;

    observed.name = entry.operation.name?.value ?? null;
    let context: GraphQLContext;
    try {
      context = await admitRequest(services, {
        headers: { get: (name) => req.headers[name] },
        requestId,
        requestClass: entry.requestClass,
        response: res,
      });
    } catch (refusal) {
      return { refusal };
    }
    if (entry.plan) {
      // Whatever the plan does not write (a refusal, a bad argument, a failed statement) the compiled run answers.
      const written = await entry.plan.answer(context, coercedVariables).catch((error: unknown) => {
        context.logger.debug({ err: error }, 'list not written by the database; the compiled execution answers it');
        return null;
      });
      if (written !== null) {
        send(res, answerType, written);
        return WRITTEN_BY_DATABASE;
      }
    }
    const result = (await entry.compiled.query(undefined, context, variables)) as ExecutionResult;
    if (result.errors?.length || result.extensions) {
      return { context, result: result.errors?.length ? asInterpreted(result, entry.document.loc?.source) : result };
    }
    send(res, answerType, entry.compiled.stringify(result));
    return ANSWERED;
  };

  return {
    learn(query, operationName, document, compiled) {
      const operation = getOperationAST(document, operationName);
      if (operation?.operation !== 'query') return;
      const key = keyOf(query, operationName);
      if (known.has(key)) return;
      if (known.size >= KNOWN_DOCUMENTS) known.delete(known.keys().next().value!);
      known.set(key, {
        document,
        operation,
        requestClass: classifyOperation(document, operationName),
        compiled,
        plan: planSegmentList(schema, document, operation),
      });
    },

    async answer(req, res, requestId, observed) {
      const outcome = await attempt(req, res, requestId, observed);
      if (outcome === undefined) return undefined;
      const answered = outcome === ANSWERED || outcome === WRITTEN_BY_DATABASE;
      metrics.graphqlDirect.inc({ outcome: outcome === WRITTEN_BY_DATABASE ? 'written_by_database' : answered ? 'answered' : 'handed_over' });
      return answered ? true : outcome;
    },
  };
}

function send(res: ServerResponse, answerType: string, body: string): void {
  sendJsonText(res, 200, body, { 'content-type': `${answerType}; charset=utf-8` });
}

/**
 * The media type yoga would answer a regular result in, for this `Accept`
 * (graphql-yoga's result processors: for a regular result the regular
 * processor wins whenever it matches, and among its two types the one
 * matched by the earliest accepted type; `*` matches, only UTF-8 counts), or
 * null when yoga would answer otherwise (an event stream, multipart, 406).
 */
export function responseMediaType(accept: string | undefined): (typeof MEDIA_TYPES)[number] | null {
  const key = accept ?? '';
  let chosen = answerTypes.get(key);
  if (chosen === undefined) {
    chosen = negotiate(accept);
    if (answerTypes.size >= KNOWN_ACCEPT_HEADERS) answerTypes.clear();
    answerTypes.set(key, chosen);
  }
  return chosen;
}

/** The answers for the `Accept` headers seen last: clients send the same one on every request. */
const answerTypes = new Map<string, (typeof MEDIA_TYPES)[number] | null>();
const KNOWN_ACCEPT_HEADERS = 64;

function negotiate(accept: string | undefined): (typeof MEDIA_TYPES)[number] | null {
  const asked = (accept || '*/*')
    .replace(/\s/g, '')
    .toLowerCase()
    .split(',')
    .filter((entry) => {
      const charset = entry.split(';').slice(1).find((p) => p.includes('charset='));
      return charset === undefined || charset === 'charset=utf-8';
    })
    .map((entry) => entry.split(';')[0]!)
    .reverse();
  let chosen: (typeof MEDIA_TYPES)[number] | null = null;
  for (const type of asked) {
    const [pre, suf] = type.split('/');
    const matches = (candidate: string) => {
      const [cPre, cSuf] = candidate.split('/');
      return (pre === '*' || pre === cPre) && (suf === '*' || suf === cSuf);
    };
    for (const candidate of MEDIA_TYPES) if (matches(candidate)) chosen = candidate;
  }
  return chosen;
}

/** The body's GraphQL parameters, or null for anything but a single request of known parameters. */
function parseParams(body: Buffer): { query: string; operationName?: string | null; variables?: Record<string, unknown> | null } | null {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const params = value as Record<string, unknown>;
  for (const key of Object.keys(params)) if (!PARAMETERS.has(key)) return null;
  if (typeof params.query !== 'string') return null;
  if (params.operationName != null && typeof params.operationName !== 'string') return null;
  const variables = params.variables;
  if (variables != null && (typeof variables !== 'object' || Array.isArray(variables))) return null;
  return params as { query: string; operationName?: string | null; variables?: Record<string, unknown> | null };
}
