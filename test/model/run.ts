import fc from 'fast-check';
import { TEST_KEYS } from '../helpers/herald.js';
import { commandsFor, type Real, SUBSCRIBERS } from './commands.js';
import { Model } from './model.js';
import { Subscriber } from './subscriber.js';
import { type Backend, World } from './world.js';

/** How long the quiet phase at the end of a run may take to bring everyone up to date. */
const QUIET_TIMEOUT_MS = 20_000;

/** Options of one model check on one backend. */
export interface ModelRunOptions {
  readonly backend: Backend;
  /** Number of random command sequences (each on fresh processes). */
  readonly runs: number;
  readonly seed?: number;
  /** With `seed`: replays one counterexample (fast-check's `path`). */
  readonly path?: string;
  /** With `path`: the `replayPath` a counterexample printed (fast-check's commands). */
  readonly replayPath?: string;
  /** Stops starting new runs after this long (the soak's budget). */
  readonly timeLimitMs?: number;
  /** Called after every run with its model (for the soak's figures). */
  readonly onRun?: (model: Model) => void;
}

/** The outcome of `checkModel`: fast-check's details (failures shrunk, with a seed and path to replay). */
export type ModelRunResult = fc.RunDetails<[Iterable<fc.AsyncCommand<Model, Real>>, number]>;

/**
 * Runs the model-based test: random command sequences against real processes, then a quiet phase
 * (every node up, every link restored, every subscriber online, a last message to all received by all),
 * then the oracle on every subscriber's whole received sequence and on presence.
 */
export async function checkModel(options: ModelRunOptions): Promise<ModelRunResult> {
  const property = fc.asyncProperty(
    commandsFor(options.backend, options.replayPath),
    fc.integer(),
    async (commands, seed) => {
      const world = new World(options.backend);
      const model = new Model();
      const random = mulberry32(seed);
      const subscribers = SUBSCRIBERS.map(
        (s, i) => new Subscriber(`s${i + 1}`, s.user, s.groups, s.transport, world, model, random),
      );
      const real: Real = { world, model, subscribers, pids: [] };
      try {
        await world.start();
        for (const subscriber of subscribers) subscriber.goOnline();
        await Promise.all(
          subscribers.map((s) => s.waitFor('its first connection', () => s.connections > 0, 10_000)),
        );
        const list = [...commands];
        model.stats.operations += list.length;
        await fc.asyncModelRun(() => ({ model, real }), list);
        await quiet(real);
        const problems = [
          ...model.violations,
          ...subscribers.flatMap((s) => {
            const found = model.check(s);
            return found.length === 0 ? [] : [...found, `  ${s}: ${s.state()}`];
          }),
        ];
        if (problems.length > 0)
          throw new Error(`the guarantee broke:\n  ${problems.slice(0, 20).join('\n  ')}`);
        await checkPresence(real);
      } finally {
        await Promise.all(subscribers.map((s) => s.goOffline()));
        await world.stop();
        options.onRun?.(model);
      }
    },
  );
  return fc.check(property, {
    numRuns: options.runs,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.path === undefined ? {} : { path: options.path }),
    ...(options.timeLimitMs === undefined ? {} : { interruptAfterTimeLimit: options.timeLimitMs }),
    endOnFailure: false,
  });
}

/** Brings the world back to health and waits until every subscriber caught up to a last message to all. */
async function quiet(real: Real): Promise<void> {
  const { world, subscribers } = real;
  for (const node of world.nodes) {
    node.link?.restore();
    node.linkCut = false;
  }
  await Promise.all(world.nodes.map((node) => world.startNode(node)));
  await Promise.all(world.nodes.map((node) => readiness(node.url)));
  for (const subscriber of subscribers) {
    subscriber.nextTokenTtlMs = null;
    subscriber.resume();
    subscriber.goOnline();
  }
  // Everyone connected to the healed world first: a client still resuming from before a loss would be
  // told `gap` and go live after the last message, rightly missing it.
  await Promise.all(subscribers.map((s) => s.waitFor('a connection', () => s.connected, QUIET_TIMEOUT_MS)));
  // A subscriber still resuming from before a loss may be told `gap` after a last message, rightly
  // missing it (it is before the gap): then everyone waits for another last message, up to three.
  let waiting = [...subscribers];
  for (let round = 0; waiting.length > 0; round++) {
    if (round === 3) throw new Error(`${waiting.join(', ')} kept being told gap`);
    const tag = await publishLast(real);
    const gapsBefore = new Map(subscribers.map((s) => [s, gapCount(s)]));
    const arrived = (s: Subscriber): boolean => s.received.some((r) => r.kind === 'message' && r.tag === tag);
    await Promise.all(
      subscribers.map((s) =>
        s.waitFor(
          `the last message ${tag}`,
          () => arrived(s) || gapCount(s) > (gapsBefore.get(s) ?? 0),
          QUIET_TIMEOUT_MS,
        ),
      ),
    );
    waiting = subscribers.filter((s) => !arrived(s));
  }
}

const gapCount = (s: Subscriber): number => s.received.filter((r) => r.kind === 'gap').length;

/** Publishes a last message to everyone (retrying with its id until stored); returns its tag. */
async function publishLast({ world, model }: Real): Promise<number> {
  const tag = model.newTag();
  const to = { all: true };
  const pid = `sentinel-${tag}`;
  const deadline = Date.now() + QUIET_TIMEOUT_MS;
  for (;;) {
    const response = await fetch(`${world.nodes[0]?.url}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEYS.publishKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to, data: `${tag}|`, id: pid }),
      signal: AbortSignal.timeout(10_000),
    }).catch(() => null);
    await response?.body?.cancel();
    if (response?.status === 202 || response?.status === 409) break;
    if (Date.now() > deadline) throw new Error('the last message could not be published');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  model.add({ tag, to, pid, ttl: false, status: 'acked' });
  return tag;
}

async function readiness(url: string): Promise<void> {
  const deadline = Date.now() + QUIET_TIMEOUT_MS;
  for (;;) {
    const status = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.body?.cancel().then(() => r.status),
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${url} did not become ready`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Presence equals the model once quiet: one connection per online subscriber, on every node's view. */
async function checkPresence(real: Real): Promise<void> {
  const expected = {
    connections: real.subscribers.length,
    users: new Set(real.subscribers.map((s) => s.user)).size,
  };
  for (const node of real.world.nodes) {
    const deadline = Date.now() + 10_000;
    let last: unknown;
    for (;;) {
      last = await fetch(`${node.url}/presence`, {
        headers: { authorization: `Bearer ${TEST_KEYS.adminKey}` },
      })
        .then((r) => r.json())
        .catch((error: Error) => error.message);
      const body = last as { connections?: number; users?: number };
      if (body.connections === expected.connections && body.users === expected.users) break;
      if (Date.now() > deadline) {
        throw new Error(
          `presence on ${node.name} is ${JSON.stringify(last)}, the model says ${JSON.stringify(expected)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** A small seeded generator, so a run's own random choices (which node a client picks) follow its seed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
