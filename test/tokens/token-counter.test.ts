/**
 * The token counter with its real worker threads: exact o200k counts, the per-block cache, and a
 * worker that dies mid-count.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { countTokens as cl100kCount } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import pino from 'pino';
import t from 'tap';
import type { CanonicalRequest, Message } from '../../core/canonical.ts';
import { requestBlocks } from '../../core/tokens/blocks.ts';
import { tokenFamilies } from '../../core/tokens/families.ts';
import { TokenCounter } from '../../core/tokens/token-counter.ts';
import { ranksFile } from '../../core/tokens/token-worker.ts';
// @ts-expect-error plain JavaScript module without declarations
import { buildIfStale } from '../../bin/build.js';
import { testDir } from '../helpers/router.ts';
import { claudeCodeRequest } from '../helpers/fixtures.ts';
import { anthropicCodec } from '../../core/dialects/anthropic/index.ts';

const log = pino({ level: 'silent' });
const framing = tokenFamilies.openai;

function request(messages: Message[], extra: Partial<CanonicalRequest> = {}): CanonicalRequest {
  return { model: 'gpt-4o', system: [], messages, tools: [], stream: false, extras: {}, ...extra };
}

const user = (text: string): Message => ({ role: 'user', content: [{ type: 'text', text }] });

/**
 * Text that takes a fresh worker about two seconds: 2 million pseudo-random letters in words of
 * 499 (every word different, so the tokenizer's own cache of merged words cannot help), so a test
 * can act on a worker while it is surely counting.
 */
function slowText(seed: number): string {
  let x = seed;
  let out = '';
  for (let i = 0; i < 2_000_000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out += i % 500 === 499 ? ' ' : String.fromCharCode(97 + ((x >>> 16) % 26));
  }
  return out;
}

t.test('counts are exact o200k_base counts plus OpenAI\'s documented framing', async (t) => {
  const counter = new TokenCounter({ log, workers: 1 });
  t.teardown(() => counter.close());
  const texts = ['hello world', 'naïve café — 漢字 🎉', 'def f(x):\n    return x ** 2\n', 'the <|endoftext|> marker is plain text here'];
  const count = await counter.count(request(texts.map(user)));
  const expected = texts.reduce((n, text) => n + countTokens(text, { disallowedSpecial: new Set() }), 0) + framing.perRequest + texts.length * framing.perMessage;
  t.equal(count.tokens, expected);
  t.equal(countTokens('hello world'), 2, 'the reference itself: "hello world" is 2 o200k tokens');
  t.same({ encoding: count.encoding, family: count.family, estimate: count.estimate, blocks: count.blocks }, { encoding: 'o200k_base', family: 'openai', estimate: false, blocks: 4 });

  const cl100k = await counter.count(request([user('hello world')]), { encoding: 'cl100k_base' });
  t.equal(cl100k.tokens, 2 + framing.perRequest + framing.perMessage, 'cl100k_base on request');
});

t.test("workers count from the build's rank tables exactly as gpt-tokenizer's modules", async (t) => {
  (buildIfStale as () => boolean)();
  t.ok(existsSync(ranksFile('o200k_base')), 'the build wrote the o200k_base rank table for the installed gpt-tokenizer');
  t.ok(existsSync(ranksFile('cl100k_base')), 'and cl100k_base');
  const counter = new TokenCounter({ log, workers: 1 });
  t.teardown(() => counter.close());
  // Prose, code, CJK, emoji, combining marks, a lone surrogate and the whole recorded Claude Code
  // request: every kind of rank (plain strings and the byte arrays of partial UTF-8 sequences).
  const texts = ['hello world', 'naïve café — 漢字 🎉 👩‍👩‍👧‍👦 e\u0301', 'def f(x):\n    return x ** 2\n', 'lone \ud800 surrogate', 'Ελληνικά и русский, עברית, العربية', JSON.stringify(claudeCodeRequest('tool-use-03').body)];
  for (const [encoding, reference] of [['o200k_base', countTokens], ['cl100k_base', cl100kCount]] as const) {
    for (const text of texts) {
      const count = await counter.count(request([user(text)]), { encoding });
      t.equal(count.tokens - framing.perRequest - framing.perMessage, reference(text, { disallowedSpecial: new Set() }), `${encoding}: ${text.slice(0, 24)}`);
    }
  }
});

