import type { IncomingMessage } from 'node:http';
import { RestError } from './errors.js';

/** JSON bodies of segment and schema routes. */
export const JSON_BODY_LIMIT = 1024 * 1024;
/** JSON rows posted to a schema's data route (CSV is streamed, without a total limit). */
export const ROWS_JSON_BODY_LIMIT = 64 * 1024 * 1024;

export type BodyKind = 'json' | 'csv';

/** The media type of a `Content-Type` header, lower-cased, without its parameters. */
export function mediaType(header: string | null | undefined): string | undefined {
  return header?.split(';')[0]?.trim().toLowerCase() || undefined;
}

function isJsonMediaType(type: string): boolean {
  return type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

/**
 * What the body is, among the kinds a route accepts. A body without a
 * Content-Type is read as JSON (curl and most clients send one anyway);
 * anything else, or an encoded body, is 415.
 */
export function bodyKindOf(req: IncomingMessage, accepted: readonly BodyKind[]): BodyKind {
  const encoding = req.headers['content-encoding']?.trim().toLowerCase();
  if (encoding && encoding !== 'identity') {
    throw new RestError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Encoding ${encoding} is not supported; send the body unencoded`,
    );
  }
  const type = mediaType(req.headers['content-type']);
  if (type === undefined || isJsonMediaType(type)) {
    if (accepted.includes('json')) return 'json';
  } else if (type === 'text/csv' && accepted.includes('csv')) {
    return 'csv';
  }
  const wanted = accepted.map((k) => (k === 'json' ? 'application/json' : 'text/csv')).join(' or ');
  throw new RestError(
    'UNSUPPORTED_MEDIA_TYPE',
    `Content-Type ${type ?? '(none)'} is not accepted here; send ${wanted}`,
  );
}

function tooLarge(limit: number): RestError {
  return new RestError('PAYLOAD_TOO_LARGE', `The body is larger than ${formatBytes(limit)}`);
}

function formatBytes(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n} bytes`;
}

/**
 * The body's chunks. Leaving the loop early (a body too large, a CSV value
 * refused) must not destroy the request: that would reset the connection
 * before the refusal is answered. The router closes it after answering.
 */
export function bodyChunks(req: IncomingMessage): AsyncIterable<Buffer> {
  return { [Symbol.asyncIterator]: () => req.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer> };
}

/**
 * The whole body, refused as soon as it is known to exceed `limit` bytes
 * (the request is paused then, not destroyed, as `bodyChunks` leaves it).
 * Read from the stream's events: every GraphQL POST comes this way, and an
 * async iterator over the request cost a small body more than its reading.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit));
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error?: unknown) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', settle);
      req.off('close', onClose);
      if (error === undefined) return resolve(Buffer.concat(chunks, size));
      req.pause();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) settle(tooLarge(limit));
      else chunks.push(chunk);
    };
    const onEnd = () => settle();
    // Closed before its end: the client went away.
    const onClose = () => settle(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', settle);
    req.on('close', onClose);
  });
}

/**
 * A JSON object body. Its fields are checked by the GraphQL input type it
 * becomes (or by `onlyFields` where it is spread over several arguments).
 */
export async function readJsonObject(req: IncomingMessage, limit = JSON_BODY_LIMIT): Promise<Record<string, unknown>> {
  bodyKindOf(req, ['json']);
  return parseJsonObject(await readBody(req, limit));
}

export function parseJsonObject(body: Buffer): Record<string, unknown> {
  const text = body.toString('utf8').replace(/^\uFEFF/, '');
  if (text.trim() === '') throw new RestError('BAD_USER_INPUT', 'A JSON object body is required');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof SyntaxError ? `: ${error.message}` : '';
    throw new RestError('BAD_USER_INPUT', `The body is not valid JSON${reason}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RestError('BAD_USER_INPUT', 'The body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** Refuses body fields a route does not read, so that a typo is not silently ignored. */
export function onlyFields(body: Record<string, unknown>, known: readonly string[]): void {
  const unknown = Object.keys(body).filter((k) => !known.includes(k));
  if (unknown.length === 0) return;
  const details = unknown.map((path) => ({ path, message: `is not a known field (expected ${known.join(', ')})` }));
  throw new RestError('BAD_USER_INPUT', `${details[0]!.path}: ${details[0]!.message}`, details);
}
