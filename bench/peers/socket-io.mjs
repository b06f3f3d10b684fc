// Socket.IO as many would pick it instead of SSE: a room per user, `io.emit` for broadcasts. Its ping is
// stretched past the bench's length because the bench's clients do not answer pings.
import { Server } from 'socket.io';
import { listen, publishingServer } from './common.mjs';

let io;
const server = publishingServer(
  (user, data) => {
    if (user === null) io.emit('message', data);
    else io.to(user).emit('message', data);
  },
  (_request, response) => {
    response.writeHead(404);
    response.end();
  },
);
io = new Server(server, { pingInterval: 600_000, pingTimeout: 600_000 });
io.on('connection', (socket) => {
  socket.join(String(socket.handshake.query.user));
});
listen(server);
