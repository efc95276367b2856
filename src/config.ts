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
  queryTimeoutMs: number;
  /** How long a verified key is trusted before it is looked up again. */
  authCacheTtlMs: number;
  graphiql: boolean;
  introspection: boolean;
  shutdownTimeoutMs: number;
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

  const config: Config = {
    port: integer('PORT', 4000, 0, 65_535),
    host,
    databaseUrl,
    dataDir: path.resolve(env.DATA_DIR?.trim() || '.data'),
    authSecret,
    logLevel,
    dbPoolMax: integer('DB_POOL_MAX', 10, 1, 500),
    queryTimeoutMs: integer('QUERY_TIMEOUT_MS', 15_000, 100, 3_600_000),
    authCacheTtlMs: integer('AUTH_CACHE_TTL_MS', 5_000, 0, 300_000),
    graphiql: flag('GRAPHIQL', true),
    introspection: flag('INTROSPECTION', true),
    shutdownTimeoutMs: integer('SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
