/**
 * Canonical request → Gemini request body: each rule of core/dialects/gemini/build-request.ts.
 */
import t from 'tap';
import type { CanonicalRequest, Message } from '../../../core/canonical.ts';
import { anthropicCodec } from '../../../core/dialects/anthropic/index.ts';
import { geminiCodec, type GeminiBuildOptions } from '../../../core/dialects/gemini/index.ts';
import { claudeCodeRequest } from '../../helpers/fixtures.ts';

const sentinel = 'skip_thought_signature_validator';

function request(over: Partial<CanonicalRequest>): CanonicalRequest {
  return { model: 'claude-sonnet-4-5', system: [], messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], tools: [], stream: false, extras: {}, ...over };
}

function build(req: CanonicalRequest, options: Partial<GeminiBuildOptions> = {}): { body: Record<string, any>; dropped: string[] } {
  const dropped: string[] = [];
  const body = geminiCodec.buildRequest(req, { model: 'gemini-2.5-flash', source: 'anthropic', dropped: (f) => dropped.push(f), ...options });
  return { body, dropped };
}

const user = (...content: Message['content']): Message => ({ role: 'user', content });
const assistant = (...content: Message['content']): Message => ({ role: 'assistant', content });

t.test('leading system text becomes systemInstruction and the model stays out of the body', async (t) => {
  const { body, dropped } = build(request({ system: [{ type: 'text', text: 'Be brief.' }, { type: 'text', text: 'Be kind.' }] }));
  t.same(body, { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], systemInstruction: { parts: [{ text: 'Be brief.' }, { text: 'Be kind.' }] } });
  t.same(dropped, []);
});

t.test('a mid-conversation system message becomes user text and is reported', async (t) => {
  const { body, dropped } = build(request({
    messages: [user({ type: 'text', text: 'hi' }), assistant({ type: 'text', text: 'hello' }), { role: 'system', content: [{ type: 'text', text: 'Reminder: be brief.' }] }, user({ type: 'text', text: 'go on' })],
  }));
  t.same(body.contents, [
    { role: 'user', parts: [{ text: 'hi' }] },
    { role: 'model', parts: [{ text: 'hello' }] },
    { role: 'user', parts: [{ text: 'Reminder: be brief.' }, { text: 'go on' }] },
  ]);
  t.same(dropped, ['system_message.position']);
});

t.test('consecutive turns of one role are merged so that roles alternate', async (t) => {
  const { body } = build(request({ messages: [user({ type: 'text', text: 'a' }), user({ type: 'text', text: 'b' }), assistant({ type: 'text', text: 'c' }), assistant({ type: 'text', text: 'd' })] }));
  t.same(body.contents, [{ role: 'user', parts: [{ text: 'a' }, { text: 'b' }] }, { role: 'model', parts: [{ text: 'c' }, { text: 'd' }] }]);
});

