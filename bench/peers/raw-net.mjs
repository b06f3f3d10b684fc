// The raw-socket reference: what any Node server is bounded by. A minimal HTTP/1.1 reader, one Map of
// sockets, and one pre-encoded Buffer written to every socket per message.
import net from 'node:net';

const HEADERS = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\r\n:\n\n',
);
const ACCEPTED = Buffer.from(
  'HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
);
const clients = new Map();

function deliver(body) {
  const parsed = JSON.parse(body);
  for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
    const frame = Buffer.from(`data: ${message.data}\n\n`);
    if (message.to.all === true) for (const socket of clients.values()) socket.write(frame);
    else for (const user of message.to.users) clients.get(user)?.write(frame);
  }
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let buffer = '';
  socket.on('error', () => {});
  socket.on('data', function read(chunk) {
    buffer += chunk.toString('latin1');
    for (;;) {
      const head = buffer.indexOf('\r\n\r\n');
      if (head < 0) return;
      const requestLine = buffer.slice(0, buffer.indexOf('\r\n'));
      if (requestLine.startsWith('GET ')) {
        const user = /[?&]user=([^& ]+)/.exec(requestLine)?.[1] ?? 'anonymous';
        clients.set(user, socket);
        socket.once('close', () => clients.delete(user));
        socket.off('data', read);
        socket.write(HEADERS);
        return;
      }
      const length = Number(/content-length: *(\d+)/i.exec(buffer.slice(0, head))?.[1] ?? 0);
      if (buffer.length < head + 4 + length) return;
      deliver(Buffer.from(buffer.slice(head + 4, head + 4 + length), 'latin1').toString('utf8'));
      buffer = buffer.slice(head + 4 + length);
      socket.write(ACCEPTED);
    }
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
