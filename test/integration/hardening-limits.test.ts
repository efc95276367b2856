import { getIntrospectionQuery, Lexer, parse, print, Source, TokenKind, validate, specifiedRules } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { Role } from '../../src/domain/keys.js';
import { ROWS_JSON_BODY_LIMIT } from '../../src/rest/body.js';
import { REST_OPERATIONS } from '../../src/rest/operations.js';
import { buildSchema } from '../../src/schema/index.js';
import { createApp } from '../../src/server/app.js';
import { operationLimitRules, withPageSizesInlined } from '../../src/server/operation-limits.js';
import { gql, startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { createShopSchemas } from '../support/segments.js';

const DEFAULT_LIMITS = loadConfig({}).graphqlLimits;

let gw: TestGateway;
let keys: Record<Role, string>;

beforeAll(async () => {
  gw = await startTestGateway();
  keys = await gw.tenantWithKeys(uniqueTenant('limits'));
  const { customers } = await createShopSchemas(gw.url, keys.editor);
  const created = await gql(gw.url, keys.editor, 'mutation($input: CreateSegmentInput!) { createSegment(input: $input) { segment { id } } }', {
    input: { name: 'everyone', baseSchemaId: customers },
  });
  expect(created.errors).toBeUndefined();
});
afterAll(() => gw?.close());

/** `segments { edges { node { baseSchema { ... } } } }` nested `times` times around `leaf`. */
function nestedSegments(times: number, leaf = 'id'): string {
  let selection = leaf;
  for (let i = 0; i < times; i++) selection = `segments { edges { node { baseSchema { ${selection} } } } }`;
  return selection;
}

/** Refused before anything runs: no data, a validation (or parse) error. Yoga answers application/json with 200. */
function expectRefused(result: Awaited<ReturnType<typeof gql>>, message: RegExp): void {
  expect(result.status).toBe(200);
  expect(result.data).toBeUndefined();
  expect(result.errors?.[0]?.extensions?.code).toMatch(/^GRAPHQL_(VALIDATION|PARSE)_FAILED$/);
  expect(result.errors?.map((e) => e.message).join('\n')).toMatch(message);
}

describe('depth', () => {
  it('a relay query of depth 8 (segments.edges.node.baseSchema.segments.edges.node.id) runs', async () => {
    const result = await gql(gw.url, keys.viewer, '{ segments { edges { node { baseSchema { segments { edges { node { id } } } } } } } }');
    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
    expect(JSON.stringify(result.data)).toMatch(/"id":"seg_/);
  });

  it('depth 12 runs, depth 13 is refused before anything runs', async () => {
    // segments.edges.node.baseSchema, twice, then segments.edges.node.id: 12 fields deep.
    const twelve = `{ ${nestedSegments(2, 'segments { edges { node { id } } }')} }`;
    expect((await gql(gw.url, keys.viewer, twelve)).errors).toBeUndefined();
    expectRefused(await gql(gw.url, keys.viewer, `{ ${nestedSegments(3)} }`), /depth limit of 12 exceeded, found 13/);
  });

  it('fragments do not hide depth', async () => {
    const query = `{ ...Deep } fragment Deep on Query { ${nestedSegments(4)} }`;
    expectRefused(await gql(gw.url, keys.viewer, query), /depth limit of 12 exceeded/);
  });

  it('a depth attack behind a field aliased __schema is refused', async () => {
    const query = `{ __schema: ${nestedSegments(4)} }`;
    expectRefused(await gql(gw.url, keys.viewer, query), /depth limit of 12 exceeded/);
  });

  it('a depth attack behind a fragment named __schema is refused', async () => {
    const query = `{ segments { edges { node { baseSchema { ...__schema } } } } }
      fragment __schema on BaseSchema { ${nestedSegments(3)} }`;
    expectRefused(await gql(gw.url, keys.viewer, query), /depth limit of 12 exceeded/);
  });

  it('a field named __schema below the root is refused', async () => {
    const query = `{ segments { edges { node { __schema { types { name } } } } } }`;
    expectRefused(await gql(gw.url, keys.viewer, query), /Cannot query field "__schema"/);
  });

  it('introspection that nests type lists is refused; the introspection GraphiQL sends runs', async () => {
    const deep = '{ __schema { types { fields { type { fields { type { fields { type { name } } } } } } } } }';
    expectRefused(await gql(gw.url, keys.viewer, deep), /Maximum introspection depth exceeded/);
    const graphiql = getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
    });
    const result = await gql<{ __schema: { types: unknown[] } }>(gw.url, keys.viewer, graphiql);
    expect(result.errors).toBeUndefined();
    expect(result.data?.__schema.types.length).toBeGreaterThan(10);
  });
});

