// The Switchboard side of the comparison: two `switchboard serve` nodes on one Redis and a
// fresh Postgres database, receivers split over them, all in one public room owned (by the
// ring) by node A, the sender on node B. Speaks the protocol of docs/PROTOCOL.md: MessagePack
// frames over /ws, token at upgrade.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { Encoder, Decoder } from '@msgpack/msgpack';
import { owner } from './ring.mjs';
import { freePort, startProcess, stopProcess, until, mapLimit, within, run, sleep, onCleanup, cleanEnv } from './procs.mjs';

const NODE_IDS = ['node-a', 'node-b'];
const encoder = new Encoder();
const decoder = new Decoder();

/** One client connection: `cmd` sends a command and resolves with its reply. */
class Conn {
  static open(url, token, onClose) {
    const ws = new WebSocket(`${url}?token=${encodeURIComponent(token)}`, 'switchboard.v1', {
      perMessageDeflate: false,
    });
    const c = new Conn(ws);
    return new Promise((resolve, reject) => {
      ws.once('error', reject);
      ws.once('unexpected-response', (_, res) => reject(new Error(`upgrade: HTTP ${res.statusCode}`)));
      c.onFrame = (f) => {
        if (f.type !== 'hello' || !f.user) return reject(new Error(`first frame: ${f.type}`));
        c.onFrame = null;
        ws.on('close', (code) => onClose(code));
        resolve(c);
      };
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.rid = 0;
    this.waiting = new Map();
    this.onEvent = () => {};
    ws.on('message', (data) => {
      const f = decoder.decode(data);
      if (this.onFrame) return this.onFrame(f);
      const w = f.rid !== undefined && this.waiting.get(f.rid);
      if (!w) return this.onEvent(f);
      this.waiting.delete(f.rid);
      if (f.type === 'error') w.reject(new Error(`${f.code} ${f.message}`));
      else w.resolve(f);
    });
  }

  cmd(frame) {
    const rid = ++this.rid;
    return new Promise((resolve, reject) => {
      this.waiting.set(rid, { resolve, reject });
      this.ws.send(encoder.encode({ ...frame, rid }));
    });
  }
}

async function signUp(base, name) {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${base}/api/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, password: 'benchmark-pw' }),
    });
    if (res.status === 429 && attempt < 50) { await sleep(100 + attempt * 50); continue; } // hashing at capacity
    if (!res.ok) throw new Error(`signup ${name}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()).token;
  }
}

/** Sums of the named counters in a node's /metrics. */
async function metrics(base, names) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out = Object.fromEntries(names.map((n) => [n, 0]));
  for (const line of text.split('\n')) {
    const m = line.match(/^(\w+)(?:\{[^}]*\})? (\S+)$/);
    if (m && m[1] in out) out[m[1]] += Number(m[2]);
  }
  return out;
}
const COUNTERS = ['switchboard_messages_total', 'switchboard_forward_envelopes_total', 'switchboard_bus_publishes_total'];

/** Starts the nodes, signs up and connects everyone; see two-nodes.mjs for `ctx`. */
export async function setup(ctx) {
  const bin = resolve(ctx.bin);
  const db = `peers_two_nodes_${process.pid}_${Date.now()}`;
  const pg = ['-h', ctx.pgHost, '-p', String(ctx.pgPort), '-U', ctx.pgUser];
  await run('createdb', [...pg, db]);
  const dropDb = () => run('dropdb', [...pg, '--if-exists', '--force', db]);
  onCleanup(dropDb);
  const secret = randomBytes(32).toString('base64');

  const nodes = [];
  for (const [i, name] of ['A', 'B'].entries()) {
    const port = await freePort();
    const env = cleanEnv({
      SWITCHBOARD_LISTEN: `127.0.0.1:${port}`,
      SWITCHBOARD_DATA_DIR: mkdtempSync(join(ctx.dir, `switchboard-${name}-`)),
      SWITCHBOARD_LOG: 'warn',
      SWITCHBOARD_DATABASE__URL: `postgres://${ctx.pgUser}@${ctx.pgHost}:${ctx.pgPort}/${db}`,
      SWITCHBOARD_CLUSTER__REDIS_URL: ctx.redisUrl,
      SWITCHBOARD_CLUSTER__KEY_PREFIX: ctx.prefix,
      SWITCHBOARD_CLUSTER__NODE_ID: NODE_IDS[i],
      SWITCHBOARD_AUTH__TOKEN_SECRET: secret,
      // Cheap password hashing, as the Rust harness does: only the set-up signs up.
      SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB: '64',
      SWITCHBOARD_AUTH__ARGON2_ITERATIONS: '1',
    });
    const child = startProcess([bin, 'serve'], { env, log: join(ctx.dir, `switchboard-${name}.log`) });
    const base = `http://127.0.0.1:${port}`;
    nodes.push({ name, id: NODE_IDS[i], port, pid: child.pid, child, base, ws: `ws://127.0.0.1:${port}/ws` });
    // One at a time: the first node migrates the fresh database.
    await until(30000, `switchboard node ${name} ready (see ${ctx.dir})`, async () => (await fetch(`${base}/readyz`)).ok);
  }
  for (const n of nodes) {
    await until(15000, `node ${n.name} sees both nodes`, async () =>
      (await metrics(n.base, ['switchboard_cluster_nodes'])).switchboard_cluster_nodes === 2);
  }

  const tokens = await within(ctx.setupTimeoutMs, 'sign-ups', mapLimit(
    Array.from({ length: ctx.members + 1 }, (_, i) => i),
    16,
    (i) => signUp(nodes[i % 2].base, `peer${i}`),
  ));

  const conns = [];
  let closing = false;
  const lost = (code) => closing || ctx.onDisconnect(`close ${code}`);
  const sender = await Conn.open(nodes[1].ws, tokens[0], lost);
  conns.push(sender);
  let room;
  for (let tries = 0; ; tries++) {
    const r = await sender.cmd({ type: 'create_room', name: `bench-${tries}`, visibility: 'public' });
    if (owner(NODE_IDS, r.room.id) === NODE_IDS[0]) { room = r.room.id; break; }
    if (tries > 40) throw new Error('no room owned by node A after 40 tries: is ring.mjs right?');
  }

  await within(ctx.setupTimeoutMs, 'switchboard receivers connect and join', mapLimit(
    tokens.slice(1),
    50,
    async (token, i) => {
      const side = i % 2;
      const c = await Conn.open(nodes[side].ws, token, lost);
      conns.push(c);
      c.onEvent = (f) => f.type === 'message' && ctx.onMessage(side, f.text, i);
      await c.cmd({ type: 'join', room });
    },
  ));

  let cmid = 0;
  return {
    nodes,
    ownership: `room ${room} owned by ${NODE_IDS[0]} (ring.mjs); sender on ${NODE_IDS[1]}`,
    async send(text) {
      const r = await sender.cmd({ type: 'send', room, cmid: `c${++cmid}`, text, first: true });
      if (r.type !== 'sent') throw new Error(`send: ${r.type}`);
    },
    /** Per node: messages sequenced, envelopes forwarded, bus publishes (from /metrics). */
    counters: () => Promise.all(nodes.map((n) => metrics(n.base, COUNTERS))),
    async teardown() {
      closing = true;
      for (const c of conns) c.ws.terminate();
      await Promise.all(nodes.map((n) => stopProcess(n.child, 15000)));
      await dropDb();
    },
  };
}
