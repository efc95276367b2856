import { GraphQLError } from 'graphql';
import { DomainError, type ErrorDetail } from '../domain/errors.js';
import { isConnectionFailure, isQueryCanceled, isRetryableConflict } from '../sql/pg-errors.js';

/** The codes a GraphQL error may carry in `extensions.code`. */
export type PublicErrorCode =
  | 'BAD_USER_INPUT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'SERVICE_UNAVAILABLE'
  | 'QUERY_TIMEOUT'
  | 'INTERNAL_SERVER_ERROR';

/** The HTTP status a GraphQL response gets when an error refuses the whole request. */
const HTTP_STATUS: Partial<Record<PublicErrorCode, number>> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  SERVICE_UNAVAILABLE: 503,
};

export function publicError(
  code: PublicErrorCode,
  message: string,
  details?: ErrorDetail[],
  extra: Record<string, unknown> = {},
): GraphQLError {
  return new GraphQLError(message, {
    extensions: { code, ...(details ? { details } : {}), ...extra },
  });
}

export function forbiddenError(): GraphQLError {
  return publicError('FORBIDDEN', 'Your role does not allow this operation');
}

export function unauthenticatedError(message = 'A valid API key is required'): GraphQLError {
  return publicError('UNAUTHENTICATED', message, undefined, { http: { status: 401 } });
}

/** Statuses for request-level refusals (context creation), for yoga. */
export function httpStatusOf(code: PublicErrorCode): number | undefined {
  return HTTP_STATUS[code];
}

/**
 * The one mapping from what went wrong to what a client sees. Domain errors
 * keep their code and details; a database that is down or a statement that
 * ran out of time say so; anything else is masked (no SQL, no stack).
 */
export function toPublicError(error: unknown): GraphQLError {
  const original = error instanceof GraphQLError && error.originalError ? error.originalError : error;
  const path = error instanceof GraphQLError ? error.path : undefined;
  const located = (e: GraphQLError): GraphQLError => {
    if (!path) return e;
    const { nodes, source, positions } = error as GraphQLError;
    return new GraphQLError(e.message, { path, nodes, source, positions, extensions: e.extensions });
  };

  if (original instanceof DomainError) {
    return located(publicError(original.code, original.message, original.details));
  }
  if (original instanceof GraphQLError && typeof original.extensions?.code === 'string') {
    return located(original);
  }
  if (error instanceof GraphQLError && isRequestError(error)) {
    // The document or its variables: parse, validation and coercion errors.
    return error.extensions?.code ? error : located(publicError('BAD_USER_INPUT', error.message));
  }
  if (isQueryCanceled(original)) {
    return located(publicError('QUERY_TIMEOUT', 'The query ran longer than the statement timeout allows'));
  }
  if (isRetryableConflict(original)) {
    // Only after the bounded retries of src/sql/transactions.ts gave up.
    return located(publicError('SERVICE_UNAVAILABLE', 'Concurrent changes kept this request from completing; retry it'));
  }
  if (isConnectionFailure(original)) {
    return located(publicError('SERVICE_UNAVAILABLE', 'The database is unavailable; try again shortly'));
  }
  return located(publicError('INTERNAL_SERVER_ERROR', 'Unexpected error.'));
}

/**
 * An error graphql-js raised about the request itself: nothing but GraphQL
 * errors down its chain (a variable's coercion error wraps the field's).
 */
function isRequestError(error: GraphQLError): boolean {
  let cause: unknown = error.originalError;
  while (cause !== undefined && cause !== null) {
    if (!(cause instanceof GraphQLError)) return false;
    cause = cause.originalError;
  }
  return true;
}

/** True when `toPublicError` hid the cause: such errors are logged. */
export function isMasked(error: GraphQLError): boolean {
  return error.extensions?.code === 'INTERNAL_SERVER_ERROR';
}
