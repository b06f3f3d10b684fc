/**
 * SQLite log publish throughput with durability on (WAL, synchronous=FULL: every answered append is fsynced).
 * Run: `npm run build && node dist/bench/sqlite-publish.js`. Bounded: a fixed count per scenario, 20 s cap each.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteLog } from '../src/backends/sqlite/log.js';
import { loadConfig } from '../src/config.js';
import type { MessageDraft } from '../src/core/message.js';
import { createHerald } from '../src/server.js';

const TIME_CAP_MS = 20_000;
const draft = (i: number): MessageDraft => ({
  topics: ['all'],
  data: JSON.stringify({ i, pad: 'x'.repeat(100) }),
});

interface Row {
  scenario: string;
  messages: number;
  seconds: number;
}

async function timed(scenario: string, run: (deadline: number) => Promise<number>): Promise<Row> {
  const started = performance.now();
  const messages = await run(Date.now() + TIME_CAP_MS);
  return { scenario, messages, seconds: (performance.now() - started) / 1000 };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'herald-bench-sqlite-'));
  const rows: Row[] = [];
  let file = 0;
  const open = () =>
    new SqliteLog({ path: join(dir, `b${++file}.db`), historySize: 100_000, historyAgeMs: 3_600_000 });
  try {
    const one = open();
    rows.push(
      await timed('append, 1 in flight', async (deadline) => {
        let n = 0;
        for (; n < 2000 && Date.now() < deadline; n++) await one.append(draft(n));
        return n;
      }),
    );
    await one.close();

    const concurrent = open();
    rows.push(
      await timed('append, 64 in flight (group commit)', async (deadline) => {
        let n = 0;
        const worker = async (): Promise<void> => {
          while (n < 50_000 && Date.now() < deadline) await concurrent.append(draft(n++));
        };
        await Promise.all(Array.from({ length: 64 }, worker));
        return n;
      }),
    );
    await concurrent.close();

    const batched = open();
    rows.push(
      await timed('appendMany, batches of 100', async (deadline) => {
        let n = 0;
        while (n < 100_000 && Date.now() < deadline) {
          await batched.appendMany(Array.from({ length: 100 }, (_, i) => draft(n + i)));
          n += 100;
        }
        return n;
      }),
    );
    await batched.close();

    const config = { ...loadConfig([], {}), host: '127.0.0.1', port: 0, dev: true, logLevel: 'silent' };
    const herald = await createHerald({ ...config, log: `sqlite:${join(dir, 'http.db')}` });
    const url = await herald.listen();
    const target = new URL(url);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const body = JSON.stringify({ to: { all: true }, data: { pad: 'x'.repeat(100) } });
    const post = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const request = http.request(
          {
            host: target.hostname,
            port: target.port,
            path: '/messages',
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode ?? 0));
          },
        );
        request.on('error', reject);
        request.end(body);
      });
    rows.push(
      await timed('POST /messages over HTTP, 32 in flight', async (deadline) => {
        let n = 0;
        const worker = async (): Promise<void> => {
          while (n < 20_000 && Date.now() < deadline) {
            n++;
            const status = await post();
            if (status !== 202) throw new Error(`publish answered ${status}`);
          }
        };
        await Promise.all(Array.from({ length: 32 }, worker));
        return n;
      }),
    );
    agent.destroy();
    await herald.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  console.log('SQLite log publish throughput (WAL, synchronous=FULL)');
  console.log(
    `${'scenario'.padEnd(42)} ${'messages'.padStart(9)} ${'seconds'.padStart(8)} ${'msg/s'.padStart(9)}`,
  );
  for (const row of rows) {
    const rate = Math.round(row.messages / row.seconds);
    console.log(
      `${row.scenario.padEnd(42)} ${String(row.messages).padStart(9)} ${row.seconds.toFixed(2).padStart(8)} ${String(rate).padStart(9)}`,
    );
  }
}

await main();
