/**
 * The official `openai` npm client against the server (in process, on 127.0.0.1, with an API key): models.list and
 * retrieve, completions (plain, streamed, stop, logprobs), chat (plain, streamed, stop, logprobs), and a wrong key.
 * What the SDK parses must be what `generate` makes with the same options.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { generate } from '../src/sampling/generate.js';
import { DEFAULT_CHAT_TEMPLATE, ChatTemplate } from '../src/server/chat-template.js';
import { model, startServer, tokenizer } from './server-helpers.js';

const KEY = 'sk-test-0123456789';
const s = await startServer({ apiKeys: ['another-key', KEY], maxTokensCap: 64 });
after(() => s.close());
const client = new OpenAI({ apiKey: KEY, baseURL: `${s.url}/v1`, maxRetries: 0 });

const solo = async (prompt: string, o: { maxNewTokens: number; seed: number }) => (await generate(model, tokenizer, { prompt, stopOnEos: false, ...o }).result()).text;

test('openai SDK: models.list and models.retrieve', async () => {
  const list = [];
  for await (const m of client.models.list()) list.push(m.id);
  assert.deepEqual(list, ['test-model']);
  assert.equal((await client.models.retrieve('test-model')).id, 'test-model');
  await assert.rejects(client.models.retrieve('gpt-4'), (e: unknown) => e instanceof OpenAI.NotFoundError);
});

test('openai SDK: completions, streamed and not, equal generate()', async () => {
  const text = await solo('Hello', { maxNewTokens: 24, seed: 4 });
  const c = await client.completions.create({ model: 'test-model', prompt: 'Hello', max_tokens: 24, seed: 4, stop_on_eos: false } as OpenAI.CompletionCreateParamsNonStreaming);
  assert.equal(c.choices[0].text, text);
  assert.equal(c.choices[0].finish_reason, 'length');
  assert.equal(c.usage!.completion_tokens, 24);
  const stream = await client.completions.create({ model: 'test-model', prompt: 'Hello', max_tokens: 24, seed: 4, stop_on_eos: false, stream: true } as OpenAI.CompletionCreateParamsStreaming);
  let streamed = '';
  let finish = null;
  for await (const chunk of stream) {
    for (const ch of chunk.choices) {
      streamed += ch.text;
      finish = ch.finish_reason ?? finish;
    }
  }
  assert.equal(streamed, text);
  assert.equal(finish, 'length');
});

test('openai SDK: stop cuts the text before the stop string, streamed and not', async () => {
  const text = await solo('Stop', { maxNewTokens: 60, seed: 8 });
  const stop = text.slice(30, 33); // spans a block boundary or not: either way the first occurrence counts
  const expected = text.slice(0, text.indexOf(stop));
  const c = await client.completions.create({ model: 'test-model', prompt: 'Stop', max_tokens: 60, seed: 8, stop_on_eos: false, stop: [stop, '\u0000never'] } as OpenAI.CompletionCreateParamsNonStreaming);
  assert.equal(c.choices[0].text, expected);
  assert.equal(c.choices[0].finish_reason, 'stop');
  const stream = await client.completions.create({ model: 'test-model', prompt: 'Stop', max_tokens: 60, seed: 8, stop_on_eos: false, stop, stream: true } as OpenAI.CompletionCreateParamsStreaming);
  let streamed = '';
  for await (const chunk of stream) streamed += chunk.choices.map((ch) => ch.text).join('');
  assert.equal(streamed, expected);
});

test('openai SDK: completion logprobs line up with the tokens of the text', async () => {
  const c = await client.completions.create({ model: 'test-model', prompt: 'abc', max_tokens: 12, seed: 2, logprobs: 3, stop_on_eos: false } as OpenAI.CompletionCreateParamsNonStreaming);
  const lp = c.choices[0].logprobs!;
  assert.equal(lp.tokens!.length, 12);
  assert.equal(lp.token_logprobs!.length, 12);
  assert.ok(lp.token_logprobs!.every((x) => x <= 0));
  assert.ok(lp.top_logprobs!.every((t) => Object.keys(t).length >= 1 && Object.keys(t).length <= 3));
  assert.equal(lp.text_offset![0], 0);
  assert.ok(lp.text_offset!.every((o, i) => i === 0 || o >= lp.text_offset![i - 1]));
});

test('openai SDK: chat completions, streamed and not, are the rendered prompt continued', async () => {
  const messages = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Hi there' }];
  const prompt = new ChatTemplate(DEFAULT_CHAT_TEMPLATE).render(messages, { bos: '', eos: '' });
  assert.equal(prompt, 'System: Be brief.\n\nUser: Hi there\n\nAssistant:');
  const text = await solo(prompt, { maxNewTokens: 20, seed: 6 });
  const c = await client.chat.completions.create({ model: 'test-model', messages, max_tokens: 20, seed: 6, stop_on_eos: false } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  assert.equal(c.object, 'chat.completion');
  assert.equal(c.choices[0].message.role, 'assistant');
  assert.equal(c.choices[0].message.content, text);
  assert.equal(c.choices[0].finish_reason, 'length');
  assert.equal(c.usage!.prompt_tokens, tokenizer.encode(prompt).length);
  const stream = await client.chat.completions.create({ model: 'test-model', messages, max_completion_tokens: 20, seed: 6, stop_on_eos: false, stream: true } as OpenAI.ChatCompletionCreateParamsStreaming);
  let streamed = '';
  const roles = [];
  let finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    for (const ch of chunk.choices) {
      if (ch.delta.role) roles.push(ch.delta.role);
      streamed += ch.delta.content ?? '';
      finish = ch.finish_reason ?? finish;
    }
  }
  assert.equal(streamed, text);
  assert.deepEqual(roles, ['assistant']);
  assert.equal(finish, 'length');
});

test('openai SDK: chat stop and logprobs', async () => {
  const messages = [{ role: 'user' as const, content: 'Count' }];
  const c = await client.chat.completions.create({ model: 'test-model', messages, max_tokens: 16, seed: 1, logprobs: true, top_logprobs: 4, stop_on_eos: false } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  const content = c.choices[0].logprobs!.content!;
  assert.equal(content.length, 16);
  assert.ok(content.every((t) => t.logprob <= 0 && t.top_logprobs.length === 4 && t.top_logprobs[0].logprob >= t.top_logprobs[3].logprob));
  // the tokens' bytes make up the text
  assert.equal(Buffer.from(content.flatMap((t) => t.bytes!)).toString('utf8'), c.choices[0].message.content);
  const text = c.choices[0].message.content!;
  const stop = text.slice(5, 7);
  const cut = await client.chat.completions.create({ model: 'test-model', messages, max_tokens: 16, seed: 1, stop, stop_on_eos: false } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  assert.equal(cut.choices[0].message.content, text.slice(0, text.indexOf(stop)));
  assert.equal(cut.choices[0].finish_reason, 'stop');
});

test('openai SDK: a wrong or missing key is a 401 AuthenticationError', async () => {
  const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${s.url}/v1`, maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError && /Incorrect API key/.test(e.message));
  const r = await fetch(`${s.url}/v1/models`);
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer');
  assert.equal((await r.json()).error.code, 'invalid_api_key');
  assert.equal((await fetch(`${s.url}/health`)).status, 200, '/health needs no key');
  // the other key works too
  const other = new OpenAI({ apiKey: 'another-key', baseURL: `${s.url}/v1`, maxRetries: 0 });
  assert.equal((await other.models.retrieve('test-model')).id, 'test-model');
});
