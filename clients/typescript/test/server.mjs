// Test support: a real Switchboard node (target/debug/switchboard, or $SWITCHBOARD_BIN) on a
// free port with a temporary data directory, started as ops/test.sh starts it, and users made
// over the HTTP API.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";

const root = resolve(fileURLToPath(import.meta.url), "../../../..");
const bin = process.env.SWITCHBOARD_BIN ?? join(root, "target/debug/switchboard");

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

export class Node {
  static async start() {
    const node = new Node(await freePort(), mkdtempSync(join(tmpdir(), "sb-ts-client-")));
    await node.spawn();
    return node;
  }

  constructor(port, dataDir) {
    this.port = port;
    this.dataDir = dataDir;
    this.http = `http://127.0.0.1:${port}`;
    this.ws = `ws://127.0.0.1:${port}/ws`;
  }

  async spawn() {
    // Every SWITCHBOARD_* variable is node configuration (and an unknown one is refused):
    // the node gets only these.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SWITCHBOARD_")));
    Object.assign(env, {
      SWITCHBOARD_LISTEN: `127.0.0.1:${this.port}`,
      SWITCHBOARD_DATA_DIR: this.dataDir,
      SWITCHBOARD_LOG: "warn",
      SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB: "1024",
      SWITCHBOARD_AUTH__ARGON2_ITERATIONS: "1",
      // Small, so that the reload test needs few messages (PROTOCOL §8.4).
      SWITCHBOARD_ENGINE__RESUME_LIMIT: "5",
    });
    this.child = spawn(bin, ["serve"], { env, stdio: ["ignore", "inherit", "inherit"] });
    this.exited = new Promise((ok) => this.child.once("exit", (code, signal) => ok({ code, signal })));
    for (let i = 0; i < 200; i++) {
      try {
        if ((await fetch(`${this.http}/healthz`)).ok) return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(`${bin} did not start on port ${this.port}`);
  }

  /** SIGTERM: a graceful shutdown, every connection told 1012 (PROTOCOL §8.9). */
  async stop() {
    this.child.kill("SIGTERM");
    const { code, signal } = await this.exited;
    if (code !== 0) throw new Error(`the node exited with ${code ?? signal}`);
  }

  async restart() {
    await this.stop();
    await this.spawn();
  }

  async close() {
    if (this.child.exitCode === null && this.child.signalCode === null) await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  async signup(name, password = "password123") {
    const res = await fetch(`${this.http}/api/signup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name, password }),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(`signup ${name}: ${res.status} ${JSON.stringify(body)}`);
    return body; // { token, user: { id, name } }
  }
}

/**
 * A `ws` WebSocket class whose sockets a test can cut (`drop`) and keep from reconnecting
 * (`offline`: new sockets go to a port that refuses them).
 */
export function faultySocket() {
  const control = {
    offline: false,
    current: undefined,
    opened: 0,
    drop() {
      control.current?.terminate();
    },
  };
  control.WebSocket = class extends WebSocket {
    constructor(url, protocols) {
      super(control.offline ? "ws://127.0.0.1:9/ws" : url, protocols);
      control.opened += 1;
      control.current = this;
    }
  };
  return control;
}

export const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** Resolves with the first `name` event of `client` that `pred` accepts, within `ms`. */
export function next(client, name, pred = () => true, ms = 5000) {
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => {
      off();
      fail(new Error(`no ${name} event within ${ms} ms`));
    }, ms);
    const off = client.on(name, (value) => {
      if (!pred(value)) return;
      clearTimeout(timer);
      off();
      ok(value);
    });
  });
}

/** Polls `check` until it returns true, within `ms`. */
export async function until(check, ms = 5000, what = "condition") {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
