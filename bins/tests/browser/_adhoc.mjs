import { chromium } from 'playwright-core';
import { mkdtemp } from 'node:fs/promises';
import { execSync } from 'node:child_process';
const BASE = 'http://127.0.0.1:8099';
const ctx = await chromium.launchPersistentContext(await mkdtemp('/tmp/adhoc-'), { executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const ctx2 = await chromium.launchPersistentContext(await mkdtemp('/tmp/adhoc-'), { executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const a = ctx.pages()[0], b = ctx2.pages()[0];
for (const [l, p] of [['A', a], ['B', b]]) { p.on('console', (m) => console.log(l, 'console', m.type(), m.text())); p.on('pageerror', (e) => console.log(l, 'pageerror', e.message)); }
const n = 'u' + Date.now();
await a.goto(BASE); await a.fill('#name', n); await a.fill('#password', 'x'); await a.click('#signup'); await a.waitForSelector('body[data-conn=open]');
// duplicate signup error
await b.goto(BASE); await b.fill('#name', n); await b.fill('#password', 'x'); await b.click('#signup'); await b.waitForTimeout(300);
console.log('dup signup status:', await b.textContent('#status'));
await b.fill('#name', n + 'b'); await b.fill('#password', 'x'); await b.click('#signup'); await b.waitForSelector('body[data-conn=open]');
await a.fill('#room-name', 'big'); await a.click('#create-room'); await a.waitForSelector('#chat[data-ready="1"]');
const id = await a.getAttribute('#chat', 'data-room-id');
for (let i = 1; i <= 60; i++) { await a.fill('#compose', 'm' + i); await a.press('#compose', 'Enter'); }
await a.waitForSelector('#messages .msg[data-seq="60"]');
await b.fill('#join-id', id); await b.click('#join'); await b.waitForSelector('#chat[data-ready="1"]');
console.log('B count', await b.locator('#messages .msg').count(), 'older visible', await b.isVisible('#older'));
await b.click('#older'); await b.waitForSelector('#messages .msg[data-seq="1"]');
console.log('B count after older', await b.locator('#messages .msg').count(), 'older visible', await b.isVisible('#older'));
await a.waitForTimeout(600); console.log('A receipt:', await a.textContent('#receipt'));
// errors
await b.fill('#join-id', '999'); await b.click('#join'); await b.waitForTimeout(300); console.log('B status:', await b.textContent('#status'));
await b.click(`#rooms button[data-room-id="${id}"]`); await b.waitForSelector('#chat[data-ready="1"]');
// reconnect
execSync('kill -USR2 ' + execSync('cat /tmp/mock/pid').toString().trim());
await a.waitForTimeout(200); console.log('A status after kill:', await a.textContent('#status'), await a.getAttribute('body', 'data-conn'));
await a.waitForSelector('body[data-conn=open]', { timeout: 5000 }); await b.waitForSelector('body[data-conn=open]', { timeout: 5000 });
await a.waitForTimeout(300);
await a.fill('#compose', 'after reconnect'); await a.press('#compose', 'Enter');
await b.locator('#messages .msg[data-seq] .text', { hasText: 'after reconnect' }).waitFor({ timeout: 5000 });
console.log('B got after reconnect; B count', await b.locator('#messages .msg').count(), 'A status', await a.textContent('#status'));
// typing clears after send
await b.locator('#compose').pressSequentially('hey'); await a.waitForFunction(() => /typing/.test(document.getElementById('typing').textContent));
await b.press('#compose', 'Enter'); await a.waitForFunction(() => !/typing/.test(document.getElementById('typing').textContent), null, { timeout: 2000 });
console.log('typing cleared');
// direct + invite
await a.fill('#invite-id', '2'); await a.click('#invite'); await a.waitForTimeout(200); console.log('invite status', await a.textContent('#status'));
await a.fill('#direct-id', '2'); await a.click('#direct'); await a.waitForSelector('#chat[data-ready="1"]'); console.log('direct title', await a.textContent('#room-title'));
// signout / reload keeps token
await b.reload(); await b.waitForSelector('body[data-conn=open]'); console.log('B after reload rooms', await b.locator('#rooms button').count());
await b.click('#signout'); console.log('B auth visible', await b.isVisible('#auth'), await b.evaluate(() => localStorage.length));
await a.screenshot({ path: '/tmp/adhoc.png' });
await ctx.close(); await ctx2.close();
