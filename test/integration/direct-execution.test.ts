import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/keys.js';
import { responseMediaType } from '../../src/server/direct-execution.js';
import { metrics } from '../../src/server/metrics.js';
import { startTestGateway, uniqueTenant, type TestGateway } from '../support/gateway.js';
import { createShopSchemas } from '../support/segments.js';

/**
 * The direct path for known query documents against yoga: a document's
 * first two runs go through yoga (the second compiles it and teaches it to
 * the direct path), later runs are answered directly or handed to yoga with
 * their context and result. Every answer must be the one yoga gave, byte for
 * byte, with the same status and headers.
 */

let gw: TestGateway;
let keys: Record<Role, string>;
let segmentId: string;

beforeAll(async () => {
  gw = await startTestGateway({ env: { RATE_LIMIT_ENABLED: 'true', GRAPHQL_MAX_COST: '5000' } });
  keys = await gw.tenantWithKeys(uniqueTenant('direct'));
  const schemas = await createShopSchemas(gw.url, keys.editor);
  for (const name of ['vip', 'recent', 'lapsed']) {
    const created = await post(
      'mutation($input: CreateSegmentInput!) { createSegment(input: $input) { segment { id } } }',
      { input: { name, baseSchemaId: schemas.customers } },
      { authorization: `Bearer ${keys.editor}` },
    );
    segmentId = (JSON.parse(created.text) as { data: { createSegment: { segment: { id: string } } } }).data.createSegment.segment.id;
  }
});

afterAll(() => gw?.close());

interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** Headers whose values differ from one request to the next. */
const VARYING = new Set(['date', 'x-request-id', 'ratelimit-remaining', 'ratelimit-reset', 'ratelimit', 'keep-alive']);

