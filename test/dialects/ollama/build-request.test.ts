/**
 * Canonical request → Ollama /api/chat body: each rule of core/dialects/ollama/build-request.ts,
 * including what is reported as dropped.
 */
import t from 'tap';
import type { CanonicalRequest, Dialect } from '../../../core/canonical.ts';
import { ollamaCodec, type OllamaBuildOptions } from '../../../core/dialects/ollama/index.ts';

function request(overrides: Partial<CanonicalRequest> = {}): CanonicalRequest {
  return { model: 'client-model', system: [], messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], tools: [], stream: false, extras: {}, ...overrides };
}

function build(req: CanonicalRequest, options: Partial<OllamaBuildOptions> = {}, source: Dialect = 'anthropic') {
  const dropped: string[] = [];
  const body = ollamaCodec.buildRequest(req, { model: 'llama3.2', source, dropped: (f) => dropped.push(f), ...options });
  return { body: body as Record<string, any>, dropped };
}

const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

t.test('the smallest request names the routed model and always says whether to stream', async (t) => {
  t.same(build(request()).body, { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false });
  t.equal(build(request({ stream: true })).body.stream, true, 'sent explicitly: Ollama streams when it is absent');
});

t.test('system text becomes one leading system message', async (t) => {
  const { body } = build(request({ system: [{ type: 'text', text: 'Be brief.' }, { type: 'text', text: 'Use English.' }] }));
  t.same(body.messages[0], { role: 'system', content: 'Be brief.\n\nUse English.' });
  t.equal(body.messages[1].role, 'user');
});

t.test('a system message in the middle of the conversation stays a system message in place', async (t) => {
  const { body } = build(request({
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'a' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'b' }] },
      { role: 'system', content: [{ type: 'text', text: 'reminder' }] },
      { role: 'user', content: [{ type: 'text', text: 'c' }] },
    ],
  }));
  t.same(body.messages.map((m: any) => [m.role, m.content]), [['user', 'a'], ['assistant', 'b'], ['system', 'reminder'], ['user', 'c']]);
});

t.test("a user turn's text parts are joined into one content string", async (t) => {
  const { body } = build(request({ messages: [{ role: 'user', content: [{ type: 'text', text: 'first' }, { type: 'text', text: 'second' }] }] }));
  t.same(body.messages, [{ role: 'user', content: 'first\n\nsecond' }]);
});

t.test('base64 images go in the message’s images; URL images are reported as dropped', async (t) => {
  const { body, dropped } = build(request({
    messages: [{
      role: 'user',
      content: [
        { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: png } },
        { type: 'image', source: { kind: 'url', url: 'https://example.com/cat.png' } },
        { type: 'text', text: 'What is this?' },
      ],
    }],
  }));
  t.same(body.messages, [{ role: 'user', content: 'What is this?', images: [png] }]);
  t.same(dropped, ['image.url']);
});

t.test('tool calls become object-argument tool_calls and results become tool messages named after their call', async (t) => {
  const { body, dropped } = build(request({
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Weather in Tokyo and Paris?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Looking.' },
          { type: 'tool_call', id: 'toolu_1', name: 'get_weather', input: { city: 'Tokyo' } },
          { type: 'tool_call', id: 'toolu_2', name: 'get_time', input: { city: 'Paris' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', toolCallId: 'toolu_2', content: [{ type: 'text', text: '14:00' }, { type: 'text', text: 'CET' }] },
          { type: 'tool_result', toolCallId: 'toolu_1', content: 'rain', isError: false },
          { type: 'text', text: 'Thanks' },
        ],
      },
    ],
  }));
  t.same(body.messages.slice(1), [
    {
      role: 'assistant',
      content: 'Looking.',
      tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Tokyo' } } }, { function: { name: 'get_time', arguments: { city: 'Paris' } } }],
    },
    { role: 'tool', content: '14:00\n\nCET', tool_name: 'get_time' },
    { role: 'tool', content: 'rain', tool_name: 'get_weather' },
    { role: 'user', content: 'Thanks' },
  ]);
  t.same(dropped, []);
});

t.test('an error result is marked in its text, and images inside results are reported', async (t) => {
  const { body, dropped } = build(request({
    messages: [
      { role: 'assistant', content: [{ type: 'tool_call', id: 'c1', name: 'shot', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', toolCallId: 'c1', isError: true, content: [{ type: 'text', text: 'no screen' }, { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: png } }] }] },
    ],
  }));
  t.same(body.messages[1], { role: 'tool', content: 'Error: no screen', tool_name: 'shot' });
  t.same(dropped, ['tool_result.image']);
});

t.test("Ollama's own reasoning goes back as thinking; another provider's is omitted, and reported only when signed", async (t) => {
  const { body, dropped } = build(request({
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'q1' }] },
      { role: 'assistant', content: [{ type: 'reasoning', text: 'mine', origin: 'ollama' }, { type: 'text', text: 'a1' }] },
      { role: 'user', content: [{ type: 'text', text: 'q2' }] },
      { role: 'assistant', content: [{ type: 'reasoning', text: 'plain', origin: 'openai' }, { type: 'text', text: 'a2' }] },
      { role: 'user', content: [{ type: 'text', text: 'q3' }] },
    ],
  }));
  t.same(body.messages[1], { role: 'assistant', content: 'a1', thinking: 'mine' });
  t.same(body.messages[3], { role: 'assistant', content: 'a2' });
  t.same(dropped, [], 'unsigned reasoning from elsewhere is not a reported loss');

  const signed = build(request({ messages: [{ role: 'assistant', content: [{ type: 'reasoning', text: 'hmm', signature: 'EqQBCkgIAR', origin: 'anthropic' }, { type: 'text', text: 'a' }] }] }));
  t.same(signed.body.messages[0], { role: 'assistant', content: 'a' });
  t.same(signed.dropped, ['thinking.signature']);
});

