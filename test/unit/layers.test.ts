import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = new URL('../../../src/', import.meta.url).pathname;

/**
 * The layers of `docs/architecture.md`: a folder may import only folders of a lower rank (and itself).
 * Same-rank folders never import each other, so backends, transports and ops stay independent.
 */
const RANK: Record<string, number> = {
  errors: 0,
  protocol: 0,
  core: 1,
  backends: 2,
  transport: 2,
  auth: 2,
  ops: 2,
  http: 3,
  adapters: 4,
  mercure: 4,
  '(root)': 5,
  // The publisher SDK (`herald-push/publisher`) is a client of the HTTP API: see the test below.
  publisher: 0,
};

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) =>
      e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    ),
  );
  return nested.flat();
}

const layerOf = (file: string): string => {
  const [first, ...rest] = relative(SRC, file).split('/');
  if (rest.length === 0) return /^errors\.(ts|js)$/.test(first as string) ? 'errors' : '(root)';
  return first as string;
};

test('imports only point down the layers: protocol ← core ← backends ← http ← adapters ← composition root', async () => {
  const violations: string[] = [];
  for (const file of await sources(SRC)) {
    const from = layerOf(file);
    const text = await readFile(file, 'utf8');
    for (const match of text.matchAll(/from '(\.[^']+)'/g)) {
      const to = layerOf(resolve(dirname(file), match[1] as string));
      if (to === from) continue;
      const fromRank = RANK[from];
      const toRank = RANK[to];
      if (fromRank === undefined || toRank === undefined)
        violations.push(`${relative(SRC, file)}: unknown layer ${from} → ${to}`);
      else if (toRank >= fromRank)
        violations.push(`${relative(SRC, file)} (${from}) imports ${match[1]} (${to})`);
    }
  }
  assert.deepEqual(violations, []);
});

test('nothing outside src/backends/ names a concrete backend: only the registry is imported from there', async () => {
  const backends = join(SRC, 'backends');
  const violations: string[] = [];
  for (const file of await sources(SRC)) {
    if (!relative(backends, file).startsWith('..')) continue;
    const text = await readFile(file, 'utf8');
    for (const match of text.matchAll(/from '(\.[^']+)'/g)) {
      const target = relative(backends, resolve(dirname(file), match[1] as string));
      if (target.startsWith('..') || /^registry\.(ts|js)$/.test(target)) continue;
      violations.push(`${relative(SRC, file)} imports ${match[1]}`);
    }
  }
  assert.deepEqual(violations, []);
});

test('the publisher SDK imports only itself and node: built-ins, and no server code imports it', async () => {
  const publisher = join(SRC, 'publisher');
  const violations: string[] = [];
  for (const file of await sources(SRC)) {
    const inside = !relative(publisher, file).startsWith('..');
    const text = await readFile(file, 'utf8');
    for (const match of text.matchAll(/from '([^']+)'/g)) {
      const specifier = match[1] as string;
      const local = specifier.startsWith('.');
      const target = local ? relative(publisher, resolve(dirname(file), specifier)) : '';
      if (inside && (local ? target.startsWith('..') : !specifier.startsWith('node:'))) {
        violations.push(`${relative(SRC, file)} imports ${specifier}`);
      }
      if (!inside && local && !target.startsWith('..'))
        violations.push(`${relative(SRC, file)} imports ${specifier}`);
    }
  }
  assert.deepEqual(violations, []);
});

test('only the internals fence reaches into Node and Fastify: listeners by name, the HTTP parser, private fields', async () => {
  const fence = [join(SRC, 'http', 'internals'), join(SRC, 'transport', 'http1-socket.ts')];
  const inFence = (file: string): boolean => fence.some((place) => !relative(place, file).startsWith('..'));
  const reaching = /\.listeners\(|\.parser\b|\b_httpMessage\b|\b_consumed\b|getDefaultJsonParser/;
  const violations: string[] = [];
  for (const file of await sources(SRC)) {
    if (inFence(file)) continue;
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines.forEach((line, index) => {
      if (reaching.test(line)) violations.push(`${relative(SRC, file)}:${index + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(violations, []);
});
