// conformance.mjs — the official `openai` npm package, unchanged, against `gptc serve`.
//
// Environment (set by tests/e2e/test_serve_sdk.sh): GPTC_BASE_URL (http://127.0.0.1:PORT/v1),
// GPTC_API_KEY, GPTC_MODEL_ID (the server's alias), GPTC_GREEDY (what `gptc run --temp 0`
// prints after "Once upon a time" for 24 tokens), GPTC_N_EMBD.
// Prints "ok - NAME" or "not ok - NAME: why" per test; the shell script counts them.
import OpenAI from 'openai';

const baseURL = process.env.GPTC_BASE_URL;
const apiKey = process.env.GPTC_API_KEY;
const modelId = process.env.GPTC_MODEL_ID;
const greedy = process.env.GPTC_GREEDY ?? '';
const nEmbd = Number(process.env.GPTC_N_EMBD ?? '0');
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
async function expectError(cls, status, fn, check) {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof cls, `expected ${cls.name}, got ${e?.constructor?.name}: ${e?.message}`);
    assert(e.status === status, `expected status ${status}, got ${e.status}`);
    if (check) check(e);
    return;
  }
  throw new Error(`expected ${cls.name}, but the call succeeded`);
}
const chatMsgs = [
  { role: 'system', content: 'You tell short stories.' },
  { role: 'developer', content: 'Keep it simple.' },
  { role: 'user', content: [{ type: 'text', text: 'Tell me about' }, { type: 'text', text: 'a cat.' }] },
];

test('models.list', async () => {
  const page = await client.models.list();
  const ids = page.data.map((m) => m.id);
  assert(ids.includes(modelId), `models: ${ids}`);
  assert(page.data[0].object === 'model' && typeof page.data[0].created === 'number', 'model shape');
});

test('models.retrieve', async () => {
  const m = await client.models.retrieve(modelId);
  assert(m.id === modelId && m.object === 'model' && m.owned_by === 'gptc', JSON.stringify(m));
});

test('chat completion', async () => {
  const r = await client.chat.completions.create({ model: modelId, messages: chatMsgs, max_tokens: 24, temperature: 0.8, seed: 7 });
  assert(r.object === 'chat.completion' && r.id.startsWith('chatcmpl-'), `shape ${r.object} ${r.id}`);
  assert(r.model === modelId && typeof r.created === 'number', 'model/created');
  assert(r.choices.length === 1 && r.choices[0].index === 0, 'one choice');
  const c = r.choices[0];
  assert(c.message.role === 'assistant' && typeof c.message.content === 'string', 'message');
  assert(['stop', 'length'].includes(c.finish_reason), `finish_reason ${c.finish_reason}`);
  assert(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 24, 'usage');
  assert(r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, 'total_tokens');
});

