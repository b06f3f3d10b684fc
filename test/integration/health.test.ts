import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, test } from 'node:test';
import { getJson, startHerald } from '../helpers/herald.js';
import { openSse } from '../helpers/sse-client.js';

/** GET over a given agent; resolves with the status, or undefined when the connection was refused or reset. */
function statusOf(url: string, agent: http.Agent): Promise<number | undefined> {
  return new Promise((resolve) => {
    http
      .get(url, { agent }, (response) => {
        response.resume();
        response.once('end', () => resolve(response.statusCode));
      })
      .once('error', () => resolve(undefined));
  });
}

describe('health checks', () => {
  test('/healthz is ok and /readyz ready while serving; /readyz is 503 once draining', async () => {
    const node = await startHerald();
    assert.deepEqual((await getJson(`${node.url}/healthz`)).body, { status: 'ok' });
    assert.deepEqual((await getJson(`${node.url}/readyz`)).body, { status: 'ready' });
    // A load balancer's kept-alive connection, opened before the drain begins.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    assert.equal(await statusOf(`${node.url}/readyz`, agent), 200);
    const sub = await openSse(`${node.url}/events?user=h1`);
    await sub.waitFor(1);
    const closing = node.close();
    const during = await statusOf(`${node.url}/readyz`, agent);
    assert.ok(during === undefined || during === 503, `answered ${during}`);
    await closing;
    await sub.ended;
    assert.equal(await statusOf(`${node.url}/readyz`, agent), undefined, 'no longer listening');
    agent.destroy();
  });
});
