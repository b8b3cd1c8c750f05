// Child processes (server nodes) and the bookkeeping around them: free ports, CPU time from
// /proc, timeouts, and a cleanup list run on exit, error or Ctrl-C so nothing is left behind.
import { spawn, execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { openSync, readFileSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TICKS = 100; // USER_HZ: /proc times are in 1/100 s on Linux (getconf CLK_TCK)

/** Rejects with `what` when `promise` has not settled within `ms`. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `probe` every 100 ms until it returns something truthy, for at most `ms`. */
export async function until(ms, what, probe) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(100);
  }
}

export async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

// Cleanups run last-in first-out, once, whatever ends the program.
const cleanups = [];
export const onCleanup = (fn) => cleanups.push(fn);
export async function cleanupAll() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    await Promise.resolve().then(fn).catch((e) => console.error('cleanup:', e.message));
  }
}

/**
 * Starts `argv` with the open-file limit raised (through `sh -c 'ulimit ...; exec ...'`, so
 * the pid is the program's own), stdout and stderr to `log`. Killed at cleanup.
 */
export function startProcess(argv, { env, log }) {
  const fd = openSync(log, 'a');
  const child = spawn(
    'sh',
    ['-c', 'ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"', 'sh', ...argv],
    { env, stdio: ['ignore', fd, fd] },
  );
  child.exited = new Promise((r) => child.once('exit', (code, sig) => r(code ?? sig)));
  onCleanup(() => stopProcess(child));
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const done = await Promise.race([child.exited.then(() => true), sleep(graceMs)]);
  if (!done) {
    child.kill('SIGKILL');
    await child.exited;
  }
}

/** User + system CPU seconds a process has used so far (all its threads). */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime (fields 14, 15)
}

/** Every process's name and CPU seconds so far, by pid. */
export function allProcesses() {
  const out = new Map();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      out.set(pid, { comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), cpu: cpuSeconds(pid) });
    } catch {} // gone meanwhile
  }
  return out;
}

/** CPU seconds used between two `allProcesses()`, summed by process name, largest first. */
export function cpuByName(before, after) {
  const by = {};
  for (const [pid, p] of after) by[p.comm] = (by[p.comm] ?? 0) + p.cpu - (before.get(pid)?.cpu ?? 0);
  return Object.entries(by).sort((a, b) => b[1] - a[1]);
}

/** Environment for a child: ours without any SWITCHBOARD_* (a node refuses unknown ones). */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWITCHBOARD_')) env[k] = v;
  return { ...env, ...extra };
}

/** `fn(item, index)` over `items`, at most `limit` at once; the results in order. */
export async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** CPU seconds the whole machine has been busy so far (every core: all but idle and iowait). */
export function machineCpuSeconds() {
  const [, ...t] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = t;
  return (user + nice + system + irq + softirq + steal) / TICKS;
}
