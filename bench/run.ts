/**
 * `npm run bench`: every scenario, printed as tables. Options (environment):
 * BENCH_SUBSCRIBERS (default 10000), BENCH_RUNS (default 3; medians are reported).
 */
import { type BroadcastResult, broadcast } from './broadcast.js';
import { median, printTable } from './lib/stats.js';

const subscribers = Number(process.env.BENCH_SUBSCRIBERS ?? 10_000);
const runs = Number(process.env.BENCH_RUNS ?? 3);

const results: BroadcastResult[] = [];
for (let run = 1; run <= runs; run++) {
  process.stderr.write(`broadcast run ${run}/${runs} with ${subscribers} subscribers…\n`);
  results.push(await broadcast({ subscribers, saturationMessages: 200, latencyRate: 5, latencySeconds: 10 }));
}
const pick = (key: keyof BroadcastResult): number => median(results.map((r) => r[key]));
printTable(`Broadcast to ${subscribers} subscribers, one Herald node (median of ${runs} runs)`, [
  {
    scenario: 'B broadcast',
    'deliveries/s (saturation)': Math.round(pick('deliveriesPerSecond')),
    'p50 ms @5/s': pick('p50Ms'),
    'p99 ms @5/s': pick('p99Ms'),
    'RSS KiB/connection': pick('rssPerConnectionKb'),
  },
]);
