/**
 * The provider side of the conformance matrix: for each provider dialect, what its upstream sends
 * in each scenario (a recorded response from test/fixtures/providers wherever one exists, marked
 * "synthesized" where none was recorded) and what a client must see, or what the upstream must
 * receive.
 */
import type { Test } from 'tap';
import { fixtureReply, fixtureText } from '../helpers/fixtures.ts';
import { mockUpstream, type RecordedRequest, type UpstreamReply } from '../helpers/mock-upstream.ts';
import { startTestRouter } from '../helpers/router.ts';
import { tools, type Ask, type Client, type ClientDialect } from './clients.ts';

export const scenarios = ['text', 'stream', 'tool call', 'parallel tool calls', 'tool result round trip', 'thinking round trip', 'image', 'usage', 'pre-stream error', 'mid-stream error'] as const;
export type Scenario = (typeof scenarios)[number];

export type Run = (t: Test, client: Client) => Promise<void>;
export type Cell = { run: Run; note?: string } | { na: string };

export interface ProviderRow {
  label: string;
  use: string;
  /** Path appended to the mock upstream's address for `base_url`. */
  basePath: string;
  cells: Record<Scenario, Cell>;
}

type Reply = UpstreamReply | ((req: RecordedRequest) => UpstreamReply);

const hi: Ask = { turns: [{ role: 'user', text: 'hi' }], stream: false };
const weather: Ask = { turns: [{ role: 'user', text: 'Weather in Paris?' }], stream: true, tools };
const pixel = { mediaType: 'image/png', data: 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==' };
const toolConversation: Ask = {
  turns: [
    { role: 'user', text: 'Weather in Paris?' },
    { role: 'assistant', toolCalls: [{ id: 'call_1', name: 'get_weather', input: { location: 'Paris' } }] },
    { role: 'tool', id: 'call_1', content: '21°C and sunny' },
  ],
  stream: false,
  tools,
};

type Base = Pick<ProviderRow, 'label' | 'use' | 'basePath'>;

/** Cell builders for one provider: each starts a router in front of a mock upstream of its dialect. */
function helpers(base: Base) {
  async function serveFor(t: Test, reply: Reply, options = '') {
    const upstream = await mockUpstream((req) => (typeof reply === 'function' ? reply(req) : reply));
    t.teardown(() => upstream.close());
    const { url } = await startTestRouter(t, `
providers:
  up:
    use: ${base.use}
    base_url: ${upstream.url}${base.basePath}
    api_key: upstream-key
    models: [up-model]${options}
pipeline:
  - use: router
    with: { default: up/up-model }
`);
    return { url, upstream };
  }
  return {
    serveFor,
    /** Asks and compares the assembled answer with what the row expects. */
    answers(reply: Reply, ask: Ask, expected: (client: ClientDialect) => Record<string, unknown>, options = ''): Run {
      return async (t, client) => {
        const { url } = await serveFor(t, reply, options);
        t.match(await client.ask(url, ask), expected(client.dialect));
      };
    },
    /** Sends a request and checks what the upstream received. */
    sends(reply: Reply, ask: Ask, check: (t: Test, received: RecordedRequest, client: ClientDialect) => void): Run {
      return async (t, client) => {
        const { url, upstream } = await serveFor(t, reply);
        await client.ask(url, ask);
        check(t, upstream.requests[0], client.dialect);
      };
    },
    /** Expects a failure with a status (before the stream) or without one (inside it). */
    fails(reply: Reply, ask: Ask, expected: { status?: number; anthropic: string | RegExp; openai: string | RegExp; message: RegExp }): Run {
      return async (t, client) => {
        const { url } = await serveFor(t, reply);
        const failure = await client.fail(url, ask);
        t.match(failure, { type: expected[client.dialect], message: expected.message });
        t.equal(failure.status, expected.status, expected.status ? 'an HTTP error status' : 'inside a 200 stream');
      };
    },
  };
}

const sse = (events: unknown[], named = false) =>
  ({ headers: { 'content-type': 'text/event-stream' }, body: events.map((e) => `${named ? `event: ${(e as { type: string }).type}\n` : ''}data: ${JSON.stringify(e)}\n\n`).join(''), chunking: 'events' }) as UpstreamReply;
const ndjson = (lines: unknown[]) => ({ headers: { 'content-type': 'application/x-ndjson' }, body: lines.map((l) => JSON.stringify(l) + '\n').join(''), chunking: 'events' }) as UpstreamReply;
const json = (status: number, body: unknown) => ({ status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) as UpstreamReply;

const overloadedMidStream = sse(
  [
    { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 5, output_tokens: 1 } } },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Partial' } },
    JSON.parse(fixtureText('providers/anthropic/stream-error-overloaded.sse').split('data: ')[1]),
  ],
  true,
);

