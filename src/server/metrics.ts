/**
 * GET /metrics in the Prometheus text format (prom-client, one registry per server): requests by route and status,
 * active and queued generations, generated tokens, model calls and the generations each served (the batch size),
 * NFE per token, time to first block and request latency histograms, tokens/s over the last 10 s, and the
 * process's own metrics (memory, CPU, event-loop lag).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BatchStats } from '../sampling/batcher.js';
import type { DoneEvent } from '../sampling/generate.js';

const SECONDS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const RATE_WINDOW_S = 10;

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'status'>;
  private readonly tokens: Counter;
  private readonly ttfb: Histogram;
  private readonly latency: Histogram;
  private readonly nfePerToken: Histogram;
  /** recent generated-token counts, for tokens/s: [time ms, tokens] */
  private recent: [number, number][] = [];

  constructor(state: { active: () => number; queued: () => number; batch: BatchStats }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'bd3lm_' });
    this.requests = new Counter({ name: 'bd3lm_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers });
    new Gauge({ name: 'bd3lm_requests_active', help: 'generations running', registers, collect() { this.set(state.active()); } });
    new Gauge({ name: 'bd3lm_requests_queued', help: 'generations waiting for a slot', registers, collect() { this.set(state.queued()); } });
    this.tokens = new Counter({ name: 'bd3lm_generated_tokens_total', help: 'tokens generated (every choice)', registers });
    new Counter({ name: 'bd3lm_model_calls_total', help: 'model calls made (a batched call counts once)', registers, collect() { this.reset(); this.inc(state.batch.calls); } });
    new Counter({ name: 'bd3lm_model_call_sequences_total', help: 'generations served by those calls (divided by the calls: the mean batch)', registers, collect() { this.reset(); this.inc(state.batch.served); } });
    const recent = () => this.recent;
    new Gauge({
      name: 'bd3lm_tokens_per_second', help: `tokens generated per second over the last ${RATE_WINDOW_S} s`, registers,
      collect() {
        const since = performance.now() - RATE_WINDOW_S * 1000;
        this.set(recent().filter(([t]) => t >= since).reduce((n, [, k]) => n + k, 0) / RATE_WINDOW_S);
      },
    });
    this.nfePerToken = new Histogram({ name: 'bd3lm_nfe_per_token', help: 'denoiser evaluations per generated token, per request', registers, buckets: [0.125, 0.25, 0.5, 0.75, 1, 1.5, 2, 4] });
    this.ttfb = new Histogram({ name: 'bd3lm_time_to_first_block_seconds', help: 'from the start of a generation to its first block', registers, buckets: SECONDS });
    this.latency = new Histogram({ name: 'bd3lm_request_duration_seconds', help: 'generation requests, from the start of the generation to the end', registers, buckets: SECONDS });
  }

  request(route: string, status: number): void {
    this.requests.inc({ route, status: String(status) });
  }

  firstBlock(t0: number): void {
    this.ttfb.observe((performance.now() - t0) / 1000);
  }

  /** a block's tokens, as they are generated */
  generated(tokens: number): void {
    const now = performance.now();
    this.tokens.inc(tokens);
    this.recent.push([now, tokens]);
    const since = now - RATE_WINDOW_S * 1000;
    while (this.recent.length && this.recent[0][0] < since) this.recent.shift();
  }

  finished(done: DoneEvent, t0: number): void {
    this.latency.observe((performance.now() - t0) / 1000);
    const tokens = done.sequences.reduce((n, s) => n + s.tokens.length, 0);
    const nfe = done.sequences.reduce((n, s) => n + s.nfe, 0);
    if (tokens > 0) this.nfePerToken.observe(nfe / tokens);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
