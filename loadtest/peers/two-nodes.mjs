#!/usr/bin/env node
// Two nodes on one Redis, Switchboard against Socket.IO + its Redis adapter, one client.
//
//   node two-nodes.mjs [--secs 30] [--rate 20] [--members 2000] [--kinds switchboard,socketio]
//                      [--out /tmp/two-nodes.json]
//
// For each kind in turn: start two nodes (A, B), connect `members` receivers split evenly
// over them, all in one room (Switchboard: a room the ring gives to node A), and one sender on
// node B. The sender sends `rate` messages/s: `warmup` s unmeasured, `secs` s measured, one
// more second unmeasured; each text is "SEQ SENDTIME" (this process's clock). Every receiver
// records receive - send time. Over the measured window: each node's CPU (/proc), Redis PUBLISH
// calls (INFO commandstats) and Redis CPU (INFO cpu). See README.md.
import { parseArgs } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { cpuSeconds, allProcesses, cpuByName, machineCpuSeconds, sleep, within, onCleanup, cleanupAll } from './lib/procs.mjs';
import { redisCounters, deleteKeys, summarize, round, table } from './lib/stats.mjs';
import * as switchboard from './lib/switchboard.mjs';
import * as socketio from './lib/socketio.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    secs: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    rate: { type: 'string', default: '20' },
    members: { type: 'string', default: '2000' },
    kinds: { type: 'string', default: 'switchboard,socketio' },
    out: { type: 'string' },
    'wait-quiet': { type: 'string', default: '0' },
    'sio-client': { type: 'string', default: 'lean' },
    bin: { type: 'string', default: join(here, '../../target/release/switchboard') },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    'pg-host': { type: 'string', default: '127.0.0.1' },
    'pg-port': { type: 'string', default: '5432' },
    'pg-user': { type: 'string', default: 'postgres' },
  },
});
const [secs, warmup, rate, members] = ['secs', 'warmup', 'rate', 'members'].map((k) => Number(opt[k]));
const waitQuiet = Number(opt['wait-quiet']);
const drivers = { switchboard, socketio };
const kinds = opt.kinds.split(',');
for (const k of kinds) if (!drivers[k]) throw new Error(`unknown kind ${k} (switchboard, socketio)`);
if (!['lean', 'full'].includes(opt['sio-client'])) throw new Error('--sio-client is lean or full');
if (members % 2) throw new Error('--members must be even (split over two nodes)');

const dir = mkdtempSync(join(tmpdir(), 'peers-two-nodes-'));
const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);
const redis = createClient({ url: opt.redis });
await redis.connect();

