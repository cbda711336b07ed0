/**
 * The Gemini codec's two directions are inverses wherever Gemini can express the content:
 * buildRequest ↔ parseRequest, renderMessage ↔ parseMessage, stream writer ↔ stream reader.
 */
import { readdirSync } from 'node:fs';
import t from 'tap';
import { readStream, collect, ssePayloads } from '../../helpers/wire.ts';
import { messageToEvents } from '../../../core/canonical-stream.ts';
import type { CanonicalRequest, CanonicalResponse, StreamEvent } from '../../../core/canonical.ts';
import { geminiCodec } from '../../../core/dialects/gemini/index.ts';
import { routerError } from '../../../core/errors.ts';
import { fixtureJson, fixturesDir } from '../../helpers/fixtures.ts';

const options = { model: 'gemini-2.5-flash', source: 'anthropic' as const, dropped: () => {} };

const conversation: CanonicalRequest = {
  model: '',
  system: [{ type: 'text', text: 'You are terse.' }],
  messages: [
    { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }, { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' } }] },
    {
      role: 'assistant',
      content: [
        { type: 'reasoning', text: 'Two cities, two calls.', signature: 'R1', origin: 'gemini' },
        { type: 'text', text: 'Checking both.' },
        { type: 'tool_call', id: 'call_a', name: 'weather', input: { city: 'Paris' }, signature: 'S1', origin: 'gemini' },
        { type: 'tool_call', id: 'call_b', name: 'weather', input: { city: 'Rome' } },
      ],
    },
    { role: 'user', content: [{ type: 'tool_result', toolCallId: 'call_a', content: '21°C' }, { type: 'tool_result', toolCallId: 'call_b', content: 'no data', isError: true }] },
    { role: 'assistant', content: [{ type: 'text', text: 'Paris 21°C; Rome unknown.' }] },
    { role: 'user', content: [{ type: 'text', text: 'Picture?' }, { type: 'image', source: { kind: 'url', url: 'https://example.com/rome.jpg' } }] },
  ],
  tools: [{ name: 'weather', description: 'Current weather', inputSchema: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['C', 'F'], nullable: true } }, required: ['city'] } }],
  toolChoice: { type: 'tool', name: 'weather' },
  maxTokens: 1024,
  temperature: 0.5,
  topP: 0.9,
  topK: 20,
  stop: ['END'],
  stream: false,
  thinking: { type: 'enabled', budgetTokens: 512 },
  extras: {},
};

t.test('a canonical conversation survives buildRequest → parseRequest', async (t) => {
  const back = geminiCodec.parseRequest(geminiCodec.buildRequest(conversation, options));
  // nullable is Gemini's spelling; parseRequest states it as JSON Schema's null type.
  const expected = structuredClone(conversation);
  expected.tools[0].inputSchema = { type: 'object', properties: { city: { type: 'string' }, unit: { type: ['string', 'null'], enum: ['C', 'F'] } }, required: ['city'] };
  t.strictSame(back, expected);
});

t.test('thinking modes, tool choices and no-argument calls survive the round trip', async (t) => {
  const base: CanonicalRequest = { model: '', system: [], messages: [{ role: 'user', content: [{ type: 'text', text: 'go' }] }, { role: 'assistant', content: [{ type: 'tool_call', id: 'x1', name: 'ping', input: {}, signature: 'sig', origin: 'gemini' }] }], tools: [{ name: 'ping', inputSchema: { type: 'object', properties: {} } }], stream: false, extras: {} };
  for (const variant of [{ thinking: { type: 'adaptive' as const } }, { toolChoice: { type: 'any' as const } }, { toolChoice: { type: 'none' as const } }, { toolChoice: { type: 'auto' as const } }]) {
    const request = { ...base, ...variant };
    t.strictSame(geminiCodec.parseRequest(geminiCodec.buildRequest(request, options)), request, JSON.stringify(variant));
  }
});

t.test('every recorded Gemini request survives parseRequest → buildRequest for a Gemini client', async (t) => {
  const metas = readdirSync(fixturesDir + 'providers/gemini').filter((f) => f.endsWith('.meta.json'));
  t.ok(metas.length >= 9);
  for (const name of metas) {
    const body = fixtureJson(`providers/gemini/${name}`).request.body;
    const dropped: string[] = [];
    const back = geminiCodec.buildRequest(geminiCodec.parseRequest(body), { model: '', source: 'gemini', dropped: (f) => dropped.push(f), schemaMode: 'json_schema' });
    t.same(normalize(back), normalize(body), name);
    t.same(dropped, [], `${name}: nothing dropped`);
  }
});

