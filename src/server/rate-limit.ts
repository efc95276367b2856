import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RateLimitConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { countRateLimited } from './metrics.js';
import { REQUEST_CLASSES, type RequestClass } from './request-class.js';

/** The outcome of counting one request against its key's budget. */
export interface RateLimitDecision {
  allowed: boolean;
  requestClass: RequestClass;
  /** Requests of this class allowed per window. */
  limit: number;
  remaining: number;
  /** Seconds until the window starts over. */
  resetSeconds: number;
}

export interface RateLimiter {
  /** Counts one request of `requestClass` made with an API key of a tenant. */
  consume(caller: { tenantId: string; keyId: string }, requestClass: RequestClass): Promise<RateLimitDecision>;
  close(): Promise<void>;
}

/** Redis errors repeat on every reconnection attempt; one line per interval says enough. */
const REDIS_ERROR_LOG_INTERVAL_MS = 30_000;

/**
 * Fixed-window counters per tenant, API key and class of request. In memory
 * by default; with `redisUrl`, in Redis so that every instance counts against
 * one budget, with an in-memory limiter as insurance: when Redis is down,
 * not yet connected or slower than `redisTimeoutMs`, each instance falls back
 * to counting alone rather than failing or waiting. Null when limits are off.
 */
export function createRateLimiter(config: RateLimitConfig, logger: Logger): RateLimiter | null {
  if (!config.enabled) return null;
  const redis = config.redisUrl ? connectRedis(config, logger) : null;

  const limiters = new Map<RequestClass, RateLimiterAbstract>();
  for (const requestClass of REQUEST_CLASSES) {
    const options = {
      points: config.points[requestClass],
      duration: config.windowSeconds,
      keyPrefix: `${config.redisPrefix}${requestClass}`,
    };
    const memory = new RateLimiterMemory(options);
    limiters.set(
      requestClass,
      redis
        ? new RateLimiterRedis({ ...options, storeClient: redis, rejectIfRedisNotReady: true, insuranceLimiter: memory })
        : memory,
    );
  }

  return {
    async consume(caller, requestClass) {
      const limit = config.points[requestClass];
      const decision = (allowed: boolean, res: RateLimiterRes): RateLimitDecision => ({
        allowed,
        requestClass,
        limit,
        remaining: Math.max(0, res.remainingPoints),
        resetSeconds: Math.max(allowed ? 0 : 1, Math.ceil(res.msBeforeNext / 1000)),
      });
      try {
        return decision(true, await limiters.get(requestClass)!.consume(`${caller.tenantId}:${caller.keyId}`));
      } catch (outcome) {
        if (outcome instanceof RateLimiterRes) {
          countRateLimited({ class: requestClass, tenant: caller.tenantId });
          return decision(false, outcome);
        }
        // The in-memory insurance does not fail; if anything still does, serve rather than refuse.
        logger.warn({ err: outcome, requestClass }, 'rate limiter failed; request allowed');
        return { allowed: true, requestClass, limit, remaining: limit, resetSeconds: config.windowSeconds };
      }
    },
    async close() {
      redis?.disconnect();
    },
  };
}

function connectRedis(config: RateLimitConfig, logger: Logger): Redis {
  const redis = new Redis(config.redisUrl!, {
    // A command while disconnected fails at once (and the in-memory limiter answers) instead of queueing.
    enableOfflineQueue: false,
    commandTimeout: config.redisTimeoutMs,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    // Keep trying to reconnect, never give up: the fallback serves meanwhile.
    retryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
  });
  let lastErrorLog = 0;
  let degraded = false;
  redis.on('error', (err: Error) => {
    degraded = true;
    const now = Date.now();
    if (now - lastErrorLog < REDIS_ERROR_LOG_INTERVAL_MS) return;
    lastErrorLog = now;
    logger.warn({ err: { message: err.message } }, 'Redis unavailable: rate limits are counted per instance until it is back');
  });
  redis.on('ready', () => {
    if (degraded) logger.info('Redis is back: rate limits are shared again');
    degraded = false;
  });
  return redis;
}

/** `RateLimit-*` headers of an allowed or refused request, and `Retry-After` of a refused one. */
export function rateLimitHeaders(decision: RateLimitDecision): Record<string, string> {
  return {
    'RateLimit-Limit': String(decision.limit),
    'RateLimit-Remaining': String(decision.remaining),
    'RateLimit-Reset': String(decision.resetSeconds),
    ...(decision.allowed ? {} : { 'Retry-After': String(decision.resetSeconds) }),
  };
}
