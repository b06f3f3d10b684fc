/**
 * Scenario C through the publisher SDK (`herald-push/publisher`, Herald only): `callers` concurrent
 * callers each publish one message to a random user and await it, as a backend's request handlers would;
 * the SDK coalesces them into batch requests. Messages/s, the call-to-resolve p99, the subscribers'
 * delivery p99, messages per request (from Herald's metrics), and the CPU of each side.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpuTreeMs, pinned, ROOT } from '../lib/processes.js';
import { type Figures, generatorStats, percentOfCore, type ScenarioContext } from './context.js';

/** Requests and messages Herald's publish API accepted so far (`/metrics`). */
async function publishCounts(port: number): Promise<{ requests: number; messages: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (name: string): number =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
  return {
    requests: value('herald_publish_duration_seconds_count'),
    messages: value('herald_messages_published_total'),
  };
}

interface CallersResult {
  readonly messages: number;
  readonly ms: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpuMs: number;
}

export async function sdkPublish(
  context: ScenarioContext,
  options: { callers: number; seconds: number; protocol: 'http1' | 'http2'; lingerMs: number },
): Promise<Figures> {
  const { server, generator, subscribers, generatorCore } = context;
  const settings = { port: server.port, users: subscribers, ...options };
  const [command, argv] = pinned(generatorCore, process.execPath, [
    `${ROOT}dist/bench/lib/sdk-callers.js`,
    JSON.stringify(settings),
  ]);
  const child = spawn(command, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let waiting: (() => void) | undefined;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    lines.push(...chunk.split('\n').filter((line) => line !== ''));
    waiting?.();
  });
  const next = async (event: string): Promise<Record<string, number>> => {
    const deadline = Date.now() + (options.seconds + 20) * 1000;
    for (;;) {
      const line = lines.shift();
      if (line !== undefined) {
        const parsed = JSON.parse(line) as { event: string } & Record<string, number>;
        if (parsed.event === event) return parsed;
        continue;
      }
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`SDK callers: no ${event}`);
      await new Promise<void>((resolve) => {
        waiting = resolve;
        setTimeout(resolve, 1000);
      });
    }
  };
  try {
    await next('warm');
    await generator.request({ cmd: 'expect', total: 1e12 }, 'expecting');
    const counts = await publishCounts(server.port);
    const serverCpu = cpuTreeMs(server.pid);
    child.stdin.write('go\n');
    const result = (await next('result')) as unknown as CallersResult;
    const serverCpuMs = cpuTreeMs(server.pid) - serverCpu;
    const after = await publishCounts(server.port);
    const delivered = generator.done(10_000);
    await generator.request({ cmd: 'target', total: result.messages }, 'targeted');
    await delivered;
    const stats = await generatorStats(generator);
    return {
      'C SDK messages/s': result.messages / (result.ms / 1000),
      'C SDK p50 ms': result.p50,
      'C SDK p99 ms': result.p99,
      'C SDK delivery p99 ms': stats.p99,
      'C SDK messages per request': (after.messages - counts.messages) / (after.requests - counts.requests),
      'C SDK generator CPU %': percentOfCore(result.cpuMs + stats.cpuMs, result.ms),
      'C SDK server CPU %': percentOfCore(serverCpuMs, result.ms),
    };
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
}
