/**
 * Preloaded into a server (`--import`) to sample what it allocates over one window, garbage included:
 * V8's sampling heap profiler, told to keep the samples that minor and major GCs collected, which
 * `--heap-prof` drops (it shows what is live at exit, not what a publish costs the young generation).
 *
 *   BENCH_ALLOC_WINDOW=13.5,17 BENCH_NODE_FLAGS="--import $PWD/dist/bench/alloc-sampler.js" \
 *     BENCH_ONLY=herald,C BENCH_RUNS=1 node dist/bench/run.js
 *   node dist/bench/alloc-top.js /tmp/alloc-<pid>.heapprofile
 *
 * `BENCH_ALLOC_WINDOW` is `<from>,<to>` in seconds after the process starts (find a scenario's window
 * with `profile-top --timeline`); the profile goes to `BENCH_ALLOC_DIR` (default `/tmp`).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const [from = 0, to = 10] = (process.env.BENCH_ALLOC_WINDOW ?? '0,10').split(',').map(Number);
const session = new Session();
session.connect();
const post = (method: string, params: object = {}): Promise<Record<string, unknown>> =>
  new Promise((resolve, reject) =>
    session.post(method, params, (error, result) =>
      error ? reject(error) : resolve((result ?? {}) as Record<string, unknown>),
    ),
  );

/** Samples from `from` to `to`, then writes the profile; a failure is reported, never thrown into the server. */
async function sampleWindow(): Promise<void> {
  await post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMinorGC: true,
    includeObjectsCollectedByMajorGC: true,
  });
  await new Promise((resolve) => setTimeout(resolve, (to - from) * 1000).unref());
  const { profile } = await post('HeapProfiler.stopSampling');
  const file = join(process.env.BENCH_ALLOC_DIR ?? '/tmp', `alloc-${process.pid}.heapprofile`);
  writeFileSync(file, JSON.stringify(profile));
  process.stderr.write(`alloc-sampler: ${file}\n`);
}

setTimeout(() => {
  sampleWindow().catch((error: Error) => process.stderr.write(`alloc-sampler failed: ${error.message}\n`));
}, from * 1000).unref();
