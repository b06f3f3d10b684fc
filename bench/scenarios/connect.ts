/**
 * Scenarios A and D: open the subscribers (250 in flight, a sliding window, from 4 loopback addresses); D is how many
 * connections per second were registered (first bytes received), A the server's resident memory growth
 * per idle connection once they are all open (process tree, after a short settle).
 */
import { rssTreeKb } from '../lib/servers.js';
import { type Figures, type ScenarioContext, SOURCES, sleep } from './context.js';

export async function connectSubscribers(context: ScenarioContext): Promise<Figures> {
  const { kind, server, generator, subscribers } = context;
  await sleep(500);
  const before = rssTreeKb(server.pid);
  const { count, ms } = await generator.request<{ count: number; ms: number }>(
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
  if (count < subscribers) throw new Error(`${kind.name}: only ${count} of ${subscribers} connected`);
  await sleep(1500);
  return {
    'A KiB per idle connection': (rssTreeKb(server.pid) - before) / subscribers,
    'D connections/s': subscribers / (ms / 1000),
  };
}
