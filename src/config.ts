import path from 'node:path';

export interface Config {
  port: number;
  host: string;
  /** A real PostgreSQL; absent means the embedded one under `dataDir`. */
  databaseUrl: string | null;
  dataDir: string;
  /** HMAC secret for API keys; read from DATA_DIR for the embedded database. */
  authSecret: string | null;
  logLevel: string;
  dbPoolMax: number;
  /** Connections of the second pool that counts, previews, overlaps and refreshes use. */
  heavyPoolMax: number;
  queryTimeoutMs: number;
  /** How long a verified key is trusted before it is looked up again. */
  authCacheTtlMs: number;
  graphiql: boolean;
  introspection: boolean;
  shutdownTimeoutMs: number;
  rateLimit: RateLimitConfig;
  graphqlLimits: GraphQLLimits;
  /** Serve `/metrics`. */
  metrics: boolean;
}

/** What one GraphQL operation may ask for (src/server/operation-limits.ts). */
export interface GraphQLLimits {
  maxDepth: number;
  maxAliases: number;
  maxTokens: number;
  maxDirectives: number;
  maxCost: number;
}

/** Requests one API key may make per window, by class of request. */
export interface RateLimitConfig {
  enabled: boolean;
  windowSeconds: number;
  points: { read: number; write: number; heavy: number };
  /** Shares the counters between instances; absent means each instance counts alone. */
  redisUrl: string | null;
  /** Prefix of the counters' keys in Redis. */
  redisPrefix: string;
  /** How long a Redis command may take before the in-memory fallback answers instead. */
  redisTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads and checks the environment; every problem is reported at once. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];

  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  };
  const flag = (name: string, fallback: boolean): boolean => {
    const raw = env[name]?.toLowerCase();
    if (raw === undefined || raw === '') return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    problems.push(`${name} must be true or false (got "${env[name]}")`);
    return fallback;
  };

  const databaseUrl = env.DATABASE_URL?.trim() || null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const authSecret = env.AUTH_SECRET?.trim() || null;
  if (databaseUrl !== null && authSecret === null) {
    problems.push('AUTH_SECRET is required with DATABASE_URL (at least 32 characters; e.g. `openssl rand -hex 32`)');
  }
  if (authSecret !== null && authSecret.length < 32) {
    problems.push('AUTH_SECRET must be at least 32 characters');
  }
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    problems.push('LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent');
  }
  const host = env.HOST?.trim() || '127.0.0.1';
  const redisUrl = env.REDIS_URL?.trim() || null;
  if (redisUrl !== null && !/^rediss?:\/\//.test(redisUrl)) {
    problems.push('REDIS_URL must be a redis:// or rediss:// URL');
  }

  const dbPoolMax = integer('DB_POOL_MAX', 10, 1, 500);
  const config: Config = {
    port: integer('PORT', 4000, 0, 65_535),
    host,
    databaseUrl,
    dataDir: path.resolve(env.DATA_DIR?.trim() || '.data'),
    authSecret,
    logLevel,
    dbPoolMax,
    heavyPoolMax: integer('HEAVY_POOL_MAX', Math.max(1, Math.floor(dbPoolMax / 3)), 1, 500),
    queryTimeoutMs: integer('QUERY_TIMEOUT_MS', 15_000, 100, 3_600_000),
    authCacheTtlMs: integer('AUTH_CACHE_TTL_MS', 5_000, 0, 300_000),
    graphiql: flag('GRAPHIQL', true),
    introspection: flag('INTROSPECTION', true),
    shutdownTimeoutMs: integer('SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    rateLimit: {
      enabled: flag('RATE_LIMIT_ENABLED', true),
      windowSeconds: integer('RATE_LIMIT_WINDOW_S', 60, 1, 86_400),
      points: {
        read: integer('RATE_LIMIT_READ', 600, 1, 1_000_000),
        write: integer('RATE_LIMIT_WRITE', 120, 1, 1_000_000),
        heavy: integer('RATE_LIMIT_HEAVY', 30, 1, 1_000_000),
      },
      redisUrl,
      redisPrefix: env.RATE_LIMIT_REDIS_PREFIX?.trim() || 'sg:rl:',
      redisTimeoutMs: integer('REDIS_TIMEOUT_MS', 200, 10, 60_000),
    },
    graphqlLimits: {
      maxDepth: integer('GRAPHQL_MAX_DEPTH', 12, 1, 100),
      maxAliases: integer('GRAPHQL_MAX_ALIASES', 15, 0, 1_000),
      maxTokens: integer('GRAPHQL_MAX_TOKENS', 1_000, 100, 100_000),
      maxDirectives: integer('GRAPHQL_MAX_DIRECTIVES', 50, 0, 1_000),
      maxCost: integer('GRAPHQL_MAX_COST', 20_000, 100, 100_000_000),
    },
    metrics: flag('METRICS', true),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
