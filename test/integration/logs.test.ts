import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { createHerald } from '../../src/server.js';
import { publish } from '../helpers/herald.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

test('logs: one debug line per stream opened and closed, none per message, with request ids', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  const config = { ...loadConfig([], {}), host: '127.0.0.1', port: 0, dev: true };
  const herald = await createHerald(config, pino({ level: 'debug' }, sink));
  const url = await herald.listen();
  try {
    const sub = await openSse(`${url}/events?user=logged`, { 'x-request-id': 'lb-1234' });
    await sub.waitFor(1);
    const before = lines.length;
    for (let i = 0; i < 50; i++) await publish(url, { to: { users: ['logged'] }, data: `m${i}` });
    await sub.waitFor(50, isMessage);
    assert.equal(lines.length, before, 'no line per published or delivered message');
    sub.close();
    await sub.ended;
    const closedLine = (): Record<string, unknown> | undefined =>
      lines.find((l) => l.msg === 'stream closed');
    for (let i = 0; i < 200 && closedLine() === undefined; i++) await new Promise((r) => setImmediate(r));
    const opened = lines.filter((l) => l.msg === 'stream opened');
    assert.equal(opened.length, 1);
    assert.equal(opened[0]?.level, 20);
    assert.equal(opened[0]?.reqId, 'lb-1234', 'the request id from X-Request-ID');
    assert.equal(opened[0]?.user, 'logged');
    assert.equal(opened[0]?.transport, 'sse');
    const closed = closedLine();
    assert.equal(closed?.reqId, 'lb-1234');
    assert.equal(closed?.connection, opened[0]?.connection);
    assert.equal(typeof closed?.durationMs, 'number');
    const response = await fetch(`${url}/healthz`);
    assert.match(response.headers.get('x-request-id') ?? '', /./, 'every response names its request id');
  } finally {
    await herald.close();
  }
});
