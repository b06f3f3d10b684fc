// better-sse with its defaults: one session per client, one channel for broadcasts.
import { createChannel, createSession } from 'better-sse';
import { listen, publishingServer, userOf } from './common.mjs';

const channel = createChannel();
const sessions = new Map();

const server = publishingServer(
  (user, data) => {
    if (user === null) channel.broadcast(data);
    else sessions.get(user)?.push(data);
  },
  async (request, response) => {
    const user = userOf(request.url);
    const session = await createSession(request, response);
    sessions.set(user, session);
    channel.register(session);
    session.on('disconnected', () => sessions.delete(user));
  },
);
listen(server);
