/**
 * Reading Gemini answers: the rules the recordings do not happen to exercise (finish reasons,
 * broken calls, blocked prompts, signed thoughts, streams that stop short).
 */
import t from 'tap';
import { readStream, collect } from '../../helpers/wire.ts';
import { geminiCodec } from '../../../core/dialects/gemini/index.ts';
import { isRouterError } from '../../../core/errors.ts';
import { encodeSse } from '../../../core/sse.ts';

const answer = (parts: unknown[], finishReason?: string, extra: Record<string, unknown> = {}) => ({
  candidates: [{ content: { role: 'model', parts }, ...(finishReason ? { finishReason } : {}), index: 0 }],
  modelVersion: 'gemini-2.5-pro',
  responseId: 'r1',
  ...extra,
});
const sse = (...chunks: unknown[]) => chunks.map((c) => encodeSse(JSON.stringify(c))).join('');

t.test('finish reasons map to canonical stop reasons', async (t) => {
  const cases: Array<[string, string]> = [
    ['STOP', 'end_turn'], ['MAX_TOKENS', 'max_tokens'], ['SAFETY', 'content_filter'], ['RECITATION', 'content_filter'],
    ['BLOCKLIST', 'content_filter'], ['PROHIBITED_CONTENT', 'content_filter'], ['SPII', 'content_filter'],
    ['IMAGE_SAFETY', 'content_filter'], ['OTHER', 'end_turn'], ['FINISH_REASON_UNSPECIFIED', 'end_turn'],
  ];
  for (const [reason, expected] of cases) t.equal(geminiCodec.parseMessage(answer([{ text: 'x' }], reason)).stopReason, expected, reason);
});

t.test('MAX_TOKENS stays max_tokens even when the answer has calls', async (t) => {
  t.equal(geminiCodec.parseMessage(answer([{ functionCall: { name: 'f' } }], 'MAX_TOKENS')).stopReason, 'max_tokens');
});

t.test('a call without args has input {} and a call with an id keeps it', async (t) => {
  const message = geminiCodec.parseMessage(answer([{ functionCall: { name: 'f' } }, { functionCall: { name: 'g', args: { a: 1 }, id: 'fc_9' } }], 'STOP'));
  t.match(message.content, [{ type: 'tool_call', name: 'f', input: {}, id: /^call_/ }, { type: 'tool_call', name: 'g', input: { a: 1 }, id: 'fc_9' }]);
});

t.test('a complete answer with a malformed function call is thrown with its message', async (t) => {
  let thrown: unknown;
  try {
    geminiCodec.parseMessage(answer([], 'MALFORMED_FUNCTION_CALL', {}));
  } catch (err) {
    thrown = err;
  }
  t.ok(isRouterError(thrown));
  t.match(thrown, { code: 'RK_UPSTREAM_BAD_RESPONSE', message: /malformed function call/ });
});

t.test('a streamed malformed function call is an error event carrying finishMessage', async (t) => {
  const body = { candidates: [{ content: { role: 'model', parts: [] }, finishReason: 'MALFORMED_FUNCTION_CALL', finishMessage: 'Malformed function call: print(x', index: 0 }] };
  const events = readStream(geminiCodec, sse(answer([{ text: 'Let me' }]), body));
  const last = events[events.length - 1];
  t.match(last, { type: 'error', error: { kind: 'api_error', message: /malformed function call.*print\(x/ } });
  t.notOk(events.some((e) => e.type === 'finish'));
});

t.test('a prompt blocked before any candidate is a content_filter finish', async (t) => {
  const blocked = { promptFeedback: { blockReason: 'PROHIBITED_CONTENT' }, usageMetadata: { promptTokenCount: 7, totalTokenCount: 7 }, responseId: 'r2' };
  t.match(geminiCodec.parseMessage(blocked), { content: [], stopReason: 'content_filter', usage: { inputTokens: 7, outputTokens: 0 } });
  const events = readStream(geminiCodec, sse(blocked));
  t.match(events[events.length - 1], { type: 'finish', stopReason: 'content_filter', usage: { inputTokens: 7 } });
});

t.test('a stream that ends without a finishReason ends with an error event', async (t) => {
  const events = readStream(geminiCodec, sse(answer([{ text: 'Hal' }])));
  t.same(events.map((e) => e.type), ['start', 'part_start', 'text_delta', 'error']);
  t.match(events[3], { error: { message: /ended before the answer finished/ } });
});

t.test('the finish is held until the body ends, with the usage of the last chunk', async (t) => {
  const reader = geminiCodec.createStreamReader();
  const first = reader.push(JSON.stringify(answer([{ text: 'a' }], 'STOP', { usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 1 } })));
  t.notOk(first.some((e) => e.type === 'finish'));
  reader.push(JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: '' }] }, index: 0 }], usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 2, cachedContentTokenCount: 4 } }));
  t.same(reader.end(), [
    { type: 'part_stop', index: 0 },
    { type: 'finish', stopReason: 'end_turn', stopSequence: null, usage: { inputTokens: 6, outputTokens: 2, cacheReadTokens: 4 } },
  ]);
});

t.test('a signed thought part gives its reasoning part the signature', async (t) => {
  const events = readStream(geminiCodec, sse(answer([{ text: 'Thinking…', thought: true }]), answer([{ text: '', thought: true, thoughtSignature: 'c2ln' }, { text: 'Done.' }], 'STOP')));
  const message = await collect(events);
  t.same(message.content, [{ type: 'reasoning', text: 'Thinking…', signature: 'c2ln', origin: 'gemini' }, { type: 'text', text: 'Done.' }]);
  t.match(geminiCodec.parseMessage(answer([{ text: 'T', thought: true, thoughtSignature: 's' }], 'STOP')).content, [{ type: 'reasoning', text: 'T', signature: 's', origin: 'gemini' }]);
});

t.test('text, then a call, then text again get three parts with increasing indexes', async (t) => {
  const events = readStream(geminiCodec, sse(answer([{ text: 'Checking.' }]), answer([{ functionCall: { name: 'f', args: {} } }]), answer([{ text: 'More' }], 'STOP')));
  t.same(events.filter((e) => e.type === 'part_start').map((e) => [e.index, e.part.type]), [[0, 'text'], [1, 'tool_call'], [2, 'text']]);
  t.ok(events.findIndex((e) => e.type === 'part_stop' && e.index === 0) < events.findIndex((e) => e.type === 'part_start' && e.index === 1), 'the text closes before the call opens');
});

t.test('an unreadable chunk is an error event, and nothing is read after it', async (t) => {
  const reader = geminiCodec.createStreamReader();
  t.match(reader.push('{"candidates": ['), [{ type: 'error', error: { message: /unreadable stream chunk/ } }]);
  t.same(reader.push(JSON.stringify(answer([{ text: 'x' }], 'STOP'))), []);
  t.same(reader.end(), []);
});

t.test('streamed argument paths cannot reach object prototypes', async (t) => {
  const events = readStream(geminiCodec, sse(
    answer([{ functionCall: { name: 'f', willContinue: true } }]),
    answer([{ functionCall: { partialArgs: [{ jsonPath: '$.__proto__.polluted', stringValue: 'yes' }, { jsonPath: '$.list[1]', numberValue: 2 }, { jsonPath: "$['a b'].ok", boolValue: true }], willContinue: true } }]),
    answer([{ functionCall: {} }], 'STOP'),
  ));
  const message = await collect(events);
  t.same((message.content[0] as { input: unknown }).input, { list: [null, 2], 'a b': { ok: true } });
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});
