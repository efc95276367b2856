/**
 * The peer: PostGraphile v4 serving the same rows. It is a benchmark-only
 * dependency of bench/package.json (with its graphql 15), so the product's
 * tree never carries it. It serves the schema `bench_pg`, which the bench
 * fills with views over one tenant's `segments` and `base_schemas` (see
 * bench/api-reads.ts), with smart comments for their keys and relation.
 *
 *   { allSegments(first: 20, orderBy: [CREATED_AT_ASC, ID_ASC]) { edges { node { id name customerCount baseSchemaByBaseSchemaId { name } } } } }
 */
import { createServer } from 'node:http';
import postgraphilePackage from 'postgraphile';

const { postgraphile } = postgraphilePackage;

const middleware = postgraphile(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/sg_bench', 'bench_pg', {
  // Production settings: no GraphiQL, no watch, no query log, reads only.
  graphiql: false,
  watchPg: false,
  disableQueryLog: true,
  disableDefaultMutations: true,
  legacyRelations: 'omit',
  dynamicJson: true,
  setofFunctionsContainNulls: false,
  retryOnInitFail: false,
});

const server = createServer((req, res) => {
  if (req.url === '/readyz') {
    // Ready once the schema is introspected: ask for the one field we serve.
    void middleware
      .getGraphQLSchema()
      .then(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"status":"ready"}');
      })
      .catch(() => {
        res.writeHead(503);
        res.end();
      });
    return;
  }
  void middleware(req, res);
});
server.keepAliveTimeout = 5_000;
server.listen(Number(process.env.PORT ?? 4200), '127.0.0.1');

process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
