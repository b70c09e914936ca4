// Files and Batches of `gptc serve` through the official openai package, unchanged.
// Env: GPTC_BASE_URL (…/v1), GPTC_API_KEY, GPTC_MODEL_ID. Prints "ok - …" / "not ok - …".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';

const client = new OpenAI({ baseURL: process.env.GPTC_BASE_URL, apiKey: process.env.GPTC_API_KEY, maxRetries: 0 });
const model = process.env.GPTC_MODEL_ID;
let failed = 0;
const ok = (cond, what) => {
  console.log(`${cond ? 'ok' : 'not ok'} - ${what}`);
  if (!cond) failed++;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function lines(n, extra = {}) {
  const out = [];
  for (let i = 0; i < n; i++)
    out.push(JSON.stringify({
      custom_id: `req-${i}`, method: 'POST', url: '/v1/chat/completions',
      body: { model, messages: [{ role: 'user', content: `Tell me story number ${i}.` }], max_tokens: 8, temperature: 0, ...extra },
    }));
  return out.join('\n') + '\n';
}

async function upload(text, name) {
  const p = path.join(os.tmpdir(), `gptc-${process.pid}-${name}`);
  fs.writeFileSync(p, text);
  const f = await client.files.create({ file: fs.createReadStream(p), purpose: 'batch' });
  fs.unlinkSync(p);
  return f;
}

async function waitFor(id, statuses, seconds) {
  const end = Date.now() + seconds * 1000;
  let b;
  while (Date.now() < end) {
    b = await client.batches.retrieve(id);
    if (statuses.includes(b.status)) return b;
    await sleep(200);
  }
  return b;
}

function customIds(text) {
  return text.split('\n').filter((l) => l.length).map((l) => JSON.parse(l));
}

try {
  // --- a 200-line batch to completion
  const f = await upload(lines(200), 'in.jsonl');
  ok(f.object === 'file' && f.purpose === 'batch' && f.bytes > 0 && f.id.startsWith('file-'), 'files.create: a file object');
  const got = await client.files.retrieve(f.id);
  ok(got.id === f.id && got.bytes === f.bytes && got.filename.endsWith('in.jsonl'), 'files.retrieve');
  const content0 = await (await client.files.content(f.id)).text();
  ok(content0.split('\n').filter((l) => l).length === 200, 'files.content gives the bytes back');

  const b = await client.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { run: 'e2e' } });
  ok(b.object === 'batch' && b.id.startsWith('batch_') && ['validating', 'in_progress'].includes(b.status) && b.metadata.run === 'e2e', `batches.create: ${b.status}`);
  const done = await waitFor(b.id, ['completed', 'failed', 'expired', 'cancelled'], 240);
  ok(done.status === 'completed', `batch completed (${done.status})`);
  ok(done.request_counts.total === 200 && done.request_counts.completed === 200 && done.request_counts.failed === 0, `request_counts ${JSON.stringify(done.request_counts)}`);
  ok(done.in_progress_at && done.finalizing_at && done.completed_at && done.output_file_id && done.error_file_id === null, 'timestamps and files');
  const out = customIds(await (await client.files.content(done.output_file_id)).text());
  const ids = new Set(out.map((o) => o.custom_id));
  ok(out.length === 200 && ids.size === 200, `output: 200 lines, each custom_id once (${out.length}, ${ids.size})`);
  ok(out.every((o) => o.response.status_code === 200 && o.response.body.object === 'chat.completion' &&
    typeof o.response.body.choices[0].message.content === 'string' && o.id.startsWith('batch_req_') &&
    o.response.request_id && o.error === null), 'each line is a valid chat completion');
  const of = await client.files.retrieve(done.output_file_id);
  ok(of.purpose === 'batch_output', 'the output file has purpose batch_output');

  // --- a malformed file: failed, with per-line errors
  const bad = lines(3).split('\n');
  bad[1] = 'this is not json';
  bad.push(bad[0]); // duplicate custom_id on line 4
  const fb = await upload(bad.join('\n') + '\n', 'bad.jsonl');
  const bb = await client.batches.create({ input_file_id: fb.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  const bdone = await waitFor(bb.id, ['failed', 'completed'], 60);
  ok(bdone.status === 'failed' && bdone.failed_at, `malformed file -> failed (${bdone.status})`);
  const errs = bdone.errors?.data ?? [];
  ok(errs.some((e) => e.line === 2 && e.code === 'invalid_json_line') && errs.some((e) => e.line === 5 && e.code === 'duplicate_custom_id'),
    `per-line errors: ${JSON.stringify(errs.map((e) => [e.line, e.code]))}`);

  // --- a request body that fails validation: a per-line error, the rest runs
  const mixed = lines(4).split('\n').filter((l) => l);
  const m2 = JSON.parse(mixed[2]);
  m2.body.temperature = 7;
  mixed[2] = JSON.stringify(m2);
  const fm = await upload(mixed.join('\n') + '\n', 'mixed.jsonl');
  const bm = await client.batches.create({ input_file_id: fm.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  const mdone = await waitFor(bm.id, ['completed', 'failed'], 60);
  ok(mdone.status === 'completed' && mdone.request_counts.completed === 3 && mdone.request_counts.failed === 1, `bad body: 3 ok, 1 failed (${JSON.stringify(mdone.request_counts)})`);
  const el = mdone.error_file_id ? customIds(await (await client.files.content(mdone.error_file_id)).text()) : [];
  ok(el.length === 1 && el[0].custom_id === 'req-2' && el[0].response.status_code === 400 && el[0].response.body.error.param === 'temperature', 'the error file names the request and the field');

  // --- cancel mid-run: cancelled, partial output
  const fc = await upload(lines(200, { max_tokens: 200, ignore_eos: true }), 'long.jsonl');
  const bc = await client.batches.create({ input_file_id: fc.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  let cur = bc;
  const end = Date.now() + 120000;
  while (Date.now() < end && !(cur.request_counts?.completed >= 2)) {
    await sleep(100);
    cur = await client.batches.retrieve(bc.id);
  }
  const cc = await client.batches.cancel(bc.id);
  ok(['cancelling', 'cancelled'].includes(cc.status) && cc.cancelling_at, `batches.cancel -> ${cc.status}`);
  const cdone = await waitFor(bc.id, ['cancelled'], 60);
  ok(cdone.status === 'cancelled' && cdone.cancelled_at, `cancelled (${cdone.status})`);
  const part = cdone.output_file_id ? customIds(await (await client.files.content(cdone.output_file_id)).text()) : [];
  const pids = new Set(part.map((o) => o.custom_id));
  ok(part.length >= 2 && part.length < 200 && pids.size === part.length && part.length === cdone.request_counts.completed,
    `partial output: ${part.length} lines, counts ${JSON.stringify(cdone.request_counts)}`);
  try {
    await client.batches.cancel(b.id);
    ok(false, 'cancelling a completed batch is refused');
  } catch (e) {
    ok(e.status === 409, `cancelling a completed batch is refused (${e.status})`);
  }

  // --- list pagination
  const page = await client.batches.list({ limit: 2 });
  ok(page.data.length === 2 && page.has_more === true, 'batches.list limit 2: two and has_more');
  const all = [];
  for await (const x of client.batches.list({ limit: 1 })) all.push(x.id);
  ok(all.length === 4 && new Set(all).size === 4 && all[0] === bc.id, `auto-pagination over 4 batches, newest first (${all.length})`);
  const files = [];
  for await (const x of client.files.list({ limit: 2 })) files.push(x.id);
  ok(files.includes(f.id) && files.includes(done.output_file_id) && new Set(files).size === files.length, `files.list pagination (${files.length})`);

  // --- unknown ids and traversal: 404
  for (const id of ['file-nothere', 'file-..%2F..%2Fgptc.db', '..%2Fgptc.db']) {
    try {
      await client.files.retrieve(id);
      ok(false, `files.retrieve(${id}) is 404`);
    } catch (e) {
      ok(e.status === 404, `files.retrieve(${id}) is 404 (${e.status})`);
    }
  }
  try {
    await client.batches.retrieve('batch_nothere');
    ok(false, 'unknown batch is 404');
  } catch (e) {
    ok(e.status === 404, `unknown batch is 404 (${e.status})`);
  }

  // --- delete
  const del = await client.files.del ? await client.files.del(fb.id) : await client.files.delete(fb.id);
  ok(del.deleted === true && del.id === fb.id, 'files.delete');
  try {
    await client.files.retrieve(fb.id);
    ok(false, 'a deleted file is gone');
  } catch (e) {
    ok(e.status === 404, 'a deleted file is gone');
  }
  // a user_data upload; a bad purpose is a 400
  const ud = await client.files.create({ file: await toFile(Buffer.from('hello'), 'notes.txt'), purpose: 'user_data' });
  ok(ud.purpose === 'user_data' && ud.bytes === 5, 'user_data upload');
  try {
    await client.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'fine-tune' });
    ok(false, 'purpose fine-tune is refused');
  } catch (e) {
    ok(e.status === 400 && e.param === 'purpose', `purpose fine-tune is refused (${e.status})`);
  }
  fs.writeFileSync(process.env.GPTC_STATE_FILE || '/dev/null', JSON.stringify({ batch: b.id, output: done.output_file_id }));
} catch (e) {
  ok(false, `exception: ${e.stack || e}`);
}
process.exit(failed ? 1 : 0);
