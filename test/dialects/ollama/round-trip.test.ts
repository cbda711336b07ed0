/**
 * The Ollama codec's directions are each other's inverses wherever Ollama can express the
 * content: build → parseRequest, an Ollama client's body → parse → build, renderMessage →
 * parseMessage, and the stream writer → the stream reader. Also the Ollama-client side on its own:
 * parseRequest's pairing of tool results, defaults and errors.
 */
import t from 'tap';
import type { CanonicalRequest, CanonicalResponse, Part, StreamEvent } from '../../../core/canonical.ts';
import { collectEvents, messageToEvents } from '../../../core/canonical-stream.ts';
import { ollamaCodec } from '../../../core/dialects/ollama/index.ts';
import { routerError } from '../../../core/errors.ts';
import { NdjsonReader } from '../../../core/ndjson.ts';

const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const jpeg = '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAACf/EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AKp//2Q==';

/** Tool-call ids renamed T0, T1 ... in order of appearance, so generated ids compare equal. */
function normalizeIds(messages: CanonicalRequest['messages']): unknown {
  const names = new Map<string, string>();
  const rename = (id: string) => {
    if (!names.has(id)) names.set(id, `T${names.size}`);
    return names.get(id);
  };
  return messages.map((m) => ({
    role: m.role,
    content: m.content.map((p: Part) => (p.type === 'tool_call' ? { ...p, id: rename(p.id) } : p.type === 'tool_result' ? { ...p, toolCallId: rename(p.toolCallId) } : p)),
  }));
}

const conversation: CanonicalRequest = {
  model: 'qwen3:8b',
  system: [{ type: 'text', text: 'You are terse.' }],
  messages: [
    { role: 'user', content: [{ type: 'text', text: 'Weather and time in Tokyo? See photo.' }, { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: png } }] },
    {
      role: 'assistant',
      content: [
        { type: 'reasoning', text: 'Two tools needed.', origin: 'ollama' },
        { type: 'text', text: 'Checking.' },
        { type: 'tool_call', id: 'toolu_A', name: 'get_weather', input: { city: 'Tokyo' } },
        { type: 'tool_call', id: 'toolu_B', name: 'get_time', input: { city: 'Tokyo', tz: true } },
      ],
    },
    { role: 'user', content: [{ type: 'tool_result', toolCallId: 'toolu_B', content: '14:00' }, { type: 'tool_result', toolCallId: 'toolu_A', content: 'rain' }] },
    { role: 'system', content: [{ type: 'text', text: 'Answer in one line.' }] },
    { role: 'user', content: [{ type: 'text', text: 'So?' }] },
  ],
  tools: [
    { name: 'get_weather', description: 'Weather', inputSchema: { type: 'object', properties: { city: { type: 'string' } } } },
    { name: 'get_time', inputSchema: { type: 'object', properties: { city: { type: 'string' }, tz: { type: 'boolean' } } } },
  ],
  maxTokens: 256,
  temperature: 0.3,
  topP: 0.8,
  topK: 20,
  stop: ['</end>'],
  stream: true,
  thinking: { type: 'enabled' },
  extras: {},
};

t.test('a request built for Ollama parses back to the same canonical request', async (t) => {
  const dropped: string[] = [];
  const body = ollamaCodec.buildRequest(conversation, { model: 'qwen3:8b', source: 'anthropic', dropped: (f) => dropped.push(f) });
  const parsed = ollamaCodec.parseRequest(body);
  t.same(dropped, []);
  t.same({ ...parsed, messages: normalizeIds(parsed.messages) }, { ...conversation, messages: normalizeIds(conversation.messages) });
});

t.test("an Ollama client's request survives parse and build unchanged", async (t) => {
  const body = {
    model: 'llama3.2',
    messages: [
      { role: 'system', content: 'sys' },
      { role: 'user', content: '', images: [jpeg] },
      { role: 'assistant', content: '', thinking: 'hm', tool_calls: [{ function: { name: 'f', arguments: { a: 1 } } }] },
      { role: 'tool', content: 'ok', tool_name: 'f' },
    ],
    tools: [{ type: 'function', function: { name: 'f', description: 'does f', parameters: { type: 'object', properties: { a: { type: 'integer' } } } } }],
    options: { num_predict: 100, temperature: 0, seed: 7, stop: ['x'] },
    think: true,
    keep_alive: '10m',
    format: 'json',
    stream: false,
  };
  const dropped: string[] = [];
  const rebuilt = ollamaCodec.buildRequest(ollamaCodec.parseRequest(body), { model: 'llama3.2', source: 'ollama', dropped: (f) => dropped.push(f) });
  t.same(rebuilt, body);
  t.same(dropped, []);
});

