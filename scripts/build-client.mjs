// Bundles the browser client (client/src) into one minified ES module, served by Herald at /herald.js,
// and prints its size: the docs state it and the target is under 5 KB min+gzip.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const outfile = 'client/dist/herald.js';
await build({
  entryPoints: ['client/src/index.ts'],
  outfile,
  bundle: true,
  format: 'esm',
  minify: true,
  target: ['es2020', 'chrome90', 'firefox90', 'safari15', 'node20'],
  legalComments: 'none',
  logLevel: 'warning',
});
const bytes = readFileSync(outfile);
const gzip = gzipSync(bytes, { level: 9 }).length;
const kb = (n) => `${(n / 1024).toFixed(2)} KB`;
console.log(`client bundle ${outfile}: ${kb(bytes.length)} minified, ${kb(gzip)} min+gzip`);
if (gzip > 5 * 1024) console.warn('warning: the client bundle is over its 5 KB (min+gzip) target');
