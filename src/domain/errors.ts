/**
 * Typed domain errors. The GraphQL layer maps them to `extensions.code`
 * (src/schema/errors.ts); the REST layer maps codes to statuses
 * (src/rest/errors.ts). Nothing else decides what an error means.
 */

export interface ErrorDetail {
  /** Path of the offending input, e.g. `filters[2].value`. */
  path: string;
  message: string;
}

export type DomainErrorCode =
  | 'BAD_USER_INPUT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'SERVICE_UNAVAILABLE'
  | 'QUERY_TIMEOUT';

export abstract class DomainError extends Error {
  abstract readonly code: DomainErrorCode;
  readonly details?: ErrorDetail[];

  constructor(message: string, details?: ErrorDetail[]) {
    super(message);
    this.name = new.target.name;
    if (details && details.length > 0) this.details = details;
  }
}

/** Input that breaks a rule: every problem found, each with its path. */
export class Invalid extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  constructor(message: string, details: ErrorDetail[] = []) {
    super(message, details);
  }

  static at(path: string, message: string): Invalid {
    return new Invalid(`${path}: ${message}`, [{ path, message }]);
  }

  /** Throws when `details` holds anything; the message names the first problem. */
  static throwIfAny(details: ErrorDetail[]): void {
    if (details.length === 0) return;
    const first = details[0]!;
    const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
    throw new Invalid(`${first.path}: ${first.message}${more}`, details);
  }
}

export class NotFound extends DomainError {
  readonly code = 'NOT_FOUND';
  constructor(what: string, id: string) {
    super(`${what} ${id} not found`);
  }
}

export class Conflict extends DomainError {
  readonly code = 'CONFLICT';
}

export class Unauthenticated extends DomainError {
  readonly code = 'UNAUTHENTICATED';
}

export class Forbidden extends DomainError {
  readonly code = 'FORBIDDEN';
}

export class QueryTimeout extends DomainError {
  readonly code = 'QUERY_TIMEOUT';
}

/** Too many requests of one kind from one API key in the current window. */
export class RateLimited extends DomainError {
  readonly code = 'RATE_LIMITED';
}

export class Unavailable extends DomainError {
  readonly code = 'SERVICE_UNAVAILABLE';
}