t.test('a Gemini client’s OpenAPI parameters become JSON Schema and go back to Gemini unchanged but for case', async (t) => {
  const body = fixtureJson('providers/gemini/stream-function-call-parallel.meta.json').request.body;
  const request = geminiCodec.parseRequest(body);
  t.same(request.tools[0].inputSchema, { properties: { city: { description: 'The name of the city to get the temperature for.', type: 'string' } }, required: ['city'], type: 'object' });
  const back = geminiCodec.buildRequest(request, { ...options, source: 'gemini' }) as { tools: Array<{ functionDeclarations: Array<{ parameters: unknown }> }> };
  t.same(normalize(back.tools[0].functionDeclarations[0].parameters), normalize(body.tools[0].functionDeclarations[0].parameters));
});

const answers: CanonicalResponse[] = [
  { id: 'r1', model: 'gemini-2.5-flash', content: [{ type: 'text', text: 'Hello!' }], stopReason: 'end_turn', stopSequence: null, usage: { inputTokens: 10, outputTokens: 3 } },
  {
    id: 'r2',
    model: 'gemini-3-pro-preview',
    content: [
      { type: 'reasoning', text: 'Need data.', signature: 'THINK', origin: 'gemini' },
      { type: 'text', text: 'Looking up.' },
      { type: 'tool_call', id: 'call_1', name: 'lookup', input: { q: 'x', n: [1, 2] }, signature: 'SIG', origin: 'gemini' },
      { type: 'tool_call', id: 'call_2', name: 'lookup', input: {} },
    ],
    stopReason: 'tool_use',
    stopSequence: null,
    usage: { inputTokens: 100, outputTokens: 250, cacheReadTokens: 40, reasoningTokens: 200 },
  },
  { id: 'r3', model: 'gemini-2.5-pro', content: [{ type: 'text', text: 'Cut' }], stopReason: 'max_tokens', stopSequence: null, usage: { inputTokens: 5, outputTokens: 1 } },
  { id: 'r4', model: 'gemini-2.5-pro', content: [], stopReason: 'content_filter', stopSequence: null, usage: { inputTokens: 5, outputTokens: 0 } },
];

t.test('renderMessage → parseMessage gives the same answer back', async (t) => {
  for (const answer of answers) t.strictSame(geminiCodec.parseMessage(geminiCodec.renderMessage(answer, conversation, {})), answer, answer.id);
});

t.test('stream writer → SSE → stream reader gives the same answer back', async (t) => {
  for (const answer of answers) {
    const writer = geminiCodec.createStreamWriter(conversation, {});
    const wire = [...messageToEvents(answer)].map((e) => writer.write(e)).join('');
    // The canonical stream carries no origin for reasoning, and messageToEvents none for calls.
    t.strictSame(withoutOrigins(await collect(readStream(geminiCodec, wire))), withoutOrigins(answer), answer.id);
  }
});

