// The peer to compare Switchboard with: a minimal chat server on Socket.IO with its Redis
// adapter, so that several of these processes on one Redis form one cluster.
//
//   node socketio/server.mjs --port 9201 --prefix sio-bench-1 [--redis redis://127.0.0.1:6379]
//
// What it does, and no more: a client `join`s a room by name (ack when joined); a client
// `send`s {room, text, ts} and the server broadcasts it as `message` to the room with
// `io.to(room).emit` (through the adapter, so members on other nodes get it: one Redis
// PUBLISH per message) and acknowledges the sender through the Socket.IO ack callback.
// WebSocket transport only. No authentication, no storage, no history.
// Prints "READY <port>" on stdout once it listens and the adapter's Redis clients are up.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';

const { values: opt } = parseArgs({
  options: {
    port: { type: 'string' },
    prefix: { type: 'string', default: 'socket.io' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
  },
});
if (!opt.port) throw new Error('--port is required');

const pub = createClient({ url: opt.redis });
const sub = pub.duplicate();
for (const c of [pub, sub]) c.on('error', (e) => console.error('redis:', e.message));
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer();
const io = new Server(http, {
  transports: ['websocket'],
  serveClient: false,
  adapter: createAdapter(pub, sub, { key: opt.prefix }),
});

io.on('connection', (socket) => {
  socket.on('join', (room, ack) => {
    if (typeof room !== 'string') return ack?.({ error: 'room must be a string' });
    socket.join(room);
    ack?.({ ok: true });
  });
  socket.on('send', (msg, ack) => {
    if (!msg || typeof msg.room !== 'string' || typeof msg.text !== 'string') {
      return ack?.({ error: 'send needs {room, text, ts}' });
    }
    io.to(msg.room).emit('message', { room: msg.room, text: msg.text, ts: msg.ts });
    ack?.({ ok: true });
  });
});

const shutdown = () => {
  io.close();
  Promise.allSettled([pub.quit(), sub.quit()]).finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

http.listen(Number(opt.port), '127.0.0.1', () => console.log(`READY ${opt.port}`));
