import type { LoadGenerator } from '../lib/processes.js';
import type { ServerKind, ServerUnderTest } from '../lib/servers.js';

/** What every scenario gets: one fresh server, its subscribers' load generator, the sizes and the cores. */
export interface ScenarioContext {
  readonly kind: ServerKind;
  readonly server: ServerUnderTest;
  readonly generator: LoadGenerator;
  readonly subscribers: number;
  /** The core the load generator (and wrk, and the SDK's callers) is pinned to. */
  readonly generatorCore: number;
}

/** Loopback source addresses, so 10 000 connections never run short of ephemeral ports. */
export const SOURCES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];

/** A figure per metric name; NaN where the server cannot take part. */
export type Figures = Record<string, number>;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The load generator's command that broadcasts to every subscriber of the server under test. */
export function broadcastCommand(context: ScenarioContext) {
  const { kind, server, subscribers } = context;
  return {
    cmd: 'publish',
    port: server.port,
    style: kind.style,
    pattern: 'all',
    users: subscribers,
  } as const;
}

/** What the load generator's `stats` answers (latencies in ms; -1 where it has none). */
export interface GeneratorStats {
  readonly received: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  /** Its CPU time since `expect`, ms. */
  readonly cpuMs: number;
  /** From `expect` to the last message received. */
  readonly spanMs: number;
  /** Per client that received messages since `expect`: from its connect to its last one. */
  readonly catchUp: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly live: number;
  /** Fewest and most messages one open subscriber received since `expect`. */
  readonly perConnection: { readonly min: number; readonly max: number };
}

/** The generator's stats, with its "none" (-1) as NaN. */
export async function generatorStats(generator: LoadGenerator): Promise<GeneratorStats> {
  const stats = await generator.request<GeneratorStats>({ cmd: 'stats' }, 'stats');
  const none = (value: number): number => (value < 0 ? Number.NaN : value);
  return {
    ...stats,
    p50: none(stats.p50),
    p99: none(stats.p99),
    p999: none(stats.p999),
    max: none(stats.max),
    catchUp: { p50: none(stats.catchUp.p50), p99: none(stats.catchUp.p99), max: none(stats.catchUp.max) },
  };
}

/** CPU use as a percentage of one core. */
export const percentOfCore = (cpuMs: number, wallMs: number): number => (100 * cpuMs) / wallMs;