describe('aliases, tokens and directives', () => {
  it('at most 15 aliases, __typename ones included', async () => {
    const aliases = (n: number, field: string) => Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ');
    expect((await gql(gw.url, keys.viewer, `{ ${aliases(15, '__typename')} }`)).errors).toBeUndefined();
    expectRefused(await gql(gw.url, keys.viewer, `{ ${aliases(16, '__typename')} }`), /Aliases limit of 15 exceeded/);
    expectRefused(await gql(gw.url, keys.viewer, `{ ${aliases(16, 'viewer { role }')} }`), /Aliases limit of 15 exceeded/);
  });

  it('at most 1000 tokens per document', async () => {
    const query = `{ viewer { ${'role '.repeat(1_000)} } }`;
    expectRefused(await gql(gw.url, keys.viewer, query), /Token limit of 1000 exceeded/);
  });

  it('at most 50 directives per operation', async () => {
    const query = `{ viewer { role ${'@include(if: true) '.repeat(51)} } }`;
    expectRefused(await gql(gw.url, keys.viewer, query), /Directives limit of 50 exceeded/);
  });
});

describe('cost', () => {
  const nestedPages = `query($outer: Int, $inner: Int) {
    segments(first: $outer) { edges { node { baseSchema { segments(first: $inner) { edges { node { id name } } } } } } }
  }`;

  it('a page of 100 segments with their fields runs', async () => {
    const result = await gql(gw.url, keys.viewer, `{ segments(first: 100) { totalCount edges { node {
      id name status customerCount lastRefreshedAt version baseSchema { id name tableName } } } } }`);
    expect(result.errors).toBeUndefined();
  });

  it('nested pages of 100 are refused, whether the sizes are written in the query or sent as variables', async () => {
    const literal = `{
      segments(first: 100) { edges { node { baseSchema { segments(first: 100) { edges { node { id name } } } } } } }
    }`;
    expectRefused(await gql(gw.url, keys.viewer, literal), /Cost limit of 20000 exceeded/);
    expectRefused(await gql(gw.url, keys.viewer, nestedPages, { outer: 100, inner: 100 }), /Cost limit of 20000 exceeded/);
    const small = await gql(gw.url, keys.viewer, nestedPages, { outer: 5, inner: 5 });
    expect(small.errors).toBeUndefined();
  });
});

describe('field suggestions', () => {
  const typo = '{ segments { edges { node { nme } } } }';

  it('are shown to admins only', async () => {
    const admin = await gql(gw.url, keys.admin, typo);
    expect(admin.errors?.[0]?.message).toMatch(/Did you mean "name"\?/);
    for (const key of [keys.editor, keys.viewer, null, 'sgk_not-a-key']) {
      const other = await gql(gw.url, key, typo);
      expect(other.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(other.errors?.[0]?.message).toBe('Cannot query field "nme" on type "Segment".');
    }
  });

  it('are hidden from input values and enum values too', async () => {
    const query = 'query($status: SegmentStatus) { segments(status: $status) { totalCount } }';
    const viewer = await gql(gw.url, keys.viewer, query, { status: 'activ' });
    expect(viewer.errors?.[0]?.message).toMatch(/"activ"/);
    expect(viewer.errors?.[0]?.message).not.toMatch(/Did you mean/);
    const admin = await gql(gw.url, keys.admin, query, { status: 'activ' });
    expect(admin.errors?.[0]?.message).toMatch(/Did you mean/);
  });
});

describe('request body', () => {
  it('a body declared larger than the rows route takes is refused with 413 before it is read, and the connection closed', async () => {
    const { request } = await import('node:http');
    const answer = await new Promise<{ status: number; body: string; connection?: string }>((resolve, reject) => {
      const req = request(`${gw.url}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${keys.viewer}`,
          'content-length': String(ROWS_JSON_BODY_LIMIT + 1),
        },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }));
      });
      req.on('error', reject);
      req.write('{"query":"{ viewer { role } }"');
    });
    expect(answer.status).toBe(413);
    expect(answer.connection).toBe('close');
    expect(JSON.parse(answer.body)).toEqual({
      errors: [{ message: 'The body is larger than 64 MiB', extensions: { code: 'PAYLOAD_TOO_LARGE' } }],
    });
    // The server goes on answering.
    expect((await gql(gw.url, keys.viewer, '{ viewer { role } }')).data).toEqual({ viewer: { role: 'viewer' } });
  });
});

