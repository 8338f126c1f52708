// Prometheus text exposition (format 0.0.4) for the Fachdienst: requests and latency per operation, errors.
// Small on purpose: counters and one histogram, labels are the route pattern (never an id, never a query), so no
// PrescriptionID, KVNR, AccessCode or Secret can end up in a label. Each process counts its own requests; with
// several workers Prometheus scrapes each (or sums what the load balancer shows).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Upper bounds of the latency buckets, seconds. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

interface Series {
  operation: string;
  method: string;
  status: number;
  count: number;
}

interface Latency {
  buckets: number[];
  sum: number;
  count: number;
}

export class FachdienstMetrics {
  private readonly requests = new Map<string, Series>();
  private readonly latency = new Map<string, Latency>();
  private readonly startedAt = Date.now();

  /** Records one answered request; `operation` is the route pattern such as `/Task/:id/$accept`. */
  observe(method: string, operation: string, status: number, seconds: number): void {
    const key = `${method} ${operation} ${status}`;
    const series = this.requests.get(key) ?? { operation, method, status, count: 0 };
    series.count++;
    this.requests.set(key, series);
    const latencyKey = `${method} ${operation}`;
    let l = this.latency.get(latencyKey);
    if (!l) {
      l = { buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.latency.set(latencyKey, l);
    }
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]) l.buckets[i]++;
    l.sum += seconds;
    l.count++;
  }

  /** The Prometheus text format. */
  render(): string {
    const out: string[] = [];
    out.push('# HELP erx_fachdienst_requests_total Answered requests by operation, method and status code.');
    out.push('# TYPE erx_fachdienst_requests_total counter');
    for (const s of this.requests.values()) {
      out.push(`erx_fachdienst_requests_total{${labels({ operation: s.operation, method: s.method, status: String(s.status) })}} ${s.count}`);
    }
    out.push('# HELP erx_fachdienst_errors_total Requests answered with a 5xx status, by operation.');
    out.push('# TYPE erx_fachdienst_errors_total counter');
    const errors = new Map<string, { operation: string; method: string; count: number }>();
    for (const s of this.requests.values()) {
      if (s.status < 500) continue;
      const key = `${s.method} ${s.operation}`;
      const e = errors.get(key) ?? { operation: s.operation, method: s.method, count: 0 };
      e.count += s.count;
      errors.set(key, e);
    }
    for (const e of errors.values()) out.push(`erx_fachdienst_errors_total{${labels({ operation: e.operation, method: e.method })}} ${e.count}`);
    out.push('# HELP erx_fachdienst_request_duration_seconds Time from request to response, by operation.');
    out.push('# TYPE erx_fachdienst_request_duration_seconds histogram');
    for (const [key, l] of this.latency) {
      const [method, operation] = splitOnce(key);
      const base = { operation, method };
      LATENCY_BUCKETS.forEach((le, i) => out.push(`erx_fachdienst_request_duration_seconds_bucket{${labels({ ...base, le: String(le) })}} ${l.buckets[i]}`));
      out.push(`erx_fachdienst_request_duration_seconds_bucket{${labels({ ...base, le: '+Inf' })}} ${l.count}`);
      out.push(`erx_fachdienst_request_duration_seconds_sum{${labels(base)}} ${l.sum}`);
      out.push(`erx_fachdienst_request_duration_seconds_count{${labels(base)}} ${l.count}`);
    }
    out.push('# HELP erx_fachdienst_process_start_time_seconds Start of this process, seconds since the epoch.');
    out.push('# TYPE erx_fachdienst_process_start_time_seconds gauge');
    out.push(`erx_fachdienst_process_start_time_seconds ${Math.floor(this.startedAt / 1000)}`);
    return out.join('\n') + '\n';
  }
}

function splitOnce(key: string): [string, string] {
  const i = key.indexOf(' ');
  return [key.slice(0, i), key.slice(i + 1)];
}

function labels(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`)
    .join(',');
}

/** The route pattern of a request; unmatched paths count as `(unmatched)` so scanners cannot grow the label set. */
function operationOf(request: FastifyRequest): string {
  return request.routeOptions?.url ?? '(unmatched)';
}

/** Counts every answered request and serves GET /metrics (text/plain; version=0.0.4). */
export function registerMetrics(app: FastifyInstance, metrics = new FachdienstMetrics()): FachdienstMetrics {
  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    metrics.observe(request.method, operationOf(request), reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  app.get('/metrics', async (_request, reply) => {
    return reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8').send(metrics.render());
  });
  return metrics;
}
