import { Invalid, RateLimited } from '../domain/errors.js';
import type { GraphQLContext, Services } from '../schema/context.js';
import { authenticate, type HeaderSource } from './auth.js';
import { createContext } from './context.js';
import { rateLimitHeaders } from './rate-limit.js';
import type { RequestClass } from './request-class.js';

/** Where admission writes the headers a response must carry (a node `ServerResponse`). */
export interface HeaderSink {
  setHeader(name: string, value: string): unknown;
}

export interface AdmissionRequest {
  headers: HeaderSource;
  requestId: string;
  requestClass: RequestClass;
  response: HeaderSink;
}

/**
 * The one door of both APIs, after routing and before anything executes:
 * who is calling (API key), whether their key's budget for this class of
 * request allows it now (`RateLimit-*` headers on the response either way),
 * and the request's context. GraphQL calls it from yoga's context factory,
 * the REST shim from its router, so neither can bypass it.
 */
export async function admitRequest(services: Services, request: AdmissionRequest): Promise<GraphQLContext> {
  const principal = await authenticate(request.headers, services.keys);
  const limiter = services.rateLimiter;
  if (limiter) {
    const decision = await limiter.consume(principal, request.requestClass);
    for (const [name, value] of Object.entries(rateLimitHeaders(decision))) request.response.setHeader(name, value);
    if (!decision.allowed) {
      const window = services.config.rateLimit.windowSeconds;
      throw new RateLimited(
        `Too many ${decision.requestClass} requests for this API key (${decision.limit} per ${window} s); retry in ${decision.resetSeconds} s`,
      );
    }
  }
  return createContext(services, principal, request.requestId, idempotencyKeyOf(request.headers));
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** `Idempotency-Key`: 1 to 255 visible ASCII characters (a UUID, say), or absent. */
export function idempotencyKeyOf(headers: HeaderSource): string | null {
  const raw = headers.get('idempotency-key');
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (value === undefined || value === null) return null;
  if (!IDEMPOTENCY_KEY.test(value)) {
    throw Invalid.at('Idempotency-Key', 'must be 1 to 255 visible ASCII characters (a UUID, for instance)');
  }
  return value;
}
