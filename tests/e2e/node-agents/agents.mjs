// Structured outputs of gptc serve through real clients, unchanged: the official openai SDK
// (content validated with ajv; chat.completions.parse with zod; the streaming helper) and the
// Vercel AI SDK (generateObject through @ai-sdk/openai-compatible). Prints "ok - ..." /
// "not ok - ..." lines. Env: GPTC_BASE_URL (".../v1").
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { z } from 'zod';
import { generateObject, generateText, tool } from 'ai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';

const baseURL = process.env.GPTC_BASE_URL;
const client = new OpenAI({ baseURL, apiKey: 'none', maxRetries: 0, timeout: 60000 });
const ajv = new Ajv({ strict: false });
addFormats(ajv);
let failed = 0;
async function t(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${e && e.stack ? e.stack : e}`);
  }
}
function assert(c, msg) { if (!c) throw new Error(msg); }

const schema = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 6 },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    pet: { enum: ['cat', 'dog', null] },
    tags: { type: 'array', items: { type: 'string', maxLength: 4 }, maxItems: 2 },
    day: { type: 'string', format: 'date' },
  },
  required: ['name', 'age', 'pet', 'tags', 'day'],
  additionalProperties: false,
};
const validate = ajv.compile(schema);
const msgs = [{ role: 'user', content: 'Tell me about a person.' }];

for (const seed of [1, 2, 3]) {
  await t(`response_format json_schema strict validates with ajv (seed ${seed})`, async () => {
    const r = await client.chat.completions.create({
      model: 'm', messages: msgs, seed, max_tokens: 300,
      response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema } },
    });
    const c = r.choices[0].message.content;
    const o = JSON.parse(c);
    assert(validate(o), `${c}: ${JSON.stringify(validate.errors)}`);
    assert(r.choices[0].finish_reason === 'stop', r.choices[0].finish_reason);
  });
}

await t('chat.completions.parse with a zod schema', async () => {
  const Person = z.object({ name: z.string().max(6), age: z.number().int().min(0).max(99), likes: z.array(z.enum(['tea', 'milk'])).max(2) });
  const r = await client.chat.completions.parse({
    model: 'm', messages: msgs, seed: 4, max_tokens: 300,
    response_format: zodResponseFormat(Person, 'person'),
  });
  const p = r.choices[0].message.parsed;
  assert(p && typeof p.name === 'string' && Number.isInteger(p.age), JSON.stringify(r.choices[0].message));
  Person.parse(p);
});

await t('streamed structured output through the stream helper', async () => {
  const stream = client.chat.completions.stream({
    model: 'm', messages: msgs, seed: 5, max_tokens: 300,
    response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema } },
  });
  let pieces = 0;
  stream.on('content', () => { pieces++; });
  const final = await stream.finalChatCompletion();
  const o = JSON.parse(final.choices[0].message.content);
  assert(validate(o), JSON.stringify(validate.errors));
  assert(pieces > 1, `pieces ${pieces}`);
});

await t('response_format json_object gives a JSON object', async () => {
  const r = await client.chat.completions.create({
    model: 'm', messages: msgs, seed: 6, max_tokens: 300, response_format: { type: 'json_object' },
  });
  if (r.choices[0].finish_reason === 'stop') {
    const o = JSON.parse(r.choices[0].message.content);
    assert(o && typeof o === 'object' && !Array.isArray(o), r.choices[0].message.content);
  }
});

await t('an unsupported field is a BadRequestError naming it', async () => {
  try {
    await client.chat.completions.create({ model: 'm', messages: msgs, max_tokens: 4, frobnicate: true });
    throw new Error('no error');
  } catch (e) {
    assert(e instanceof OpenAI.BadRequestError, `${e}`);
    assert(e.code === 'unsupported_parameter' && e.param === 'frobnicate', JSON.stringify(e.error));
  }
});

await t('an unsupported schema keyword is a BadRequestError naming it', async () => {
  try {
    await client.chat.completions.create({
      model: 'm', messages: msgs, max_tokens: 4,
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', minProperties: 1 } } },
    });
    throw new Error('no error');
  } catch (e) {
    assert(e instanceof OpenAI.BadRequestError, `${e}`);
    assert(/minProperties/.test(e.message), e.message);
  }
});

// a second client library: the Vercel AI SDK through its OpenAI-compatible provider
const provider = createOpenAICompatible({ name: 'gptc', baseURL, apiKey: 'none', supportsStructuredOutputs: true });
await t('Vercel AI SDK generateObject with a zod schema', async () => {
  const { object } = await generateObject({
    model: provider('m'),
    schema: z.object({ title: z.string().max(8), pages: z.number().int().min(1).max(500), done: z.boolean() }),
    prompt: 'A book.', seed: 7, maxOutputTokens: 300, maxRetries: 0,
  });
  assert(typeof object.title === 'string' && Number.isInteger(object.pages) && typeof object.done === 'boolean', JSON.stringify(object));
});
await t('Vercel AI SDK generateText', async () => {
  const { text } = await generateText({ model: provider('m'), prompt: 'Once upon a time', seed: 8, maxOutputTokens: 20, maxRetries: 0 });
  assert(typeof text === 'string' && text.length > 0, JSON.stringify(text));
});

// ----- tools -----
const weatherParams = {
  type: 'object',
  properties: {
    city: { type: 'string', maxLength: 12 },
    days: { type: 'integer', minimum: 1, maximum: 7 },
    unit: { enum: ['c', 'f'] },
  },
  required: ['city', 'days', 'unit'],
  additionalProperties: false,
};
const timeParams = {
  type: 'object', properties: { tz: { type: 'string', enum: ['CET', 'UTC'] } }, required: ['tz'], additionalProperties: false,
};
const tools = [
  { type: 'function', function: { name: 'get_weather', description: 'The weather in a city', parameters: weatherParams, strict: true } },
  { type: 'function', function: { name: 'get_time', description: 'The time in a zone', parameters: timeParams } },
];
const validators = { get_weather: ajv.compile(weatherParams), get_time: ajv.compile(timeParams) };
const toolMsgs = [{ role: 'user', content: 'What is the weather in Paris?' }];
function checkCalls(msg, names) {
  assert(Array.isArray(msg.tool_calls) && msg.tool_calls.length >= 1, JSON.stringify(msg));
  for (const c of msg.tool_calls) {
    assert(c.type === 'function' && /^call_/.test(c.id), JSON.stringify(c));
    assert(names.includes(c.function.name), c.function.name);
    const args = JSON.parse(c.function.arguments);
    const v = validators[c.function.name];
    assert(v(args), `${c.function.arguments}: ${JSON.stringify(v.errors)}`);
  }
}

for (const seed of [11, 12]) {
  await t(`tools with tool_choice "required" give tool_calls whose arguments validate (seed ${seed})`, async () => {
    const r = await client.chat.completions.create({ model: 'm', messages: toolMsgs, tools, tool_choice: 'required', seed, max_tokens: 400 });
    const ch = r.choices[0];
    checkCalls(ch.message, ['get_weather', 'get_time']);
    assert(ch.finish_reason === 'tool_calls', ch.finish_reason);
    assert(ch.message.content === null, JSON.stringify(ch.message.content));
  });
}

await t('tool_choice naming a function calls exactly that one (parallel_tool_calls: false)', async () => {
  const r = await client.chat.completions.create({
    model: 'm', messages: toolMsgs, tools, seed: 13, max_tokens: 300, parallel_tool_calls: false,
    tool_choice: { type: 'function', function: { name: 'get_time' } },
  });
  const m = r.choices[0].message;
  checkCalls(m, ['get_time']);
  assert(m.tool_calls.length === 1, JSON.stringify(m.tool_calls));
});

await t('streamed tool calls assembled by the stream helper', async () => {
  const stream = client.chat.completions.stream({ model: 'm', messages: toolMsgs, tools, tool_choice: 'required', seed: 14, max_tokens: 400 });
  let doneEvents = 0;
  stream.on('tool_calls.function.arguments.done', () => { doneEvents++; });
  const final = await stream.finalChatCompletion();
  const ch = final.choices[0];
  checkCalls(ch.message, ['get_weather', 'get_time']);
  assert(ch.finish_reason === 'tool_calls', ch.finish_reason);
  assert(doneEvents === ch.message.tool_calls.length, `done events ${doneEvents}`);
});

await t('a full tool round trip: tool_calls, the tool message, then an answer', async () => {
  const r1 = await client.chat.completions.create({
    model: 'm', messages: toolMsgs, tools, seed: 15, max_tokens: 300,
    tool_choice: { type: 'function', function: { name: 'get_weather' } }, parallel_tool_calls: false,
  });
  const call = r1.choices[0].message;
  checkCalls(call, ['get_weather']);
  const msgs2 = [...toolMsgs, call,
    { role: 'tool', tool_call_id: call.tool_calls[0].id, content: JSON.stringify({ temp: 21, sky: 'sunny' }) }];
  const r2 = await client.chat.completions.create({ model: 'm', messages: msgs2, tools, tool_choice: 'none', seed: 16, max_tokens: 30 });
  const m = r2.choices[0].message;
  assert(typeof m.content === 'string' && m.content.length > 0 && !m.tool_calls, JSON.stringify(m));
  assert(['stop', 'length'].includes(r2.choices[0].finish_reason), r2.choices[0].finish_reason);
});

await t('tool_choice "none" gives no tool_calls', async () => {
  const r = await client.chat.completions.create({ model: 'm', messages: toolMsgs, tools, tool_choice: 'none', seed: 17, max_tokens: 30 });
  const m = r.choices[0].message;
  assert(!m.tool_calls && typeof m.content === 'string', JSON.stringify(m));
  assert(r.choices[0].finish_reason !== 'tool_calls', r.choices[0].finish_reason);
});

await t('tool_choice "auto" with a weak model answers in text', async () => {
  const r = await client.chat.completions.create({ model: 'm', messages: toolMsgs, tools, seed: 18, max_tokens: 30 });
  const m = r.choices[0].message;
  assert(typeof m.content === 'string' || Array.isArray(m.tool_calls), JSON.stringify(m));
});

await t('a malformed tool is a BadRequestError naming the field', async () => {
  try {
    await client.chat.completions.create({ model: 'm', messages: toolMsgs, max_tokens: 4, tools: [{ type: 'function', function: { name: 'bad name!' } }] });
    throw new Error('no error');
  } catch (e) {
    assert(e instanceof OpenAI.BadRequestError, `${e}`);
    assert(e.param === 'tools[0].function.name', JSON.stringify(e.error));
  }
});

await t('Vercel AI SDK generateText with tools (toolChoice required)', async () => {
  const r = await generateText({
    model: provider('m'), prompt: 'Weather in Oslo?', seed: 19, maxOutputTokens: 420, maxRetries: 0, toolChoice: 'required',
    tools: {
      get_weather: tool({ description: 'The weather in a city', inputSchema: z.object({ city: z.string().max(12), days: z.number().int().min(1).max(7) }) }),
    },
  });
  assert(r.toolCalls.length >= 1, JSON.stringify(r.content));
  for (const c of r.toolCalls) {
    assert(c.toolName === 'get_weather', c.toolName);
    assert(typeof c.input.city === 'string' && Number.isInteger(c.input.days), JSON.stringify(c.input));
  }
  assert(r.finishReason === 'tool-calls', r.finishReason);
});

process.exit(failed ? 1 : 0);
