/**
 * Reads a V8 CPU profile (`--cpu-prof`) for the before/after notes in docs/benchmarks.md.
 * Run: `node dist/bench/profile-top.js <file.cpuprofile> [count] [options]`
 * - no option: the top frames by self time;
 * - `--from <s> --to <s>`: only the samples in that window (seconds from the profile's start), e.g. one
 *   scenario's phase;
 * - `--inclusive`: frames by inclusive time (each frame counted once per sample it is on the stack of);
 * - `--timeline <ms>`: the busy share per window of that length, to find a phase's window.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type CallFrame, frameName } from './lib/frames.js';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: number[];
}
interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    from: { type: 'string' },
    to: { type: 'string' },
    inclusive: { type: 'boolean', default: false },
    timeline: { type: 'string' },
  },
});
const [file, countArg] = positionals;
if (file === undefined) throw new Error('usage: profile-top <file.cpuprofile> [count] [options]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parentOf = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);

function nameOf(id: number): string {
  return frameName((byId.get(id) as ProfileNode).callFrame);
}

// Each sample with its time from the first sample, in microseconds.
const samples: { id: number; at: number }[] = [];
let clock = 0;
for (let i = 0; i < profile.samples.length; i++) {
  clock += profile.timeDeltas[i] ?? 0;
  samples.push({ id: profile.samples[i] as number, at: clock });
}
const start = samples[0]?.at ?? 0;

/** The busy share per window of `windowMs`, to find a phase (a scenario) in the profile. */
function printTimeline(windowMs: number): void {
  const windowUs = windowMs * 1000;
  const windows: { busy: number; total: number }[] = [];
  for (const { id, at } of samples) {
    const slot = Math.floor((at - start) / windowUs);
    while (windows.length <= slot) windows.push({ busy: 0, total: 0 });
    const window = windows[slot] as { busy: number; total: number };
    window.total++;
    if (nameOf(id) !== '(idle)') window.busy++;
  }
  for (const [slot, { busy, total }] of windows.entries()) {
    const percent = total === 0 ? 0 : (100 * busy) / total;
    console.log(
      `${((slot * windowUs) / 1e6).toFixed(2).padStart(7)} s  ${percent.toFixed(0).padStart(3)}% busy`,
    );
  }
}

/** The top `count` frames by self or inclusive time over the samples between `from` and `to` (µs). */
function printTop(count: number, from: number, to: number, inclusive: boolean): void {
  const counts = new Map<string, number>();
  let total = 0;
  for (const { id, at } of samples) {
    if (at - start < from || at - start > to) continue;
    total++;
    if (!inclusive) {
      const key = nameOf(id);
      counts.set(key, (counts.get(key) ?? 0) + 1);
      continue;
    }
    const seen = new Set<string>();
    for (let frame: number | undefined = id; frame !== undefined; frame = parentOf.get(frame)) {
      const key = nameOf(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  const idle = counts.get('(idle)') ?? 0;
  const kind = inclusive ? 'inclusive' : 'self';
  console.log(
    `${total} samples, ${((100 * (total - idle)) / total).toFixed(1)}% busy; top frames by ${kind} time:`,
  );
  for (const [key, n] of [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, count)) {
    console.log(`${((100 * n) / total).toFixed(1).padStart(5)}%  ${key}`);
  }
}

if (values.timeline !== undefined) printTimeline(Number(values.timeline));
else {
  const from = values.from === undefined ? Number.NEGATIVE_INFINITY : Number(values.from) * 1e6;
  const to = values.to === undefined ? Number.POSITIVE_INFINITY : Number(values.to) * 1e6;
  printTop(Number(countArg ?? 15), from, to, values.inclusive);
}
