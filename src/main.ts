import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { startServerDatabase } from './sql/embedded.js';

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

// The embedded database starts first, in its own thread (a new one copied
// from the demo template), while the gateway's modules load here.
const embedded = startServerDatabase(config);
// Awaited by the gateway; this only keeps its failure from going unhandled when loading fails first.
embedded?.catch(() => {});
const { startGateway } = await import('./gateway.js');
const logger = createLogger(config.logLevel);
const gateway = await startGateway(config, logger, { embedded });
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