/** One kind, start to end: the figures of its measured window. */
async function measure(kind) {
  const prefix = `peers2n-${kind}-${process.pid}`;
  onCleanup(() => deleteKeys(redis, prefix)); // runs after the nodes' own cleanups (last in, first out)
  const period = 1000 / rate;
  const first = Math.round(warmup * rate) + 1; // first measured seq
  const last = first + Math.round(secs * rate) - 1; // last measured seq
  const total = last + rate; // one unmeasured second after the window: steady load at its end
  const perSide = members / 2;
  const lat = [[], []];
  const got = [0, 0];
  const lastSeq = new Int32Array(members);
  let duplicates = 0, reordered = 0, otherSeq = 0;
  const disconnects = [];
  const ctx = {
    members, prefix, dir, redisUrl: opt.redis, bin: opt.bin, setupTimeoutMs: 300000,
    sioClient: opt['sio-client'],
    pgHost: opt['pg-host'], pgPort: Number(opt['pg-port']), pgUser: opt['pg-user'],
    onDisconnect: (why) => disconnects.push(why),
    onMessage(side, text, who) {
      const now = performance.now();
      const [seqText, at] = String(text).split(' ');
      const seq = Number(seqText);
      if (!(seq >= 1 && seq <= total)) return otherSeq++;
      if (seq === lastSeq[who]) duplicates++;
      else if (seq < lastSeq[who]) reordered++;
      lastSeq[who] = Math.max(lastSeq[who], seq);
      if (seq >= first && seq <= last) {
        got[side]++;
        lat[side].push(now - Number(at));
      }
    },
  };

  // Anything else running skews every figure: wait for a quiet machine (--wait-quiet), or say
  // that it was not (and keep it in the JSON).
  let busyBefore;
  const quietBy = Date.now() + waitQuiet * 1000;
  do {
    const m0 = machineCpuSeconds();
    await sleep(2000);
    busyBefore = round((machineCpuSeconds() - m0) / 2);
  } while (busyBefore > 0.3 && Date.now() < quietBy);
  if (busyBefore > 0.3) log(`WARNING: the machine was ${busyBefore} cores busy before ${kind} started`);
  log(`${kind}: starting 2 nodes, ${members} receivers (logs in ${dir})`);
  const t = performance.now();
  const d = await drivers[kind].setup(ctx);
  log(`${kind}: set up in ${((performance.now() - t) / 1000).toFixed(1)} s; ${d.ownership}`);
  try {
    await sleep(1000);
    const acks = { ok: 0, errors: {}, lat: [] };
    const sample = async () => ({
      cpu: d.nodes.map((n) => cpuSeconds(n.pid)),
      redis: await redisCounters(redis),
      procs: allProcesses(),
      machine: machineCpuSeconds(),
      client: process.cpuUsage(),
      counters: await d.counters(),
    });
    let start, end;
    const pending = [];
    const t0 = performance.now() + 50;
    log(`${kind}: sending ${rate}/s: ${warmup} s warm-up, ${secs} s measured, 1 s after`);
    for (let seq = 1; seq <= total; seq++) {
      const wait = t0 + (seq - 1) * period - performance.now();
      if (wait > 0) await sleep(wait);
      if (seq === first) start = await sample();
      if (seq === last + 1) end = await sample();
      const at = performance.now();
      pending.push(d.send(`${seq} ${at.toFixed(3)}`).then(
        () => { acks.ok++; if (seq >= first && seq <= last) acks.lat.push(performance.now() - at); },
        (e) => { acks.errors[e.message] = (acks.errors[e.message] ?? 0) + 1; },
      ));
    }
    const sent = last - first + 1;
    await within(15000, 'acknowledgements', Promise.all(pending)).catch((e) => log(e.message));
    // Drain: every measured message to every receiver, or 10 s.
    const drainEnd = Date.now() + 10000;
    while (got[0] + got[1] < sent * members && Date.now() < drainEnd) await sleep(50);

    const nodes = d.nodes.map((n, i) => ({
      node: n.name,
      role: kind === 'switchboard' ? (i === 0 ? 'room owner' : 'sender') : (i === 0 ? 'other' : 'sender'),
      members: perSide,
      cpu_s: round(end.cpu[i] - start.cpu[i]),
      ...summarize(lat[i]),
      expected: sent * perSide,
      lost: sent * perSide - got[i],
      counters: end.counters && Object.fromEntries(Object.entries(end.counters[i])
        .map(([k, v]) => [k, v - start.counters[i][k]])),
    }));
    const publishes = end.redis.publish - start.redis.publish;
    const byName = cpuByName(start.procs, end.procs);
    const postgres = byName.find(([name]) => name === 'postgres')?.[1] ?? 0;
    // Everything but the nodes, this client, Redis and Postgres: should be next to nothing.
    const mine = new Set([process.pid, ...d.nodes.map((n) => n.pid)].map(String));
    const others = cpuByName(
      new Map([...start.procs].filter(([pid]) => !mine.has(pid))),
      new Map([...end.procs].filter(([pid, p]) => !mine.has(pid) && !['postgres', 'redis-server'].includes(p.comm))),
    ).slice(0, 5).map(([name, cpu]) => `${name} ${cpu.toFixed(2)}`);
    const result = {
      kind, secs, rate, members, sent, sent_total: total,
      acked: acks.ok, ack_errors: acks.errors, ack: summarize(acks.lat),
      nodes,
      cpu_s_both: round(nodes[0].cpu_s + nodes[1].cpu_s),
      publishes, publish_per_message: round(publishes / sent, 3),
      redis_cpu_s: round(end.redis.cpu - start.redis.cpu, 3),
      postgres_cpu_s: round(postgres),
      client_cpu_s: round((end.client.user + end.client.system - start.client.user - start.client.system) / 1e6),
      machine_cpu_s: round(end.machine - start.machine),
      machine_busy_before: busyBefore,
      other_processes: others,
      duplicates, reordered, other_frames: otherSeq, disconnects: disconnects.length,
      ownership: d.ownership,
    };
    // The machine's CPU that none of the processes above used: something else ran.
    result.other_cpu_s = round(result.machine_cpu_s - result.cpu_s_both - result.redis_cpu_s -
      result.postgres_cpu_s - result.client_cpu_s);
    result.quiet = result.other_cpu_s <= secs / 15; // on 2 cores: under ~3% of the machine
    if (!result.quiet) log(`WARNING: ${result.other_cpu_s} CPU-s of something else ran in the ${kind} window: ${others.join(', ')}`);
    if (kind === 'switchboard') {
      // The room really ran on node A: A sequenced every message of the window, B none.
      const [a, b] = nodes.map((n) => n.counters.switchboard_messages_total);
      result.ownership_checked = a >= sent && b === 0;
      if (!result.ownership_checked) log(`OWNERSHIP CHECK FAILED: messages sequenced on A ${a}, on B ${b}`);
    }
    return result;
  } finally {
    await d.teardown();
    const n = await deleteKeys(redis, prefix);
    log(`${kind}: nodes stopped, ${n} Redis keys under ${prefix} deleted`);
  }
}

