import { once } from 'node:events';
import { createServer, Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { StartupError } from '../errors.js';

/**
 * Handing an HTTP/1.1 socket from Node's HTTP server to a stream, as Node does itself for an `upgrade`
 * (lib/_http_server.js, `onParserExecuteCommon`): the server's listeners come off the socket, the parser
 * stops reading it and is released (with its native llhttp state and its entry in the server's connection
 * list), and the response lets go of the socket. The request and response are then garbage; an idle
 * stream keeps only its `net.Socket`.
 *
 * Node has no public call for this, so it relies on the parser's methods and the names of the server's
 * listeners. `handOffProblem` checks every one before anything changes (a stream it refuses stays on its
 * response), and `checkSocketHandOff` runs the whole hand-off over a loopback connection at start, so a
 * Node that changed any of it fails the start instead of silently keeping every stream's HTTP state.
 */

/**
 * What Node's HTTP/1.1 server attaches to every connection (lib/_http_server.js,
 * `connectionListenerInternal`), by event and function name. Node 20, 22 and 24 use these names.
 */
const SERVER_LISTENERS: readonly (readonly [event: string, name: string])[] = [
  ['data', 'bound socketOnData'],
  ['end', 'bound socketOnEnd'],
  ['close', 'bound socketOnClose'],
  ['drain', 'bound socketOnDrain'],
  ['error', 'socketOnError'],
  ['timeout', 'socketOnTimeout'],
  ['resume', 'onSocketResume'],
  ['pause', 'onSocketPause'],
];

/** The parts of Node's internal HTTP parser (`socket.parser`) the hand-off uses; checked before use. */
interface HttpParser {
  incoming: unknown;
  socket: unknown;
  onIncoming: unknown;
  _consumed?: boolean;
  unconsume(): void;
  finish(): unknown;
  remove(): void;
  close(): void;
}

type HttpSocket = Socket & { parser?: HttpParser | null; server?: unknown };

function isParser(value: unknown): value is HttpParser {
  const parser = value as Partial<HttpParser> | null | undefined;
  return (
    typeof parser?.unconsume === 'function' &&
    typeof parser.finish === 'function' &&
    typeof parser.remove === 'function' &&
    typeof parser.close === 'function'
  );
}

function closeParser(parser: HttpParser): void {
  parser.close();
}

const ignoreError = (): void => {};

/** The server's listeners on the socket, by event; a string saying which is missing when one is. */
function serverListeners(socket: Socket): [string, (...args: unknown[]) => void][] | string {
  const found: [string, (...args: unknown[]) => void][] = [];
  for (const [event, name] of SERVER_LISTENERS) {
    const listener = socket.listeners(event).find((f) => (f as { name?: string }).name === name);
    if (listener === undefined) return `no "${name}" listener on '${event}'`;
    found.push([event, listener as (...args: unknown[]) => void]);
  }
  return found;
}

/**
 * Why `response`'s socket cannot be handed over now, or undefined when it can: it is the response's
 * alone (not queued behind another response of a pipelined connection), its request is fully read with
 * no other parsed behind it, the server is a plain `node:http` one (HTTP/1.1 over TLS is served by the
 * HTTP/2 server, `allowHTTP1`, which keeps no connection list for the drain), and Node's parser and
 * listeners are the ones the hand-off knows. Changes nothing.
 */
export function handOffProblem(response: ServerResponse): string | undefined {
  const found = handOffListeners(response);
  return typeof found === 'string' ? found : undefined;
}

/** As `handOffProblem`, returning the server's listeners to take off the socket when there is none. */
function handOffListeners(response: ServerResponse): [string, (...args: unknown[]) => void][] | string {
  const socket = response.req.socket as HttpSocket;
  if (response.socket !== socket) return 'the response is queued behind another on its connection';
  if (socket.destroyed || !socket.writable) return 'the connection is closed';
  if (!(socket.server instanceof HttpServer)) return 'the server is not a plain node:http server';
  const parser = socket.parser;
  if (!isParser(parser)) return "the socket's HTTP parser lacks unconsume, finish, remove or close";
  if (parser.incoming !== response.req) return 'another request is parsed behind this one';
  if (!response.req.complete) return 'the request is not fully read';
  return serverListeners(socket);
}

/**
 * Hands the socket of `response` over to the caller, who writes the body straight to it from then on,
 * with `head` (the whole response head, `http1-head.ts`) in it: Node writes nothing of this response. The
 * socket is left corked, so the head leaves with the caller's first write in one packet: the caller's
 * first write must `uncork` it. Returns null, changing nothing, when `handOffProblem` finds a reason not to.
 */
export function takeSocket(response: ServerResponse, head: string): Socket | null {
  const listeners = handOffListeners(response);
  if (typeof listeners === 'string') return null;
  const socket = response.req.socket as HttpSocket;
  const parser = socket.parser as HttpParser;
  socket.cork();
  socket.write(Buffer.from(head, 'latin1'));
  for (const [event, listener] of listeners) socket.removeListener(event, listener);
  if (parser._consumed === true) parser.unconsume();
  parser._consumed = false;
  parser.finish();
  // Out of the server's connection list (request timeouts, closeIdle/closeAll).
  parser.remove();
  parser.socket = null;
  parser.incoming = null;
  parser.onIncoming = null;
  // `socket.on` is wrapped by the server while the socket has a parser; with none it reverts to net's.
  socket.parser = null;
  // Deleted once its stack has surely unwound (Node does the same with a parser it does not pool).
  setImmediate(closeParser, parser);
  response.detachSocket(socket);
  socket.setTimeout(0);
  socket.on('error', ignoreError);
  // The server's sockets allow half-open; a client's FIN now ends the stream (Node's socketOnEnd did it).
  socket.allowHalfOpen = false;
  // Read on, discarding what comes (nothing is answered after a close-delimited body), to see the FIN.
  socket.resume();
  return socket;
}

/**
 * Readies `response` for a body delimited by the connection's close: no `Content-Length`, no chunking.
 * Removing both length headers is Node's documented way there.
 */
export function closeDelimited(response: ServerResponse): void {
  response.removeHeader('transfer-encoding');
  response.removeHeader('content-length');
}

/** How long the start-up check may take before it counts as failed. */
const CHECK_TIMEOUT_MS = 5000;
const CHECK_BODY = 'handed over\n';
const CHECK_HEAD = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n';

/**
 * The start-up check: a `node:http` server on loopback answers one request by handing its socket over
 * and writing the body straight to it; the client must receive the head and that body, then a FIN.
 * Throws a `StartupError` naming what Node changed (or that the round trip failed).
 */
export async function checkSocketHandOff(): Promise<void> {
  let problem: string | undefined = 'no request reached the server';
  const server = createServer((_request, response) => {
    // As a stream route does: the request is read (its handler ran after the parse), then the head goes.
    setImmediate(() => {
      problem = handOffProblem(response);
      const socket = problem === undefined ? takeSocket(response, CHECK_HEAD) : null;
      if (socket === null) {
        problem ??= 'the socket was not handed over';
        response.end();
        return;
      }
      if (socket.listenerCount('data') !== 0 || (socket as HttpSocket).parser != null)
        problem = 'the server still reads the socket after the hand-off';
      socket.write(CHECK_BODY);
      socket.uncork();
      socket.destroySoon();
    });
  });
  let received = '';
  const timer = setTimeout(() => server.closeAllConnections(), CHECK_TIMEOUT_MS);
  try {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const client = connect(port, '127.0.0.1', () => client.write('GET / HTTP/1.1\r\nHost: herald\r\n\r\n'));
    client.setEncoding('utf8');
    client.on('data', (chunk: string) => {
      received += chunk;
    });
    const closed = once(client, 'close');
    client.once('error', (error) => {
      problem ??= `the loopback connection failed: ${error.message}`;
    });
    await closed;
  } catch (error) {
    problem = `the loopback server failed: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
    server.closeAllConnections();
    server.close();
  }
  if (
    problem === undefined &&
    !(received.startsWith('HTTP/1.1 200') && received.endsWith(`\r\n\r\n${CHECK_BODY}`))
  )
    problem = `the client received ${JSON.stringify(received.slice(0, 200))}`;
  if (problem !== undefined) {
    throw new StartupError(
      `Node ${process.version} changed what Herald relies on to hand idle HTTP/1.1 streams over from the ` +
        `HTTP server (${problem}); src/transport/http1-socket.ts needs updating for this version`,
    );
  }
}
