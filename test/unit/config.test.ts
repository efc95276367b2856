import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('configuration', () => {
  it('defaults to the embedded database on 127.0.0.1:4000', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 4000, host: '127.0.0.1', databaseUrl: null });
    expect(config.dataDir).toMatch(/\.data$/);
  });

  it('requires AUTH_SECRET with DATABASE_URL and reports every problem at once', () => {
    let error: unknown;
    try {
      loadConfig({ DATABASE_URL: 'mysql://x', PORT: 'eighty', QUERY_TIMEOUT_MS: '5' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/DATABASE_URL must be a postgres/);
    expect(problems).toMatch(/AUTH_SECRET is required/);
    expect(problems).toMatch(/PORT must be an integer/);
    expect(problems).toMatch(/QUERY_TIMEOUT_MS/);
  });

  it('takes a real database with a long enough secret', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u@h/db', AUTH_SECRET: 'x'.repeat(32), PORT: '8080' });
    expect(config).toMatchObject({ databaseUrl: 'postgres://u@h/db', port: 8080 });
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u@h/db', AUTH_SECRET: 'short' })).toThrow(/at least 32/);
  });
});
