/**
 * The shortcut for text-only OpenAI stream chunks must never disagree with a full parse: whatever
 * the chunk holds (escaped quotes and backslashes, unicode, usage, finish reasons, tool calls,
 * reasoning, several choices, fields in any order), the scanner either returns exactly the
 * chunk's text or steps aside. And on the chunks real servers send it does not step aside.
 */
import fc from 'fast-check';
import t from 'tap';
import { ContentDeltaScanner } from '../../../core/dialects/openai/content-delta.ts';
import { openaiCodec } from '../../../core/dialects/openai/index.ts';
import { fixtureText } from '../../helpers/fixtures.ts';
import { readStream } from '../../helpers/wire.ts';

/** What the full parse would take from a chunk when it is text and nothing else. */
function contentOnly(chunk: any): string | undefined {
  if (chunk.error !== undefined || (chunk.usage !== undefined && chunk.usage !== null)) return undefined;
  if (!Array.isArray(chunk.choices) || chunk.choices.length !== 1) return undefined;
  const choice = chunk.choices[0];
  if (choice.finish_reason !== undefined && choice.finish_reason !== null) return undefined;
  const keys = Object.keys(choice.delta ?? {}).filter((k) => k !== 'role');
  return keys.length === 1 && keys[0] === 'content' && typeof choice.delta.content === 'string' ? choice.delta.content : undefined;
}

const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('"', '\\', '\\"', '"},"usage":{"x":1}', '","finish_reason":"stop', '"delta":{', '\n\t\u2028'));
const delta = fc.oneof(
  fc.record({ content: text }),
  fc.record({ role: fc.constant('assistant'), content: text }),
  fc.record({ content: text, role: fc.constant('assistant') }),
  fc.record({ content: fc.constant(null), reasoning_content: text }),
  fc.record({ content: text, reasoning_content: fc.constant(null) }),
  fc.record({ tool_calls: fc.constant([{ index: 0, function: { arguments: '{"a":' } }]) }),
  fc.record({ refusal: text }),
);
const choice = fc.record({ index: fc.nat(2), delta, logprobs: fc.constant(null), finish_reason: fc.constantFrom(null, 'stop', 'length', undefined) }, { requiredKeys: ['index', 'delta'] });
const chunk = fc.record(
  {
    id: fc.string(),
    object: fc.constant('chat.completion.chunk'),
    model: fc.oneof(fc.string(), fc.constant('"delta":{')),
    choices: fc.array(choice, { minLength: 0, maxLength: 2 }),
    usage: fc.oneof(fc.constant(null), fc.record({ prompt_tokens: fc.nat(), completion_tokens: fc.nat() })),
    error: fc.record({ message: fc.string() }),
    obfuscation: fc.string(),
  },
  { requiredKeys: ['choices'] },
);

t.test('the scanner returns exactly the text of a text-only chunk, or nothing', async (t) => {
  fc.assert(
    fc.property(fc.array(chunk, { minLength: 1, maxLength: 6 }), (chunks) => {
      // One scanner across a stream, as the reader uses it (it remembers checked heads and tails).
      const scanner = new ContentDeltaScanner();
      for (const c of chunks) {
        const data = JSON.stringify(c);
        const got = scanner.scan(data);
        if (got !== undefined && got !== contentOnly(c)) throw new Error(`scanned ${JSON.stringify(got)} from ${data}`);
      }
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

t.test('text-only chunks as servers write them take the shortcut', async (t) => {
  const scanner = new ContentDeltaScanner();
  const head = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","system_fingerprint":"fp_1","choices":[{"index":0,';
  t.equal(scanner.scan(`${head}"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`), '');
  t.equal(scanner.scan(`${head}"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"ab"}`), 'Hel');
  t.equal(scanner.scan(`${head}"delta":{"content":"say \\"hi\\" \\\\ \\u00e9"},"logprobs":null,"finish_reason":null}]}`), 'say "hi" \\ é');
  t.equal(scanner.scan(`${head}"delta":{},"logprobs":null,"finish_reason":"stop"}]}`), undefined, 'a finish takes the full parse');
  t.equal(scanner.scan(`${head}"delta":{"content":"x"},"finish_reason":null}],"usage":{"prompt_tokens":1}}`), undefined, 'usage takes the full parse');
});

t.test('recorded streams read the same with the shortcut', async (t) => {
  for (const name of ['stream-text-include-usage', 'stream-tool-call-args-split', 'stream-parallel-tool-calls', 'stream-text-gpt5']) {
    const body = fixtureText(`providers/openai/${name}.sse`);
    // Byte-at-a-time and whole: the events must not depend on how the stream was cut either.
    t.same(readStream(openaiCodec, body, 1), readStream(openaiCodec, body), name);
    const texts = readStream(openaiCodec, body).filter((e) => e.type === 'text_delta').map((e) => (e as { text: string }).text).join('');
    const expected = body
      .split('\n')
      .filter((line) => line.startsWith('data: {'))
      .map((line) => JSON.parse(line.slice(6)).choices?.[0]?.delta?.content ?? '')
      .join('');
    t.equal(texts, expected, `${name}: the text is what the chunks said`);
  }
});
