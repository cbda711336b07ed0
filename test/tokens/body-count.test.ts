/**
 * Counting an Anthropic request from its body's bytes gives exactly the count of the parsed
 * request, in every family and encoding, and a grown conversation parses only its new messages.
 */
import fc from 'fast-check';
import pino from 'pino';
import t from 'tap';
import { anthropicCodec } from '../../core/dialects/anthropic/index.ts';
import { requestBlocks } from '../../core/tokens/blocks.ts';
import { messagesLayout } from '../../core/tokens/body-layout.ts';
import type { TokenFamilyName } from '../../core/tokens/families.ts';
import { TokenCounter, type Encoding } from '../../core/tokens/token-counter.ts';
import { canonicalRequest } from '../helpers/arbitraries.ts';
import { claudeCodeRequest } from '../helpers/fixtures.ts';

const log = pino({ level: 'silent' });
const bytes = (body: unknown) => Buffer.from(JSON.stringify(body));
const image = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } };

/** Requests of every shape an Anthropic client sends. */
function bodies(): Array<[string, Record<string, unknown>]> {
  const out: Array<[string, Record<string, unknown>]> = ['plain-01', 'tool-use-01', 'tool-use-02', 'tool-use-03'].map((name) => [name, claudeCodeRequest(name).body]);
  const base = claudeCodeRequest('tool-use-03').body as { messages: unknown[] };
  out.push(['images, thinking blocks, a tool call, a mid-conversation system message', {
    ...base,
    messages: [
      ...base.messages,
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'Let me look.', signature: 'c2ln' }, { type: 'tool_use', id: 'toolu_x', name: 'Screenshot', input: { full: true } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_x', content: [image, { type: 'text', text: 'the screen' }] }, image] },
      { role: 'system', content: 'Remember the rules.' },
      { role: 'user', content: 'What do you see? 看到了什么？ 🎉' },
    ],
  }]);
  out.push(['a system string, no tools, thinking enabled', { model: 'claude-sonnet-4-5', max_tokens: 100, system: 'Be brief.', thinking: { type: 'enabled', budget_tokens: 2048 }, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'hi' }] }]);
  out.push(['no messages at all', { model: 'claude-sonnet-4-5', max_tokens: 100, messages: [] }]);
  return out;
}

t.test('the count from the body equals the count of the parsed request, in every family and encoding', async (t) => {
  const counter = new TokenCounter({ log, workers: 1 });
  t.teardown(() => counter.close());
  for (const [name, body] of bodies()) {
    for (const family of ['claude', 'openai', 'gemini', 'generic'] as TokenFamilyName[]) {
      for (const encoding of ['o200k_base', 'cl100k_base'] as Encoding[]) {
        const parsed = await counter.countBlocks(requestBlocks(anthropicCodec.parseRequest(structuredClone(body))), { family, encoding });
        const fromBody = await counter.countBody(bytes(body), { family, encoding, dialect: 'anthropic' });
        t.equal(fromBody?.tokens, parsed.tokens, `${name}, ${family}, ${encoding}`);
      }
    }
  }
});

t.test('so it does for arbitrary Anthropic requests', async (t) => {
  const counter = new TokenCounter({ log, workers: 1 });
  t.teardown(() => counter.close());
  const arb = canonicalRequest({ cacheControl: true, images: true, reasoningOrigin: 'anthropic', multiSystem: true, mixedToolResults: true, toolResultErrors: true, multiText: true, midSystem: true, topK: true });
  await fc.assert(
    fc.asyncProperty(arb, fc.constantFrom<TokenFamilyName>('claude', 'openai', 'gemini'), async (request, family) => {
      const wire = JSON.parse(JSON.stringify(anthropicCodec.buildRequest(request, { model: request.model, source: 'anthropic', dropped: () => {} }))) as Record<string, unknown>;
      const parsed = await counter.countBlocks(requestBlocks(anthropicCodec.parseRequest(structuredClone(wire))), { family });
      const fromBody = await counter.countBody(bytes(wire), { family, dialect: 'anthropic' });
      return fromBody?.tokens === parsed.tokens;
    }),
    { numRuns: 150 },
  );
  t.pass('150 arbitrary requests counted alike');
});

t.test('a conversation that grew by a turn parses and counts only its new messages', async (t) => {
  const counter = new TokenCounter({ log, workers: 1 });
  t.teardown(() => counter.close());
  const body = claudeCodeRequest('tool-use-03').body as { messages: unknown[] };
  const first = await counter.countBody(bytes(body), { family: 'claude', dialect: 'anthropic' });
  t.ok(first && first.counted > 20);
  const grown = { ...body, messages: [...body.messages, { role: 'assistant', content: [{ type: 'text', text: 'Reading it.' }, { type: 'tool_use', id: 'toolu_9', name: 'FreshTool', input: { file_path: '/a.ts' } }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_9', content: 'export const a = 1;\n' }] }] };
  const second = await counter.countBody(bytes(grown), { family: 'claude', dialect: 'anthropic' });
  t.equal(second?.counted, 4, 'the text, the tool name, its input and the tool result');
  const fresh = new TokenCounter({ log, workers: 1 });
  t.teardown(() => fresh.close());
  t.equal(second?.tokens, (await fresh.countBlocks(requestBlocks(anthropicCodec.parseRequest(structuredClone(grown))), { family: 'claude' })).tokens);
  t.equal((await counter.countBody(bytes(grown), { family: 'claude', dialect: 'anthropic' }))?.counted, 0, 'the same body again is all cache');
});

t.test('a body it cannot lay out or parse is left to the parsed request', async (t) => {
  const counter = new TokenCounter({ log, workers: 1 });
  t.teardown(() => counter.close());
  const count = (raw: string, dialect: 'anthropic' | 'openai' = 'anthropic') => counter.countBody(Buffer.from(raw), { dialect });
  t.equal(await count('{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}', 'openai'), undefined, "OpenAI's dialect");
  t.equal(await count('{"model":"m","messages":[],"messages":[{"role":"user","content":"hi"}]}'), undefined, 'messages twice');
  const escaped = '{"model":"m","messag\\u0065s":[{"role":"user","content":"hi"}]}';
  t.equal((await count(escaped))?.tokens, (await counter.count(anthropicCodec.parseRequest(JSON.parse(escaped)), { family: 'claude' })).tokens, 'a key spelled with escapes is the key JSON.parse reads');
  t.equal(await count('{"model":"m","messages":{"role":"user"}}'), undefined, 'messages not an array');
  t.equal(await count('{"model":"m","messages":[{"role":"robot","content":"hi"}]}'), undefined, 'a message the codec refuses');
  t.equal(await count('{"model":"m","messages":[{"role":"user","content":"hi"}]'), undefined, 'a cut body');
});

t.test('the layout finds each message of the array, strings with brackets and escapes included', async (t) => {
  const raw = Buffer.from('{ "model": "m", "messages" : [ {"role":"user","content":"a ] } \\" ["} , {"role":"assistant","content":[{"type":"text","text":"b"}]} ], "stream": true }');
  const layout = messagesLayout(raw)!;
  t.same(layout.elements.starts.map((s, i) => JSON.parse(raw.toString('utf8', s, layout.elements.ends[i]))), [{ role: 'user', content: 'a ] } " [' }, { role: 'assistant', content: [{ type: 'text', text: 'b' }] }]);
  t.equal(raw.toString('utf8', layout.start, layout.end).trim().startsWith('['), true);
});