function report(results) {
  const rows = [['kind', 'node', 'role', 'members', 'CPU-s', 'p50 ms', 'p99 ms', 'max ms', 'received', 'lost']];
  for (const r of results) {
    for (const n of r.nodes) {
      rows.push([r.kind, n.node, n.role, n.members, n.cpu_s, n.p50_ms, n.p99_ms, n.max_ms, n.count, n.lost]);
    }
  }
  const rows2 = [['kind', 'sent', 'acked', 'ack p50/p99 ms', 'CPU-s both', 'PUBLISH/msg', 'Redis CPU-s', 'PG CPU-s', 'client CPU-s', 'other CPU-s', 'dup/reord', 'disconn']];
  for (const r of results) {
    rows2.push([r.kind, r.sent, r.acked, `${r.ack.p50_ms}/${r.ack.p99_ms}`, r.cpu_s_both, r.publish_per_message,
      r.redis_cpu_s, r.postgres_cpu_s, r.client_cpu_s, r.other_cpu_s, `${r.duplicates}/${r.reordered}`, r.disconnects]);
  }
  console.log(`\n${table(rows)}\n\n${table(rows2)}`);
  for (const r of results) {
    if (Object.keys(r.ack_errors).length) console.log(`${r.kind} send errors: ${JSON.stringify(r.ack_errors)}`);
    if (!r.quiet) console.log(`${r.kind}: NOT QUIET, ${r.other_cpu_s} CPU-s of other processes in the window: rerun`);
    if (r.ownership_checked !== undefined) console.log(`${r.kind}: ${r.ownership}; checked on /metrics: ${r.ownership_checked}`);
  }
  const sb = results.find((r) => r.kind === 'switchboard');
  const sio = results.find((r) => r.kind === 'socketio');
  if (!sb || !sio) return null;
  const per = sb.nodes.map((n, i) => ({
    node: n.node,
    cpu_ratio: round(sio.nodes[i].cpu_s / n.cpu_s),
    cpu_met: n.cpu_s * 1.5 <= sio.nodes[i].cpu_s,
    p99_met: n.p99_ms <= sio.nodes[i].p99_ms,
  }));
  const cmp = { cpu_ratio_both: round(sio.cpu_s_both / sb.cpu_s_both), per_node: per };
  console.log(`\nSocket.IO CPU / Switchboard CPU: both nodes ${cmp.cpu_ratio_both}x; ` +
    per.map((p) => `node ${p.node} ${p.cpu_ratio}x (target >= 1.5: ${p.cpu_met ? 'met' : 'not met'}), ` +
      `p99 target ${p.p99_met ? 'met' : 'not met'}`).join('; '));
  return cmp;
}

let exitCode = 0;
let stopping = false;
const stop = async (sig) => {
  stopping = true;
  log(`${sig}: cleaning up`);
  await cleanupAll();
  process.exit(130);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
try {
  const results = [];
  for (const kind of kinds) results.push(await measure(kind));
  const comparison = report(results);
  const doc = { date: new Date().toISOString(), host: { cpus: (await import('node:os')).cpus().length }, results, comparison };
  if (opt.out) { writeFileSync(opt.out, JSON.stringify(doc, null, 2)); log(`wrote ${opt.out}`); }
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  await cleanupAll();
}
if (stopping) await new Promise(() => {}); // the signal handler finishes the cleanup and exits
await redis.quit();
process.exit(exitCode);
