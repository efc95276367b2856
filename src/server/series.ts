import type { Registry } from 'prom-client';

/**
 * A counter and a histogram for the metrics every request updates, exposed
 * as prom-client exposes its own (the same metric objects, read by the same
 * registry: a test holds the text of both to be equal), without what each
 * prom-client call pays on the way: hashing the labels object with its keys
 * sorted and validating its names. A series is found here by its label
 * values, in the metric's label order, in one Map: ~3% of a list request's
 * CPU less (docs/performance.md).
 */

type Labels<N extends string> = Readonly<Record<N, string>>;

/** One value as prom-client's registry reads it: `labels` first, then the series' `sharedLabels`. */
interface ExposedValue {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName?: string;
  /** prom-client's buckets carry one (null without exemplars). */
  exemplar?: null;
}

interface Exposed {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: ExposedValue[];
  aggregator: 'sum';
}

abstract class LabelledSeries<N extends string, S extends { labels: Labels<N> }> {
  readonly aggregator = 'sum';
  private series = new Map<string, S>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly N[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** The series of `labels`, made on first use with its labels in the metric's order. */
  protected seriesOf(labels: Labels<N>): S {
    let key = '';
    for (const name of this.labelNames) key += `${labels[name]}\u0000`;
    let series = this.series.get(key);
    if (!series) {
      const own = {} as Record<N, string>;
      for (const name of this.labelNames) own[name] = String(labels[name]);
      series = this.create(own);
      this.series.set(key, series);
    }
    return series;
  }

  protected abstract create(labels: Labels<N>): S;

  protected all(): Iterable<S> {
    return this.series.values();
  }

  reset(): void {
    this.series = new Map();
  }

  /** What the registry writes as text: prom-client's shape, labels and shared labels apart. */
  abstract getForPromString(): Exposed;

  /** What the registry gives as JSON: the labels of each value merged, as prom-client's `get()`. */
  get(): Exposed {
    const exposed = this.getForPromString();
    return {
      ...exposed,
      values: exposed.values.map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })),
    };
  }
}

export class RequestCounter<N extends string> extends LabelledSeries<N, { labels: Labels<N>; value: number }> {
  readonly type = 'counter';

  inc(labels: Labels<N>, value = 1): void {
    if (!(value >= 0)) throw new Error('A counter only goes up');
    this.seriesOf(labels).value += value;
  }

  protected create(labels: Labels<N>) {
    return { labels, value: 0 };
  }

  getForPromString(): Exposed {
    const values = [...this.all()].map(({ labels, value }) => ({ labels: { ...labels }, value }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

interface HistogramSeries<N extends string> {
  labels: Labels<N>;
  /** Observations per bucket (not cumulative), by index of `bounds`; those above every bound are in `count` only. */
  buckets: number[];
  sum: number;
  count: number;
}

export class RequestHistogram<N extends string> extends LabelledSeries<N, HistogramSeries<N>> {
  readonly type = 'histogram';

  constructor(name: string, help: string, labelNames: readonly N[], private readonly bounds: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry);
  }

  observe(labels: Labels<N>, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const series = this.seriesOf(labels);
    series.sum += value;
    series.count += 1;
    const { bounds } = this;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        series.buckets[i]! += 1;
        return;
      }
    }
  }

  protected create(labels: Labels<N>): HistogramSeries<N> {
    return { labels, buckets: this.bounds.map(() => 0), sum: 0, count: 0 };
  }

  getForPromString(): Exposed {
    const bucket = `${this.name}_bucket`;
    const values: ExposedValue[] = [];
    for (const { labels, buckets, sum, count } of this.all()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += buckets[i]!;
        values.push({ labels: { le }, sharedLabels: labels, value: cumulative, metricName: bucket, exemplar: null });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: labels, value: count, metricName: bucket, exemplar: null },
        { labels: {}, sharedLabels: labels, value: sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: labels, value: count, metricName: `${this.name}_count` },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
