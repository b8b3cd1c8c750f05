// End-to-end browser test of the web page on a node that signs people in with Cognito.
//
//   cd bins/tests/browser && npm ci
//   SWITCHBOARD_BIN=target/debug/switchboard node bins/tests/browser/cognito.mjs
//
// Starts its own moto_server (the Cognito stand-in) and node on free ports, and stops both.
// Two users in two browser profiles sign up through the page (the pool asks each for a
// confirmation code, which the page takes), sign in, and chat; the page keeps the access token
// and trades its refresh token for a new one before it expires; a wrong password is refused
// with its reason; signing out ends the refresh token in the pool; a user an administrator
// disables is cut off (close 4003) and the page signs out.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BIN = process.env.SWITCHBOARD_BIN || 'target/debug/switchboard';
const MOTO = process.env.MOTO_SERVER || 'moto_server';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const PASSWORD = 'Correct-Horse-9';

const children = [];
const dirs = [];
const contexts = [];
const logs = [];

const freePort = () => new Promise((resolve, reject) => {
  const s = createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

async function until(what, f, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { const v = await f(); if (v) return v; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready within ${ms} ms${last ? ': ' + last.message : ''}`);
}

function start(cmd, args, env) {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.on('data', (d) => logs.push(`[${cmd}] ${d.toString().trimEnd()}`));
  children.push(child);
  return child;
}

// A call to moto's Cognito API, the way the AWS CLI would make it (moto reads the region from
// the credential scope and checks no signature).
async function cognito(endpoint, action, body) {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.1',
      'X-Amz-Target': 'AWSCognitoIdentityProviderService.' + action,
      Authorization: 'AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/cognito-idp/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${action}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

async function openUser(base, label) {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-cognito-'));
  dirs.push(dir);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ARGS,
  });
  contexts.push(context);
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('console', (m) => { if (m.type() === 'error') logs.push(`[${label} console] ${m.text()}`); });
  page.on('pageerror', (e) => logs.push(`[${label} pageerror] ${e.message}`));
  await page.goto(base + '/');
  await page.waitForSelector('body[data-provider="cognito"]');
  return page;
}

async function signUp(page, name) {
  await page.fill('#name', name);
  await page.fill('#password', PASSWORD);
  await page.fill('#email', name + '@example.com');
  await page.click('#signup');
  await page.waitForSelector('#confirm-form', { state: 'visible' });
  await page.fill('#code', '123456');
  await page.click('#confirm');
  await page.waitForSelector('#signout', { state: 'visible' });
  await page.waitForSelector('body[data-conn="open"]');
}

const token = (page) => page.evaluate(() => localStorage.getItem('switchboard.token'));

async function sees(page, text, what) {
  try {
    await page.locator('#messages .msg[data-seq] .text', { hasText: text }).first().waitFor({ timeout: 5000 });
  } catch (e) {
    throw new Error(`${what} did not see "${text}"; #messages: ` + JSON.stringify(await page.textContent('#messages')));
  }
}

async function main() {
  const motoPort = await freePort();
  const nodePort = await freePort();
  const endpoint = `http://127.0.0.1:${motoPort}`;
  start(MOTO, ['-H', '127.0.0.1', '-p', String(motoPort)], process.env);
  const created = await until('moto_server', () => cognito(endpoint, 'CreateUserPool', { PoolName: 'page' }));
  const pool = created.UserPool.Id;
  const client = (await cognito(endpoint, 'CreateUserPoolClient', {
    UserPoolId: pool, ClientName: 'page', ExplicitAuthFlows: ['USER_PASSWORD_AUTH', 'REFRESH_TOKEN_AUTH'],
  })).UserPoolClient.ClientId;

  const data = await mkdtemp(join(tmpdir(), 'switchboard-cognito-node-'));
  dirs.push(data);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_')));
  Object.assign(env, {
    SWITCHBOARD_LISTEN: `127.0.0.1:${nodePort}`, SWITCHBOARD_DATA_DIR: data, SWITCHBOARD_LOG: process.env.NODE_LOG || 'warn',
    SWITCHBOARD_AUTH__PROVIDER: 'cognito', SWITCHBOARD_COGNITO__REGION: 'us-east-1',
    SWITCHBOARD_COGNITO__USER_POOL_ID: pool, SWITCHBOARD_COGNITO__CLIENT_ID: client,
    SWITCHBOARD_COGNITO__JWKS_URL: `${endpoint}/${pool}/.well-known/jwks.json`,
    SWITCHBOARD_COGNITO__ENDPOINT: endpoint,
    // Revocation checks every second, with credentials moto takes for AdminGetUser.
    SWITCHBOARD_COGNITO__REVOKE_WITHIN_SECS: '2',
    SWITCHBOARD_COGNITO__ACCESS_KEY_ID: 'test', SWITCHBOARD_COGNITO__SECRET_ACCESS_KEY: 'test',
  });
  start(BIN, ['serve'], env);
  const base = `http://127.0.0.1:${nodePort}`;
  await until('the node', async () => (await fetch(base + '/healthz')).ok);
  const auth = await (await fetch(base + '/api/auth')).json();
  if (auth.provider !== 'cognito') throw new Error('GET /api/auth: ' + JSON.stringify(auth));

  const suffix = Date.now().toString(36);
  const a = await openUser(base, 'A');
  const b = await openUser(base, 'B');
  if (!await a.isVisible('#email')) throw new Error('the page shows no email field with Cognito');

  await signUp(a, 'ann_' + suffix);
  await a.fill('#room-name', 'cognito ' + suffix);
  await a.setChecked('#room-private', false);
  await a.click('#create-room');
  const roomButton = a.locator('#rooms button[aria-current="true"]');
  await roomButton.waitFor();
  const roomId = await roomButton.getAttribute('data-room-id');
  await a.fill('#compose', 'hello from the pool');
  await a.click('#send');
  await sees(a, 'hello from the pool', 'A');
  console.log('ok - a user signs up with a confirmation code, signs in and posts');

  await signUp(b, 'bob_' + suffix);
  await b.fill('#join-id', roomId);
  await b.click('#join');
  await sees(b, 'hello from the pool', 'B');
  await b.fill('#compose', 'hi ann');
  await b.click('#send');
  await sees(a, 'hi ann', 'A');
  console.log('ok - two Cognito users chat');

  // The access token, not the ID token, is what the page keeps (the node can check it is alive).
  const claims = JSON.parse(Buffer.from((await token(b)).split('.')[1], 'base64url'));
  if (claims.token_use !== 'access') throw new Error('the page keeps a ' + claims.token_use + ' token');
  // Due a minute from now: the page refreshes it a second after it loads.
  const before = await token(b);
  await b.evaluate(() => localStorage.setItem('switchboard.expires', String(Date.now() + 61000)));
  await b.reload();
  await until('a refreshed token', async () => (await token(b)) !== before, 10000);
  await b.waitForSelector('body[data-conn="open"]');
  await b.click(`#rooms button[data-room-id="${roomId}"]`);
  await b.waitForSelector(`#chat[data-room-id="${roomId}"][data-ready="1"]`);
  await b.fill('#compose', 'after refresh');
  await b.click('#send');
  await sees(a, 'after refresh', 'A');
  console.log('ok - the page refreshes its token before it expires and keeps chatting');

  const refresh = await b.evaluate(() => localStorage.getItem('switchboard.refresh'));
  await b.click('#signout');
  await b.waitForSelector('#auth', { state: 'visible' });
  const after = await fetch(base + '/api/cognito/refresh', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refresh_token: refresh }),
  });
  if (after.status !== 401) throw new Error('the refresh token still works after sign-out: ' + after.status);
  console.log('ok - signing out ends the refresh token in the pool');

  await b.fill('#name', 'bob_' + suffix);
  await b.fill('#password', 'Wrong-Horse-1');
  await b.click('#signin');
  await b.locator('#status.error', { hasText: 'wrong name or password' }).waitFor();
  console.log('ok - a wrong password is refused with its reason');

  // An administrator disables A: the node closes A's socket with 4003 within the bound, and
  // the page signs out rather than reconnecting with tokens that are refused now.
  await cognito(endpoint, 'AdminDisableUser', { UserPoolId: pool, Username: 'ann_' + suffix });
  try {
    await a.locator('#status', { hasText: 'access was revoked' }).waitFor({ timeout: 8000 });
  } catch (e) {
    throw new Error('A was not signed out: #status ' + JSON.stringify(await a.textContent('#status')) + ', conn ' + await a.getAttribute('body', 'data-conn'));
  }
  await a.waitForSelector('#auth', { state: 'visible' });
  if (await token(a)) throw new Error('the page kept a revoked token');
  console.log('ok - a user an administrator disabled is signed out of the page');

  const errors = logs.filter((l) => l.includes('pageerror'));
  if (errors.length) throw new Error('page errors: ' + errors.join('; '));
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  console.error('not ok - ' + e.message);
  for (const l of logs.slice(-30)) console.error(l);
} finally {
  for (const c of contexts) await c.close().catch(() => {});
  for (const c of children) c.kill('SIGTERM');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
