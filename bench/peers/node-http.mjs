// The classic tutorial: a Map of open responses, `res.write` per client per message.
import { listen, publishingServer, userOf } from './common.mjs';

const clients = new Map();

const server = publishingServer(
  (user, data) => {
    const frame = `data: ${data}\n\n`;
    if (user === null) for (const response of clients.values()) response.write(frame);
    else clients.get(user)?.write(frame);
  },
  (request, response) => {
    const user = userOf(request.url);
    response.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    response.write(': connected\n\n');
    clients.set(user, response);
    request.on('close', () => clients.delete(user));
  },
);
listen(server);
