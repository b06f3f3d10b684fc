import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { checkModel } from './run.js';
import type { Backend } from './world.js';

/**
 * `npm run soak -- --minutes 30`: the model on every backend in turn, with random seeds, until the time
 * is up. Prints the figures (runs, operations, messages checked, faults injected); writes the first
 * counterexample to `soak-counterexample.txt` (or `--out`) and exits 1.
 * `--backend memory|sqlite|redis --seed N [--path P]` replays a case (the seed and path a failure printed).
 */
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    backend: { type: 'string' },
    seed: { type: 'string' },
    path: { type: 'string' },
    'replay-path': { type: 'string' },
    runs: { type: 'string' },
    out: { type: 'string', default: 'soak-counterexample.txt' },
  },
});
const backends: Backend[] =
  values.backend === undefined ? ['memory', 'sqlite', 'redis'] : [values.backend as Backend];
const deadline = Date.now() + Number(values.minutes) * 60_000;
const totals = {
  runs: 0,
  operations: 0,
  published: 0,
  maybe: 0,
  checked: 0,
  faults: 0,
  gaps: 0,
  fresh: 0,
  inboxed: 0,
};

let round = 0;
while (Date.now() < deadline) {
  const backend = backends[round++ % backends.length] as Backend;
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  const runs = values.runs === undefined ? 5 : Number(values.runs);
  const started = Date.now();
  const result = await checkModel({
    backend,
    runs,
    seed,
    ...(values.path === undefined ? {} : { path: values.path }),
    ...(values['replay-path'] === undefined ? {} : { replayPath: values['replay-path'] }),
    timeLimitMs: Math.max(1, deadline - Date.now()),
    onRun(model) {
      totals.runs++;
      for (const key of [
        'operations',
        'published',
        'maybe',
        'checked',
        'faults',
        'gaps',
        'fresh',
        'inboxed',
      ] as const) {
        totals[key] += model.stats[key];
      }
    },
  });
  console.log(
    `${backend} seed ${seed}: ${result.numRuns} runs in ${Math.round((Date.now() - started) / 1000)} s, ${result.failed ? 'FAILED' : 'ok'}`,
  );
  if (result.failed) {
    const report = `${backend} seed ${seed}\n${fc.defaultReportMessage(result)}\n${result.errorInstance}\n`;
    await writeFile(values.out, report);
    console.log(report);
    console.log(JSON.stringify(totals));
    process.exit(1);
  }
  if (values.seed !== undefined) break;
}
console.log(
  `soak: ${totals.runs} runs, ${totals.operations} operations, ${totals.published} messages acknowledged ` +
    `(${totals.maybe} maybe), ${totals.checked} deliveries checked, ${totals.faults} faults injected, ${totals.gaps} gaps, ` +
    `${totals.fresh} new devices that had to get ${totals.inboxed} inbox messages`,
);
