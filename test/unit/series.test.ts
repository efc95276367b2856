import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RequestCounter, RequestHistogram } from '../../src/server/series.js';

/**
 * The request path's counter and histogram against prom-client's own, fed
 * the same observations: the registry must write the same text and JSON.
 */

const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 1, 2.5];
const LABELS = ['api', 'operation', 'status'] as const;
type Labels = Record<(typeof LABELS)[number], string>;

function pair() {
  const theirs = new Registry();
  const ours = new Registry();
  const metrics = {
    theirs: {
      counter: new Counter({ name: 'c_total', help: 'a "counter"\\n', labelNames: LABELS, registers: [theirs] }),
      histogram: new Histogram({ name: 'h_seconds', help: 'a histogram', labelNames: LABELS, buckets: BOUNDS, registers: [theirs] }),
    },
    ours: {
      counter: new RequestCounter('c_total', 'a "counter"\\n', LABELS, ours),
      histogram: new RequestHistogram('h_seconds', 'a histogram', LABELS, BOUNDS, ours),
    },
  };
  const record = (labels: Labels, seconds: number, by = 1) => {
    for (const side of [metrics.theirs, metrics.ours]) {
      side.counter.inc(labels, by);
      side.histogram.observe(labels, seconds);
    }
  };
  return { theirs, ours, metrics, record };
}

const observations: Array<[Labels, number]> = [
  [{ api: 'graphql', operation: 'ListSegments', status: '200' }, 0.004],
  [{ api: 'graphql', operation: 'ListSegments', status: '200' }, 0.005],
  [{ api: 'graphql', operation: 'ListSegments', status: '200' }, 0.0051],
  [{ api: 'rest', operation: 'GET /api/v1/segments/{id}', status: '404' }, 0.1],
  [{ api: 'rest', operation: 'GET /api/v1/segments/{id}', status: '404' }, 7],
  [{ api: 'graphql', operation: 'ListSegments', status: '200' }, 0],
  [{ api: 'other', operation: 'a "quoted"\\ \nvalue', status: '500' }, 2.5],
  [{ api: 'graphql', operation: 'ListSegments', status: '400' }, 1e-9],
];

describe('request metrics', () => {
  it('are written as prom-client writes its counters and histograms, text and JSON', async () => {
    const { theirs, ours, record } = pair();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    for (const [labels, seconds] of observations) record(labels, seconds);
    // Labels given in another key order are the same series.
    record({ status: '200', operation: 'ListSegments', api: 'graphql' }, 0.02, 3);
    const text = await ours.metrics();
    expect(text).toContain('h_seconds_bucket{le="0.005",api="graphql",operation="ListSegments",status="200"} 3');
    expect(text).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());

    const openMetrics = (registry: Registry) => {
      const typed = registry as unknown as Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>;
      typed.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
      return typed.metrics();
    };
    expect(await openMetrics(ours)).toBe(await openMetrics(theirs));
  });

  it('reset with the registry, and refuse what prom-client refuses', async () => {
    const { theirs, ours, metrics, record } = pair();
    for (const [labels, seconds] of observations) record(labels, seconds);
    ours.resetMetrics();
    theirs.resetMetrics();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    record(observations[0]![0], 0.3);
    expect(await ours.metrics()).toBe(await theirs.metrics());

    const labels = observations[0]![0];
    expect(() => metrics.ours.histogram.observe(labels, Number.NaN)).toThrow();
    expect(() => metrics.theirs.histogram.observe(labels, Number.NaN)).toThrow();
    expect(() => metrics.ours.counter.inc(labels, -1)).toThrow();
    expect(() => metrics.theirs.counter.inc(labels, -1)).toThrow();
  });
});