t.test('tool results are functionResponses named after the call they answer', async (t) => {
  const { body, dropped } = build(request({
    messages: [
      user({ type: 'text', text: 'weather?' }),
      assistant({ type: 'tool_call', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }, { type: 'tool_call', id: 'toolu_2', name: 'get_time', input: {} }),
      user(
        { type: 'tool_result', toolCallId: 'toolu_1', content: [{ type: 'text', text: '18°C' }, { type: 'text', text: 'sunny' }] },
        { type: 'tool_result', toolCallId: 'toolu_2', content: 'clock broken', isError: true },
      ),
    ],
  }), { signatureFallback: false });
  t.same(body.contents[1], { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' }, id: 'toolu_1' } }, { functionCall: { name: 'get_time', args: {}, id: 'toolu_2' } }] });
  t.same(body.contents[2], {
    role: 'user',
    parts: [
      { functionResponse: { name: 'get_weather', response: { result: '18°C\n\nsunny' }, id: 'toolu_1' } },
      { functionResponse: { name: 'get_time', response: { error: 'clock broken' }, id: 'toolu_2' } },
    ],
  });
  t.same(dropped, []);
});

t.test('images in a tool result follow its functionResponse as their own parts', async (t) => {
  const { body, dropped } = build(request({
    messages: [
      assistant({ type: 'tool_call', id: 'c1', name: 'screenshot', input: {} }),
      user({ type: 'tool_result', toolCallId: 'c1', content: [{ type: 'text', text: 'here' }, { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBOR' } }] }),
    ],
  }));
  t.same(body.contents[1].parts, [{ functionResponse: { name: 'screenshot', response: { result: 'here' }, id: 'c1' } }, { inlineData: { mimeType: 'image/png', data: 'iVBOR' } }]);
  t.same(dropped, []);
});

t.test("Gemini's own signatures go back on the calls that carried them, and nowhere else", async (t) => {
  const { body } = build(request({
    messages: [
      user({ type: 'text', text: 'both' }),
      assistant(
        { type: 'tool_call', id: 'a', name: 'f', input: { n: 1 }, signature: 'SIG', origin: 'gemini' },
        { type: 'tool_call', id: 'b', name: 'f', input: { n: 2 }, origin: 'gemini' },
      ),
    ],
  }));
  t.same(body.contents[1].parts, [
    { functionCall: { name: 'f', args: { n: 1 }, id: 'a' }, thoughtSignature: 'SIG' },
    { functionCall: { name: 'f', args: { n: 2 }, id: 'b' } },
  ]);
});

t.test('a model turn whose calls carry no Gemini signature gets the sentinel on its first call only', async (t) => {
  const messages = [
    user({ type: 'text', text: 'both' }),
    assistant({ type: 'text', text: 'Calling.' }, { type: 'tool_call', id: 'a', name: 'f', input: {} }, { type: 'tool_call', id: 'b', name: 'g', input: {}, signature: 'foreign', origin: 'openai' }),
    user({ type: 'tool_result', toolCallId: 'a', content: 'ok' }, { type: 'tool_result', toolCallId: 'b', content: 'ok' }),
    assistant({ type: 'text', text: 'Done.' }),
  ];
  const { body } = build(request({ messages }));
  t.same(body.contents[1].parts, [{ text: 'Calling.' }, { functionCall: { name: 'f', args: {}, id: 'a' }, thoughtSignature: sentinel }, { functionCall: { name: 'g', args: {}, id: 'b' } }]);
  t.same(body.contents[3].parts, [{ text: 'Done.' }], 'a turn without calls needs no signature');
  const off = build(request({ messages }), { signatureFallback: false });
  t.notOk(JSON.stringify(off.body).includes('thoughtSignature'), 'signatureFallback: false sends none');
});

t.test('reasoning goes back only when Gemini signed it; foreign signatures are reported', async (t) => {
  const { body, dropped } = build(request({
    messages: [
      user({ type: 'text', text: 'q' }),
      assistant(
        { type: 'reasoning', text: 'mine', signature: 'GSIG', origin: 'gemini' },
        { type: 'reasoning', text: 'unsigned', origin: 'openai' },
        { type: 'text', text: 'a' },
      ),
      user({ type: 'text', text: 'q2' }),
      assistant({ type: 'reasoning', text: 'theirs', signature: 'ASIG', origin: 'anthropic' }, { type: 'reasoning', text: '', redacted: 'xyz' }, { type: 'text', text: 'b' }),
    ],
  }));
  t.same(body.contents[1].parts, [{ text: 'mine', thought: true, thoughtSignature: 'GSIG' }, { text: 'a' }]);
  t.same(body.contents[3].parts, [{ text: 'b' }]);
  t.same(dropped, ['thinking.signature', 'thinking.signature'], 'the unsigned reasoning is not a reported drop');
});

t.test('base64 images are inlineData and image URLs are fileData with a guessed mimeType', async (t) => {
  const { body } = build(request({
    messages: [user(
      { type: 'image', source: { kind: 'base64', mediaType: 'image/webp', data: 'UklGR' } },
      { type: 'image', source: { kind: 'url', url: 'https://example.com/cat.PNG?size=2' } },
      { type: 'image', source: { kind: 'url', url: 'https://example.com/photo' } },
    )],
  }));
  t.same(body.contents[0].parts, [
    { inlineData: { mimeType: 'image/webp', data: 'UklGR' } },
    { fileData: { mimeType: 'image/png', fileUri: 'https://example.com/cat.PNG?size=2' } },
    { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/photo' } },
  ]);
});

t.test('thinking maps to thinkingConfig: enabled with its budget, adaptive without, disabled not at all', async (t) => {
  t.same(build(request({ thinking: { type: 'enabled', budgetTokens: 2048 }, maxTokens: 8000 })).body.generationConfig, { maxOutputTokens: 8000, thinkingConfig: { includeThoughts: true, thinkingBudget: 2048 } });
  t.same(build(request({ thinking: { type: 'adaptive', effort: 'high' } })).body.generationConfig, { thinkingConfig: { includeThoughts: true } });
  t.notOk('generationConfig' in build(request({ thinking: { type: 'disabled' } })).body);
});

t.test('sampling parameters and stop sequences go to generationConfig', async (t) => {
  const { body } = build(request({ maxTokens: 100, temperature: 0.2, topP: 0.9, topK: 40, stop: ['\nObservation:'] }));
  t.same(body.generationConfig, { maxOutputTokens: 100, temperature: 0.2, topP: 0.9, topK: 40, stopSequences: ['\nObservation:'] });
});

t.test('tool choice maps to functionCallingConfig modes', async (t) => {
  const tools = [{ name: 'f', inputSchema: { type: 'object', properties: {} } }];
  const mode = (toolChoice: CanonicalRequest['toolChoice']) => build(request({ tools, toolChoice })).body.toolConfig;
  t.same(mode({ type: 'auto' }), { functionCallingConfig: { mode: 'AUTO' } });
  t.same(mode({ type: 'any' }), { functionCallingConfig: { mode: 'ANY' } });
  t.same(mode({ type: 'none' }), { functionCallingConfig: { mode: 'NONE' } });
  t.same(mode({ type: 'tool', name: 'f' }), { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['f'] } });
  t.same(build(request({ tools })).body.tools, [{ functionDeclarations: [{ name: 'f', parameters: { type: 'object', properties: {} } }] }]);
});

t.test('schemaMode json_schema sends the schema untouched as parametersJsonSchema', async (t) => {
  const inputSchema = { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { q: { type: 'string' } }, additionalProperties: false };
  const { body } = build(request({ tools: [{ name: 'search', description: 'Search', inputSchema }] }), { schemaMode: 'json_schema' });
  t.same(body.tools, [{ functionDeclarations: [{ name: 'search', description: 'Search', parametersJsonSchema: inputSchema }] }]);
});

t.test('what Gemini cannot carry is reported: cache_control, server tools, user, foreign extras and parts', async (t) => {
  const { body, dropped } = build(request({
    system: [{ type: 'text', text: 's', cacheControl: { type: 'ephemeral' } }],
    messages: [user({ type: 'text', text: 'hi', cacheControl: { type: 'ephemeral' } }, { type: 'opaque', dialect: 'anthropic', name: 'document', raw: {} })],
    tools: [{ name: 'web_search', inputSchema: {}, server: { type: 'web_search_20250305', raw: {} } }],
    user: 'u-1',
    extras: { context_management: { edits: [] } },
  }));
  t.same(new Set(dropped), new Set(['cache_control', 'document', 'tool:web_search_20250305', 'metadata.user_id', 'context_management']));
  t.notOk('tools' in body);
  t.notOk('context_management' in body);
});

t.test("a Gemini client's own extras, server tools and parts are sent on", async (t) => {
  const { body, dropped } = build(request({
    messages: [user({ type: 'opaque', dialect: 'gemini', name: 'executableCode', raw: { executableCode: { language: 'PYTHON', code: 'print(1)' } } })],
    tools: [{ name: 'googleSearch', inputSchema: {}, server: { type: 'googleSearch', raw: { googleSearch: {} } } }],
    maxTokens: 10,
    extras: { safetySettings: [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_NONE' }], generationConfig: { responseMimeType: 'application/json' } },
  }), { source: 'gemini' });
  t.same(body, {
    contents: [{ role: 'user', parts: [{ executableCode: { language: 'PYTHON', code: 'print(1)' } }] }],
    tools: [{ googleSearch: {} }],
    generationConfig: { responseMimeType: 'application/json', maxOutputTokens: 10 },
    safetySettings: [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_NONE' }],
  });
  t.same(dropped, []);
});

t.test("a recorded Claude Code request builds into alternating turns with Gemini-clean schemas", async (t) => {
  const recorded = claudeCodeRequest('tool-use-02');
  const { body } = build(anthropicCodec.parseRequest(recorded.body));
  const roles = body.contents.map((c: { role: string }) => c.role);
  t.ok(roles.every((role: string, i: number) => i === 0 || role !== roles[i - 1]), 'roles alternate');
  t.equal(roles[0], 'user');
  const declarations = body.tools[0].functionDeclarations as Array<{ name: string; parameters: unknown }>;
  t.equal(declarations.length, recorded.body.tools.length);
  const text = JSON.stringify(declarations);
  for (const key of ['$schema', 'additionalProperties', '$ref', 'propertyNames', 'exclusiveMinimum', '"const"', '"default"']) t.notOk(text.includes(key), `no ${key}`);
  const calls = body.contents.flatMap((c: { parts: any[] }) => c.parts).filter((p: any) => p.functionCall);
  const responses = body.contents.flatMap((c: { parts: any[] }) => c.parts).filter((p: any) => p.functionResponse);
  t.ok(calls.length > 0 && calls.length === responses.length, 'every call is answered');
  for (const r of responses) t.ok(calls.some((c: any) => c.functionCall.id === r.functionResponse.id && c.functionCall.name === r.functionResponse.name), `response ${r.functionResponse.id} is named after its call`);
});
