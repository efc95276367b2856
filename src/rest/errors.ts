import { GraphQLError } from 'graphql';
import type { ErrorDetail } from '../domain/errors.js';
import { toPublicError } from '../schema/errors.js';
import { REST_ERRORS } from '../server/respond.js';

export type RestErrorCode = keyof typeof REST_ERRORS;

/** A refusal decided by the shim itself (routing, media type, body size and syntax). */
export class RestError extends Error {
  constructor(
    readonly code: RestErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    readonly headers: Record<string, string> = {},
    /** What was hidden behind an INTERNAL error, for the log. */
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'RestError';
  }

  static badRequest(path: string, message: string): RestError {
    return new RestError('BAD_USER_INPUT', `${path}: ${message}`, [{ path, message }]);
  }
}

/**
 * Where GraphQL variables and arguments come from in a REST request, to
 * report problems under the names the client sent: `{ after: 'cursor' }`.
 * `''` marks the variable that is the request body itself.
 */
export type RestNames = Readonly<Record<string, string>>;

/** `['fields', 0, 'dataType']` under `prefix` → `fields[0].dataType`. */
export function restPath(prefix: string, path: ReadonlyArray<string | number>): string {
  let out = prefix;
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? key : `.${key}`;
  return out;
}

/** A detail path of a resolver's error, its leading argument name renamed. */
function renamed(path: string, names: RestNames): string {
  const head = /^[A-Za-z_][A-Za-z0-9_]*/.exec(path)?.[0];
  const rest = head === undefined ? undefined : names[head];
  return head === undefined || rest === undefined || rest === '' ? path : rest + path.slice(head.length);
}

/** The message of a validation error: its first detail, as `Invalid` words it. */
export function messageOf(details: ErrorDetail[]): string {
  const first = details[0]!;
  return `${first.path}: ${first.message}${details.length > 1 ? ` (and ${details.length - 1} more)` : ''}`;
}

/**
 * Any error of a REST request as the REST shim reports it. GraphQL errors go
 * through `toPublicError` (the one mapping to a code) and `REST_ERRORS` (the
 * one mapping from a code to a status); nothing here decides what an error means.
 */
export function restErrorOf(error: unknown, names: RestNames = {}): RestError {
  if (error instanceof RestError) return error;
  const shown = toPublicError(error);
  const code = shown.extensions.code;
  if (typeof code !== 'string' || !(code in REST_ERRORS)) {
    return new RestError('INTERNAL_SERVER_ERROR', 'Unexpected error.', undefined, {}, unwrap(error));
  }
  const raw = shown.extensions.details as ErrorDetail[] | undefined;
  const details = raw?.map((d) => ({ path: renamed(d.path, names), message: d.message }));
  const message = details && details.length > 0 && code === 'BAD_USER_INPUT' ? messageOf(details) : shown.message;
  const cause = code === 'INTERNAL_SERVER_ERROR' ? unwrap(error) : undefined;
  return new RestError(code as RestErrorCode, message, details && details.length > 0 ? details : undefined, {}, cause);
}

function unwrap(error: unknown): unknown {
  return error instanceof GraphQLError && error.originalError ? error.originalError : error;
}
