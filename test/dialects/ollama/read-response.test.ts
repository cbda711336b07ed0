/**
 * Ollama /api/chat answers → canonical, against the recorded fixtures (test/fixtures/providers/
 * ollama, provenance in SOURCES.md): complete JSON through parseMessage, NDJSON streams through
 * the one NDJSON reader and the codec's stream reader, cut at odd byte sizes.
 */
import t from 'tap';
import type { StreamEvent } from '../../../core/canonical.ts';
import { collectEvents } from '../../../core/canonical-stream.ts';
import { ollamaCodec } from '../../../core/dialects/ollama/index.ts';
import { NdjsonReader } from '../../../core/ndjson.ts';
import { fixtureJson, fixtureText } from '../../helpers/fixtures.ts';

/** Every event the codec reads from an NDJSON body delivered `size` bytes at a time. */
function readStream(body: string, size = Infinity): StreamEvent[] {
  const bytes = Buffer.from(body, 'utf8');
  const lines = new NdjsonReader();
  const reader = ollamaCodec.createStreamReader();
  const events: StreamEvent[] = [];
  const step = Number.isFinite(size) ? size : bytes.length;
  for (let i = 0; i < bytes.length; i += step) for (const line of lines.push(bytes.subarray(i, i + step))) events.push(...reader.push(line));
  for (const line of lines.end()) events.push(...reader.push(line));
  events.push(...reader.end());
  return events;
}

async function* replay(events: StreamEvent[]): AsyncGenerator<StreamEvent> {
  yield* events;
}

const ndjson = (...lines: object[]): string => lines.map((l) => JSON.stringify(l) + '\n').join('');

t.test('a complete answer gives its text, end_turn and the eval counts as usage', async (t) => {
  const message = ollamaCodec.parseMessage(fixtureJson('providers/ollama/chat.json'));
  t.same(message.content, [{ type: 'text', text: 'Hello! How are you today?' }]);
  t.equal(message.stopReason, 'end_turn', 'an answer without done_reason (older Ollama) ended normally');
  t.same(message.usage, { inputTokens: 26, outputTokens: 298 });
  t.equal(message.model, 'llama3.2');
  t.match(message.id, /^msg_ollama_[0-9a-f]{24}$/);
});

t.test('a complete answer with a tool call gives the call with object arguments and a generated id, stopping for tool_use', async (t) => {
  const message = ollamaCodec.parseMessage(fixtureJson('providers/ollama/chat-tool-call.json'));
  t.equal(message.content.length, 1, 'the empty content adds no text part');
  t.match(message.content[0], { type: 'tool_call', name: 'get_weather', input: { city: 'Tokyo' }, id: /^call_0_[0-9a-f]{12}$/ });
  t.same((message.content[0] as { input: unknown }).input, { city: 'Tokyo' });
  t.equal(message.stopReason, 'tool_use');
  t.same(message.usage, { inputTokens: 169, outputTokens: 18 });
});

t.test('the tool call recorded from a real llama3.2 run is read the same way', async (t) => {
  const message = ollamaCodec.parseMessage(fixtureJson('providers/ollama/chat-tool-call-sk.json'));
  t.match(message.content, [{ type: 'tool_call', name: 'TestPlugin-TestFunction', input: { testInput: 'fake-text' } }]);
  t.equal(message.stopReason, 'tool_use');
  t.same(message.usage, { inputTokens: 152, outputTokens: 22 });
});

t.test('two calls in one answer get distinct ids', async (t) => {
  const fn = (city: string) => ({ function: { name: 'get_weather', arguments: { city } } });
  const message = ollamaCodec.parseMessage({ model: 'm', message: { role: 'assistant', content: '', tool_calls: [fn('Tokyo'), fn('Paris')] }, done: true, done_reason: 'stop' });
  const ids = message.content.map((p) => (p.type === 'tool_call' ? p.id : ''));
  t.match(ids, [/^call_0_/, /^call_1_/]);
  t.not(ids[0], ids[1]);
});

t.test('a tool call id sent by newer Ollama versions is kept', async (t) => {
  const message = ollamaCodec.parseMessage({ model: 'm', message: { role: 'assistant', content: '', tool_calls: [{ id: 'call_abc', function: { name: 'f', arguments: {} } }] }, done: true });
  t.match(message.content[0], { type: 'tool_call', id: 'call_abc' });
});

t.test('tool arguments sent as JSON text are parsed', async (t) => {
  const message = ollamaCodec.parseMessage({ model: 'm', message: { role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: '{"a":[1,2]}' } }] }, done: true });
  t.same((message.content[0] as { input: unknown }).input, { a: [1, 2] });
});

t.test('thinking becomes reasoning marked as Ollama’s, before the text', async (t) => {
  const message = ollamaCodec.parseMessage({ model: 'qwen3', message: { role: 'assistant', content: 'Four.', thinking: '2+2 is 4.' }, done: true, done_reason: 'stop', prompt_eval_count: 12, eval_count: 9 });
  t.same(message.content, [{ type: 'reasoning', text: '2+2 is 4.', origin: 'ollama' }, { type: 'text', text: 'Four.' }]);
});

