/**
 * The official SDKs against the router with the built-in mock provider: what a user gets after
 * `npx router-kernel` on the default config.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t from 'tap';
import { mockConfig, startTestRouter } from '../helpers/router.ts';

t.test('@anthropic-ai/sdk: messages.create gets a complete message', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const client = new Anthropic({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
  const message = await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 200, messages: [{ role: 'user', content: 'ping' }] });
  t.equal(message.type, 'message');
  t.equal(message.stop_reason, 'end_turn');
  t.match(message.content[0], { type: 'text', text: /mock provider.*ping/ });
  t.ok(message.usage.input_tokens > 0 && message.usage.output_tokens > 0);
});

t.test('@anthropic-ai/sdk: a stream assembles to the same text, with usage', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const client = new Anthropic({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
  const stream = client.messages.stream({ model: 'claude-sonnet-4-6', max_tokens: 200, messages: [{ role: 'user', content: 'ping' }] });
  const deltas: string[] = [];
  stream.on('text', (text) => deltas.push(text));
  const message = await stream.finalMessage();
  t.ok(deltas.length > 3, 'several text deltas arrived');
  t.match(message.content[0], { type: 'text', text: deltas.join('') });
  t.equal(message.stop_reason, 'end_turn');
  t.ok(message.usage.output_tokens > 0);
});

t.test('@anthropic-ai/sdk: max_tokens and stop sequences end the answer with the right stop reason', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const client = new Anthropic({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
  const short = await client.messages.create({ model: 'm', max_tokens: 3, messages: [{ role: 'user', content: 'ping' }] });
  t.equal(short.stop_reason, 'max_tokens');
  const stopped = await client.messages.create({ model: 'm', max_tokens: 100, stop_sequences: ['mock'], messages: [{ role: 'user', content: 'ping' }] });
  t.equal(stopped.stop_reason, 'stop_sequence');
  t.equal(stopped.stop_sequence, 'mock');
  t.match(stopped.content[0], { text: "Hello from router-kernel's " });
});

t.test('@anthropic-ai/sdk: errors arrive as APIError with the router request id', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const client = new Anthropic({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
  const err = await client.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'bot' as 'user', content: 'x' }] }).catch((e: unknown) => e);
  t.ok(err instanceof Anthropic.BadRequestError);
  t.match(err, { status: 400, requestID: /^req_/, error: { type: 'error', error: { type: 'invalid_request_error' } } });
});

t.test('openai: chat.completions.create gets a complete answer', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'ping' }] });
  t.equal(completion.object, 'chat.completion');
  t.equal(completion.choices[0].finish_reason, 'stop');
  t.match(completion.choices[0].message.content, /ping/);
  t.ok(completion.usage && completion.usage.prompt_tokens > 0 && completion.usage.completion_tokens > 0);
});

t.test('openai: a stream with include_usage assembles, ends with usage', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'ping' }] });
  let text = '';
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined | null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  t.match(text, /mock provider.*ping/);
  t.equal(finish, 'stop');
  t.ok(usage && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens);
});

t.test('openai: the stream helper produces the final completion', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const runner = client.chat.completions.stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'ping' }] });
  const final = await runner.finalChatCompletion();
  t.match(final.choices[0].message.content, /ping/);
  t.equal(final.choices[0].finish_reason, 'stop');
});

t.test('openai: errors arrive as APIError with status and message', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const err = await client.chat.completions.create({ model: 'gpt-4o', messages: 'nope' as never }).catch((e: unknown) => e);
  t.ok(err instanceof OpenAI.BadRequestError);
  t.match(err, { status: 400, message: /messages: must be an array/ });
});

t.test('openai: models.list shows the configured models', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const ids: string[] = [];
  for await (const model of client.models.list()) ids.push(model.id);
  t.same(ids, ['mock/mock-fast', 'mock/mock-smart']);
});