t.test('workers start whatever Node options the router runs with, V8 flags included', async (t) => {
  (buildIfStale as () => boolean)();
  const dir = testDir(t);
  const script = join(dir, 'count.mjs');
  // The counter from the build (as `npx router-kernel` runs it) and from the sources under tsx.
  const modules = [new URL('../../dist/core/tokens/token-counter.js', import.meta.url).href, new URL('../../core/tokens/token-counter.ts', import.meta.url).href];
  for (const module of modules) {
    writeFileSync(
      script,
      `import pino from 'pino';
const { TokenCounter } = await import(${JSON.stringify(module)});
const counter = new TokenCounter({ log: pino({ level: 'silent' }), workers: 1 });
const count = await counter.count({ model: 'gpt-4o', system: [], messages: [{ role: 'user', content: [{ type: 'text', text: 'hello world' }] }], tools: [], stream: false, extras: {} });
console.log(count.tokens);
await counter.close();`,
    );
    const flags = ['--max-old-space-size=4096', '--max-semi-space-size=8', '--stack-size=2000', ...(module.endsWith('.ts') ? ['--import', 'tsx'] : [])];
    const { stdout } = await promisify(execFile)(process.execPath, [...flags, script], { cwd: process.cwd(), env: { ...process.env, NODE_OPTIONS: '' } });
    t.equal(Number(stdout.trim()), 2 + framing.perRequest + framing.perMessage, `${module.endsWith('.ts') ? 'sources' : 'build'} with ${flags.join(' ')}`);
  }
});

t.test('a conversation that grows by a turn sends only its new blocks to the tokenizer', async (t) => {
  const counter = new TokenCounter({ log, workers: 1 });
  t.teardown(() => counter.close());
  const recorded = anthropicCodec.parseRequest(claudeCodeRequest('tool-use-03').body);
  const first = await counter.count(recorded);
  t.ok(first.blocks > 20, `a Claude Code request has many blocks (${first.blocks})`);
  t.ok(first.tokens > 10_000, `and many tokens (${first.tokens})`);

  const grown = { ...recorded, messages: [...recorded.messages, { role: 'assistant', content: [{ type: 'text', text: 'Reading the file now.' }, { type: 'tool_call', id: 'toolu_9', name: 'FreshTool', input: { file_path: '/repo/a.ts' } }] }, { role: 'user', content: [{ type: 'tool_result', toolCallId: 'toolu_9', content: 'export const a = 1;\n' }] }] } as CanonicalRequest;
  const second = await counter.count(grown);
  t.equal(second.counted, 4, 'the text, the tool name, its input and the tool result: nothing else');
  const fresh = new TokenCounter({ log, workers: 1 });
  t.teardown(() => fresh.close());
  t.equal(second.tokens, (await fresh.count(grown)).tokens, 'the cached total equals a count from scratch');
  t.equal((await counter.count(grown)).counted, 0, 'the same request again is all cache');
});

t.test('a worker that dies fails only the count it was running, and the pool recovers', async (t) => {
  const counter = new TokenCounter({ log, workers: 1 });
  t.teardown(() => counter.close());
  await counter.warm();
  const big = request([user(slowText(1))]);
  const running = counter.count(big);
  // Kill the only worker while it counts.
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const thread of counter.threads as Array<{ terminate(): Promise<number> }>) await thread.terminate();
  await t.rejects(running, { code: 'RK_TOKEN_COUNT_FAILED', status: 500 });
  const after = await counter.count(request([user('hello world')]));
  t.equal(after.tokens, 2 + framing.perRequest + framing.perMessage, 'a replacement worker counts the next request');
});

t.test('a worker crash fails only the request whose task it was: a request awaiting one of its blocks counts that block itself', async (t) => {
  const counter = new TokenCounter({ log, workers: 1, deadline: 120_000 });
  t.teardown(() => counter.close());
  await counter.warm();
  const shared = user(slowText(2));
  const first = counter.count(request([shared]));
  // Sent while the first is being counted: it shares the large block and awaits it.
  const second = counter.count(request([shared, user('hello world')]));
  // The worker is surely counting the large block 300 ms later.
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const thread of counter.threads as Array<{ terminate(): Promise<number> }>) await thread.terminate();
  await t.rejects(first, { code: 'RK_TOKEN_COUNT_FAILED' });
  const fresh = new TokenCounter({ log, workers: 1, deadline: 120_000 });
  t.teardown(() => fresh.close());
  t.equal((await second).tokens, (await fresh.count(request([shared, user('hello world')]))).tokens, 'the other request got its full count');
});

t.test('requests sharing many blocks in flight wait for them together, without a listener warning', async (t) => {
  const counter = new TokenCounter({ log, workers: 1 });
  t.teardown(() => counter.close());
  await counter.warm();
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  // 40 distinct blocks: the second request finds all of them being counted by the first.
  const conversation = Array.from({ length: 40 }, (_, i) => user(`message ${i}: ${'lorem ipsum '.repeat(50 + i)}`));
  const controller = new AbortController();
  const [first, second] = await Promise.all([counter.count(request(conversation)), counter.count(request(conversation), { signal: controller.signal })]);
  t.equal(second.tokens, first.tokens);
  t.equal(second.counted, 0, 'the second request counted nothing itself');
  await new Promise((resolve) => setImmediate(resolve));
  t.same(warnings.map((w) => w.name), [], 'no MaxListenersExceededWarning');
});

