// The Responses API of `gptc serve` through the official openai package, unchanged.
// GPTC_PHASE=before: create (plain, streamed, continued), retrieve, inputItems, delete; the
// ids go to GPTC_STATE_FILE. GPTC_PHASE=after (the server restarted on the same data
// directory): the stored responses are still there and previous_response_id still works.
import fs from 'node:fs';
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.GPTC_BASE_URL, apiKey: process.env.GPTC_API_KEY, maxRetries: 0 });
const model = process.env.GPTC_MODEL_ID;
const stateFile = process.env.GPTC_STATE_FILE;
let failed = 0;
const ok = (cond, what) => {
  console.log(`${cond ? 'ok' : 'not ok'} - ${what}`);
  if (!cond) failed++;
};
async function status(p) {
  try {
    await p;
    return 200;
  } catch (e) {
    return e.status ?? -1;
  }
}

try {
  if (process.env.GPTC_PHASE === 'before') {
    const r = await client.responses.create({ model, input: 'Once upon a time', max_output_tokens: 16 });
    ok(r.object === 'response' && r.id.startsWith('resp_') && ['completed', 'incomplete'].includes(r.status), `responses.create: ${r.status}`);
    ok(typeof r.output_text === 'string' && r.output_text.length > 0 && r.output[0].type === 'message' &&
      r.output[0].content[0].type === 'output_text', 'output_text and a message item');
    ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0 && r.usage.total_tokens === r.usage.input_tokens + r.usage.output_tokens, 'usage');
    ok(r.status !== 'incomplete' || r.incomplete_details.reason === 'max_output_tokens', 'incomplete_details when cut by max_output_tokens');

    // streamed: the SDK's event stream
    const stream = await client.responses.create({ model, input: [{ role: 'user', content: 'Tell me about a cat.' }], instructions: 'You tell stories.', max_output_tokens: 24, stream: true });
    const types = [];
    let text = '', final = null, seqOk = true, last = -1;
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.sequence_number !== last + 1) seqOk = false;
      last = ev.sequence_number;
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed' || ev.type === 'response.incomplete') final = ev.response;
    }
    const head = ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added'];
    const tail = ['response.output_text.done', 'response.content_part.done', 'response.output_item.done'];
    ok(head.every((t, i) => types[i] === t), `stream begins ${types.slice(0, 4).join(',')}`);
    ok(tail.every((t, i) => types[types.length - 4 + i] === t) && /response\.(completed|incomplete)/.test(types[types.length - 1]), `stream ends ${types.slice(-4).join(',')}`);
    ok(types.filter((t) => t === 'response.output_text.delta').length >= 1 && seqOk, 'deltas with consecutive sequence numbers');
    ok(final && final.output[0].content[0].text === text && final.instructions === 'You tell stories.', 'the deltas add up to the final text');

    // a stored conversation
    const r1 = await client.responses.create({ model, input: 'My dog is named Spot. Tell me a story.', max_output_tokens: 12, temperature: 0 });
    const r2 = await client.responses.create({ model, previous_response_id: r1.id, input: 'What happened next?', max_output_tokens: 12 });
    ok(r2.previous_response_id === r1.id && r2.usage.input_tokens > r1.usage.input_tokens + r1.usage.output_tokens, `continuation includes the stored turn (${r1.usage.input_tokens}+${r1.usage.output_tokens} < ${r2.usage.input_tokens})`);
    ok(r2.usage.input_tokens_details.cached_tokens > 0, `the continuation reused the KV cache (${r2.usage.input_tokens_details.cached_tokens} tokens)`);
    const g = await client.responses.retrieve(r1.id);
    ok(g.id === r1.id && g.output_text === r1.output_text, 'responses.retrieve');
    const items = await client.responses.inputItems.list(r1.id);
    ok(items.data.length === 1 && items.data[0].role === 'user' && items.data[0].content[0].text.startsWith('My dog'), 'responses.inputItems.list');

    const r3 = await client.responses.create({ model, input: 'Delete me', max_output_tokens: 4 });
    const del = await client.responses.delete(r3.id);
    ok(del === undefined || del === null || del.deleted === true || typeof del === 'object', 'responses.delete');
    ok(await status(client.responses.retrieve(r3.id)) === 404, 'a deleted response is 404');
    ok(await status(client.responses.create({ model, previous_response_id: 'resp_nothere', input: 'x' })) === 404, 'unknown previous_response_id is 404');
    const nostore = await client.responses.create({ model, input: 'not kept', max_output_tokens: 4, store: false });
    ok(await status(client.responses.retrieve(nostore.id)) === 404, 'store: false is not kept');

    // what comes with the tool-calling work is refused, never ignored
    try {
      await client.responses.create({ model, input: 'x', tools: [{ type: 'function', name: 'f', parameters: { type: 'object', properties: {} } }] });
      ok(false, 'tools is refused');
    } catch (e) {
      ok(e.status === 400 && e.code === 'unsupported_parameter' && e.param === 'tools', `tools is refused (${e.status} ${e.param})`);
    }
    try {
      await client.responses.create({ model, input: 'x', text: { format: { type: 'json_schema', name: 'x', schema: { type: 'object' } } } });
      ok(false, 'text.format json_schema is refused');
    } catch (e) {
      ok(e.status === 400 && e.param === 'text.format', `text.format json_schema is refused (${e.status})`);
    }
    fs.writeFileSync(stateFile, JSON.stringify({ r1: r1.id, text1: r1.output_text, r2: r2.id, tokens2: r2.usage.input_tokens }));
  } else {
    const st = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    const g = await client.responses.retrieve(st.r1);
    ok(g.id === st.r1 && g.output_text === st.text1, 'after a restart: responses.retrieve');
    const r4 = await client.responses.create({ model, previous_response_id: st.r2, input: 'And then?', max_output_tokens: 8 });
    ok(r4.status !== 'failed' && r4.usage.input_tokens > st.tokens2, `after a restart: previous_response_id continues (${r4.usage.input_tokens} > ${st.tokens2})`);
    const items = await client.responses.inputItems.list(st.r2);
    ok(items.data.length === 1 && items.data[0].content[0].text === 'What happened next?', 'after a restart: inputItems.list');
  }
} catch (e) {
  ok(false, `exception: ${e.stack || e}`);
}
process.exit(failed ? 1 : 0);
