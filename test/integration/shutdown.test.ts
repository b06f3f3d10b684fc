import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isMessage, openSse, type SseConnection } from '../helpers/sse-client.js';

const BIN = fileURLToPath(new URL('../../../bin/herald.js', import.meta.url));

/** Starts `bin/herald.js`; resolves with the URL from its "listening" log line, and the JSON lines so far. */
function startChild(
  args: string[],
): Promise<{ child: ChildProcess; url: string; lines: Record<string, unknown>[] }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Record<string, unknown>[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('herald did not start in time')), 10_000);
    child.once('exit', (code) => reject(new Error(`herald exited early with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
      const line = JSON.parse(text) as Record<string, unknown>;
      lines.push(line);
      if (typeof line.url === 'string') {
        clearTimeout(timer);
        resolve({ child, url: line.url, lines });
      }
    });
  });
}

test('SIGTERM: every accepted publish reaches every subscriber, which is told to reconnect', async () => {
  const drainTimeoutMs = 5000;
  const { child, url, lines } = await startChild([
    '--dev',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--publish-rate',
    '0',
    '--drain-timeout',
    `${drainTimeoutMs}ms`,
  ]);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    const subscribers: SseConnection[] = [];
    for (const user of ['s1', 's2', 's3']) {
      const sub = await openSse(`${url}/events?user=${user}&group=everyone`);
      await sub.waitFor(1);
      subscribers.push(sub);
    }
    const accepted: string[] = [];
    const refused = new Map<string, number>();
    let terminated = false;
    const startedAt = Date.now();
    // Bounded in count and time; each loop ends at its first failure after SIGTERM.
    const publisher = async (k: number): Promise<void> => {
      for (let i = 0; i < 3000 && Date.now() - startedAt < 15_000; i++) {
        try {
          const response = await fetch(`${url}/messages`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ to: { groups: ['everyone'] }, data: `p${k}-${i}` }),
          });
          const body = (await response.json()) as { id?: string };
          if (response.status === 202 && body.id !== undefined) accepted.push(body.id);
          else {
            refused.set(String(response.status), (refused.get(String(response.status)) ?? 0) + 1);
            if (terminated) return;
          }
        } catch {
          refused.set('network', (refused.get('network') ?? 0) + 1);
          if (terminated) return;
        }
      }
    };
    const publishers = [0, 1, 2, 3].map(publisher);
    while (accepted.length < 300 && Date.now() - startedAt < 10_000)
      await new Promise((r) => setTimeout(r, 5));
    const termAt = Date.now();
    terminated = true;
    child.kill('SIGTERM');
    await Promise.all(publishers);
    const code = await exited;
    const shutdownMs = Date.now() - termAt;
    await Promise.all(subscribers.map((sub) => sub.ended));

    assert.equal(code, 0, 'clean exit');
    assert.ok(shutdownMs < drainTimeoutMs, `exited in ${shutdownMs} ms`);
    assert.ok(accepted.length >= 300, `${accepted.length} publishes accepted before SIGTERM`);
    for (const sub of subscribers) {
      const received = new Set(sub.events.filter(isMessage).map((e) => e.id));
      const lost = accepted.filter((id) => !received.has(id));
      assert.deepEqual(lost, [], `accepted but not received (refused: ${JSON.stringify([...refused])})`);
      const last = sub.events.at(-1);
      assert.equal(last?.event, 'disconnect');
      assert.deepEqual(JSON.parse(last?.data ?? ''), { reason: 'shutdown', reconnect: true });
    }
    const messages = lines.map((line) => line.msg);
    assert.ok(messages.includes('draining') && messages.includes('drained'), JSON.stringify(messages));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
