/**
 * Scenarios A and D: open the subscribers (250 in flight, a sliding window, from 4 loopback addresses); D is
 * how many connections per second were registered (from the first connect to the last response head), A
 * the server's resident memory growth per idle connection once they are all open (process tree, after a
 * short settle). Beside D, the CPU of the generator and of the server over the same time: the figure is
 * the server's only while the generator stays under its core.
 */
import { cpuTreeMs } from '../lib/processes.js';
import { rssTreeKb } from '../lib/servers.js';
import { type Figures, percentOfCore, type ScenarioContext, SOURCES, sleep } from './context.js';

/** What the generator's `connect` answers. */
export interface Connected {
  readonly count: number;
  readonly registered: number;
  readonly failed: number;
  /** From the first connect to the last response head received. */
  readonly ms: number;
  readonly cpuMs: number;
}

export async function connectSubscribers(context: ScenarioContext): Promise<Figures> {
  const { kind, server, generator, subscribers } = context;
  await sleep(500);
  const before = rssTreeKb(server.pid);
  const serverCpu = cpuTreeMs(server.pid);
  const connected = await generator.request<Connected>(
    {
      cmd: 'connect',
      port: server.port,
      count: subscribers,
      mode: kind.mode,
      path: kind.path,
      sources: SOURCES,
    },
    'connected',
  );
  const serverCpuMs = cpuTreeMs(server.pid) - serverCpu;
  if (connected.count < subscribers) {
    throw new Error(`${kind.name}: only ${connected.count} of ${subscribers} connected`);
  }
  await sleep(1500);
  return {
    'A KiB per idle connection': (rssTreeKb(server.pid) - before) / subscribers,
    'D connections/s': connected.registered / (connected.ms / 1000),
    'D generator CPU %': percentOfCore(connected.cpuMs, connected.ms),
    'D server CPU %': percentOfCore(serverCpuMs, connected.ms),
  };
}
