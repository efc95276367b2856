import type { ServerResponse } from 'node:http';
import type { ErrorDetail } from '../domain/errors.js';
import type { PublicErrorCode } from '../schema/errors.js';

/** REST codes and statuses, from the GraphQL codes: the one mapping table. */
export const REST_ERRORS: Record<PublicErrorCode | 'METHOD_NOT_ALLOWED' | 'UNSUPPORTED_MEDIA_TYPE', { code: string; status: number }> = {
  BAD_USER_INPUT: { code: 'BAD_REQUEST', status: 400 },
  UNAUTHENTICATED: { code: 'UNAUTHENTICATED', status: 401 },
  FORBIDDEN: { code: 'FORBIDDEN', status: 403 },
  NOT_FOUND: { code: 'NOT_FOUND', status: 404 },
  METHOD_NOT_ALLOWED: { code: 'METHOD_NOT_ALLOWED', status: 405 },
  CONFLICT: { code: 'CONFLICT', status: 409 },
  PAYLOAD_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE', status: 413 },
  UNSUPPORTED_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 },
  RATE_LIMITED: { code: 'RATE_LIMITED', status: 429 },
  INTERNAL_SERVER_ERROR: { code: 'INTERNAL', status: 500 },
  SERVICE_UNAVAILABLE: { code: 'SERVICE_UNAVAILABLE', status: 503 },
  QUERY_TIMEOUT: { code: 'SERVICE_UNAVAILABLE', status: 503 },
};

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/** A body already written as JSON. */
export function sendJsonText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** `{"error":{"code","message","status","details"?}}`, the one error envelope of the REST API. */
export function sendError(
  res: ServerResponse,
  code: keyof typeof REST_ERRORS,
  message: string,
  details?: ErrorDetail[],
  headers: Record<string, string> = {},
): void {
  const { code: restCode, status } = REST_ERRORS[code];
  sendJson(res, status, { error: { code: restCode, message, status, ...(details ? { details } : {}) } }, headers);
}