async function post(
  query: string,
  variables: Record<string, unknown> | undefined,
  headers: Record<string, string>,
  extra: Record<string, unknown> = {},
): Promise<Answer> {
  const response = await fetch(`${gw.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables, ...extra }),
  });
  const text = await response.text();
  const kept = [...response.headers].filter(([name]) => !VARYING.has(name));
  return { status: response.status, headers: Object.fromEntries(kept), text };
}

async function directCounts(): Promise<{ answered: number; handed_over: number }> {
  const { values } = await metrics.graphqlDirect.get();
  const count = (outcome: string) => values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  // Answered there, by the compiled function or with JSON PostgreSQL wrote (list-sql.test.ts).
  return { answered: count('answered') + count('written_by_database'), handed_over: count('handed_over') };
}

/** Runs a document four times; the first answer (yoga, graphql-js) and what the direct path did with the last two. */
async function fourRuns(query: string, variables: Record<string, unknown> | undefined, headers: Record<string, string>) {
  const answers: Answer[] = [];
  const before = await directCounts();
  for (let i = 0; i < 2; i++) answers.push(await post(query, variables, headers));
  const learnt = await directCounts();
  for (let i = 0; i < 2; i++) answers.push(await post(query, variables, headers));
  const after = await directCounts();
  expect(learnt).toEqual(before);
  return {
    answers,
    answered: after.answered - learnt.answered,
    handedOver: after.handed_over - learnt.handed_over,
  };
}

const bearer = (role: Role) => ({ authorization: `Bearer ${keys[role]}` });

describe('the direct path', () => {
  const cases: Array<[string, string, Record<string, unknown> | undefined, Role, 'answered' | 'handed over' | 'yoga']> = [
    [
      'the benchmark list',
      'query List($n: Int!) { segments(first: $n) { edges { node { id name customerCount baseSchema { name } } } } }',
      { n: 2 },
      'viewer',
      'answered',
    ],
    [
      'fragments, aliases, skip, cursors and the total',
      `query Page($n: Int!, $skip: Boolean!) {
         segments(first: $n) { totalCount pageInfo { hasNextPage endCursor } ...Edges }
         one: segments(last: 1) { edges { cursor node { __typename id baseSchemaName } } }
       }
       fragment Edges on SegmentConnection { edges { node { id name @skip(if: $skip) status createdAt baseSchema { name fields { name } } } } }`,
      { n: 3, skip: true },
      'viewer',
      'answered',
    ],
    ['a field refused to a viewer', '{ segments(first: 2) { edges { node { id preview { count } } } } }', undefined, 'viewer', 'handed over'],
    ['a missing node', '{ a: node(id: "seg_nope") { id } b: segment(id: "seg_nope") { id } }', undefined, 'viewer', 'answered'],
    ['a bad cursor', '{ segments(first: 1, after: "not-a-cursor") { totalCount } }', undefined, 'viewer', 'handed over'],
    // graphql-jit would write the fragment's fields after the others: never compiled, so never known here.
    [
      'fragments before fields',
      '{ segments(first: 2) { ...Total edges { node { ... on Segment { name } id } } } } fragment Total on SegmentConnection { totalCount }',
      undefined,
      'viewer',
      'yoga',
    ],
  ];

  it.each(cases)('%s: answers what yoga answered', async (_name, query, variables, role, path) => {
    const { answers, answered, handedOver } = await fourRuns(query, variables, bearer(role));
    for (const answer of answers.slice(1)) expect(answer).toEqual(answers[0]);
    if (path !== 'yoga') expect(path === 'answered' ? answered : handedOver).toBe(2);
    expect(answered + handedOver).toBe(path === 'yoga' ? 0 : 2);
  });

  it('answers in the media type yoga would, and leaves yoga what only yoga answers', async () => {
    const accepts: Array<[string | null, boolean]> = [
      [null, true],
      ['*/*', true],
      ['application/json', true],
      ['application/graphql-response+json', true],
      ['application/graphql-response+json, application/json;q=0.9', true],
      ['application/json, application/graphql-response+json', true],
      ['application/*', true],
      ['application/json; charset=latin1, application/graphql-response+json', true],
      ['text/event-stream', false],
      ['multipart/mixed', false],
      ['text/html', false],
    ];
    for (const [index, [accept, direct]] of accepts.entries()) {
      // A document of its own per Accept (spaces differ), so that its first runs are yoga's.
      const query = `{ viewer { role }${' '.repeat(index + 1)}}`;
      const headers = { ...bearer('viewer'), ...(accept === null ? {} : { accept }) };
      const { answers, answered } = await fourRuns(query, undefined, headers);
      for (const answer of answers.slice(1)) expect(answer, `Accept: ${accept}`).toEqual(answers[0]);
      expect(answered, `Accept: ${accept}`).toBe(direct ? 2 : 0);
      const type = answers[0]!.headers['content-type']?.split(';')[0];
      expect(responseMediaType(accept ?? undefined), `Accept: ${accept}`).toBe(direct ? type : null);
    }
  });

  it('leaves a known document to yoga when its variables, page size, origin or parameters ask for it', async () => {
    const query = 'query Sized($n: Int!) { segments(first: $n) { edges { node { id } } } }';
    // Unknown to the direct path: what yoga alone answers.
    const twin = `${query} `;
    await fourRuns(query, { n: 1 }, bearer('viewer'));
    const variants: Array<[string, (q: string) => Promise<Answer>]> = [
      ['a variable that does not coerce', (q) => post(q, { n: 'three' }, bearer('viewer'))],
      ['a page size over the cost limit', (q) => post(q, { n: 100_000 }, bearer('viewer'))],
      ['a missing variable', (q) => post(q, {}, bearer('viewer'))],
      ['an Origin (CORS headers are yoga’s)', (q) => post(q, { n: 1 }, { ...bearer('viewer'), origin: 'https://app.example' })],
      ['extensions', (q) => post(q, { n: 1 }, bearer('viewer'), { extensions: {} })],
      ['a body over 256 KiB', (q) => post(q, { n: 1, padding: 'x'.repeat(300_000) }, bearer('viewer'))],
      ['an unknown parameter', (q) => post(q, { n: 1 }, bearer('viewer'), { unexpected: 1 })],
      ['another operation name', (q) => post(q, { n: 1 }, bearer('viewer'), { operationName: 'Other' })],
    ];
    for (const [name, send] of variants) {
      const before = await directCounts();
      const answer = await send(query);
      expect(await directCounts(), name).toEqual(before);
      expect(answer, name).toEqual(await send(twin));
    }
    const cors = await post(query, { n: 1 }, { ...bearer('viewer'), origin: 'https://app.example' });
    expect(cors.headers['access-control-allow-origin']).toBe('https://app.example');
  });

  it('hands a refused admission to yoga, which answers it as it answers its own', async () => {
    const query = '{ viewer { tenantId } }';
    await fourRuns(query, undefined, bearer('viewer'));
    const unknownQuery = '{ viewer { tenantId }  }';
    const refused: Array<Record<string, string>> = [
      { authorization: 'Bearer sgk_not_a_key' },
      {},
      { ...bearer('viewer'), 'x-tenant-id': 'someone-else' },
    ];
    for (const headers of refused) {
      const before = await directCounts();
      const direct = await post(query, undefined, headers);
      const after = await directCounts();
      const viaYoga = await post(unknownQuery, undefined, headers);
      expect(after.handed_over - before.handed_over).toBe(1);
      expect(direct.status).toBeGreaterThanOrEqual(400);
      expect(direct).toEqual(viaYoga);
    }
  });

  it('runs the operation the request names, in a document of several', async () => {
    const document = 'query A { viewer { role } } query B { viewer { tenantId } }';
    for (let i = 0; i < 3; i++) {
      const a = await post(document, undefined, bearer('viewer'), { operationName: 'A' });
      expect(JSON.parse(a.text)).toEqual({ data: { viewer: { role: 'viewer' } } });
    }
    for (let i = 0; i < 3; i++) {
      const b = await post(document, undefined, bearer('viewer'), { operationName: 'B' });
      expect(Object.keys((JSON.parse(b.text) as { data: { viewer: object } }).data.viewer)).toEqual(['tenantId']);
    }
  });

  it('never takes a mutation', async () => {
    const mutation = 'mutation($id: ID!, $d: String) { updateSegment(input: { id: $id, description: $d }) { segment { description } } }';
    const before = await directCounts();
    for (let i = 0; i < 4; i++) {
      const answer = await post(mutation, { id: segmentId, d: `run ${i}` }, bearer('editor'));
      expect(JSON.parse(answer.text)).toEqual({ data: { updateSegment: { segment: { description: `run ${i}` } } } });
    }
    expect(await directCounts()).toEqual(before);
  });

  it('counts against the same rate limit as yoga', async () => {
    const query = '{ viewer { role } }';
    const first = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer('admin') },
      body: JSON.stringify({ query }),
    });
    const remaining = Number(first.headers.get('ratelimit-remaining'));
    for (let i = 0; i < 3; i++) await post(query, undefined, bearer('admin'));
    const last = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer('admin') },
      body: JSON.stringify({ query }),
    });
    expect(Number(last.headers.get('ratelimit-remaining'))).toBe(remaining - 4);
  });
});