test('chat stream with [DONE] and include_usage', async () => {
  const stream = await client.chat.completions.create({
    model: modelId, messages: chatMsgs, max_tokens: 20, stream: true, stream_options: { include_usage: true }, seed: 3,
  });
  let text = '', role = null, finish = null, usage = null, n = 0;
  for await (const chunk of stream) {
    n++;
    assert(chunk.object === 'chat.completion.chunk', `object ${chunk.object}`);
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      if (ch.delta.role) role = ch.delta.role;
      if (ch.delta.content) text += ch.delta.content;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert(n >= 3 && role === 'assistant', `chunks ${n}, role ${role}`);
  assert(['stop', 'length'].includes(finish), `finish ${finish}`);
  assert(usage && usage.completion_tokens > 0 && usage.completion_tokens <= 20, `usage ${JSON.stringify(usage)}`);
  // the same request, not streamed, gives the same text
  const full = await client.chat.completions.create({ model: modelId, messages: chatMsgs, max_tokens: 20, seed: 3 });
  assert(full.choices[0].message.content === text, `stream ${JSON.stringify(text)} vs ${JSON.stringify(full.choices[0].message.content)}`);
});

test('raw SSE ends with data: [DONE]', async () => {
  const res = await fetch(`${baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ model: modelId, messages: chatMsgs, max_tokens: 8, stream: true }),
  });
  assert(res.status === 200 && res.headers.get('content-type').startsWith('text/event-stream'), 'headers');
  const body = await res.text();
  assert(body.endsWith('data: [DONE]\n\n'), `tail ${JSON.stringify(body.slice(-40))}`);
  for (const ev of body.split('\n\n').filter((x) => x && x !== 'data: [DONE]')) JSON.parse(ev.slice(6));
});

test('completion matches gptc run (greedy)', async () => {
  const r = await client.completions.create({ model: modelId, prompt: 'Once upon a time', max_tokens: 24, temperature: 0 });
  assert(r.object === 'text_completion' && r.id.startsWith('cmpl-'), 'shape');
  assert(r.choices[0].text === greedy, `got ${JSON.stringify(r.choices[0].text)}, want ${JSON.stringify(greedy)}`);
  assert(r.choices[0].finish_reason === 'length' && r.usage.completion_tokens === 24, 'length');
});

test('completion stream', async () => {
  const stream = await client.completions.create({ model: modelId, prompt: 'Once upon a time', max_tokens: 24, temperature: 0, stream: true });
  let text = '';
  for await (const chunk of stream) for (const ch of chunk.choices) text += ch.text;
  assert(text === greedy, `got ${JSON.stringify(text)}`);
});

test('completion prompt as token ids', async () => {
  const r = await client.completions.create({ model: modelId, prompt: [1, 403, 407, 261, 378], max_tokens: 24, temperature: 0 });
  assert(r.choices[0].text === greedy, `got ${JSON.stringify(r.choices[0].text)}`);
});

test('embeddings (SDK default base64, and float)', async () => {
  const r = await client.embeddings.create({ model: modelId, input: ['Once upon a time', 'The cat sat.'] });
  assert(r.object === 'list' && r.data.length === 2, 'list');
  const [a, b] = r.data.map((d) => d.embedding);
  assert(a.length === nEmbd && b.length === nEmbd, `dims ${a.length}`);
  const norm = Math.hypot(...a);
  assert(Math.abs(norm - 1) < 1e-4, `norm ${norm}`);
  assert(a.some((x, i) => Math.abs(x - b[i]) > 1e-3), 'different inputs, different vectors');
  const f = await client.embeddings.create({ model: modelId, input: 'Once upon a time', encoding_format: 'float' });
  const maxDiff = Math.max(...f.data[0].embedding.map((x, i) => Math.abs(x - a[i])));
  assert(maxDiff < 1e-6, `float vs base64 ${maxDiff}`);
  assert(r.usage.prompt_tokens > 0 && r.usage.total_tokens === r.usage.prompt_tokens, 'usage');
});

test('n=2', async () => {
  const r = await client.chat.completions.create({ model: modelId, messages: chatMsgs, max_tokens: 16, n: 2, seed: 11 });
  assert(r.choices.length === 2 && r.choices[0].index === 0 && r.choices[1].index === 1, 'two choices');
  const g = await client.completions.create({ model: modelId, prompt: 'Once upon a time', max_tokens: 24, temperature: 0, n: 2 });
  assert(g.choices.every((c) => c.text === greedy), 'greedy choices agree');
  assert(g.usage.completion_tokens === 48, `usage ${g.usage.completion_tokens}`);
});

test('logprobs with top_logprobs', async () => {
  const r = await client.chat.completions.create({
    model: modelId, messages: chatMsgs, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3,
  });
  const lp = r.choices[0].logprobs.content;
  assert(lp.length > 0 && lp.length <= 8, `entries ${lp.length}`);
  for (const e of lp) {
    assert(typeof e.token === 'string' && e.logprob <= 0 && Array.isArray(e.bytes), 'entry');
    assert(e.top_logprobs.length === 3, 'three alternatives');
    assert(e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob, 'sorted');
    assert(Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-5, 'greedy picks the top one');
  }
  const c = await client.completions.create({ model: modelId, prompt: 'Once upon a time', max_tokens: 4, temperature: 0, logprobs: 2 });
  const l = c.choices[0].logprobs;
  assert(l.tokens.length === 4 && l.token_logprobs.length === 4 && l.top_logprobs.length === 4, 'legacy shape');
  assert(l.tokens.join('') === c.choices[0].text, 'tokens spell the text');
});

test('stop strings', async () => {
  const words = greedy.trim().split(' ');
  const stop = ' ' + words[Math.min(3, words.length - 1)];
  const at = greedy.indexOf(stop);
  const r = await client.completions.create({ model: modelId, prompt: 'Once upon a time', max_tokens: 24, temperature: 0, stop: [stop, 'zzzz'] });
  assert(r.choices[0].text === greedy.slice(0, at), `got ${JSON.stringify(r.choices[0].text)} for stop ${JSON.stringify(stop)}`);
  assert(r.choices[0].finish_reason === 'stop', `finish ${r.choices[0].finish_reason}`);
  const s = await client.completions.create({ model: modelId, prompt: 'Once upon a time', max_tokens: 24, temperature: 0, stop, stream: true });
  let text = '';
  for await (const chunk of s) for (const ch of chunk.choices) text += ch.text;
  assert(text === greedy.slice(0, at), `stream ${JSON.stringify(text)}`);
});

test('seed reproducibility', async () => {
  const req = { model: modelId, prompt: 'The dog', max_tokens: 24, temperature: 1.0, top_p: 0.95, seed: 1234 };
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  assert(a.choices[0].text === b.choices[0].text, `${JSON.stringify(a.choices[0].text)} vs ${JSON.stringify(b.choices[0].text)}`);
  const ca = await client.chat.completions.create({ model: modelId, messages: chatMsgs, max_tokens: 16, seed: 99 });
  const cb = await client.chat.completions.create({ model: modelId, messages: chatMsgs, max_tokens: 16, seed: 99 });
  assert(ca.choices[0].message.content === cb.choices[0].message.content, 'chat seeds');
});

test('logit_bias and penalties', async () => {
  const r = await client.completions.create({
    model: modelId, prompt: 'Once upon a time', max_tokens: 5, temperature: 0, logit_bias: { 403: 100 },
    presence_penalty: 0.5, frequency_penalty: 0.5,
  });
  assert(r.choices[0].text === ' Once'.repeat(5) || r.choices[0].text.split('Once').length === 6, `got ${JSON.stringify(r.choices[0].text)}`);
});

test('400 BadRequestError names the field', async () => {
  await expectError(OpenAI.BadRequestError, 400,
    () => client.chat.completions.create({ model: modelId, messages: chatMsgs, temperature: 'hot' }),
    (e) => assert(e.param === 'temperature' && e.code === 'invalid_type', `param ${e.param} code ${e.code}`));
  await expectError(OpenAI.BadRequestError, 400,
    () => client.chat.completions.create({ model: modelId, messages: [{ role: 'wizard', content: 'hi' }] }),
    (e) => assert(e.param === 'messages[0].role', `param ${e.param}`));
  await expectError(OpenAI.BadRequestError, 400,
    () => client.completions.create({ model: modelId, prompt: 'hi', max_tokens: 100000 }),
    (e) => assert(e.code === 'context_length_exceeded', `code ${e.code}`));
});

test('401 AuthenticationError', async () => {
  const bad = new OpenAI({ baseURL, apiKey: 'sk-wrong', maxRetries: 0 });
  await expectError(OpenAI.AuthenticationError, 401, () => bad.models.list(),
    (e) => assert(e.code === 'invalid_api_key', `code ${e.code}`));
});

test('404 NotFoundError', async () => {
  await expectError(OpenAI.NotFoundError, 404, () => client.models.retrieve('no-such-model'),
    (e) => assert(e.code === 'model_not_found', `code ${e.code}`));
});

let passed = 0, failed = 0;
for (const t of tests) {
  try {
    await t.fn();
    console.log(`ok - ${t.name}`);
    passed++;
  } catch (e) {
    console.log(`not ok - ${t.name}: ${e?.stack ?? e}`);
    failed++;
  }
}
console.log(`# node: ${passed} passed, ${failed} failed`);