t.test('tools become function tools; provider-executed tools and a forced tool choice are reported', async (t) => {
  const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
  const { body, dropped } = build(request({
    tools: [
      { name: 'get_weather', description: 'Weather for a city', inputSchema: schema },
      { name: 'web_search', inputSchema: {}, server: { type: 'web_search_20250305', raw: {} } },
    ],
    toolChoice: { type: 'tool', name: 'get_weather' },
  }));
  t.same(body.tools, [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: schema } }]);
  t.same(dropped, ['tool:web_search_20250305', 'tool_choice']);
});

t.test('tool_choice auto is what Ollama does anyway, so it is not reported', async (t) => {
  const { dropped } = build(request({ tools: [{ name: 'f', inputSchema: { type: 'object' } }], toolChoice: { type: 'auto' } }));
  t.same(dropped, []);
});

t.test('sampling settings become Ollama options', async (t) => {
  const { body, dropped } = build(request({ maxTokens: 512, temperature: 0.2, topP: 0.9, topK: 40, stop: ['\nObservation:'] }));
  t.same(body.options, { num_predict: 512, temperature: 0.2, top_p: 0.9, top_k: 40, stop: ['\nObservation:'] });
  t.same(dropped, []);
});

t.test("think 'auto' sends think: true only when the client enabled thinking explicitly", async (t) => {
  t.equal(build(request({ thinking: { type: 'enabled', budgetTokens: 2048 } })).body.think, true);
  t.notOk('think' in build(request({ thinking: { type: 'adaptive' } })).body, "Claude Code's adaptive default does not switch it on");
  t.notOk('think' in build(request()).body);
  t.equal(build(request({ thinking: { type: 'disabled' } })).body.think, false);
});

t.test('think true sends it unless the client disabled thinking', async (t) => {
  t.equal(build(request(), { think: true }).body.think, true);
  t.equal(build(request({ thinking: { type: 'adaptive' } }), { think: true }).body.think, true);
  t.equal(build(request({ thinking: { type: 'disabled' } }), { think: true }).body.think, false);
});

t.test('think false never asks for thinking', async (t) => {
  t.equal(build(request({ thinking: { type: 'enabled', budgetTokens: 1024 } }), { think: false }).body.think, false);
  t.equal(build(request(), { think: false }).body.think, false);
});

t.test('configured keep_alive and num_ctx are sent', async (t) => {
  const { body } = build(request({ maxTokens: 10 }), { keepAlive: '30m', numCtx: 32768 });
  t.equal(body.keep_alive, '30m');
  t.same(body.options, { num_predict: 10, num_ctx: 32768 });
});

t.test('cache_control on system text, messages and tools is reported', async (t) => {
  const cache = { type: 'ephemeral' as const };
  const { body, dropped } = build(request({
    system: [{ type: 'text', text: 'sys', cacheControl: cache }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', cacheControl: cache }] }],
    tools: [{ name: 'f', inputSchema: { type: 'object' }, cacheControl: cache }],
  }));
  t.equal(body.messages[0].content, 'sys');
  t.ok(dropped.length > 0 && dropped.every((d) => d === 'cache_control'));
});

t.test("the caller's identity and another dialect's extra fields are reported by name", async (t) => {
  const { body, dropped } = build(request({ user: 'user_123', extras: { context_management: { edits: [] }, service_tier: 'auto' } }));
  t.same(dropped, ['metadata.user_id', 'context_management', 'service_tier']);
  t.notOk('context_management' in body);
  t.same(build(request({ user: 'u' }), {}, 'openai').dropped, ['user']);
});

t.test("an Ollama client's own extra fields are forwarded, its extra options merged", async (t) => {
  const { body, dropped } = build(request({ maxTokens: 5, extras: { format: 'json', keep_alive: '1m', options: { seed: 42, num_ctx: 4096 } } }), {}, 'ollama');
  t.same(dropped, []);
  t.equal(body.format, 'json');
  t.equal(body.keep_alive, '1m');
  t.same(body.options, { seed: 42, num_ctx: 4096, num_predict: 5 });
});

t.test("the operator's configured keep_alive and num_ctx win over an Ollama client's", async (t) => {
  const { body } = build(request({ extras: { keep_alive: '1m', options: { num_ctx: 4096 } } }), { keepAlive: -1, numCtx: 8192 }, 'ollama');
  t.equal(body.keep_alive, -1);
  t.same(body.options, { num_ctx: 8192 });
});

t.test("an Ollama client's thinking level survives, other clients' efforts do not become levels", async (t) => {
  t.equal(build(request({ thinking: { type: 'enabled', effort: 'high' } }), {}, 'ollama').body.think, 'high');
  t.equal(build(request({ thinking: { type: 'enabled', effort: 'high' } }), {}, 'openai').body.think, true);
});

t.test('an opaque block of another dialect is reported by its name', async (t) => {
  const { body, dropped } = build(request({ messages: [{ role: 'user', content: [{ type: 'opaque', dialect: 'anthropic', name: 'document', raw: {} }, { type: 'text', text: 'summarise' }] }] }));
  t.same(body.messages, [{ role: 'user', content: 'summarise' }]);
  t.same(dropped, ['document']);
});
