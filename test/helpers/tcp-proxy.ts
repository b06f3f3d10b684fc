import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';

/** A TCP relay to a local port that a test can slow down, cut (a network partition) and restore. */
export interface TcpProxy {
  readonly port: number;
  /** Bytes relayed from the target to clients so far. */
  readonly bytesFromTarget: number;
  /** Drops every relayed connection and refuses new ones. */
  cut(): void;
  /** Accepts and relays connections again, without delay. */
  restore(): void;
  /** Holds every relayed chunk, both ways, for `ms` milliseconds (a slow link; order is kept). */
  slow(ms: number): void;
  /**
   * Holds what the target sends (its answers) until `restore`, or drops it with `cut`; what clients send
   * still goes through: a request is served, but its answer is not seen.
   */
  hold(): void;
  close(): Promise<void>;
}

/** Starts a relay on a free port of 127.0.0.1 to `targetPort`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let open = true;
  let delayMs = 0;
  let bytesFromTarget = 0;
  let holding = false;
  let held: (() => void)[] = [];
  const server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    upstream.on('data', (chunk: Buffer) => {
      bytesFromTarget += chunk.length;
    });
    relay(client, upstream, () => delayMs);
    relay(
      upstream,
      client,
      () => delayMs,
      (release) => {
        if (holding) held.push(release);
        return holding;
      },
    );
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const dropAll = (): void => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    get bytesFromTarget() {
      return bytesFromTarget;
    },
    cut() {
      open = false;
      holding = false;
      held = [];
      dropAll();
    },
    restore() {
      open = true;
      delayMs = 0;
      holding = false;
      for (const release of held.splice(0)) release();
    },
    hold() {
      holding = true;
    },
    slow(ms: number) {
      delayMs = ms;
    },
    async close() {
      open = false;
      dropAll();
      server.close();
      await once(server, 'close');
    },
  };
}

/**
 * Copies `from` to `to`, each chunk held for the current delay; a queue keeps the order when it changes.
 * `held(release)` returning true keeps a chunk until `release` is called.
 */
function relay(
  from: Socket,
  to: Socket,
  delayOf: () => number,
  held: (release: () => void) => boolean = () => false,
): void {
  const queue: { chunk: Buffer; due: number }[] = [];
  let timer: NodeJS.Timeout | null = null;
  const release = (): void => {
    timer = null;
    const now = Date.now();
    while (queue.length > 0 && (queue[0] as { due: number }).due <= now) {
      to.write((queue.shift() as { chunk: Buffer }).chunk);
    }
    if (queue.length > 0) timer = setTimeout(release, (queue[0] as { due: number }).due - now);
  };
  from.on('data', (chunk: Buffer) => {
    if (held(() => to.write(chunk))) return;
    const delay = delayOf();
    if (delay === 0 && queue.length === 0) {
      to.write(chunk);
      return;
    }
    queue.push({ chunk, due: Date.now() + delay });
    timer ??= setTimeout(release, delay);
  });
  from.on('close', () => {
    if (timer !== null) clearTimeout(timer);
  });
}
