import fc from 'fast-check';
import { topicsOf } from '../../src/protocol/topics.js';
import { TEST_KEYS } from '../helpers/herald.js';
import { legacyToken } from '../helpers/mercure.js';
import { addresses, type Model, type ModelTarget } from './model.js';
import type { Subscriber } from './subscriber.js';
import type { World, WorldNode } from './world.js';

/** What the commands act on: the real processes, the model and the logical subscribers. */
export interface Real {
  readonly world: World;
  readonly model: Model;
  readonly subscribers: readonly Subscriber[];
  /** Publisher ids used so far, newest last. */
  readonly pids: string[];
}

type Command = fc.AsyncCommand<Model, Real>;

export const USERS = ['ann', 'anna', 'bob', 'bo'] as const;
export const GROUPS = ['red', 'blue'] as const;
/** Groups no token has: only server-side membership (`PUT /users/{id}/groups`) reaches them. */
const SERVER_GROUPS = ['green', 'red'] as const;
/** The ttl of the model's inbox messages: longer than any run, so none expires meanwhile. */
const TTL_SECONDS = 3600;
const PREFIXES = ['an', 'b', 'anna', 'x'] as const;

/** The logical subscribers of every run: users with several connections, groups, prefix-related ids. */
export const SUBSCRIBERS: readonly { user: string; groups: string[]; transport: 'sse' | 'poll' }[] = [
  { user: 'ann', groups: ['red'], transport: 'sse' },
  { user: 'ann', groups: [], transport: 'sse' },
  { user: 'anna', groups: ['blue'], transport: 'poll' },
  { user: 'bob', groups: ['red', 'blue'], transport: 'sse' },
  { user: 'bo', groups: [], transport: 'sse' },
  { user: 'bob', groups: ['red'], transport: 'poll' },
  { user: 'anna', groups: [], transport: 'sse' },
];

const publisher = { authorization: `Bearer ${TEST_KEYS.publishKey}`, 'content-type': 'application/json' };

/** How one publish attempt ended. */
type Outcome = { kind: 'accepted'; ids: string[] } | { kind: 'refused'; status: number } | { kind: 'maybe' };

