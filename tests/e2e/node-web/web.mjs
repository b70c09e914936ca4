// web.mjs — browser tests of gptc's web pages: Debian's chromium driven by playwright-core
// (headless) against real `gptc serve` and `gptc train --ui` processes on loopback. Each test
// saves a screenshot under $WEB_SHOTS (build/web). The last line is "N passed, N failed".
// Run by tests/e2e/test_web.sh; env: GPTC (binary), GPTC_DATA (../shared/data), CHROMIUM.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const GPTC = path.resolve(process.env.GPTC || 'build/gptc');
const DATA = path.resolve(process.env.GPTC_DATA || '../shared/data');
const SHOTS = path.resolve(process.env.WEB_SHOTS || 'build/web');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const MODEL = path.join(DATA, 'gguf/stories260K.gguf');
fs.mkdirSync(SHOTS, { recursive: true });
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'gptc-web-'));

let pass = 0, fail = 0;
function ok(cond, what) {
  if (cond) pass++;
  else { fail++; console.log('FAIL: ' + what); }
  return cond;
}
const procs = [];
function cleanup() {
  for (const p of procs) if (p.exitCode === null) { try { p.kill('SIGKILL'); } catch (e) { /* gone */ } }
  fs.rmSync(TMP, { recursive: true, force: true });
}
process.on('exit', cleanup);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// start a gptc process and wait for a line of stderr matching re; resolves { proc, m, log }
function start(args, re, what) {
  return new Promise((resolve, reject) => {
    const proc = spawn(GPTC, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(proc);
    let log = '';
    const t = setTimeout(() => reject(new Error(what + ': no start line in 60 s: ' + log)), 60000);
    proc.stderr.on('data', (d) => {
      log += d;
      const m = re.exec(log);
      if (m && t) { clearTimeout(t); resolve({ proc, m, get log() { return log; } }); }
    });
    proc.on('exit', (code) => { clearTimeout(t); reject(new Error(what + ' exited ' + code + ': ' + log)); });
  });
}
// each server has its own --data-dir (like lib/serve.sh): the default one in $HOME is the
// user's, and a second gptc serve on the machine using it makes this one refuse to start
async function serve(extra, model = MODEL) {
  const data = fs.mkdtempSync(path.join(TMP, 'data-'));
  const s = await start(['serve', model, '--host', '127.0.0.1', '--port', '0', '--data-dir', data, ...extra], /chat page at (http:\/\/127\.0\.0\.1:\d+)\//, 'serve');
  s.url = s.m[1];
  return s;
}
function stop(s) {
  return new Promise((resolve) => {
    if (!s || s.proc.exitCode !== null) return resolve();
    s.proc.once('exit', resolve);
    s.proc.kill('SIGTERM');
    setTimeout(() => { if (s.proc.exitCode === null) s.proc.kill('SIGKILL'); }, 10000);
  });
}
async function waitFor(fn, ms, step = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) return v;
    await sleep(step);
  }
}

// a page with a log of every request it makes (to check that none leaves the origin)
async function openPage(browser, url, opts = {}) {
  const ctx = await browser.newContext(Object.assign({ viewport: { width: 1200, height: 800 } }, opts));
  const reqs = [];
  const chats = [];
  ctx.on('request', (r) => {
    reqs.push(r.url());
    if (r.url().endsWith('/v1/chat/completions')) chats.push(JSON.parse(r.postData() || '{}'));
  });
  const page = await ctx.newPage();
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url);
  return { ctx, page, reqs, chats, dialogs, errors, origin: new URL(url).origin };
}
function sameOrigin(p, what) {
  const other = p.reqs.filter((u) => !(u.startsWith(p.origin + '/') || u.startsWith('data:') || u.startsWith('blob:')));
  ok(other.length === 0, what + ': requests to another origin: ' + other.join(' '));
}
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: false });
const busy = (page) => page.evaluate(() => document.body.classList.contains('busy'));
async function idle(page, ms = 60000) { return waitFor(async () => !(await busy(page)), ms); }
async function setSetting(page, id, value) {
  if (await page.locator('#settings').isHidden()) await page.click('#toggle-settings');
  await page.fill(id, String(value));
}
async function send(page, text) {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
}
const lastReply = (page) => page.locator('.msg.assistant .body').last();

