import { ConfigError, loadConfig } from './config.js';
import { startGateway } from './gateway.js';
import { createLogger } from './logger.js';

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  throw error;
}

const logger = createLogger(config.logLevel);
const gateway = await startGateway(config, logger);
logger.info({ url: gateway.url, graphiql: `${gateway.url}/graphql` }, 'segment gateway listening');
if (gateway.demoKey) {
  // Printed once, on stdout, for the person who just ran `npm start`.
  process.stdout.write(
    `\nDemo tenant "demo" created. Its admin API key (also in ${config.dataDir}/demo-admin.key):\n\n  ${gateway.demoKey}\n\n` +
      `GraphiQL: ${gateway.url}/graphql\n\n`,
  );
}

let shuttingDown = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    gateway
      .stop()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'unclean shutdown');
        process.exit(1);
      });
  });
}
