// Anthropic's Messages API of `gptc serve` through the official @anthropic-ai/sdk, unchanged.
import Anthropic from '@anthropic-ai/sdk';

const client = new Anthropic({ baseURL: process.env.GPTC_URL, apiKey: process.env.GPTC_API_KEY, maxRetries: 0 });
const model = process.env.GPTC_MODEL_ID;
let failed = 0;
const ok = (cond, what) => {
  console.log(`${cond ? 'ok' : 'not ok'} - ${what}`);
  if (!cond) failed++;
};

try {
  const messages = [{ role: 'user', content: 'Tell me a story about a bird.' }];
  const m = await client.messages.create({ model, max_tokens: 16, system: 'You tell short stories.', messages });
  ok(m.type === 'message' && m.role === 'assistant' && m.id.startsWith('msg_') && m.content[0].type === 'text' && m.content[0].text.length > 0, 'messages.create');
  ok(['end_turn', 'max_tokens', 'stop_sequence'].includes(m.stop_reason) && m.usage.input_tokens > 0 && m.usage.output_tokens > 0, `stop_reason ${m.stop_reason}, usage`);
  const c = await client.messages.countTokens({ model, system: 'You tell short stories.', messages });
  ok(c.input_tokens === m.usage.input_tokens, `messages.countTokens (${c.input_tokens} == ${m.usage.input_tokens})`);

  // streamed, through the SDK's raw events and its message accumulator
  const stream = await client.messages.create({ model, max_tokens: 20, messages, stream: true });
  const types = [];
  let text = '';
  let stop = null;
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'content_block_delta') text += ev.delta.text;
    if (ev.type === 'message_delta') stop = ev.delta.stop_reason;
  }
  ok(types[0] === 'message_start' && types[1] === 'content_block_start' && types.at(-3) === 'content_block_stop' &&
    types.at(-2) === 'message_delta' && types.at(-1) === 'message_stop', `event sequence ${types.filter((t) => t !== 'content_block_delta').join(',')}`);
  ok(text.length > 0 && stop, `streamed text and stop_reason ${stop}`);
  const final = await client.messages.stream({ model, max_tokens: 12, messages }).finalMessage();
  ok(final.content[0].text.length > 0 && final.usage.output_tokens > 0, 'messages.stream().finalMessage()');

  try {
    await client.messages.create({ model, max_tokens: 8, messages, tools: [{ name: 'f', input_schema: { type: 'object' } }] });
    ok(false, 'tools is refused');
  } catch (e) {
    ok(e.status === 400 && /tools/.test(e.message), `tools is refused (${e.status})`);
  }
  try {
    await new Anthropic({ baseURL: process.env.GPTC_URL, apiKey: 'wrong', maxRetries: 0 }).messages.create({ model, max_tokens: 8, messages });
    ok(false, 'a wrong x-api-key is refused');
  } catch (e) {
    ok(e.status === 401, `a wrong x-api-key is refused (${e.status})`);
  }
} catch (e) {
  ok(false, `exception: ${e.stack || e}`);
}
process.exit(failed ? 1 : 0);
