/** PostgreSQL error classes the domain reacts to (SQLSTATE codes). */

function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (sqlState(error) !== '23505') return false;
  return constraint === undefined || (error as { constraint?: unknown }).constraint === constraint;
}

export function isForeignKeyViolation(error: unknown): boolean {
  return sqlState(error) === '23503';
}

/** A relation that is not there (a segment's view dropped by a delete that committed meanwhile). */
export function isUndefinedTable(error: unknown): boolean {
  return sqlState(error) === '42P01';
}

/** statement_timeout or a cancel request. */
export function isQueryCanceled(error: unknown): boolean {
  return sqlState(error) === '57014';
}

/** Deadlock or serialization failure: the transaction may simply be run again. */
export function isRetryableConflict(error: unknown): boolean {
  const state = sqlState(error);
  return state === '40001' || state === '40P01';
}

/** The database went away or cannot be reached. */
export function isConnectionFailure(error: unknown): boolean {
  const state = sqlState(error);
  if (state?.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03') return true;
  if (typeof error !== 'object' || error === null) return false;
  const message = String((error as { message?: unknown }).message ?? '');
  // node-postgres and pg-promise say so in words: a refused, reset or lost
  // connection, a connect (or wait for a pooled one) that timed out.
  return /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|disconnected client|released or lost connection/i.test(
    message,
  );
}
