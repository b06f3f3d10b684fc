import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Hub } from '../core/hub.js';
import type { NodeDirectory, NodeStats } from '../core/ports.js';
import type { Metrics } from './metrics.js';

export type { NodeStats };

/** Totals since start (monotonic). */
export interface StatsTotals {
  readonly published: number;
  readonly routed: number;
  readonly delivered: number;
  readonly replayed: number;
  readonly gaps: number;
  readonly slowConsumerCloses: number;
  readonly bytesOut: number;
  readonly authFailures: number;
}

/** One sample of the dashboard's time series: taken every interval. */
export interface StatsSample {
  /** Milliseconds since the epoch. */
  readonly ts: number;
  /** One entry per node: this one first, then the cluster's other live nodes (when clustered). */
  readonly nodes: readonly NodeStats[];
  readonly totals: StatsTotals;
  /** Per second over the last interval. */
  readonly rates: { readonly published: number; readonly delivered: number; readonly bytesOut: number };
}

/** Options of the sampler. */
export interface StatsOptions {
  readonly hub: Hub;
  readonly metrics: Metrics;
  readonly nodeId: string;
  /** The cluster's other nodes; absent on a single node. */
  readonly directory?: NodeDirectory | undefined;
  /** Sampling interval in milliseconds; default 1000. */
  readonly intervalMs?: number;
  /** Samples kept for a newly opened dashboard; default 300 (five minutes at one a second). */
  readonly historySize?: number;
}

/**
 * Samples the node's figures once per interval for the dashboard and keeps the last few minutes, so a page
 * opened now draws its charts at once. One timer per node, whatever the number of dashboards.
 */
export class StatsSampler {
  private readonly samples: StatsSample[] = [];
  private readonly listeners = new Set<(sample: StatsSample) => void>();
  private readonly delay = monitorEventLoopDelay({ resolution: 10 });
  private readonly timer: NodeJS.Timeout;
  private readonly intervalMs: number;
  private readonly historySize: number;

  constructor(private readonly options: StatsOptions) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.historySize = options.historySize ?? 300;
    this.delay.enable();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** The samples kept, oldest first. */
  get history(): readonly StatsSample[] {
    return this.samples;
  }

  /** The latest sample, or a fresh one before the first interval has passed. */
  latest(): StatsSample {
    return this.samples.at(-1) ?? this.take();
  }

  /** Calls `listener` with every new sample; returns the unsubscribe function. */
  subscribe(listener: (sample: StatsSample) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    clearInterval(this.timer);
    this.delay.disable();
    this.listeners.clear();
  }

  private sample(): void {
    const sample = this.take();
    this.samples.push(sample);
    if (this.samples.length > this.historySize) this.samples.shift();
    for (const listener of this.listeners) listener(sample);
  }

  private take(): StatsSample {
    const { hub, metrics, nodeId } = this.options;
    const c = hub.counters;
    const totals: StatsTotals = {
      published: metrics.publishedCount,
      routed: c.routed,
      delivered: c.delivered,
      replayed: c.replayed,
      gaps: c.gaps,
      slowConsumerCloses: c.slowConsumerCloses,
      bytesOut: c.bytesOut,
      authFailures: metrics.authFailureCount,
    };
    const ts = Date.now();
    const previous = this.samples.at(-1);
    const seconds = previous === undefined ? 0 : (ts - previous.ts) / 1000;
    const rate = (now: number, before: number | undefined): number =>
      seconds > 0 && before !== undefined ? Math.max(0, (now - before) / seconds) : 0;
    const memory = process.memoryUsage();
    const ms = (ns: number): number => (Number.isFinite(ns) ? Math.round(ns / 1e4) / 100 : 0);
    const node: NodeStats = {
      id: nodeId,
      connections: hub.connectionCount,
      users: hub.userCount,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      eventLoopLagMs: {
        mean: ms(this.delay.mean),
        p99: ms(this.delay.percentile(99)),
        max: ms(this.delay.max),
      },
    };
    this.delay.reset();
    const directory = this.options.directory;
    directory?.share(node);
    return {
      ts,
      nodes: directory === undefined ? [node] : [node, ...directory.others()],
      totals,
      rates: {
        published: rate(totals.published, previous?.totals.published),
        delivered: rate(totals.delivered, previous?.totals.delivered),
        bytesOut: rate(totals.bytesOut, previous?.totals.bytesOut),
      },
    };
  }
}