/** POSTs `body` to `/messages` on `node`. A refused connection stored nothing; any other failure may have. */
async function post(node: WorldNode | undefined, body: unknown): Promise<Outcome> {
  if (node === undefined || node.process === null) return { kind: 'refused', status: 0 };
  try {
    const response = await fetch(`${node.url}/messages`, {
      method: 'POST',
      headers: publisher,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const answer = (await response.json()) as { id?: string; ids?: string[] };
    if (response.status === 202) return { kind: 'accepted', ids: answer.ids ?? [answer.id as string] };
    return response.status >= 500 ? { kind: 'maybe' } : { kind: 'refused', status: response.status };
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    return code === 'ECONNREFUSED' ? { kind: 'refused', status: 0 } : { kind: 'maybe' };
  }
}

/** A Mercure publisher token of Symfony's default shape (publish anywhere), for `PublishViaMercure`. */
const mercurePublisher = legacyToken({ publish: ['*'] });

/**
 * POSTs one update to `/.well-known/mercure` on `node`, form-encoded, its topics the Herald topics of `to`
 * (docs/mercure.md: those reach Herald's subscribers). The answer is the id, a position as `#<position>`.
 */
async function postMercure(
  node: WorldNode | undefined,
  to: ModelTarget,
  data: string,
  pid?: string,
): Promise<Outcome> {
  if (node === undefined || node.process === null) return { kind: 'refused', status: 0 };
  const form = new URLSearchParams();
  for (const topic of topicsOf(to)) form.append('topic', topic);
  form.append('data', data);
  if (pid !== undefined) form.append('id', pid);
  try {
    const response = await fetch(`${node.url}/.well-known/mercure`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await mercurePublisher}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: form.toString(),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    if (response.status === 200)
      return { kind: 'accepted', ids: [text.startsWith('#') ? text.slice(1) : text] };
    return response.status >= 500 ? { kind: 'maybe' } : { kind: 'refused', status: response.status };
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    return code === 'ECONNREFUSED' ? { kind: 'refused', status: 0 } : { kind: 'maybe' };
  }
}

const dataOf = (tag: number, size: number): string => `${tag}|${'x'.repeat(size)}`;
const describeTarget = (to: ModelTarget): string =>
  Object.entries(to)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join(',') : value}`)
    .join(' ');

/** Records the outcome of publishing `tags` (in order) in the model. */
function record(
  model: Model,
  outcome: Outcome,
  messages: { tag: number; to: ModelTarget; pid?: string | undefined; ttl?: boolean }[],
): void {
  if (outcome.kind === 'refused') {
    // 503 from a node that cannot reach its log is "maybe"; a 4xx is a model bug, or the server's.
    if (outcome.status !== 0) model.violations.push(`publish refused with ${outcome.status}`);
    return;
  }
  const status = outcome.kind === 'accepted' ? 'acked' : 'maybe';
  for (const message of messages)
    model.add({ tag: message.tag, to: message.to, pid: message.pid, ttl: message.ttl === true, status });
}

class Publish implements Command {
  constructor(
    readonly to: ModelTarget,
    readonly withPid: boolean,
    readonly size: number,
    readonly via: number,
    /** Published with a ttl: it also waits in its users' inboxes. */
    readonly ttl = false,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const tag = model.newTag();
    const pid = this.withPid ? `p${tag}` : undefined;
    if (pid !== undefined) real.pids.push(pid);
    const outcome = await post(real.world.nodes[this.via % real.world.nodes.length], {
      to: this.to,
      data: dataOf(tag, this.size),
      ...(pid === undefined ? {} : { id: pid }),
      ...(this.ttl ? { ttl: TTL_SECONDS } : {}),
    });
    record(model, outcome, [{ tag, to: this.to, pid, ttl: this.ttl }]);
  }
  toString = (): string =>
    `publish(${describeTarget(this.to)}${this.withPid ? ' with-id' : ''}${this.ttl ? ' ttl' : ''} ${this.size}B via n${this.via + 1})`;
}

/**
 * The subscriber acknowledges its inbox through the last ttl message it received that is addressed to it
 * (not only through a server-side group it may have left): `POST /inbox/ack {"through"}`.
 */
class Acknowledge implements Command {
  constructor(
    readonly sub: number,
    readonly via: number,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const subscriber = real.subscribers[this.sub];
    const node = real.world.nodes[this.via % real.world.nodes.length];
    if (subscriber === undefined || node?.process === null || node === undefined) return;
    const last = subscriber.lastMessage((tag) => {
      const message = model.get(tag);
      return message?.ttl === true && message.status === 'acked' && addresses(message.to, subscriber);
    });
    if (last === undefined) return;
    const sentAt = model.acking();
    try {
      const response = await fetch(`${node.url}/inbox/ack`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await subscriber.bearer()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ through: last.id }),
        signal: AbortSignal.timeout(10_000),
      });
      const answer = (await response.json()) as { unknown?: string[] };
      if (response.status === 200) {
        // Unknown: the log (and its inboxes) was lost since; nothing was acknowledged.
        if (!answer.unknown?.includes(last.id)) model.acked(subscriber.user, last.tag, sentAt);
      } else if (response.status < 500) model.violations.push(`acknowledgement answered ${response.status}`);
      // A 5xx may have acknowledged it anyway: the model's fresh starts treat it as maybe done.
      else model.acked(subscriber.user, last.tag, sentAt);
    } catch {
      model.acked(subscriber.user, last.tag, sentAt);
    }
  }
  toString = (): string => `ack-through-last(s${this.sub + 1} via n${this.via + 1})`;
}

/** The subscriber's user on a new device: its next connection has no Last-Event-ID (it gets the inbox). */
class FreshStart implements Command {
  constructor(readonly sub: number) {}
  check = (): boolean => true;
  run = async (_model: Model, real: Real): Promise<void> => real.subscribers[this.sub]?.freshStart();
  toString = (): string => `new-device(s${this.sub + 1})`;
}

/**
 * A user away: the subscriber goes offline, messages with a ttl are published (to its user, and to
 * `targets`), then it comes back on a new device (no Last-Event-ID): it must get them from the inbox.
 */
class AwayThenNewDevice implements Command {
  constructor(
    readonly sub: number,
    readonly targets: ModelTarget[],
    readonly via: number,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const subscriber = real.subscribers[this.sub];
    if (subscriber === undefined) return;
    await subscriber.goOffline();
    const node = real.world.nodes[this.via % real.world.nodes.length];
    for (const to of [{ users: [subscriber.user] }, ...this.targets]) {
      const tag = model.newTag();
      record(model, await post(node, { to, data: dataOf(tag, 50), ttl: TTL_SECONDS }), [
        { tag, to, ttl: true },
      ]);
    }
    subscriber.freshStart();
    subscriber.goOnline();
  }
  toString = (): string =>
    `away-then-new-device(s${this.sub + 1}, ttl to its user${this.targets.map((t) => ` | ${describeTarget(t)}`).join('')} via n${this.via + 1})`;
}

/** `PUT /users/{id}/groups`: the backend changes a user's server-side groups (live connections follow). */
class SetGroups implements Command {
  constructor(
    readonly user: string,
    readonly groups: readonly string[],
    readonly via: number,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const node = real.world.nodes[this.via % real.world.nodes.length];
    if (node?.process === null || node === undefined) return;
    // Noted first: a failed request may have changed them anyway.
    model.joined(this.user, this.groups);
    const response = await fetch(`${node.url}/users/${this.user}/groups`, {
      method: 'PUT',
      headers: publisher,
      body: JSON.stringify({ groups: this.groups }),
      signal: AbortSignal.timeout(10_000),
    }).catch(() => null);
    await response?.body?.cancel();
    if (response !== null && response.status >= 400 && response.status < 500)
      model.violations.push(`group change answered ${response.status}`);
  }
  toString = (): string =>
    `server-groups(${this.user}=${this.groups.join(',') || 'none'} via n${this.via + 1})`;
}

/** The same publish through the Mercure hub: one data path, so subscribers see it as any message. */
class PublishViaMercure implements Command {
  constructor(
    readonly to: ModelTarget,
    readonly withPid: boolean,
    readonly via: number,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const tag = model.newTag();
    const pid = this.withPid ? `p${tag}` : undefined;
    if (pid !== undefined) real.pids.push(pid);
    const node = real.world.nodes[this.via % real.world.nodes.length];
    const outcome = await postMercure(node, this.to, dataOf(tag, 32), pid);
    record(model, outcome, [{ tag, to: this.to, pid }]);
  }
  toString = (): string =>
    `mercure-publish(${describeTarget(this.to)}${this.withPid ? ' with-id' : ''} via n${this.via + 1})`;
}

class PublishBatch implements Command {
  constructor(
    readonly tos: ModelTarget[],
    readonly via: number,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const messages = this.tos.map((to) => ({ tag: model.newTag(), to }));
    const outcome = await post(
      real.world.nodes[this.via % real.world.nodes.length],
      messages.map((m) => ({ to: m.to, data: dataOf(m.tag, 16) })),
    );
    record(model, outcome, messages);
  }
  toString = (): string => `batch(${this.tos.map(describeTarget).join(' | ')} via n${this.via + 1})`;
}

/** Many messages in one batch: a subscriber away meanwhile resumes over several replay pages (or is trimmed). */
class Burst implements Command {
  constructor(
    readonly count: number,
    readonly to: ModelTarget,
    readonly via: number,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const messages = Array.from({ length: this.count }, () => ({ tag: model.newTag(), to: this.to }));
    const outcome = await post(
      real.world.nodes[this.via % real.world.nodes.length],
      messages.map((m) => ({ to: m.to, data: dataOf(m.tag, 100) })),
    );
    record(model, outcome, messages);
  }
  toString = (): string => `burst(${this.count} to ${describeTarget(this.to)} via n${this.via + 1})`;
}

/** Several publishes at once on several nodes; the model orders them by the positions the log gave. */
class PublishConcurrently implements Command {
  constructor(readonly tos: ModelTarget[]) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const nodes = real.world.nodes;
    const messages = this.tos.map((to) => ({ tag: model.newTag(), to }));
    const outcomes = await Promise.all(
      messages.map((m, i) => post(nodes[i % nodes.length], { to: m.to, data: dataOf(m.tag, 16) })),
    );
    const accepted = messages
      .map((message, i) => ({ message, outcome: outcomes[i] as Outcome }))
      .sort((a, b) => comparePositions(positionOf(a.outcome), positionOf(b.outcome)));
    for (const { message, outcome } of accepted) record(model, outcome, [message]);
  }
  toString = (): string => `concurrently(${this.tos.map(describeTarget).join(' | ')})`;
}

/** Publishes the newest publisher id again: an acknowledged one must be refused (409), never stored twice. */
class RetryPid implements Command {
  constructor(readonly via: number) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const pid = real.pids[real.pids.length - 1];
    if (pid === undefined) return;
    const tag = Number(pid.slice(1));
    const original = model.get(tag);
    // A lost log loses its id reservations with its history (docs/guarantees.md): nothing to retry then.
    if (original !== undefined && model.lostSince(original)) return;
    const to = original?.to ?? { all: true };
    const outcome = await post(real.world.nodes[this.via % real.world.nodes.length], {
      to,
      data: dataOf(tag, 0),
      id: pid,
    });
    if (outcome.kind === 'accepted') {
      if (original?.status === 'acked')
        model.violations.push(`retry of acknowledged id ${pid} was accepted again`);
      else model.add({ tag, to, pid, ttl: false, status: 'acked' });
    } else if (outcome.kind === 'refused' && outcome.status !== 409 && outcome.status !== 0) {
      model.violations.push(`retry of ${pid} answered ${outcome.status}`);
    }
  }
  toString = (): string => `retry-last-id(via n${this.via + 1})`;
}

class GoOffline implements Command {
  constructor(readonly sub: number) {}
  check = (): boolean => true;
  run = async (_model: Model, real: Real): Promise<void> => real.subscribers[this.sub]?.goOffline();
  toString = (): string => `offline(s${this.sub + 1})`;
}

class GoOnline implements Command {
  constructor(readonly sub: number) {}
  check = (): boolean => true;
  run = async (_model: Model, real: Real): Promise<void> => real.subscribers[this.sub]?.goOnline();
  toString = (): string => `online(s${this.sub + 1})`;
}

class Reconnect implements Command {
  constructor(readonly sub: number) {}
  check = (): boolean => true;
  run = async (_model: Model, real: Real): Promise<void> => real.subscribers[this.sub]?.dropConnection();
  toString = (): string => `reconnect(s${this.sub + 1})`;
}

class Pause implements Command {
  constructor(readonly sub: number) {}
  check = (): boolean => true;
  run = async (_model: Model, real: Real): Promise<void> => real.subscribers[this.sub]?.pause();
  toString = (): string => `stop-reading(s${this.sub + 1})`;
}

class Resume implements Command {
  constructor(readonly sub: number) {}
  check = (): boolean => true;
  run = async (_model: Model, real: Real): Promise<void> => real.subscribers[this.sub]?.resume();
  toString = (): string => `resume-reading(s${this.sub + 1})`;
}

/** Large messages to one user: past the kernel's buffers a stalled reader is evicted as a slow consumer. */
class Flood implements Command {
  constructor(
    readonly user: string,
    readonly via: number,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    for (let i = 0; i < 12; i++) {
      const tag = model.newTag();
      const to = { users: [this.user] };
      record(
        model,
        await post(real.world.nodes[this.via % real.world.nodes.length], { to, data: dataOf(tag, 700_000) }),
        [{ tag, to }],
      );
    }
  }
  toString = (): string => `flood(users=${this.user} 12x700kB via n${this.via + 1})`;
}

/** `DELETE /users/{id}/connections`: every connection of the user ends (cluster-wide); clients come back. */
class CloseUser implements Command {
  constructor(
    readonly user: string,
    readonly via: number,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const node = real.world.nodes[this.via % real.world.nodes.length];
    if (node?.process === null || node === undefined) return;
    model.stats.faults++;
    await fetch(`${node.url}/users/${this.user}/connections`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TEST_KEYS.adminKey}` },
      signal: AbortSignal.timeout(10_000),
    }).then(
      (response) => response.body?.cancel(),
      () => {},
    );
  }
  toString = (): string => `close-user(${this.user} via n${this.via + 1})`;
}

