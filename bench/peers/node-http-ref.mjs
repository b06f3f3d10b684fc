// The bare `node:http` reference: the floor of any server built on `node:http`. Headers and a comment in
// the first write, the response kept in a Map by user, and per publish one pre-encoded Buffer written
// once per recipient (`response.write`); no framework, no validation, no ids, no history.
import { listen, publishingServer } from './common.mjs';

const HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-store' };
const COMMENT = Buffer.from(':\n\n');
const USER = /[?&]user=([^&]+)/;
const clients = new Map();

const server = publishingServer(
  (user, data) => {
    const frame = Buffer.from(`data: ${data}\n\n`);
    if (user === null) for (const response of clients.values()) response.write(frame);
    else clients.get(user)?.write(frame);
  },
  (request, response) => {
    const user = USER.exec(request.url)?.[1] ?? 'anonymous';
    clients.set(user, response);
    response.once('close', () => clients.delete(user));
    response.writeHead(200, HEADERS);
    response.write(COMMENT);
  },
);
listen(server);