const answer: CanonicalResponse = {
  id: 'msg_1',
  model: 'qwen3:8b',
  content: [
    { type: 'reasoning', text: 'The user wants weather.', origin: 'ollama' },
    { type: 'text', text: 'Let me look that up.' },
    { type: 'tool_call', id: 'call_0_abc', name: 'get_weather', input: { city: 'Tokyo', days: [1, 2] } },
  ],
  stopReason: 'tool_use',
  stopSequence: null,
  usage: { inputTokens: 120, outputTokens: 45 },
};

t.test('a rendered answer parses back to the same content, stop reason and usage', async (t) => {
  const rendered = ollamaCodec.renderMessage(answer, conversation, {});
  t.match(rendered, { model: 'qwen3:8b', done: true, done_reason: 'stop', prompt_eval_count: 120, eval_count: 45, message: { role: 'assistant', content: 'Let me look that up.', thinking: 'The user wants weather.' } });
  const parsed = ollamaCodec.parseMessage(rendered);
  t.same({ ...parsed, id: 'msg_1' }, answer);
});

t.test('max_tokens renders as length and reads back as max_tokens', async (t) => {
  const cut: CanonicalResponse = { ...answer, content: [{ type: 'text', text: 'Once' }], stopReason: 'max_tokens' };
  const rendered = ollamaCodec.renderMessage(cut, conversation, {});
  t.equal(rendered.done_reason, 'length');
  t.equal(ollamaCodec.parseMessage(rendered).stopReason, 'max_tokens');
});

t.test('rendered usage counts cached prompt tokens in prompt_eval_count', async (t) => {
  const rendered = ollamaCodec.renderMessage({ ...answer, usage: { inputTokens: 10, outputTokens: 2, cacheReadTokens: 90, cacheWriteTokens: 5 } }, conversation, {});
  t.equal(rendered.prompt_eval_count, 105);
});

/** Writes events as NDJSON text, then reads it back with the codec, cut every `size` bytes. */
function throughWire(events: Iterable<StreamEvent>, size = 3): StreamEvent[] {
  const writer = ollamaCodec.createStreamWriter(conversation, {});
  let text = '';
  for (const event of events) text += writer.write(event);
  const bytes = Buffer.from(text, 'utf8');
  const lines = new NdjsonReader();
  const reader = ollamaCodec.createStreamReader();
  const out: StreamEvent[] = [];
  for (let i = 0; i < bytes.length; i += size) for (const line of lines.push(bytes.subarray(i, i + size))) out.push(...reader.push(line));
  for (const line of lines.end()) out.push(...reader.push(line));
  out.push(...reader.end());
  return out;
}

async function* replay(events: StreamEvent[]): AsyncGenerator<StreamEvent> {
  yield* events;
}

t.test('a streamed answer written as Ollama NDJSON reads back to the same answer', async (t) => {
  const collected = await collectEvents(replay(throughWire(messageToEvents(answer))));
  t.same({ ...collected, id: 'msg_1' }, answer);
});

t.test('the stream writer sends each tool call whole, once its arguments are complete', async (t) => {
  const writer = ollamaCodec.createStreamWriter(conversation, {});
  const events: StreamEvent[] = [
    { type: 'start', id: 'm', model: 'x' },
    { type: 'part_start', index: 0, part: { type: 'tool_call', id: 'toolu_9', name: 'f' } },
    { type: 'tool_input_delta', index: 0, json: '{"path":' },
    { type: 'tool_input_delta', index: 0, json: '"/tmp/a"}' },
    { type: 'part_stop', index: 0 },
    { type: 'finish', stopReason: 'tool_use', usage: { inputTokens: 3, outputTokens: 4 } },
  ];
  const lines = events.map((e) => writer.write(e)).join('').trim().split('\n').map((l) => JSON.parse(l));
  t.equal(lines.length, 2);
  t.match(lines[0], { model: 'x', done: false, message: { role: 'assistant', content: '', tool_calls: [{ id: 'toolu_9', function: { name: 'f', arguments: { path: '/tmp/a' } } }] } });
  t.match(lines[1], { model: 'x', done: true, done_reason: 'stop', prompt_eval_count: 3, eval_count: 4 });
});

t.test('a tool call still open when the answer finishes is sent before the done line', async (t) => {
  const writer = ollamaCodec.createStreamWriter(conversation, {});
  const text = [
    writer.write({ type: 'start', id: 'm', model: 'x' }),
    writer.write({ type: 'part_start', index: 0, part: { type: 'tool_call', id: 'c1', name: 'f' } }),
    writer.write({ type: 'tool_input_delta', index: 0, json: '{"a":1}' }),
    writer.write({ type: 'finish', stopReason: 'tool_use', usage: { inputTokens: 1, outputTokens: 1 } }),
  ].join('');
  const lines = text.trim().split('\n').map((l) => JSON.parse(l));
  t.match(lines, [{ done: false, message: { tool_calls: [{ id: 'c1', function: { name: 'f', arguments: { a: 1 } } }] } }, { done: true }]);
  t.equal(lines.length, 2);
});

