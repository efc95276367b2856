import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.js';
import { DomainError } from './domain/errors.js';
import { listApiKeys, mintApiKey, revokeApiKey } from './domain/keys.js';
import { seedDemoTenant } from './domain/demo.js';
import { createTenant, getTenant } from './domain/tenants.js';
import { openDatabase } from './database.js';
import type { Db } from './sql/db.js';
import { migrate } from './sql/migrate.js';

const USAGE = `Usage: segment-gateway <command>

Commands:
  migrate                                   apply pending migrations
  tenants create <tenantId>                 create a tenant and its namespace
  keys create --tenant <id> --role <admin|editor|viewer> [--name <label>]
                                            mint a key; prints only the key
  keys list --tenant <id>                   list a tenant's keys (prefixes only)
  keys revoke <keyId>                       revoke a key
  demo seed --tenant <id> [--customers N]   demo schemas and synthetic data

Uses DATABASE_URL (with AUTH_SECRET), or the embedded database in DATA_DIR.`;

class UsageError extends Error {}

type Handler = (config: Config, args: string[]) => Promise<void>;

const commands: Record<string, Handler> = {
  migrate: async (config) => {
    const opened = await openDatabase(config);
    try {
      const { applied } = await migrate(opened.database.db);
      console.error(applied.length ? `applied: ${applied.join(', ')}` : 'nothing to apply');
    } finally {
      await opened.close();
    }
  },

  'tenants create': (config, args) => {
    const [tenantId, ...rest] = args;
    if (!tenantId || rest.length > 0) throw new UsageError('tenants create takes exactly one tenant id');
    return withDatabase(config, async ({ db }) => {
      const tenant = await createTenant(db, tenantId);
      console.error(`tenant ${tenant.id} created (namespace ${tenant.namespace})`);
    });
  },

  'keys create': (config, args) => {
    const { values } = strictOptions(args, { tenant: true, role: true, name: false });
    return withDatabase(config, async ({ db, authSecret }) => {
      const { key, info } = await mintApiKey(db, authSecret, {
        tenantId: values.tenant!,
        role: values.role!,
        name: values.name ?? null,
      });
      console.error(`key ${info.id} (${info.role}) created for tenant ${info.tenantId}; it is shown only once`);
      process.stdout.write(`${key}\n`);
    });
  },

  'demo seed': (config, args) => {
    const { values } = strictOptions(args, { tenant: true, customers: false });
    const customers = values.customers === undefined ? 10_000 : Number(values.customers);
    if (!Number.isSafeInteger(customers) || customers < 0) throw new UsageError('--customers must be a whole number');
    return withDatabase(config, async ({ db }) => {
      const tenant = (await getTenant(db, values.tenant!)) ?? (await createTenant(db, values.tenant!));
      const started = Date.now();
      const result = await seedDemoTenant(db, tenant, customers, config);
      console.error(
        `tenant ${tenant.id}: ${result.customers.total} customers (${result.customers.inserted} new), ` +
          `${result.orders.total} orders (${result.orders.inserted} new), ${result.segmentsCreated} segments created ` +
          `in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    });
  },

  'keys list': (config, args) => {
    const { values } = strictOptions(args, { tenant: true });
    return withDatabase(config, async ({ db }) => {
      const keys = await listApiKeys(db, values.tenant!);
      for (const k of keys) {
        const state = k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active';
        console.log([k.id, `${k.prefix}…`, k.role, state, k.name ?? ''].join('\t'));
      }
    });
  },

  'keys revoke': (config, args) => {
    const [keyId, ...rest] = args;
    if (!keyId || rest.length > 0) throw new UsageError('keys revoke takes exactly one key id');
    return withDatabase(config, async ({ db }) => {
      const info = await revokeApiKey(db, keyId, null);
      console.error(`key ${info.id} revoked`);
    });
  },
};

function strictOptions<K extends string>(args: string[], spec: Record<K, boolean>) {
  const options = Object.fromEntries(Object.keys(spec).map((k) => [k, { type: 'string' as const }]));
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values = parsed.values as Partial<Record<K, string>>;
  for (const [name, required] of Object.entries(spec) as [K, boolean][]) {
    if (required && !values[name]) throw new UsageError(`--${name} is required`);
  }
  return { values };
}

async function withDatabase(
  config: Config,
  work: (handle: { db: Db; authSecret: string }) => Promise<void>,
): Promise<void> {
  const opened = await openDatabase(config);
  try {
    await migrate(opened.database.db);
    await work({ db: opened.database.db, authSecret: opened.authSecret });
  } finally {
    await opened.close();
  }
}

export async function runCli(argv: string[]): Promise<number> {
  const [first, second, ...rest] = argv;
  const twoWords = `${first} ${second}`;
  const handler = commands[twoWords] ?? (first ? commands[first] : undefined);
  const args = commands[twoWords] ? rest : [second, ...rest].filter((a): a is string => a !== undefined);
  if (!handler || first === 'help' || first === '--help') {
    console.error(USAGE);
    return first === 'help' || first === '--help' ? 0 : 2;
  }
  try {
    await handler(loadConfig(), args);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof ConfigError || error instanceof DomainError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await runCli(process.argv.slice(2));
