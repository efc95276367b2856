/**
 * The gateway exactly as `npm start` runs it, less graphql-shield: the shield
 * plugin's afterBuild (which wraps the guarded resolvers in shield's
 * middleware) is replaced by the identity before the schema is built, and
 * its verdict on a rule (for the paths that answer without executing) by `true`, so
 * the difference between this server and the real one is the cost of the
 * rules. For benchmarking only; nothing in src/ knows about it.
 * Authentication still runs (it happens before execution, not in shield),
 * so every resolver still finds its tenant in the context.
 */
import { ShieldPlugin } from '../src/schema/shield-plugin.js';

// (No `graphql` import here: from bench/ it would resolve to PostGraphile's graphql 15.)
ShieldPlugin.prototype.afterBuild = (schema) => schema;
// The paths that check a root field's rule without executing it (the REST list, lists PostgreSQL writes) pass too.
ShieldPlugin.verdict = () => Promise.resolve(true);

await import('../src/main.js');
