// bench_web.mjs — the chat page in headless chromium (not a test; `make bench` runs it when
// chromium and tests/e2e/node-web's packages are there):
//   1. page weight: bytes over the wire to load / (compressed, headers included), from gptc serve
//   2. first paint / first contentful paint: median of 7 fresh loads on loopback
//   3. rendering while streaming 2,000 tokens of Markdown: a small local proxy serves the page
//      from gptc serve and answers /v1/chat/completions with a paced SSE stream of Markdown
//      (a synthetic reply: the tiny test model does not write Markdown) at RATE tokens/s and
//      as fast as it can; reports main-thread time per token and how far the page lags the stream.
// env: GPTC (build/gptc), GPTC_DATA (../shared/data), CHROMIUM (/usr/bin/chromium).
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(path.resolve('tests/e2e/node-web/package.json'));
const { chromium } = require('playwright-core');
const GPTC = path.resolve(process.env.GPTC || 'build/gptc');
const MODEL = path.join(path.resolve(process.env.GPTC_DATA || '../shared/data'), 'gguf/stories260K.gguf');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const srv = spawn(GPTC, ['serve', MODEL, '--port', '0', '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
process.on('exit', () => srv.kill('SIGKILL'));
const base = await new Promise((resolve, reject) => {
  let log = '';
  srv.stderr.on('data', (d) => { log += d; const m = /chat page at (http:\/\/[\d.]+:\d+)\//.exec(log); if (m) resolve(m[1]); });
  srv.on('exit', () => reject(new Error(log)));
});

// ~2,000 tokens of Markdown: words, headings, lists, bold, inline code, fenced code blocks
function markdownTokens(n) {
  const parts = [];
  const para = 'The **model** writes `code` and *prose* in turn, with a [link](https://example.org) now and then. ';
  let i = 0;
  while (parts.length < n) {
    const sec = i++;
    const chunk = `\n\n## Section ${sec}\n\n` + para.repeat(3) + '\n\n- first item with `x = ' + sec + '`\n- second **bold** item\n1. one\n2. two\n\n```c\nint f(int x) {\n    return x * ' + sec + '; // comment\n}\n```\n\n> a quote ' + sec + '\n';
    for (const t of chunk.match(/\s*\S+|\s+/g)) parts.push(t);
  }
  return parts.slice(0, n);
}
const TOKENS = markdownTokens(2000);
let rate = 0; // tokens per second; 0: as fast as possible
let tLastSent = 0;
const proxy = http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url === '/v1/chat/completions') {
    req.resume();
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    const t0 = Date.now();
    for (let i = 0; i < TOKENS.length; i++) {
      res.write('data: ' + JSON.stringify({ choices: [{ index: 0, delta: { content: TOKENS[i] }, finish_reason: null }] }) + '\n\n');
      if (rate) { const due = t0 + ((i + 1) * 1000) / rate; const w = due - Date.now(); if (w > 0) await sleep(w); }
    }
    tLastSent = Date.now();
    res.write('data: ' + JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'length' }], usage: { prompt_tokens: 5, completion_tokens: TOKENS.length } }) + '\n\ndata: [DONE]\n\n');
    res.end();
    return;
  }
  const up = http.request(base + req.url, { method: req.method, headers: req.headers }, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
  req.pipe(up);
});
await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
const proxyUrl = 'http://127.0.0.1:' + proxy.address().port;

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });

// 1 + 2: weight and first paint, fresh context (empty cache) each time
const fp = [], fcp = [];
let weight = 0, nreq = 0;
for (let k = 0; k < 7; k++) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const reqs = [];
  page.on('requestfinished', (r) => reqs.push(r));
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForFunction(() => document.getElementById('model-info').textContent.length > 0);
  const p = await page.evaluate(() => Object.fromEntries(performance.getEntriesByType('paint').map((e) => [e.name, e.startTime])));
  fp.push(p['first-paint']); fcp.push(p['first-contentful-paint']);
  if (k === 0) {
    for (const r of reqs) { const s = await r.sizes(); weight += s.responseBodySize + s.responseHeadersSize; }
    nreq = reqs.length;
  }
  await ctx.close();
}
const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];

// 3: streaming
async function stream(r) {
  rate = r;
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(proxyUrl + '/');
  await page.waitForFunction(() => document.getElementById('model-info').textContent.length > 0);
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Performance.enable');
  const m0 = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  await page.fill('#input', 'write a long Markdown document');
  const tSend = Date.now();
  await page.press('#input', 'Enter');
  await page.waitForFunction(() => document.querySelectorAll('.msg.assistant').length > 0, null, { timeout: 120000 });
  await page.waitForFunction(() => !document.body.classList.contains('busy'), null, { timeout: 120000, polling: 5 });
  const tShown = Date.now();
  const m1 = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  const stats = (await page.locator('.msg.assistant .stats').last().textContent()) + ' ' + (await page.locator('.msg.assistant .err').last().textContent());
  const d = (k) => (m1[k] - m0[k]) * 1000;
  const res = {
    rate: r || 'max', stream_s: ((tLastSent - tSend) / 1000).toFixed(2), lag_ms: tShown - tLastSent,
    task_ms_per_tok: (d('TaskDuration') / TOKENS.length).toFixed(3), script_ms_per_tok: (d('ScriptDuration') / TOKENS.length).toFixed(3),
    layout_ms_per_tok: ((d('LayoutDuration') + d('RecalcStyleDuration')) / TOKENS.length).toFixed(3), page_stats: stats,
  };
  await ctx.close();
  return res;
}
const s1 = await stream(200);
const s2 = await stream(0);
await browser.close();
proxy.close();
const out = {
  page_weight_bytes: weight, requests: nreq,
  first_paint_ms_median: +med(fp).toFixed(1), first_contentful_paint_ms_median: +med(fcp).toFixed(1),
  stream_200_tok_s: s1, stream_max: s2,
};
console.log(JSON.stringify(out, null, 1));
process.exit(0);
