import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Hub } from '../core/hub.js';
import type { PublishObserver } from './publish-gate.js';

/** What the metrics read when scraped. */
export interface MetricSources {
  readonly hub: Hub;
  /** True while the node drains (after SIGTERM). */
  readonly draining: () => boolean;
  /** Open admin dashboard streams. */
  readonly adminStreams: () => number;
}

/**
 * Herald's Prometheus metrics. Hot-path figures are read from the hub's plain counters at scrape time
 * (collect callbacks), so delivery does no metrics work per recipient; the rest are counted where they
 * happen, at most once per request or message. `docs/operations.md` lists every name (a test checks it).
 */
export class Metrics implements PublishObserver {
  readonly registry = new Registry();
  private readonly publishedTotal: Counter;
  private readonly publishDuration: Histogram;
  private readonly deliveryLag: Histogram;
  private readonly authFailures: Counter<'status'>;
  private readonly logErrors: Counter<'operation'>;
  /** Messages this node's API accepted, for the dashboard (the counter above is for Prometheus). */
  publishedCount = 0;
  authFailureCount = 0;

  /** `nodeId` becomes the `node` label of every series. */
  constructor(nodeId: string) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.registry });

    this.publishedTotal = new Counter({
      name: 'herald_messages_published_total',
      help: 'Messages accepted by this node’s publish API (2xx) and appended to the log',
      registers,
    });
    this.authFailures = new Counter({
      name: 'herald_auth_failures_total',
      help: 'Requests refused for their credentials: status 401 (missing or invalid) or 403 (not allowed)',
      labelNames: ['status'],
      registers,
    });
    this.logErrors = new Counter({
      name: 'herald_log_errors_total',
      help: 'Failed operations of the log backend, by operation (append, read)',
      labelNames: ['operation'],
      registers,
    });
    this.publishDuration = new Histogram({
      name: 'herald_publish_duration_seconds',
      help: 'Time the log took to accept a publish (one observation per request, batches included)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.deliveryLag = new Histogram({
      name: 'herald_delivery_lag_seconds',
      help: 'Time from the log accepting a message to this node routing it to its subscribers (once per message)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
  }

  /** Registers the figures read at scrape time from the hub and the server (gauges and mirrored counters). */
  watch(sources: MetricSources): void {
    const registers = [this.registry];
    const { hub } = sources;
    const counters = hub.counters;
    // A counter mirrored from a plain integer the hub keeps; set at scrape time.
    const mirror = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };
    gauge('herald_connections', 'Open subscriber connections on this node', () => hub.connectionCount);
    gauge(
      'herald_users',
      'Distinct users with at least one open connection on this node',
      () => hub.userCount,
    );
    gauge('herald_draining', '1 while the node is shutting down, else 0', () => (sources.draining() ? 1 : 0));
    gauge('herald_admin_streams', 'Open admin dashboard streams', sources.adminStreams);
    mirror(
      'herald_messages_routed_total',
      'Messages this node read from the log and routed to its subscriptions (every message of the cluster, once)',
      () => counters.routed,
    );
    mirror(
      'herald_messages_delivered_total',
      'Messages sent live to subscriber connections, counted once per recipient connection',
      () => counters.delivered,
    );
    mirror(
      'herald_messages_replayed_total',
      'Messages sent from history to reconnecting clients (Last-Event-ID)',
      () => counters.replayed,
    );
    mirror(
      'herald_messages_inboxed_total',
      "Messages sent from a user's inbox to a connection opened without Last-Event-ID",
      () => counters.inboxed,
    );
    mirror(
      'herald_replay_gaps_total',
      'Reconnects whose Last-Event-ID was unknown or past retention (a gap event was sent)',
      () => counters.gaps,
    );
    mirror(
      'herald_bytes_out_total',
      'Bytes of message frames written to subscriber connections (heartbeats excluded)',
      () => counters.bytesOut,
    );
    mirror(
      'herald_slow_consumer_closes_total',
      'Connections closed because their unsent output passed --max-buffered',
      () => counters.slowConsumerCloses,
    );
  }

  published(count: number, seconds: number): void {
    this.publishedCount += count;
    this.publishedTotal.inc(count);
    this.publishDuration.observe(seconds);
  }

  logError(operation: 'append' | 'read'): void {
    this.logErrors.inc({ operation });
  }

  /** A request was refused for its credentials. */
  authFailure(status: 401 | 403): void {
    this.authFailureCount++;
    this.authFailures.inc({ status: String(status) });
  }

  /** Called once per routed message with the log's acceptance time (ms since the epoch). */
  routed(acceptedAt: number): void {
    this.deliveryLag.observe(Math.max(0, Date.now() - acceptedAt) / 1000);
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
