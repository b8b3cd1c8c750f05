// The Socket.IO side of the comparison: two `socketio/server.mjs` nodes on one Redis (the
// Redis adapter), receivers split over them, all in room "bench", the sender on node B.
// The sender is a `socket.io-client` socket; the receivers too with --sio-client full, and by
// default (lean) a minimal client of the same wire protocol, below.
import { join } from 'node:path';
import { connect as tcpConnect } from 'node:net';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
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

/**
 * A receiver that speaks the Engine.IO 4 / Socket.IO 5 wire protocol itself over `ws` (as the
 * Switchboard receivers do): the same frames on the wire as `socket.io-client`, at a fraction
 * of its CPU in this process, so the one client process is not what the latency measures.
 * Handles what a receiver meets: the open packet, namespace connect, pings, one ack, events.
 */
export function connectLean(port, onDisconnect) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, {
    perMessageDeflate: false,
  });
  const events = new Map();
  const acks = new Map();
  let closing = false;
  const socket = {
    on: (event, fn) => events.set(event, fn),
    disconnect: () => { closing = true; ws.terminate(); },
    joinRoom: (room) => new Promise((resolve) => {
      acks.set(1, resolve);
      ws.send(`421${JSON.stringify(['join', room])}`);
    }),
  };
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.on('close', () => closing || onDisconnect('closed'));
    ws.on('message', (data) => {
      const text = data.toString();
      if (text === '2') return ws.send('3'); // ping, pong
      if (text.startsWith('42')) {
        const [event, arg] = JSON.parse(text.slice(2));
        return events.get(event)?.(arg);
      }
      if (text.startsWith('43')) {
        const id = parseInt(text.slice(2), 10);
        const ack = acks.get(id);
        acks.delete(id);
        return ack?.(JSON.parse(text.slice(2 + String(id).length))[0]);
      }
      if (text[0] === '0') return ws.send('40'); // open: connect to namespace "/"
      if (text.startsWith('40')) return resolve(socket);
      if (text.startsWith('44')) return reject(new Error(`connect refused: ${text}`));
    });
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
      const lean = ctx.sioClient === 'lean';
      const s = await (lean ? connectLean : connect)(nodes[side].port, lost);
      sockets.push(s);
      s.on('message', (m) => ctx.onMessage(side, m.text, i));
      const r = await within(10000, 'join', lean ? s.joinRoom(ROOM) : s.emitWithAck('join', ROOM));
      if (!r?.ok) throw new Error(`join: ${JSON.stringify(r)}`);
    },
  ));
  const sender = await connect(nodes[1].port, lost);
  sockets.push(sender);

  return {
    nodes,
    ownership: `no owner: room "${ROOM}" is on every node; the sender is on node B; ` +
      `receivers: ${ctx.sioClient === 'lean' ? 'lean client' : 'socket.io-client'}`,
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