class KillNode implements Command {
  constructor(
    readonly node: number,
    readonly signal: 'SIGKILL' | 'SIGTERM',
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const node = real.world.nodes[this.node % real.world.nodes.length] as WorldNode;
    if (node.process === null) return;
    model.stats.faults++;
    await real.world.stopNode(node, this.signal);
    // The in-memory log dies with its process.
    if (real.world.backend === 'memory') model.lost();
  }
  toString = (): string => `${this.signal === 'SIGKILL' ? 'kill-9' : 'drain'}(n${this.node + 1})`;
}

class StartNode implements Command {
  constructor(readonly node: number) {}
  check = (): boolean => true;
  async run(_model: Model, real: Real): Promise<void> {
    const node = real.world.nodes[this.node % real.world.nodes.length] as WorldNode;
    // Herald refuses to start without its log (a supervisor would retry): the node stays down.
    if (!node.linkCut) await real.world.startNode(node);
  }
  toString = (): string => `start(n${this.node + 1})`;
}

/** A subscriber's next connection gets a token that expires in a second; the server ends it then. */
class ExpireToken implements Command {
  constructor(readonly sub: number) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const subscriber = real.subscribers[this.sub];
    if (subscriber === undefined) return;
    model.stats.faults++;
    subscriber.nextTokenTtlMs = 1000;
    subscriber.dropConnection();
  }
  toString = (): string => `expiring-token(s${this.sub + 1})`;
}

