import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { bearer } from '../helpers/auth.js';
import { publish, startHerald, startSecureHerald, TEST_KEYS, type TestHerald } from '../helpers/herald.js';
import { isMessage, openSse } from '../helpers/sse-client.js';

/** Parses the Prometheus text format into `name{labels}` → value. */
async function scrape(url: string, headers: Record<string, string> = {}): Promise<Map<string, number>> {
  const response = await fetch(url, { headers });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const series = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    series.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return series;
}

/** The value of a series without labels other than `node`. */
function value(series: Map<string, number>, name: string, node: string, labels = ''): number | undefined {
  return series.get(`${name}{${labels}${labels === '' ? '' : ','}node="${node}"}`);
}

describe('metrics', () => {
  let node: TestHerald;
  before(async () => {
    node = await startHerald({ metricsPort: 0 });
  });
  after(() => node.close());

  test('GET /metrics reports connections, messages and bytes as they happen, with the node label', async () => {
    const id = node.herald.nodeId;
    const idle = await scrape(`${node.url}/metrics`);
    assert.equal(value(idle, 'herald_connections', id), 0);
    const sub = await openSse(`${node.url}/events?user=m1`);
    await sub.waitFor(1);
    await publish(node.url, { to: { users: ['m1'] }, data: 'one' });
    await publish(node.url, { to: { all: true }, data: 'two' });
    await sub.waitFor(2, isMessage);
    const busy = await scrape(`${node.url}/metrics`);
    assert.equal(value(busy, 'herald_connections', id), 1);
    assert.equal(value(busy, 'herald_users', id), 1);
    assert.equal(value(busy, 'herald_messages_published_total', id), 2);
    assert.equal(value(busy, 'herald_messages_routed_total', id), 2);
    assert.equal(value(busy, 'herald_messages_delivered_total', id), 2);
    assert.ok((value(busy, 'herald_bytes_out_total', id) ?? 0) > 0);
    assert.equal(value(busy, 'herald_publish_duration_seconds_count', id), 2);
    assert.equal(value(busy, 'herald_delivery_lag_seconds_count', id), 2);
    assert.equal(value(busy, 'herald_draining', id), 0);
    assert.ok(busy.has(`process_resident_memory_bytes{node="${id}"}`), 'default process metrics');
    sub.close();
  });

  test('--metrics-port serves /metrics without credentials, and nothing else', async () => {
    const base = node.herald.metricsUrl();
    assert.ok(base !== undefined);
    const series = await scrape(`${base}/metrics`);
    assert.ok(value(series, 'herald_connections', node.herald.nodeId) !== undefined);
    assert.equal((await fetch(`${base}/events`)).status, 404);
  });

  test('docs/operations.md lists every metric Herald exports', async () => {
    const docs = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');
    const names = (await node.herald.metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    assert.ok(names.length > 20);
    const missing = names.filter((name) => !docs.includes(`\`${name}\``));
    assert.deepEqual(missing, [], 'metrics not documented in docs/operations.md');
  });
});

describe('metrics in production mode', () => {
  let node: TestHerald;
  before(async () => {
    node = await startSecureHerald();
  });
  after(() => node.close());

  test('/metrics needs the admin key, and refused credentials are counted', async () => {
    assert.equal((await fetch(`${node.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${node.url}/metrics`, { headers: bearer(TEST_KEYS.publishKey) })).status, 403);
    const series = await scrape(`${node.url}/metrics`, bearer(TEST_KEYS.adminKey));
    const id = node.herald.nodeId;
    assert.equal(value(series, 'herald_auth_failures_total', id, 'status="401"'), 1);
    assert.equal(value(series, 'herald_auth_failures_total', id, 'status="403"'), 1);
  });
});
