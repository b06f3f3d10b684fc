// Fastify with @fastify/sse: a route with `sse: true`; the app keeps each reply's SSE handle.
import sse from '@fastify/sse';
import Fastify from 'fastify';

const app = Fastify({ logger: false });
await app.register(sse);
const clients = new Map();

const send = (handle, data) => handle.send({ data }).catch(() => {});

app.get('/events', { sse: true }, async (request, reply) => {
  const user = request.query.user;
  reply.sse.keepAlive();
  reply.sse.onClose(() => clients.delete(user));
  clients.set(user, reply.sse);
  await reply.sse.send({ event: 'connected', data: '' });
});

app.post('/messages', async (request, reply) => {
  const body = request.body;
  for (const message of Array.isArray(body) ? body : [body]) {
    if (message.to.all === true) for (const handle of clients.values()) send(handle, message.data);
    else for (const user of message.to.users) if (clients.has(user)) send(clients.get(user), message.data);
  }
  return reply.code(202).send({});
});

await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
console.log(`listening ${app.server.address().port}`);
