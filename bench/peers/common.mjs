// What every Node peer shares with the bench: the port to listen on, the ready line, and Herald's publish
// API (`POST /messages`, one message or a JSON array), reduced to the targets the bench uses.
import { createServer } from 'node:http';

/** Listens on PORT (0: any) on 127.0.0.1 and prints the line the bench waits for. */
export function listen(server) {
  // An exit rather than death by signal on the bench's SIGTERM: a `--cpu-prof` profile is written then.
  process.once('SIGTERM', () => process.exit(0));
  server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    console.log(`listening ${server.address().port}`);
  });
}

/** The user of a `/events?user=<id>` (or any `?user=`) request. */
export function userOf(url) {
  return new URL(url, 'http://x').searchParams.get('user') ?? 'anonymous';
}

/** Reads a publish body and calls `onMessage(user | null, data)` per message (null: everyone). */
export function readPublish(request, response, onMessage) {
  let body = '';
  request.setEncoding('utf8');
  request.on('data', (chunk) => {
    body += chunk;
  });
  request.on('end', () => {
    const parsed = JSON.parse(body);
    for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
      if (message.to.all === true) onMessage(null, message.data);
      else for (const user of message.to.users) onMessage(user, message.data);
    }
    response.writeHead(202, { 'content-type': 'application/json' });
    response.end('{}');
  });
}

/** A `node:http` server that hands `POST /messages` to `onMessage` and other requests to `onOther`. */
export function publishingServer(onMessage, onOther) {
  return createServer((request, response) => {
    if (request.method === 'POST' && request.url === '/messages') readPublish(request, response, onMessage);
    else onOther(request, response);
  });
}
