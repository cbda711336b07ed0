import t from 'tap';
import { anthropicCodec } from '../../core/dialects/anthropic/index.ts';
import { ElementMemo, requestMemo } from '../../core/dialects/element-memo.ts';
import { openaiCodec } from '../../core/dialects/openai/index.ts';
import { RawJsonObject } from '../../core/dialects/raw-json.ts';
import { jsonBytes, jsonChunks } from '../../core/json-bytes.ts';
import { blockHasher } from '../../core/tokens/block-hash.ts';

/** A Claude-Code-like conversation of `turns` tool turns, large enough for the memo. */
function conversation(turns: number, first = 'Explore the repository.'): Record<string, any> {
  const messages: unknown[] = [{ role: 'user', content: [{ type: 'text', text: first, cache_control: { type: 'ephemeral' } }] }];
  for (let i = 0; i < turns; i++) {
    messages.push({ role: 'assistant', content: [{ type: 'text', text: `Reading ${i} — naïvely.` }, { type: 'tool_use', id: `toolu_${i}`, name: 'Read', input: { file_path: `/src/${i}.ts` } }] });
    messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: `toolu_${i}`, content: `// file ${i}\n` + 'export const x = 1;\n'.repeat(400) }] });
  }
  return { model: 'claude-sonnet-4-5', max_tokens: 1000, system: 'You are terse.', messages, stream: true };
}

const bytesOf = (body: unknown) => Buffer.from(JSON.stringify(body));

/** Parses a body as the kernel does for an accepted request: its arrays are kept for next turn. */
function accepted(body: unknown): Record<string, any> {
  const object = new RawJsonObject(bytesOf(body));
  const parsed = object.parse();
  object.keepParsed();
  return parsed;
}

t.test('a conversation that grows by a turn parses only the new messages and reads like JSON.parse', async (t) => {
  requestMemo.clear();
  const before = { ...requestMemo.stats };
  const turn1 = conversation(10);
  const turn2 = conversation(11);
  t.same(accepted(turn1), turn1);
  const parsed = { ...requestMemo.stats };
  t.equal(parsed.parsed - before.parsed, 21, 'every message of the first request is parsed');
  t.same(accepted(turn2), turn2);
  t.equal(requestMemo.stats.parsed - parsed.parsed, 2, 'only the two new messages are parsed next turn');
  t.equal(requestMemo.stats.reused - parsed.reused, 21, 'the rest is reused');
});

t.test('a message that changed in place is parsed again, never served stale', async (t) => {
  requestMemo.clear();
  const body = conversation(10);
  accepted(body);
  body.messages[5].content[0].content = 'changed' + 'x'.repeat(8000);
  const again = accepted(body);
  t.equal(again.messages[5].content[0].content, body.messages[5].content[0].content);
  t.same(again, body);
});

t.test('shared values are frozen: editing one fails loudly instead of changing another request', async (t) => {
  requestMemo.clear();
  const body = conversation(10);
  const one = accepted(body);
  const two = accepted(body);
  t.equal(one.messages[3], two.messages[3], 'the same value, shared');
  t.throws(() => {
    one.messages[3].content = [];
  }, TypeError);
  t.throws(() => anthropicCodec.parseRequest(one).messages[1].content.push({ type: 'text', text: 'x' }), TypeError, 'canonical messages made from them are frozen too');
  t.notOk(Object.isFrozen(one), 'the request object itself belongs to its request');
});

t.test('memory is bounded: the least recently used conversation is forgotten', async (t) => {
  const parse = (b: Buffer) => JSON.parse(b.toString());
  const probe = new ElementMemo(10_000_000);
  let memo = probe;
  const run = (first: string) => {
    const body = bytesOf(conversation(3, first).messages);
    const split = { starts: [] as number[], ends: [] as number[] };
    // Whole elements are enough for this check: the array's items as one element each.
    const items = (conversation(3, first).messages as unknown[]).map((m) => JSON.stringify(m));
    let at = 1;
    for (const item of items) {
      const length = Buffer.byteLength(item);
      split.starts.push(at);
      split.ends.push(at + length);
      at += length + 1;
    }
    const parsed = memo.parseArray(body, split, 'messages', parse);
    parsed.keep();
    return parsed.values;
  };
  run('a');
  // Room for two conversations of this size.
  memo = new ElementMemo(Math.floor(probe.size * 2.5));
  run('a');
  run('b');
  run('c');
  const reused = memo.stats.reused;
  run('a');
  t.equal(memo.stats.reused, reused, 'the oldest conversation was dropped to stay under the bound');
  run('c');
  t.ok(memo.stats.reused > reused, 'a recent one is still kept');
});

t.test('a translation reused from an earlier turn still reports what it dropped, and encodes identically', async (t) => {
  requestMemo.clear();
  const body = conversation(12);
  const build = () => {
    const dropped: string[] = [];
    const request = anthropicCodec.parseRequest(accepted(body));
    const built = openaiCodec.buildRequest(request, { model: 'm', source: 'anthropic', dropped: (f) => dropped.push(f) });
    return { built, dropped, bytes: jsonBytes(built) };
  };
  const first = build();
  const second = build();
  t.same(second.dropped, first.dropped, 'cache_control reported on every turn');
  t.ok(first.dropped.includes('cache_control'));
  t.ok(second.bytes.equals(first.bytes), 'the same bytes upstream');
  t.same(JSON.parse(second.bytes.toString()), second.built, 'which are the JSON of the built body');
  t.ok(Buffer.concat(jsonChunks(second.built)).equals(second.bytes), 'chunked or whole, the same bytes');
  t.ok(jsonChunks(second.built).every((chunk) => chunk.length <= 64 * 1024), 'no chunk over 64 KB');
});