class RestartRedis implements Command {
  constructor(readonly wipe: boolean) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    if (real.world.redis === null) return;
    model.stats.faults++;
    await real.world.redis.restart({ wipe: this.wipe });
    if (this.wipe) model.lost();
  }
  toString = (): string => `redis-restart(${this.wipe ? 'data lost' : 'persisted'})`;
}

class Link implements Command {
  constructor(
    readonly node: number,
    readonly action: 'slow' | 'cut' | 'restore',
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const link = real.world.nodes[this.node % real.world.nodes.length]?.link;
    if (link === null || link === undefined) return;
    if (this.action !== 'restore') model.stats.faults++;
    const node = real.world.nodes[this.node % real.world.nodes.length] as WorldNode;
    node.linkCut = this.action === 'cut';
    if (this.action === 'slow') link.slow(250);
    else if (this.action === 'cut') link.cut();
    else link.restore();
  }
  toString = (): string => `link-${this.action}(n${this.node + 1})`;
}

const targetArb: fc.Arbitrary<ModelTarget> = fc.oneof(
  fc.subarray([...USERS], { minLength: 1, maxLength: 2 }).map((users) => ({ users })),
  fc.subarray([...GROUPS], { minLength: 1 }).map((groups) => ({ groups })),
  fc.constantFrom(...PREFIXES).map((userPrefix) => ({ userPrefix })),
  fc.constant({ all: true }),
  fc
    .tuple(fc.constantFrom(...USERS), fc.constantFrom(...GROUPS))
    .map(([user, group]) => ({ users: [user], groups: [group] })),
  fc.constant({ groups: ['green'] }),
);

