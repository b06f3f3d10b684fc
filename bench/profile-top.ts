/**
 * Prints the top frames by self time of a V8 CPU profile (`--cpu-prof`), for the before/after notes.
 * Run: `node dist/bench/profile-top.js <file.cpuprofile> [count]`.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
}

const [file, countArg] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: profile-top <file.cpuprofile> [count]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map<string, number>();
for (const id of profile.samples) {
  const frame = byId.get(id)?.callFrame;
  if (frame === undefined) continue;
  const where =
    frame.url === '' ? '' : ` ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`;
  const key = `${frame.functionName || '(anonymous)'}${where}`;
  self.set(key, (self.get(key) ?? 0) + 1);
}
const total = profile.samples.length;
const idle = self.get('(idle)') ?? 0;
console.log(
  `${total} samples, ${((100 * (total - idle)) / total).toFixed(1)}% busy; top frames by self time:`,
);
for (const [key, n] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(countArg ?? 15))) {
  console.log(`${((100 * n) / total).toFixed(1).padStart(5)}%  ${key}`);
}