t.test('an Anthropic translation of a shared conversation is reused per client dialect, with its drops', async (t) => {
  requestMemo.clear();
  const body = conversation(12);
  body.messages[3] = { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 'rk1.openai.' }, { type: 'text', text: 'ok' }] };
  const build = (source: 'anthropic' | 'openai') => {
    const dropped: string[] = [];
    const request = anthropicCodec.parseRequest(accepted(body));
    return { bytes: jsonBytes(anthropicCodec.buildRequest(request, { model: 'm', source, dropped: (f) => dropped.push(f) })), dropped };
  };
  const first = build('anthropic');
  const second = build('anthropic');
  t.ok(second.bytes.equals(first.bytes));
  t.same(second.dropped, first.dropped);
  t.ok(first.dropped.includes('thinking'), 'reasoning from another provider is reported each time');
  t.same(JSON.parse(build('openai').bytes.toString()).messages.length, JSON.parse(first.bytes.toString()).messages.length, 'another dialect translates on its own');
});

t.test('chunks never split a character, whatever the text', async (t) => {
  const text = '😀é—'.repeat(60_000);
  const value = { text, list: Array.from({ length: 20 }, (_, i) => ({ i, text: text.slice(i) })) };
  const chunks = jsonChunks(value);
  t.ok(chunks.length > 3);
  t.same(JSON.parse(Buffer.concat(chunks).toString('utf8')), value);
});

t.test('an earlier state of a conversation does not displace the longer one kept', async (t) => {
  requestMemo.clear();
  accepted(conversation(12));
  accepted(conversation(4));
  const before = requestMemo.stats.parsed;
  accepted(conversation(13));
  t.equal(requestMemo.stats.parsed - before, 2, 'the turn after the longest one seen parses only its own two messages');
});

t.test('a body that was not accepted keeps nothing for the next request', async (t) => {
  requestMemo.clear();
  const body = conversation(10);
  new RawJsonObject(bytesOf(body)).parse();
  const before = requestMemo.stats.parsed;
  accepted(body);
  t.equal(requestMemo.stats.parsed - before, 21, 'parsed again in full: the refused one was not kept');
});

t.test('parallel sessions started from the same prompt each keep their own conversation', async (t) => {
  requestMemo.clear();
  const session = (name: string, turns: number) => {
    const body = conversation(turns);
    for (const m of body.messages) if (m.role === 'assistant') m.content[0].text += ` (${name})`;
    return body;
  };
  accepted(session('a', 10));
  accepted(session('b', 10));
  const before = requestMemo.stats.parsed;
  accepted(session('a', 11));
  accepted(session('b', 11));
  t.equal(requestMemo.stats.parsed - before, 4, 'each session parses only its own two new messages');
});

t.test('the bound counts what parsed values hold, not only their bytes', async (t) => {
  const memo = new ElementMemo(2_000_000);
  // 300 KB of tiny objects: a few bytes each on the wire, far more once parsed.
  const items = Array.from({ length: 100_000 }, () => '{}');
  const text = `[${items.join(',')}]`;
  const body = Buffer.from(text);
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = 0, at = 1; i < items.length; i++, at += 3) {
    starts.push(at);
    ends.push(at + 2);
  }
  memo.parseArray(body, { starts, ends }, 'messages', () => ({})).keep();
  const again = memo.stats.reused;
  memo.parseArray(body, { starts, ends }, 'messages', () => ({})).keep();
  t.equal(memo.stats.reused, again, 'too costly to keep under a 2 MB bound, though its bytes are 300 KB');
});

t.test('element ranges handed out are read-only', async (t) => {
  const layout = new RawJsonObject(bytesOf(conversation(3))).layout('messages')!;
  t.ok(Object.isFrozen(layout.elements!.starts) && Object.isFrozen(layout.elements!.ends));
});

t.test("a body's element hashes are made once and are what the memo and token counting key by", async (t) => {
  const bytes = bytesOf(conversation(3));
  const object = new RawJsonObject(bytes);
  const { elements } = object.layout('messages')!;
  const hasher = await blockHasher();
  t.same(elements!.hashes, elements!.starts.map((start, i) => hasher.bytes(bytes.subarray(start, elements!.ends[i]))), 'the block hasher over each element');
  t.equal(object.layout('messages')!.elements!.hashes, elements!.hashes, 'the same array every time: hashed once');
  t.ok(Object.isFrozen(elements!.hashes));

  // The memo takes the hashes it is given instead of hashing again: here, deliberately the same
  // for different bytes of the same lengths, so a reuse proves it did not look at the bytes.
  const memo = new ElementMemo(10_000_000);
  const split = { starts: [1, 5], ends: [4, 8], hashes: ['h1', 'h2'] };
  const first = Buffer.from('[111,222]');
  memo.parseArray(first, split, 'messages', (b) => Number(b.toString())).keep();
  const other = Buffer.from('[333,444]');
  t.same(memo.parseArray(other, split, 'messages', (b) => Number(b.toString())).values, [111, 222]);
});
