import type { LoadGenerator } from '../lib/processes.js';
import type { ServerKind, ServerUnderTest } from '../lib/servers.js';

/** What every scenario gets: one fresh server, its subscribers' load generator, and the sizes. */
export interface ScenarioContext {
  readonly kind: ServerKind;
  readonly server: ServerUnderTest;
  readonly generator: LoadGenerator;
  readonly subscribers: number;
}

/** Loopback source addresses, so 10 000 connections never run short of ephemeral ports. */
export const SOURCES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];

/** A figure per metric name; NaN where the server cannot take part. */
export type Figures = Record<string, number>;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The load generator's command that broadcasts to every subscriber of the server under test. */
export function broadcastCommand(context: ScenarioContext): Record<string, unknown> {
  const { kind, server, subscribers } = context;
  return { cmd: 'publish', port: server.port, style: kind.style, pattern: 'all', users: subscribers };
}