t.test('collect() runs a collection in the workers and they go on counting', async (t) => {
  const counter = new TokenCounter({ log, workers: 2 });
  t.teardown(() => counter.close());
  await counter.collect(); // before the pool exists: nothing to do, and no pool started for it
  t.equal(counter.threads.length, 0);
  const before = await counter.count(request([user('hello world'), user(slowText(5).slice(0, 20_000))]));
  const workers = [...counter.threads];
  await counter.collect();
  t.same([...counter.threads], workers, 'the same workers: a collection is a task, not a restart');
  const fresh = new TokenCounter({ log, workers: 1 });
  t.teardown(() => fresh.close());
  const after = await fresh.count(request([user('hello world'), user(slowText(5).slice(0, 20_000))]));
  t.equal(before.tokens, after.tokens);
  t.equal((await counter.count(request([user('a fresh block after the collection')]))).counted, 1);
});

t.test('a count that passes its deadline fails and frees its worker for the next count', async (t) => {
  const counter = new TokenCounter({ log, workers: 1 });
  t.teardown(() => counter.close());
  await counter.warm();
  const big = request([user(slowText(3))]);
  await t.rejects(counter.count(big, { deadline: 1 }), { code: 'RK_TOKEN_COUNT_FAILED', message: /no count within 1 ms/ });
  t.equal((await counter.count(request([user('hello world')]))).tokens, 2 + framing.perRequest + framing.perMessage);
});

t.test("the client's abort stops its count in the pool", async (t) => {
  const counter = new TokenCounter({ log, workers: 1 });
  t.teardown(() => counter.close());
  await counter.warm();
  const [worker] = counter.threads;
  const client = new AbortController();
  const running = counter.count(request([user(slowText(4))]), { signal: client.signal });
  await new Promise((resolve) => setTimeout(resolve, 300));
  client.abort();
  await t.rejects(running, { code: 'RK_TOKEN_COUNT_FAILED', message: /cancelled/ });
  t.equal((await counter.count(request([user('hello world')]))).tokens, 2 + framing.perRequest + framing.perMessage);
  t.not(counter.threads[0], worker, 'the worker running it was stopped and replaced');
});

t.test('the Claude estimate scales o200k and adds the tool-use prompt, and says it is an estimate', async (t) => {
  const counter = new TokenCounter({ log, workers: 1 });
  t.teardown(() => counter.close());
  const plain = request([user('Please explain what Python is and its main use cases. '.repeat(100))]);
  const exact = await counter.count(plain);
  const claude = await counter.count(plain, { family: 'claude' });
  t.ok(claude.estimate);
  t.ok(claude.tokens > exact.tokens && claude.tokens < exact.tokens * 1.1);
  const withTool = request([user('hi')], { tools: [{ name: 'get_weather', inputSchema: { type: 'object' } }] });
  t.ok((await counter.count(withTool, { family: 'claude' })).tokens > 346, 'a request with tools carries the tool-use system prompt');
});

t.test('requestBlocks visits every part once, with its position', async (t) => {
  const seen: string[] = [];
  const blocks = requestBlocks(request([user('a'), { role: 'assistant', content: [{ type: 'text', text: 'b' }] }], { system: [{ type: 'text', text: 's' }] }), (part, at) => seen.push(`${at.role}:${at.message}:${part.type}`));
  t.same(seen, ['system:-1:text', 'user:0:text', 'assistant:1:text']);
  t.same(blocks.texts, ['s', 'a', 'b']);
});

t.test('a long run of one character class is counted in slices, in linear time, near its exact count', async (t) => {
  const counter = new TokenCounter({ log, workers: 1 });
  t.teardown(() => counter.close());
  // Merged whole, these took ~10 s (spaces) and ~26 s ("a") in the worker, holding it for every
  // request; past the count's 5 s deadline the count fails.
  const spaces = ' '.repeat(100_000);
  const letters = 'a'.repeat(200_000);
  // One 100,000-letter pre-token that is exactly 20,000 tokens whole ("hello" is one token).
  const words = 'hello'.repeat(20_000);
  const count = await counter.count(request([user(spaces), user(letters), user(words)]));
  t.equal(count.counted, 3);
  const tokens = count.tokens - framing.perRequest - 3 * framing.perMessage;
  // In o200k_base 128 spaces are one token and so are 8 × "a": whole, the runs are about 1 token per 128 and per 8.
  const asText = { disallowedSpecial: new Set<string>() };
  t.same([countTokens(' '.repeat(128), asText), countTokens('a'.repeat(8), asText)], [1, 1]);
  const expected = Math.ceil(100_000 / 128) + 200_000 / 8 + 20_000;
  t.ok(Math.abs(tokens - expected) / expected < 0.02, `within 2% of the exact counts (${tokens} for ${expected})`);
});