/** The operations of one backend's runs, weighted towards publishing. */
export function commandsFor(backend: World['backend'], replayPath?: string): fc.Arbitrary<Iterable<Command>> {
  const nodes = backend === 'redis' ? 3 : 1;
  const node = fc.nat({ max: nodes - 1 });
  const sub = fc.nat({ max: SUBSCRIBERS.length - 1 });
  const user = fc.constantFrom(...USERS);
  const common: fc.Arbitrary<Command>[] = [
    fc
      .tuple(targetArb, fc.boolean(), fc.constantFrom(8, 200, 4000), node)
      .map(([to, pid, size, via]) => new Publish(to, pid, size, via)),
    fc
      .tuple(targetArb, fc.boolean(), fc.constantFrom(8, 200), node)
      .map(([to, pid, size, via]) => new Publish(to, pid, size, via)),
    fc.tuple(targetArb, fc.boolean(), node).map(([to, pid, via]) => new PublishViaMercure(to, pid, via)),
    // Publishes with a ttl and new devices weigh more: an inbox is only checked when both happen.
    ...[1, 2].map(() =>
      fc
        .tuple(targetArb, fc.boolean(), fc.constantFrom(8, 200), node)
        .map(([to, pid, size, via]) => new Publish(to, pid, size, via, true)),
    ),
    fc.tuple(sub, node).map(([s, via]) => new Acknowledge(s, via)),
    sub.map((s) => new FreshStart(s)),
    fc
      .tuple(sub, fc.array(targetArb, { maxLength: 2 }), node)
      .map(([s, targets, via]) => new AwayThenNewDevice(s, targets, via)),
    fc
      .tuple(user, fc.subarray([...SERVER_GROUPS]), node)
      .map(([u, groups, via]) => new SetGroups(u, groups, via)),
    fc
      .tuple(fc.array(targetArb, { minLength: 2, maxLength: 5 }), node)
      .map(([tos, via]) => new PublishBatch(tos, via)),
    fc.array(targetArb, { minLength: 2, maxLength: 4 }).map((tos) => new PublishConcurrently(tos)),
    fc
      .tuple(fc.integer({ min: 100, max: 260 }), targetArb, node)
      .map(([count, to, via]) => new Burst(count, to, via)),
    node.map((via) => new RetryPid(via)),
    sub.map((s) => new GoOffline(s)),
    sub.map((s) => new GoOnline(s)),
    sub.map((s) => new Reconnect(s)),
    sub.map((s) => new Pause(s)),
    sub.map((s) => new Resume(s)),
    fc.tuple(user, node).map(([u, via]) => new Flood(u, via)),
    fc.tuple(user, node).map(([u, via]) => new CloseUser(u, via)),
    node.map((n) => new KillNode(n, 'SIGKILL')),
    node.map((n) => new KillNode(n, 'SIGTERM')),
    node.map((n) => new StartNode(n)),
    sub.map((s) => new ExpireToken(s)),
  ];
  const redis: fc.Arbitrary<Command>[] =
    backend !== 'redis'
      ? []
      : [
          fc.boolean().map((wipe) => new RestartRedis(wipe)),
          fc
            .tuple(
              node,
              fc.constantFrom('slow', 'cut', 'restore') as fc.Arbitrary<'slow' | 'cut' | 'restore'>,
            )
            .map(([n, action]) => new Link(n, action)),
        ];
  return fc.commands([...common, ...redis], {
    maxCommands: 40,
    size: 'large',
    ...(replayPath === undefined ? {} : { replayPath }),
  });
}

function positionOf(outcome: Outcome): string {
  return outcome.kind === 'accepted' ? (outcome.ids[0] as string) : '';
}

/** Orders two log positions as the model knows them (`<epoch>-<n>` or `<epoch>-<ms>-<n>`); failures last. */
function comparePositions(a: string, b: string): number {
  if (a === '' || b === '') return a === b ? 0 : a === '' ? 1 : -1;
  const pa = a.split('-').map(Number);
  const pb = b.split('-').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