t.test('a stream error becomes an error line that the reader turns back into an error event', async (t) => {
  const events = throughWire([
    { type: 'start', id: 'm', model: 'x' },
    { type: 'part_start', index: 0, part: { type: 'text' } },
    { type: 'text_delta', index: 0, text: 'Hel' },
    { type: 'error', error: { kind: 'overloaded', message: 'upstream overloaded' } },
  ]);
  t.same(events[events.length - 1], { type: 'error', error: { kind: 'api_error', message: 'upstream overloaded' } });
});

t.test('a failure after the stream began is written as an error line, and nothing after it', async (t) => {
  const writer = ollamaCodec.createStreamWriter(conversation, {});
  writer.write({ type: 'start', id: 'm', model: 'x' });
  const err = routerError('RK_UPSTREAM_TIMEOUT', { provider: 'local', reason: 'body timeout' });
  t.equal(writer.error(err), JSON.stringify({ error: 'local did not answer in time (body timeout)' }) + '\n');
  t.equal(writer.write({ type: 'finish', stopReason: 'end_turn', usage: { inputTokens: 0, outputTokens: 0 } }), '');
  t.equal(writer.error(err), '');
});

t.test("errors render as Ollama's {error} object", async (t) => {
  t.same(ollamaCodec.renderError(routerError('RK_MODEL_NOT_FOUND', { model: 'x', hint: '' }), 'req_1'), { error: 'No provider serves model "x"' });
  t.same(ollamaCodec.renderError(routerError('RK_INTERNAL', { reason: 'secret detail' }), 'req_1'), { error: 'The router failed while handling this request; the log has details under the request id.' });
});

t.test('an Ollama client request streams unless it says otherwise', async (t) => {
  t.equal(ollamaCodec.parseRequest({ model: 'm', messages: [] }).stream, true);
  t.equal(ollamaCodec.parseRequest({ model: 'm', messages: [], stream: false }).stream, false);
});

t.test('tool results pair with the earliest unanswered call of the same name, or with the id a client sends', async (t) => {
  const calls = [{ function: { name: 'read', arguments: { p: 'a' } } }, { function: { name: 'list', arguments: {} } }, { id: 'call_x', function: { name: 'read', arguments: { p: 'b' } } }];
  const parsed = ollamaCodec.parseRequest({
    model: 'm',
    messages: [
      { role: 'assistant', content: '', tool_calls: calls },
      { role: 'tool', content: 'B', tool_call_id: 'call_x' },
      { role: 'tool', content: 'L', tool_name: 'list' },
      { role: 'tool', content: 'A', tool_name: 'read' },
    ],
  });
  const ids = parsed.messages[0].content.map((p) => (p.type === 'tool_call' ? p.id : ''));
  t.equal(ids[2], 'call_x');
  t.equal(parsed.messages.length, 2, 'consecutive results share one user turn');
  t.same(parsed.messages[1].content, [
    { type: 'tool_result', toolCallId: 'call_x', content: 'B' },
    { type: 'tool_result', toolCallId: ids[1], content: 'L' },
    { type: 'tool_result', toolCallId: ids[0], content: 'A' },
  ]);
});

t.test('think levels, a no-limit num_predict and unknown fields are kept for an Ollama upstream', async (t) => {
  const parsed = ollamaCodec.parseRequest({ model: 'gpt-oss', messages: [{ role: 'user', content: 'hi' }], think: 'high', options: { num_predict: -1, top_k: 5 }, format: { type: 'object' } });
  t.same(parsed.thinking, { type: 'enabled', effort: 'high' });
  t.equal(parsed.maxTokens, undefined);
  t.equal(parsed.topK, 5);
  t.same(parsed.extras, { format: { type: 'object' }, options: { num_predict: -1 } });
});

t.test('images get their media type from their first bytes', async (t) => {
  const parsed = ollamaCodec.parseRequest({ model: 'm', messages: [{ role: 'user', content: 'x', images: [jpeg, png] }] });
  t.match(parsed.messages[0].content, [{ type: 'text' }, { type: 'image', source: { mediaType: 'image/jpeg' } }, { type: 'image', source: { mediaType: 'image/png' } }]);
});

t.test('a malformed Ollama request is a 400 naming the field', async (t) => {
  t.throws(() => ollamaCodec.parseRequest({ model: 'm', messages: [{ role: 'robot', content: 'x' }] }), { code: 'RK_BAD_REQUEST', message: /messages\[0\]\.role/ });
  t.throws(() => ollamaCodec.parseRequest({ model: 'm', messages: [{ role: 'user', content: 'x', images: [3] }] }), { code: 'RK_BAD_REQUEST', message: /messages\[0\]\.images\[0\]: must be a string/ });
});
