/**
 * Reads a profile of `alloc-sampler.ts`: bytes allocated in the window, and the top frames by the bytes
 * they allocated themselves (self; V8 counts what an inlined callee allocates in its caller) and under
 * them (inclusive). Run: `node dist/bench/alloc-top.js <file.heapprofile> [count]`.
 */
import { readFileSync } from 'node:fs';
import { type CallFrame, frameName } from './lib/frames.js';

interface AllocationNode {
  readonly callFrame: CallFrame;
  readonly selfSize: number;
  readonly children: AllocationNode[];
}

const [file, countArg] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: alloc-top <file.heapprofile> [count]');
const { head } = JSON.parse(readFileSync(file, 'utf8')) as { head: AllocationNode };
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;

function visit(node: AllocationNode, above: ReadonlySet<string>): void {
  const name = frameName(node.callFrame);
  const stack = new Set(above).add(name);
  total += node.selfSize;
  self.set(name, (self.get(name) ?? 0) + node.selfSize);
  for (const frame of stack) inclusive.set(frame, (inclusive.get(frame) ?? 0) + node.selfSize);
  for (const child of node.children) visit(child, stack);
}

visit(head, new Set());
const count = Number(countArg ?? 25);
console.log(`${(total / 1e6).toFixed(1)} MB allocated in the window`);
for (const [title, bytes] of [
  ['self', self],
  ['inclusive', inclusive],
] as const) {
  console.log(`top frames by ${title} bytes:`);
  for (const [name, size] of [...bytes].sort((a, b) => b[1] - a[1]).slice(0, count)) {
    console.log(`${((100 * size) / total).toFixed(1).padStart(5)}%  ${name}`);
  }
}
