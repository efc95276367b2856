import autocannon from 'autocannon';
import { quantile, round } from './util.js';

/** One HTTP request a load repeats. */
export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadResult {
  requestsPerSecond: number;
  /** Milliseconds, from every response (sub-millisecond resolution). */
  p50: number;
  p99: number;
  max: number;
  requests: number;
  /** Connection errors and timeouts, non-2xx answers, bodies unlike the expected one. */
  errors: number;
  seconds: number;
}

export interface LoadOptions {
  connections: number;
  seconds: number;
  /** When given, a response whose body differs counts as an error (GraphQL answers errors with 200). */
  expectBody?: string;
}

/**
 * Runs autocannon against `url` for a fixed time. `requests` rotate per
 * connection when more than one is given (e.g. one key per tenant).
 */
export async function runLoad(url: string, requests: LoadRequest | LoadRequest[], options: LoadOptions): Promise<LoadResult> {
  const list = Array.isArray(requests) ? requests : [requests];
  const first = list[0]!;
  const latencies: number[] = [];
  const instance = autocannon({
    url: `${url}${first.path}`,
    connections: options.connections,
    duration: options.seconds,
    timeout: 30,
    ...(list.length === 1
      ? { method: first.method, headers: first.headers ?? {}, ...(first.body === undefined ? {} : { body: first.body }) }
      : {
          requests: list.map((r) => ({
            method: r.method,
            path: r.path,
            headers: r.headers ?? {},
            ...(r.body === undefined ? {} : { body: r.body }),
          })),
        }),
    ...(options.expectBody === undefined ? {} : { expectBody: options.expectBody }),
  });
  // autocannon's own histogram keeps whole milliseconds; keep the exact times.
  (instance as unknown as NodeJS.EventEmitter).on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
    latencies.push(ms);
  });
  const result = await instance;
  return {
    requestsPerSecond: round(result.requests.total / result.duration, 1),
    p50: round(quantile(latencies, 0.5), 2),
    p99: round(quantile(latencies, 0.99), 2),
    max: round(quantile(latencies, 1), 2),
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx + (result.mismatches ?? 0),
    seconds: round(result.duration, 2),
  };
}

/** Warm-up (not recorded), then the measurement. */
export async function warmAndRun(
  url: string,
  requests: LoadRequest | LoadRequest[],
  options: LoadOptions & { warmupSeconds: number },
): Promise<LoadResult> {
  if (options.warmupSeconds > 0) {
    await runLoad(url, requests, { connections: options.connections, seconds: options.warmupSeconds });
  }
  return runLoad(url, requests, options);
}

/** Sends one request and returns the status and body, to check what a load is about to repeat. */
export async function probe(url: string, request: LoadRequest): Promise<{ status: number; body: string }> {
  const response = await fetch(`${url}${request.path}`, {
    method: request.method,
    headers: request.headers ?? {},
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  return { status: response.status, body: await response.text() };
}