export const providerRows: ProviderRow[] = [
  (() => {
    const base: Base = { label: 'anthropic', use: 'anthropic', basePath: '' };
    const { serveFor, answers, sends, fails } = helpers(base);
    return {
    ...base,
    cells: {
      text: { run: answers(fixtureReply('providers/anthropic/message-text.json'), hi, () => ({ text: "Hello! I'm doing well, thanks for asking. How are you doing today? Is there anything I can help you with?", stop: 'end_turn', usage: { input: 12, output: 29 } })) },
      stream: { run: answers(fixtureReply('providers/anthropic/stream-text-short.sse', { chunking: 3 }), { ...hi, stream: true }, () => ({ text: '2', stop: 'end_turn', usage: { input: 20, output: 5 } })) },
      'tool call': { run: answers(fixtureReply('providers/anthropic/stream-tool-use.sse', { chunking: 'events' }), weather, () => ({ text: /^I'll help you find out the current temperature in San Francisco/, toolCalls: [{ name: 'get_current_temperature', input: { city: 'San Francisco' } }], stop: 'tool_use', usage: { input: 351, output: 85 } })) },
      'parallel tool calls': { run: answers(fixtureReply('providers/anthropic/message-tool-use-parallel.json'), { ...weather, stream: false }, () => ({ toolCalls: ['Alice', 'Bob', 'Charlie', 'Daisy'].map((name) => ({ name: 'retrieve_entity_info', input: { name } })), stop: 'tool_use' })) },
      'tool result round trip': {
        run: sends(fixtureReply('providers/anthropic/message-text.json'), toolConversation, (t, got) => {
          t.match(got.json.messages, [{ role: 'user' }, { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'get_weather', input: { location: 'Paris' } }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: '21°C and sunny' }] }]);
        }),
      },
      'thinking round trip': {
        note: 'thinking with its signature survives exactly for Anthropic clients; reasoning an OpenAI client echoes has no signature Anthropic would accept, so it is dropped and reported',
        run: async (t, client) => {
          const first = await serveFor(t, fixtureReply('providers/anthropic/stream-thinking.sse', { chunking: 'events' }));
          const answer = await client.ask(first.url, { ...hi, stream: true });
          t.match(answer.reasoning, /^This is a straightforward question about pedestrian safety/);
          const second = await serveFor(t, fixtureReply('providers/anthropic/message-text.json'));
          await client.ask(second.url, { turns: [{ role: 'user', text: 'hi' }, { role: 'assistant', reasoning: answer.reasoning, signature: answer.signature, text: answer.text }, { role: 'user', text: 'thanks' }], stream: false });
          const echoed = second.upstream.requests[0].json.messages[1].content as Array<Record<string, unknown>>;
          if (client.dialect === 'anthropic') t.match(echoed[0], { type: 'thinking', thinking: answer.reasoning, signature: /^EvMCCkYICxgCKkCHP2cSuEdcJK/ });
          else t.notOk(echoed.some((b) => b.type === 'thinking'), 'no unsigned thinking sent to Anthropic');
        },
      },
      image: { run: sends(fixtureReply('providers/anthropic/message-text.json'), { turns: [{ role: 'user', text: 'What is this?', image: pixel }], stream: false }, (t, got) => t.match(got.json.messages[0].content[1], { type: 'image', source: { type: 'base64', media_type: 'image/png', data: pixel.data } })) },
      usage: { run: answers(fixtureReply('providers/anthropic/stream-text-cache-read.sse', { chunking: 'events' }), { ...hi, stream: true }, () => ({ usage: { input: 3, output: 4, cacheRead: 1217 } })) },
      'pre-stream error': { run: fails(fixtureReply('providers/anthropic/error-400-invalid-request.json'), hi, { status: 400, anthropic: 'invalid_request_error', openai: 'invalid_request_error', message: /does not support effort level 'xhigh'/ }) },
      'mid-stream error': { note: 'the recorded overloaded_error after some content (synthesized around the documented event)', run: fails(overloadedMidStream, { ...hi, stream: true }, { anthropic: 'overloaded_error', openai: 'server_error', message: /Overloaded/ }) },
    },
  };
  })(),

  (() => {
    const base: Base = { label: 'openai family', use: 'openai', basePath: '/v1' };
    const { serveFor, answers, sends, fails } = helpers(base);
    return {
    ...base,
    cells: {
      text: { run: answers(fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'), hi, () => ({ text: 'The capital of France is **Paris**.', stop: 'end_turn', usage: { input: 14, output: 84 } })) },
      stream: { run: answers(fixtureReply('providers/openai/stream-text-include-usage.sse', { chunking: 11 }), { ...hi, stream: true }, () => ({ text: /^Thought: I now can give a great answer {2}\nFinal Answer: Dogs are loyal companions/, stop: 'end_turn', usage: { input: 176, output: 26 } })) },
      'tool call': { run: answers(fixtureReply('providers/openai/stream-tool-call-args-split.sse', { chunking: 'events' }), weather, () => ({ toolCalls: [{ id: 'call_bCEixqN8Y40SUyius8ZfVErH', name: 'get_weather', input: { location: 'New York, NY' } }], stop: 'tool_use', usage: { input: 68, output: 18 } })) },
      'parallel tool calls': { run: answers(fixtureReply('providers/openai/stream-parallel-tool-calls.sse', { chunking: 'events' }), weather, () => ({ toolCalls: [{ name: 'get_country', input: {} }, { name: 'get_product_name', input: {} }], stop: 'tool_use' })) },
      'tool result round trip': {
        run: sends(fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'), toolConversation, (t, got) => {
          t.match(got.json.messages, [{ role: 'user' }, { role: 'assistant', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }] }, { role: 'tool', tool_call_id: 'call_1', content: '21°C and sunny' }]);
        }),
      },
      'thinking round trip': {
        note: 'DeepSeek (vendor: deepseek): reasoning_content is shown and sent back on the tool-call turn, as its thinking mode requires',
        run: async (t, client) => {
          const first = await serveFor(t, fixtureReply('providers/deepseek/stream-reasoning.sse', { chunking: 'events' }), '\n    vendor: deepseek');
          const answer = await client.ask(first.url, { ...hi, stream: true });
          t.match(answer, { reasoning: /^Hmm, the user just said "Hello"/, text: 'Hello there! 😊 How can I help you today?' });
          const second = await serveFor(t, fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'), '\n    vendor: deepseek');
          await client.ask(second.url, { ...toolConversation, turns: [toolConversation.turns[0], { role: 'assistant', reasoning: answer.reasoning, signature: answer.signature, toolCalls: [{ id: 'call_1', name: 'get_weather', input: { location: 'Paris' } }] }, toolConversation.turns[2]] });
          t.equal(second.upstream.requests[0].json.messages[1].reasoning_content, answer.reasoning);
        },
      },
      image: { run: sends(fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'), { turns: [{ role: 'user', text: 'What is this?', image: pixel }], stream: false }, (t, got) => t.match(got.json.messages[0].content, [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${pixel.data}` } }])) },
      usage: { note: 'no recorded OpenAI-family answer with cached tokens; reasoning tokens checked instead', run: answers(fixtureReply('providers/deepseek/chat-reasoning.json'), hi, () => ({ usage: { input: 18, output: 345, cacheRead: 0 } })) },
      'pre-stream error': { run: fails(fixtureReply('providers/openai/error-400-unsupported-parameter.json'), hi, { status: 400, anthropic: 'invalid_request_error', openai: 'invalid_request_error', message: /Unsupported parameter: 'stop'/ }) },
      'mid-stream error': {
        note: "OpenRouter's recorded in-stream error; an OpenAI client receives it passed through exactly as OpenRouter sent it (which names no error type)",
        run: fails(fixtureReply('providers/openrouter/stream-error-midstream.sse', { chunking: 'events' }), { ...hi, stream: true }, { anthropic: 'invalid_request_error', openai: 'unknown', message: /Token limit reached/ }),
      },
    },
  };
  })(),

  (() => {
    const base: Base = { label: 'gemini', use: 'gemini', basePath: '/v1beta' };
    const { serveFor, answers, sends, fails } = helpers(base);
    return {
    ...base,
    cells: {
      text: { run: answers(fixtureReply('providers/gemini/generate-content-text-thought-signature.json'), hi, () => ({ text: 'Hello! How can I help you today?', stop: 'end_turn', usage: { input: 3, output: 213 } })) },
      stream: { run: answers(fixtureReply('providers/gemini/stream-text.sse', { chunking: 7 }), { ...hi, stream: true }, () => ({ text: 'The capital of France is Paris.\n', stop: 'end_turn', usage: { input: 13, output: 8 } })) },
      'tool call': { run: answers(fixtureReply('providers/gemini/stream-function-call-thought-signature.sse', { chunking: 'events' }), weather, () => ({ toolCalls: [{ name: 'get_country', input: {} }], stop: 'tool_use', usage: { input: 29, output: 212 } })) },
      'parallel tool calls': { run: answers(fixtureReply('providers/gemini/stream-function-call-parallel.sse', { chunking: 'events' }), weather, () => ({ toolCalls: [{ name: 'get_current_temperature', input: { city: 'Paris' } }, { name: 'get_current_temperature', input: { city: 'London' } }], stop: 'tool_use' })) },
      'tool result round trip': {
        run: sends(fixtureReply('providers/gemini/generate-content-text-thought-signature.json'), toolConversation, (t, got) => {
          t.match(got.json.contents, [{ role: 'user' }, { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { location: 'Paris' } } }] }, { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { result: '21°C and sunny' } } }] }]);
        }),
      },
      'thinking round trip': {
        note: "thought text is shown; a function call's thoughtSignature travels in the tool-call id and returns on the call",
        run: async (t, client) => {
          const thinking = await serveFor(t, fixtureReply('providers/gemini/stream-thinking.sse', { chunking: 'events' }));
          t.match(await client.ask(thinking.url, { ...hi, stream: true }), { reasoning: /^\*\*Clarifying User Goals\*\*/, text: /^This is a great question!/ });
          const first = await serveFor(t, fixtureReply('providers/gemini/stream-function-call-thought-signature.sse', { chunking: 'events' }));
          const call = (await client.ask(first.url, weather)).toolCalls[0];
          const second = await serveFor(t, fixtureReply('providers/gemini/generate-content-text-thought-signature.json'));
          await client.ask(second.url, { turns: [weather.turns[0], { role: 'assistant', toolCalls: [call] }, { role: 'tool', id: call.id, content: 'France' }], stream: false, tools });
          const recorded = /"thoughtSignature": "([^"]+)"/.exec(fixtureText('providers/gemini/stream-function-call-thought-signature.sse'))![1];
          t.equal(second.upstream.requests[0].json.contents[1].parts[0].thoughtSignature, recorded, 'the exact signature came back on the call');
        },
      },
      image: { run: sends(fixtureReply('providers/gemini/generate-content-text-thought-signature.json'), { turns: [{ role: 'user', text: 'What is this?', image: pixel }], stream: false }, (t, got) => t.match(got.json.contents[0].parts, [{ text: 'What is this?' }, { inlineData: { mimeType: 'image/png', data: pixel.data } }])) },
      usage: { run: answers(fixtureReply('providers/gemini/stream-usage-thoughts-count.sse', { chunking: 'events' }), { ...hi, stream: true }, () => ({ usage: { input: 18, output: 115, cacheRead: 0 } })) },
      'pre-stream error': { run: fails(fixtureReply('providers/gemini/error-429-resource-exhausted.json'), hi, { status: 429, anthropic: 'rate_limit_error', openai: 'rate_limit_error', message: /Resource exhausted/ }) },
      'mid-stream error': {
        note: 'synthesized: no recorded Gemini stream fails after content; the error envelope is the recorded one',
        run: fails(
          { headers: { 'content-type': 'text/event-stream' }, body: `data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Partial"}]}}]}\r\n\r\ndata: ${fixtureText('providers/gemini/error-429-resource-exhausted.json').replace(/\s*\n\s*/g, '')}\r\n\r\n`, chunking: 'events' },
          { ...hi, stream: true },
          { anthropic: 'rate_limit_error', openai: 'rate_limit_error', message: /Resource exhausted/ },
        ),
      },
    },
  };
  })(),

  (() => {
    const base: Base = { label: 'ollama', use: 'ollama', basePath: '' };
    const { serveFor, answers, sends, fails } = helpers(base);
    return {
    ...base,
    cells: {
      text: { run: answers(fixtureReply('providers/ollama/chat.json'), hi, () => ({ text: 'Hello! How are you today?', stop: 'end_turn', usage: { input: 26, output: 298 } })) },
      stream: { run: answers(fixtureReply('providers/ollama/chat-stream-tail.ndjson', { chunking: 9 }), { ...hi, stream: true }, () => ({ text: ' these times of day.', stop: 'end_turn', usage: { input: 10, output: 239 } })) },
      'tool call': { run: answers(fixtureReply('providers/ollama/chat-stream-tool-call.ndjson', { chunking: 'events' }), weather, () => ({ toolCalls: [{ name: 'get_weather', input: { city: 'Tokyo' } }], stop: 'tool_use', usage: { input: 169, output: 15 } })) },
      'parallel tool calls': {
        note: 'synthesized: no recorded Ollama answer with two calls; the line shape is the recorded one',
        run: answers(ndjson([{ model: 'm', created_at: '2025-07-07T20:22:19Z', message: { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { location: 'Paris' } } }, { function: { name: 'get_time', arguments: { location: 'Paris' } } }] }, done: false }, { model: 'm', created_at: '2025-07-07T20:22:19Z', message: { role: 'assistant', content: '' }, done_reason: 'stop', done: true, prompt_eval_count: 9, eval_count: 7 }]), weather, () => ({ toolCalls: [{ name: 'get_weather', input: { location: 'Paris' } }, { name: 'get_time', input: { location: 'Paris' } }], stop: 'tool_use' })),
      },
      'tool result round trip': {
        run: sends(fixtureReply('providers/ollama/chat.json'), toolConversation, (t, got) => {
          t.match(got.json.messages, [{ role: 'user' }, { role: 'assistant', tool_calls: [{ function: { name: 'get_weather', arguments: { location: 'Paris' } } }] }, { role: 'tool', tool_name: 'get_weather', content: '21°C and sunny' }]);
        }),
      },
      'thinking round trip': {
        note: "synthesized: no recorded Ollama thinking stream; `thinking` is shown and goes back on the assistant turn",
        run: async (t, client) => {
          const lines = [{ model: 'm', created_at: 't', message: { role: 'assistant', content: '', thinking: 'Let me think.' }, done: false }, { model: 'm', created_at: 't', message: { role: 'assistant', content: 'Hi!' }, done: false }, { model: 'm', created_at: 't', message: { role: 'assistant', content: '' }, done_reason: 'stop', done: true, prompt_eval_count: 3, eval_count: 4 }];
          const first = await serveFor(t, ndjson(lines));
          const answer = await client.ask(first.url, { ...hi, stream: true });
          t.match(answer, { reasoning: 'Let me think.', text: 'Hi!' });
          const second = await serveFor(t, fixtureReply('providers/ollama/chat.json'));
          await client.ask(second.url, { turns: [{ role: 'user', text: 'hi' }, { role: 'assistant', reasoning: answer.reasoning, signature: answer.signature, text: answer.text }, { role: 'user', text: 'and?' }], stream: false });
          t.match(second.upstream.requests[0].json.messages[1], { role: 'assistant', content: 'Hi!', thinking: 'Let me think.' });
        },
      },
      image: { run: sends(fixtureReply('providers/ollama/chat.json'), { turns: [{ role: 'user', text: 'What is this?', image: pixel }], stream: false }, (t, got) => t.match(got.json.messages[0], { role: 'user', content: 'What is this?', images: [pixel.data] })) },
      usage: { note: 'Ollama reports no cache tokens', run: answers(fixtureReply('providers/ollama/chat.json'), hi, () => ({ usage: { input: 26, output: 298, cacheRead: 0 } })) },
      'pre-stream error': { note: 'synthesized: the documented error body', run: fails(json(404, { error: "model 'up-model' not found, try pulling it first" }), hi, { status: 404, anthropic: 'not_found_error', openai: 'not_found_error', message: /not found, try pulling it first/ }) },
      'mid-stream error': {
        note: "the recorded error line, after a chat line",
        run: fails(ndjson([{ model: 'm', created_at: 't', message: { role: 'assistant', content: 'Partial' }, done: false }, JSON.parse(fixtureText('providers/ollama/generate-stream-midstream-error.ndjson').trim().split('\n').pop()!)]), { ...hi, stream: true }, { anthropic: 'api_error', openai: 'api_error', message: /an error was encountered while running the model/ }),
      },
    },
  };
  })(),
];

