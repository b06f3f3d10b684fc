import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryLog } from '../../src/backends/memory/log.js';
import type { Message, MessageDraft } from '../../src/core/message.js';
import { LogUnavailableError } from '../../src/core/ports.js';
import { HeraldError } from '../../src/errors.js';
import { PublishGate } from '../../src/ops/publish-gate.js';

/** A memory log whose appends wait until released, like a remote backend's. */
class HeldLog extends MemoryLog {
  readonly waiting: (() => void)[] = [];
  failNext = false;
  override async append(draft: MessageDraft): Promise<Message> {
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.failNext) throw new LogUnavailableError('backend down');
    return super.append(draft);
  }
}

describe('PublishGate', () => {
  test('drain waits for the appends in flight and refuses new ones with 503 draining', async () => {
    const inner = new HeldLog({ historySize: 10, historyAgeMs: 60_000 });
    const counts = { published: 0, errors: [] as string[] };
    const gate = new PublishGate(inner, {
      published: (count) => {
        counts.published += count;
      },
      logError: (operation) => counts.errors.push(operation),
    });
    const inFlight = gate.append({ topics: ['all'], data: 'a' });
    assert.equal(gate.pending, 1);
    let drained = false;
    const draining = gate.drain().then(() => {
      drained = true;
    });
    await assert.rejects(gate.append({ topics: ['all'], data: 'b' }), (error: unknown) => {
      assert.ok(error instanceof HeraldError);
      assert.equal(error.problem.code, 'draining');
      return true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(drained, false, 'still waiting for the append in flight');
    inner.waiting.shift()?.();
    await inFlight;
    await draining;
    assert.equal(gate.pending, 0);
    assert.deepEqual(counts, { published: 1, errors: [] }, 'a refusal while draining is not a log error');
  });

  test('backend failures are counted; drain resolves at once when nothing is in flight', async () => {
    const inner = new HeldLog({ historySize: 10, historyAgeMs: 60_000 });
    const errors: string[] = [];
    const gate = new PublishGate(inner, { published: () => {}, logError: (op) => errors.push(op) });
    inner.failNext = true;
    const failing = gate.append({ topics: ['all'], data: 'x' });
    inner.waiting.shift()?.();
    await assert.rejects(failing, LogUnavailableError);
    assert.deepEqual(errors, ['append']);
    await gate.drain();
  });
});
