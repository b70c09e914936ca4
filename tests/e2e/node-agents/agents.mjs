// Structured outputs of gptc serve through real clients, unchanged: the official openai SDK
// (content validated with ajv; chat.completions.parse with zod; the streaming helper) and the
// Vercel AI SDK (generateObject through @ai-sdk/openai-compatible). Prints "ok - ..." /
// "not ok - ..." lines. Env: GPTC_BASE_URL (".../v1").
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { z } from 'zod';
import { generateObject, generateText } from 'ai';
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

process.exit(failed ? 1 : 0);
