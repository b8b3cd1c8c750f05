// The Socket.IO side of the comparison: two `socketio/server.mjs` nodes on one Redis (the
// Redis adapter), receivers split over them, all in room "bench", the sender on node B.
import { join } from 'node:path';
import { connect as tcpConnect } from 'node:net';
import { io } from 'socket.io-client';
import { freePort, startProcess, stopProcess, until, mapLimit, within, cleanEnv } from './procs.mjs';

const ROOM = 'bench';
const SERVER = new URL('../socketio/server.mjs', import.meta.url).pathname;
// Extra node options for the servers, e.g. PEERS_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/p".
const NODE_ARGS = (process.env.PEERS_NODE_ARGS ?? '').split(' ').filter(Boolean);

const listening = (port) =>
  new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });

function connect(port, onDisconnect) {
  const socket = io(`http://127.0.0.1:${port}`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: 10000,
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => {
      socket.on('disconnect', (reason) => onDisconnect(reason));
      resolve(socket);
    });
    socket.once('connect_error', reject);
  });
}

/** Starts the nodes, connects and joins everyone; see two-nodes.mjs for `ctx`. */
export async function setup(ctx) {
  const nodes = [];
  for (const name of ['A', 'B']) {
    const port = await freePort();
    const child = startProcess(
      ['node', ...NODE_ARGS, SERVER, '--port', String(port), '--prefix', ctx.prefix, '--redis', ctx.redisUrl],
      { env: cleanEnv(), log: join(ctx.dir, `socketio-${name}.log`) },
    );
    nodes.push({ name, port, pid: child.pid, child });
  }
  for (const n of nodes) await until(10000, `socket.io node ${n.name} listening`, () => listening(n.port));

  const sockets = [];
  let closing = false;
  const lost = (reason) => closing || ctx.onDisconnect(reason);
  await within(ctx.setupTimeoutMs, 'socket.io receivers connect and join', mapLimit(
    Array.from({ length: ctx.members }, (_, i) => i % 2),
    50,
    async (side, i) => {
      const s = await connect(nodes[side].port, lost);
      sockets.push(s);
      s.on('message', (m) => ctx.onMessage(side, m.text, i));
      const r = await s.timeout(10000).emitWithAck('join', ROOM);
      if (!r?.ok) throw new Error(`join: ${JSON.stringify(r)}`);
    },
  ));
  const sender = await connect(nodes[1].port, lost);
  sockets.push(sender);

  return {
    nodes,
    ownership: `no owner: room "${ROOM}" is on every node; the sender is on node B`,
    async send(text) {
      const r = await sender.timeout(10000).emitWithAck('send', { room: ROOM, text, ts: Date.now() });
      if (!r?.ok) throw new Error(`send: ${JSON.stringify(r)}`);
    },
    counters: async () => null,
    async teardown() {
      closing = true;
      for (const s of sockets) s.disconnect();
      await Promise.all(nodes.map((n) => stopProcess(n.child)));
    },
  };
}