describe('CSRF prevention', () => {
  const createKey = 'mutation { createApiKey(input: { role: viewer, name: "csrf" }) { apiKey { id } } }';

  async function keyCount(): Promise<number> {
    const result = await gql<{ apiKeys: unknown[] }>(gw.url, keys.admin, '{ apiKeys { id } }');
    return result.data!.apiKeys.length;
  }

  it('a plain HTML form POST (or another content type a browser sends unasked) cannot run a mutation', async () => {
    const before = await keyCount();
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', new URLSearchParams({ query: createKey }).toString()],
      ['text/plain', JSON.stringify({ query: createKey })],
      ['multipart/form-data; boundary=x', `--x\r\ncontent-disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query: createKey })}\r\n--x--\r\n`],
      // Safelisted by some Chromium releases: an allow list refuses it all the same.
      ['message/ad-auction-trusted-signals-request', JSON.stringify({ query: createKey })],
    ] as const) {
      const response = await fetch(`${gw.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': type, authorization: `Bearer ${keys.admin}` },
        body,
      });
      expect(response.status).toBe(403);
      const refusal = (await response.json()) as { errors: Array<{ extensions: { code: string } }> };
      expect(refusal.errors[0]?.extensions.code).toBe('FORBIDDEN');
    }
    expect(await keyCount()).toBe(before);
  });

  it('a GET needs the x-graphql-yoga-csrf header; JSON POSTs, GraphiQL and REST need nothing', async () => {
    const url = `${gw.url}/graphql?query=${encodeURIComponent('{ viewer { role } }')}`;
    const auth = { authorization: `Bearer ${keys.viewer}` };
    expect((await fetch(url, { headers: auth })).status).toBe(403);
    const withHeader = await fetch(url, { headers: { ...auth, 'x-graphql-yoga-csrf': '1' } });
    expect(withHeader.status).toBe(200);
    expect(await withHeader.json()).toEqual({ data: { viewer: { role: 'viewer' } } });

    expect((await gql(gw.url, keys.viewer, '{ viewer { role } }')).status).toBe(200);
    const page = await fetch(`${gw.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const rest = await fetch(`${gw.url}/api/v1/segments`, { headers: auth });
    expect(rest.status).toBe(200);
  });
});

describe('introspection', () => {
  const query = '{ __schema { queryType { name } } }';

  it('is open to any authenticated caller and closed to anonymous ones', async () => {
    expect((await gql(gw.url, keys.viewer, query)).data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    expect((await gql(gw.url, null, query)).status).toBe(401);
  });

  it('is refused with INTROSPECTION=false', async () => {
    const app = createApp({ ...gw.services, config: { ...gw.services.config, introspection: false } });
    for (const document of [query, '{ __type(name: "Segment") { name } }']) {
      const response = await app.yoga.fetch(
        'http://gateway.test/graphql',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.admin}` },
          body: JSON.stringify({ query: document }),
        },
        { requestId: 'introspection-off', res: { setHeader() {} } as never, observed: { name: null } },
      );
      const body = (await response.json()) as { data?: unknown; errors: Array<{ message: string }> };
      expect(body.data).toBeUndefined();
      expect(body.errors[0]?.message).toMatch(/introspection/i);
    }
  });
});

describe("the REST shim's own documents", () => {
  const schema = buildSchema();
  const rules = operationLimitRules({ limits: DEFAULT_LIMITS, introspection: false });

  function tokens(text: string): number {
    const lexer = new Lexer(new Source(text));
    let n = 0;
    while (lexer.advance().kind !== TokenKind.EOF) n++;
    return n;
  }

  it.each(REST_OPERATIONS.map((op) => [op.name, op] as const))('%s stays within every limit, at the largest page', (_name, op) => {
    expect(validate(schema, op.document, [...specifiedRules, ...rules]).map((e) => e.message)).toEqual([]);
    expect(tokens(print(op.document))).toBeLessThanOrEqual(DEFAULT_LIMITS.maxTokens);
    const largestPages = withPageSizesInlined(op.document, { first: 100, last: 100 });
    if (largestPages) expect(validate(schema, largestPages, rules).map((e) => e.message)).toEqual([]);
  });

  it('the same rules refuse a document over a lowered limit', () => {
    const strict = operationLimitRules({ limits: { ...DEFAULT_LIMITS, maxDepth: 3 }, introspection: true });
    const errors = validate(schema, parse(`{ ${nestedSegments(1)} }`), strict);
    expect(errors.map((e) => e.message)).toEqual(['Syntax Error: Query depth limit of 3 exceeded, found 5.']);
  });
});

describe('configuration', () => {
  it('limits come from the environment, and bad values are named', () => {
    const config = loadConfig({ GRAPHQL_MAX_DEPTH: '8', GRAPHQL_MAX_COST: '5000', HEAVY_POOL_MAX: '2' });
    expect(config.graphqlLimits).toMatchObject({ maxDepth: 8, maxCost: 5000, maxAliases: 15, maxTokens: 1000, maxDirectives: 50 });
    expect(config.heavyPoolMax).toBe(2);
    expect(loadConfig({ DB_POOL_MAX: '30' }).heavyPoolMax).toBe(10);
    expect(loadConfig({ DB_POOL_MAX: '2' }).heavyPoolMax).toBe(1);
    expect(() => loadConfig({ GRAPHQL_MAX_DEPTH: 'deep' })).toThrow(/GRAPHQL_MAX_DEPTH must be an integer/);
  });
});