t.test('the stream writer sends text as it comes, calls whole, and finish with usage last', async (t) => {
  const writer = geminiCodec.createStreamWriter(conversation, {});
  const events: StreamEvent[] = [
    { type: 'start', id: 'r9', model: 'gemini-2.5-flash' },
    { type: 'part_start', index: 0, part: { type: 'text' } },
    { type: 'text_delta', index: 0, text: 'Hi ' },
    { type: 'text_delta', index: 0, text: 'there' },
    { type: 'part_stop', index: 0 },
    { type: 'part_start', index: 1, part: { type: 'tool_call', id: 'call_z', name: 'f', signature: 'SG', origin: 'gemini' } },
    { type: 'tool_input_delta', index: 1, json: '{"a":' },
    { type: 'tool_input_delta', index: 1, json: '1}' },
    { type: 'part_stop', index: 1 },
    { type: 'finish', stopReason: 'tool_use', usage: { inputTokens: 4, outputTokens: 6 } },
  ];
  const wire = events.map((e) => writer.write(e)).join('');
  t.match(wire, /^(data: \{.*\}\n\n)+$/, 'one data line per chunk');
  const chunks = ssePayloads(wire);
  t.same(chunks.map((c) => c.candidates[0].content.parts), [[{ text: 'Hi ' }], [{ text: 'there' }], [{ functionCall: { id: 'call_z', name: 'f', args: { a: 1 } }, thoughtSignature: 'SG' }], [{ text: '' }]]);
  t.same(chunks.at(-1), {
    candidates: [{ content: { role: 'model', parts: [{ text: '' }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 6, totalTokenCount: 10 },
    modelVersion: 'gemini-2.5-flash',
    responseId: 'r9',
  });
  t.equal(writer.write({ type: 'text_delta', index: 0, text: 'late' }), '', 'nothing after the finish');
});

t.test('a failure after the stream began is written as an error chunk, once', async (t) => {
  const writer = geminiCodec.createStreamWriter(conversation, {});
  writer.write({ type: 'start', id: 'r', model: 'm' });
  const text = writer.error(routerError('RK_UPSTREAM_STREAM_ERROR', { provider: 'p', reason: 'overloaded' }, { status: 529, kind: 'overloaded' }));
  t.same(ssePayloads(text), [{ error: { code: 529, message: 'p failed mid-stream: overloaded', status: 'UNAVAILABLE' } }]);
  t.equal(writer.error(routerError('RK_INTERNAL')), '');
  const reread = geminiCodec.createStreamReader().push(ssePayloads(text).map((p) => JSON.stringify(p))[0]);
  t.same(reread, [{ type: 'error', error: { kind: 'overloaded', message: 'p failed mid-stream: overloaded', status: 529 } }]);
});

/** The differences the codec makes on purpose: meaningless fields and the spelling of schemas. */
function normalize(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), function reviver(this: Record<string, unknown>, key, v) {
    if (key === 'systemInstruction' && v && typeof v === 'object') return { parts: (v as { parts: unknown }).parts };
    if (key === 'generationConfig' && v && typeof v === 'object' && Object.keys(v).length === 0) return undefined;
    if (key === 'type' && typeof v === 'string') return v.toLowerCase();
    if (key === 'functionDeclarations' && Array.isArray(v)) {
      return v.map(({ parameters, parameters_json_schema, parametersJsonSchema, ...rest }: Record<string, unknown>) => ({ ...rest, schema: parametersJsonSchema ?? parameters_json_schema ?? parameters }));
    }
    return v;
  });
}

function withoutOrigins(message: CanonicalResponse): CanonicalResponse {
  return { ...message, content: message.content.map((part) => ('origin' in part ? (({ origin: _o, ...rest }) => rest)(part) : part)) as CanonicalResponse['content'] };
}

t.test('unsigned calls survive the round trip: the sentinel reads back as no signature', async (t) => {
  const req: CanonicalRequest = {
    model: '', system: [], tools: [], stream: false, extras: {},
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'go' }] },
      { role: 'assistant', content: [{ type: 'tool_call', id: 'c1', name: 'f', input: { a: 1 } }, { type: 'tool_call', id: 'c2', name: 'g', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', toolCallId: 'c1', content: 'one' }, { type: 'tool_result', toolCallId: 'c2', content: 'two' }] },
    ],
  };
  const body = geminiCodec.buildRequest(req, options) as { contents: Array<{ parts: Array<Record<string, unknown>> }> };
  t.equal(body.contents[1].parts[0].thoughtSignature, 'skip_thought_signature_validator');
  t.strictSame(geminiCodec.parseRequest(body), req);
});

t.test('parts only Gemini knows reach a Gemini client unchanged, complete or streamed', async (t) => {
  const body = {
    candidates: [{ content: { role: 'model', parts: [{ executableCode: { language: 'PYTHON', code: 'print(6*7)' } }, { codeExecutionResult: { outcome: 'OUTCOME_OK', output: '42\n' } }, { text: 'It is 42.' }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 9, totalTokenCount: 14 },
    modelVersion: 'gemini-2.5-flash',
    responseId: 'r5',
  };
  const message = geminiCodec.parseMessage(body);
  t.match(message.content, [{ type: 'opaque', dialect: 'gemini', name: 'executableCode' }, { type: 'opaque', dialect: 'gemini', name: 'codeExecutionResult' }, { type: 'text', text: 'It is 42.' }]);
  t.strictSame(geminiCodec.renderMessage(message, conversation, {}), body);
  const writer = geminiCodec.createStreamWriter(conversation, {});
  const wire = [...messageToEvents(message)].map((e) => writer.write(e)).join('');
  t.strictSame(await collect(readStream(geminiCodec, wire)), message);
});




t.test("another provider's signature is never shown to a Gemini client as a thoughtSignature", async (t) => {
  const answer: CanonicalResponse = {
    id: 'r6', model: 'claude-sonnet-4-5', stopReason: 'end_turn', stopSequence: null, usage: { inputTokens: 1, outputTokens: 2 },
    content: [{ type: 'reasoning', text: 'Hmm.', signature: 'ANTHROPIC-SIG', origin: 'anthropic' }, { type: 'text', text: 'Yes.' }],
  };
  const rendered = geminiCodec.renderMessage(answer, conversation, {}) as { candidates: Array<{ content: { parts: unknown[] } }> };
  t.same(rendered.candidates[0].content.parts, [{ text: 'Hmm.', thought: true }, { text: 'Yes.' }]);
});