async function axeAudit(page, what) {
  const src = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(src); // through the devtools protocol: the page's CSP does not apply
  const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of bad) console.log('axe ' + what + ': ' + v.impact + ' ' + v.id + ': ' + v.help + ' — ' + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', '));
  for (const v of res.violations.filter((x) => !bad.includes(x))) console.log('axe ' + what + ' (not counted): ' + v.impact + ' ' + v.id);
  ok(bad.length === 0, what + ': axe-core found ' + bad.length + ' serious or critical violations');
}

async function testChat(browser) {
  const s = await serve(['--ctx-seq', '4096', '--parallel', '2', '-q']);
  const p = await openPage(browser, s.url + '/');
  const { page } = p;
  // load: the model's name and context from /ui/config.json
  ok(await waitFor(async () => (await page.textContent('#model-info')).includes('stories260K'), 10000), 'load: model name shown');
  ok((await page.textContent('#model-info')).includes('4096'), 'load: context size shown');
  await shot(page, 'web-01-load');

  // send: several DOM updates before the reply ends
  await setSetting(page, '#set-max-tokens', 1000);
  await setSetting(page, '#set-seed', 7);
  await page.evaluate(() => {
    window.__lens = [];
    new MutationObserver(() => {
      const b = [...document.querySelectorAll('.msg.assistant .body')].pop();
      if (b) window.__lens.push(b.textContent.length);
    }).observe(document.getElementById('messages'), { subtree: true, childList: true, characterData: true });
  });
  // busy: count the page's entries into the busy state as they happen (a MutationObserver on the
  // body's class; each record's oldValue is the value before it, so the value after it is the
  // next record's oldValue or, for the last, the class now). A reply that is over before the
  // test first looks still counts; a page that never shows busy leaves the count at 0.
  await page.evaluate(() => {
    const has = (v) => (' ' + (v || '') + ' ').includes(' busy ');
    window.__busyOn = 0;
    new MutationObserver((recs) => {
      recs.forEach((r, k) => {
        const after = k + 1 < recs.length ? recs[k + 1].oldValue : document.body.className;
        if (!has(r.oldValue) && has(after)) window.__busyOn++;
      });
    }).observe(document.body, { attributes: true, attributeFilter: ['class'], attributeOldValue: true });
  });
  await send(page, 'Tell me a story about a cat.');
  const busyOn = await waitFor(() => page.evaluate(() => window.__busyOn), 5000);
  ok(busyOn >= 1, 'send: the page becomes busy (entered ' + busyOn + ' times)');
  await idle(page);
  const reply1 = await lastReply(page).textContent();
  ok(reply1.length > 20, 'send: a reply of some length: ' + JSON.stringify(reply1.slice(0, 80)));
  ok(/\d+ tokens/.test(await page.locator('.msg.assistant .stats').last().textContent()), 'send: token count under the reply');
  ok(p.chats.length === 1 && p.chats[0].stream === true && p.chats[0].max_tokens === 1000 && p.chats[0].seed === 7, 'send: the request carries the settings: ' + JSON.stringify(p.chats[0]));
  await shot(page, 'web-02-reply');

  // system prompt: sent as the first message
  await setSetting(page, '#set-system', 'You are a careful test assistant 42.');
  await setSetting(page, '#set-max-tokens', 20);
  await send(page, 'Second question?');
  await idle(page);
  const req2 = p.chats[p.chats.length - 1];
  ok(req2.messages[0].role === 'system' && req2.messages[0].content === 'You are a careful test assistant 42.', 'system prompt sent: ' + JSON.stringify(req2.messages[0]));
  ok(req2.messages.length === 4 && req2.messages[1].content === 'Tell me a story about a cat.', 'history sent with the new message');

  // regenerate: a new request for the same history; the reply is replaced
  const nBefore = await page.locator('.msg').count();
  const nReq = p.chats.length;
  await page.click('.regen-btn');
  await waitFor(async () => p.chats.length > nReq, 5000);
  await idle(page);
  ok(p.chats.length === nReq + 1 && JSON.stringify(p.chats[nReq].messages) === JSON.stringify(req2.messages), 'regenerate: the same messages sent again');
  ok((await page.locator('.msg').count()) === nBefore, 'regenerate: the reply replaced, not added');

  // edit and resend the first message: the conversation is cut there
  await page.locator('.msg.user .edit-btn').first().click();
  await page.fill('.msg.user textarea.edit', 'Tell me a story about a dog.');
  await page.locator('.msg.user .acts button', { hasText: 'Send' }).click();
  await waitFor(async () => p.chats.length > nReq + 1, 5000);
  await idle(page);
  const req3 = p.chats[p.chats.length - 1];
  ok(req3.messages.length === 2 && req3.messages[1].content === 'Tell me a story about a dog.', 'edit-and-resend: the edited message, history cut: ' + JSON.stringify(req3.messages).slice(0, 200));
  ok((await page.locator('.msg').count()) === 2, 'edit-and-resend: two messages left');

  // Stop mid-reply: the fetch is aborted and the server cancels the request (/metrics)
  const metric = async () => {
    const t = await (await fetch(s.url + '/metrics')).text();
    const m = /gptc_requests_cancelled_total (\d+)/.exec(t);
    return m ? Number(m[1]) : -1;
  };
  const c0 = await metric();
  await setSetting(page, '#set-max-tokens', 3000);
  await page.evaluate(() => { window.__lens = []; });
  await send(page, 'And now a very long story, please.');
  // the reply streams in: several renders of a growing text while the request runs
  const partial = async () => page.evaluate(() => new Set(window.__lens.filter((k) => k > 0)).size);
  await waitFor(async () => (await partial()) >= 5 && ((await lastReply(page).textContent()) || '').length > 30, 30000, 20);
  const nPartial = await partial();
  ok(nPartial >= 5 && (await busy(page)), 'send: the reply streams in (' + nPartial + ' renders of a growing text before the end)');
  await page.click('#stop');
  await idle(page, 10000);
  const stats = await page.locator('.msg.assistant .stats').last().textContent();
  ok(/stopped/.test(stats), 'stop: the reply is marked stopped: ' + stats);
  const nTok = Number((/(\d+) tokens/.exec(stats) || [])[1]);
  ok(nTok > 0 && nTok < 3000, 'stop: the reply ended early (' + nTok + ' tokens)');
  ok(await waitFor(async () => (await metric()) > c0, 10000, 100), 'stop: /metrics counts the cancelled request (' + c0 + ' -> ' + (await metric()) + ')');
  await shot(page, 'web-03-stopped');

  // reload: the conversation is still there
  const texts = await page.locator('.msg .body').allTextContents();
  await page.reload();
  await waitFor(async () => (await page.locator('.msg').count()) === texts.length, 5000);
  ok(JSON.stringify(await page.locator('.msg .body').allTextContents()) === JSON.stringify(texts), 'reload: the conversation is kept');
  ok((await page.inputValue('#set-system')) === 'You are a careful test assistant 42.', 'reload: the settings are kept');

  // conversations: new, rename, import (HTML in an imported reply stays text), delete
  await page.click('#new-conv');
  ok((await page.locator('#conv-list li').count()) === 2, 'new conversation listed');
  await page.locator('#conv-list li.current .conv-act').first().click();
  await page.fill('#conv-list li input', 'Renamed chat');
  await page.press('#conv-list li input', 'Enter');
  ok((await page.textContent('#conv-list li.current')).includes('Renamed chat'), 'rename');
  const evil = { conversations: [{ title: 'imported <b>x</b>', messages: [
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: 'Look: <img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> [a](javascript:window.__pwned=3)\n\n```html\n<b>bold?</b>\n```' }] }] };
  await page.setInputFiles('#import-file', { name: 'c.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(evil)) });
  await waitFor(async () => (await page.locator('#conv-list li').count()) === 3, 5000);
  const body = lastReply(page);
  ok((await body.textContent()).includes('<img src=x onerror="window.__pwned=1">'), 'import: HTML shown as text');
  ok((await page.locator('.msg .body img, .msg .body script, .msg .body b, .msg .body a[href^="javascript"]').count()) === 0, 'import: no element made from the HTML');
  ok((await page.locator('.msg .codeblock button.copy').count()) === 1, 'code block with a copy button');
  await sleep(200);
  ok((await page.evaluate(() => window.__pwned)) === undefined, 'import: nothing ran');
  await shot(page, 'web-04-import');
  await page.locator('#conv-list li.current .conv-act').nth(1).click();
  ok((await page.locator('#conv-list li').count()) === 2, 'delete');

  // accessibility, in both themes; then a phone-sized screen
  await page.locator('#conv-list .conv-open').last().click();
  await axeAudit(page, 'chat page (light)');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shot(page, 'web-05-dark');
  await axeAudit(page, 'chat page (dark)');
  await page.emulateMedia({ colorScheme: 'light' });
  // keyboard: Tab from the skip link reaches the message box; Shift+Enter makes a new line
  await page.focus('#input');
  await page.keyboard.type('line one');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('line two');
  ok((await page.inputValue('#input')) === 'line one\nline two' && !(await busy(page)), 'Shift+Enter: a new line, not sent');
  await page.fill('#input', '');
  await page.setViewportSize({ width: 390, height: 800 });
  await sleep(100);
  ok(await page.locator('#open-side').isVisible(), 'phone: the list opens from a button');
  const box = await page.locator('#composer').boundingBox();
  ok(box && box.x >= 0 && box.x + box.width <= 391, 'phone: the message box fits the width');
  await shot(page, 'web-06-phone');
  ok(p.errors.length === 0, 'no errors in the console: ' + p.errors.join(' | '));
  ok(p.dialogs.length === 0, 'no dialogs');
  sameOrigin(p, 'chat page');
  await p.ctx.close();
  await stop(s);
}

async function testKey(browser) {
  const s = await serve(['--api-key', 'sesame-123', '-q']);
  const p = await openPage(browser, s.url + '/');
  const { page } = p;
  ok(await waitFor(() => page.locator('#key-dialog').isVisible(), 10000), 'api key: the page asks for the key');
  await shot(page, 'web-07-key');
  await page.fill('#key-input', 'wrong-key');
  await page.press('#key-input', 'Enter');
  ok(await waitFor(async () => /incorrect API key/i.test(await page.textContent('#key-error')), 10000), 'api key: a wrong key shows the server\'s error: ' + (await page.textContent('#key-error')));
  await shot(page, 'web-08-wrong-key');
  await page.fill('#key-input', 'sesame-123');
  await page.press('#key-input', 'Enter');
  ok(await waitFor(async () => (await page.textContent('#model-info')).includes('stories260K'), 10000), 'api key: the right key opens the page');
  ok((await page.evaluate(() => sessionStorage.getItem('gptc.apiKey'))) === 'sesame-123', 'api key: kept in sessionStorage');
  ok((await page.evaluate(() => JSON.stringify(localStorage))).indexOf('sesame') < 0, 'api key: not in localStorage');
  await setSetting(page, '#set-max-tokens', 10);
  await send(page, 'Hi');
  await idle(page);
  ok((await lastReply(page).textContent()).length > 0 && (await page.locator('.msg .err:not([hidden])').count()) === 0, 'api key: a reply with the key');
  // the key goes wrong (forgotten by the server's point of view): the error shows in place
  await page.evaluate(() => sessionStorage.setItem('gptc.apiKey', 'stale'));
  await send(page, 'Again');
  await idle(page);
  ok(/incorrect API key/i.test(await page.locator('.msg .err').last().textContent()), 'api key: a 401 during chat shows in place');
  await shot(page, 'web-09-key-error');
  sameOrigin(p, 'api-key page');
  await p.ctx.close();
  await stop(s);
}

async function testTrainAndInert(browser) {
  // a tiny model that learns to write HTML: trained live (the dashboard test), then served
  const corpus = path.join(TMP, 'html.txt');
  fs.writeFileSync(corpus, '<script>alert(1)</script><img src=x onerror=alert(2)>\n'.repeat(400));
  const model = path.join(TMP, 'html.gguf');
  const tr = await start(['train', '--data', corpus, '--dim', '32', '--layers', '2', '--heads', '4', '--ctx', '64', '--batch', '8',
    '--steps', '1500', '--lr', '3e-3', '--warmup', '50', '--eval-every', '250', '--sample-every', '500', '--sample-len', '60',
    '--threads', '1', '-q', '--out', model, '--log', path.join(TMP, 'l.jsonl'), '--ui', '--ui-port', '0'],
  /dashboard at (http:\/\/127\.0\.0\.1:\d+)\//, 'train');
  const exited = new Promise((r) => tr.proc.on('exit', (code) => r(code)));
  const p = await openPage(browser, tr.m[1] + '/');
  const { page } = p;
  const points = async () => Number(await page.getAttribute('#chart', 'data-points'));
  const n0 = await waitFor(points, 10000);
  const n1 = await waitFor(async () => { const n = await points(); return n > n0 ? n : 0; }, 30000, 100);
  ok(n0 > 0 && n1 > n0 && tr.proc.exitCode === null, 'training: the chart gains points while the run goes on (' + n0 + ' -> ' + n1 + ')');
  ok(/\d/.test(await page.textContent('#v-loss')) && /\d/.test(await page.textContent('#v-lr')), 'training: loss and lr shown');
  ok((await page.textContent('#config-rows')).includes('1500'), 'training: the run configuration shown');
  await shot(page, 'web-10-train');
  const code = await exited;
  ok(code === 0, 'training: the run finished (exit ' + code + ')');
  await waitFor(async () => /finished/.test(await page.textContent('#state')), 5000);
  ok(/finished/.test(await page.textContent('#state')), 'training: the page says the run finished');
  await page.check('#log-scale');
  await shot(page, 'web-11-train-done-log');
  await axeAudit(page, 'training page');
  sameOrigin(p, 'training page');
  ok(p.errors.length === 0, 'training page: no console errors: ' + p.errors.join(' | '));
  await p.ctx.close();

  // serve it with a template that is just the messages' text: the model continues the HTML
  const tmpl = path.join(TMP, 'raw.jinja');
  fs.writeFileSync(tmpl, '{% for m in messages %}{{ m.content }}{% endfor %}');
  const s = await serve(['--chat-template', tmpl, '--train-ui', 'http://127.0.0.1:9/', '-q'], model);
  const q = await openPage(browser, s.url + '/');
  await waitFor(async () => (await q.page.textContent('#model-info')).includes('html.gguf'), 10000);
  ok(await q.page.locator('#train-link').isVisible(), 'serve --train-ui: the page links to the training page');
  await setSetting(q.page, '#set-temperature', 0);
  await setSetting(q.page, '#set-max-tokens', 54);
  await send(q.page, '<script>');
  await idle(q.page);
  const reply = await lastReply(q.page).textContent();
  ok(reply.includes('</script><img src=x onerror=alert(2)>'), 'inert: the model wrote HTML: ' + JSON.stringify(reply));
  ok((await q.page.locator('.msg .body script, .msg .body img').count()) === 0, 'inert: no element made from the reply');
  await sleep(300);
  ok(q.dialogs.length === 0, 'inert: no script ran (alert dialogs: ' + q.dialogs.length + ')');
  ok(!q.reqs.some((u) => u.endsWith('/x')), 'inert: no image fetched');
  await shot(q.page, 'web-12-inert-html');
  sameOrigin(q, 'inert page');
  await q.ctx.close();
  await stop(s);
}

let browser = null;
try {
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
} catch (e) {
  console.log('SKIP: the browser tests did not run: chromium cannot start (' + String(e.message || e).split('\n')[0] + ')');
  console.log('0 passed, 0 failed');
  process.exit(0);
}
for (const [name, fn] of [['chat', testChat], ['api key', testKey], ['training + inert HTML', testTrainAndInert]]) {
  try { await fn(browser); } catch (e) { ok(false, name + ': ' + (e.stack || e)); }
}
await browser.close();
console.log('screenshots: ' + SHOTS);
console.log(pass + ' passed, ' + fail + ' failed');
process.exit(fail ? 1 : 0);