t.test("done_reason 'length' is max_tokens", async (t) => {
  const message = ollamaCodec.parseMessage({ model: 'm', message: { role: 'assistant', content: 'Once upon' }, done: true, done_reason: 'length', prompt_eval_count: 5, eval_count: 2 });
  t.equal(message.stopReason, 'max_tokens');
});

t.test('a recorded text stream gives start, one text part with every delta in order, and finish with usage', async (t) => {
  const events = readStream(fixtureText('providers/ollama/chat-stream-tail.ndjson'));
  t.match(events[0], { type: 'start', model: 'phi3', id: /^msg_ollama_/ });
  t.same(events.slice(1), [
    { type: 'part_start', index: 0, part: { type: 'text' } },
    { type: 'text_delta', index: 0, text: ' these' },
    { type: 'text_delta', index: 0, text: ' times' },
    { type: 'text_delta', index: 0, text: ' of' },
    { type: 'text_delta', index: 0, text: ' day' },
    { type: 'text_delta', index: 0, text: '.' },
    { type: 'part_stop', index: 0 },
    { type: 'finish', stopReason: 'end_turn', stopSequence: null, usage: { inputTokens: 10, outputTokens: 239 } },
  ]);
});

t.test('a stream cut every few bytes, inside lines and UTF-8 characters, reads the same', async (t) => {
  const body = ndjson(
    { model: 'm', message: { role: 'assistant', content: 'Grüße, ' }, done: false },
    { model: 'm', message: { role: 'assistant', content: '世界 🦀' }, done: false },
    { model: 'm', message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 3, eval_count: 4 },
  );
  for (const size of [1, 2, 3, 5, 7]) {
    const message = await collectEvents(replay(readStream(body, size)));
    t.same(message.content, [{ type: 'text', text: 'Grüße, 世界 🦀' }], `cut every ${size} bytes`);
  }
});

t.test('a streamed tool call arrives whole as one part with its JSON, and the stream stops for tool_use', async (t) => {
  const events = readStream(fixtureText('providers/ollama/chat-stream-tool-call.ndjson'), 7);
  t.match(events, [
    { type: 'start', model: 'llama3.2' },
    { type: 'part_start', index: 0, part: { type: 'tool_call', name: 'get_weather', id: /^call_0_[0-9a-f]{12}$/ } },
    { type: 'tool_input_delta', index: 0, json: '{"city":"Tokyo"}' },
    { type: 'part_stop', index: 0 },
    { type: 'finish', stopReason: 'tool_use', usage: { inputTokens: 169, outputTokens: 15 } },
  ]);
  t.equal(events.length, 5);
});

t.test('thinking, then text, then a tool call keep stable, increasing part indexes', async (t) => {
  const line = (message: object, done = false) => ({ model: 'qwen3', message: { role: 'assistant', content: '', ...message }, done, ...(done ? { done_reason: 'stop', prompt_eval_count: 20, eval_count: 30 } : {}) });
  const body = ndjson(
    line({ thinking: 'Let me ' }),
    line({ thinking: 'check.' }),
    line({ content: 'Checking ' }),
    line({ content: 'now.' }),
    line({ tool_calls: [{ function: { name: 'lookup', arguments: { q: 'x' } } }] }),
    line({}, true),
  );
  const events = readStream(body);
  const starts = events.filter((e) => e.type === 'part_start').map((e) => [e.index, e.part.type]);
  t.same(starts, [[0, 'reasoning'], [1, 'text'], [2, 'tool_call']]);
  const message = await collectEvents(replay(events));
  t.match(message.content, [{ type: 'reasoning', text: 'Let me check.' }, { type: 'text', text: 'Checking now.' }, { type: 'tool_call', name: 'lookup', input: { q: 'x' } }]);
  t.equal(message.stopReason, 'tool_use');
});

t.test('an error line in the middle of a stream is an error event, and nothing follows it', async (t) => {
  const events = readStream(fixtureText('providers/ollama/generate-stream-midstream-error.ndjson'), 5);
  t.match(events[0], { type: 'start', model: 'gemma4' });
  t.same(events[events.length - 1], { type: 'error', error: { kind: 'api_error', message: 'an error was encountered while running the model' } });
  t.equal(events.filter((e) => e.type === 'error').length, 1);
  t.notOk(events.some((e) => e.type === 'finish'));
});

t.test('a stream that ends without its done line ends with an error event', async (t) => {
  const tail = fixtureText('providers/ollama/chat-stream-tail.ndjson').trim().split('\n');
  const events = readStream(tail.slice(0, -1).join('\n') + '\n');
  t.match(events[events.length - 1], { type: 'error', error: { message: /ended before the answer finished/ } });
  t.notOk(events.some((e) => e.type === 'finish'));
});

t.test('a line that is not JSON is an error event', async (t) => {
  const events = readStream('{"model":"m","message":{"role":"assistant","content":"a"},"done":false}\n<html>bad gateway</html>\n');
  t.match(events[events.length - 1], { type: 'error', error: { message: /unreadable stream line: <html>/ } });
});
