/**
 * fast-check generators for canonical requests and answers, parameterised by what a dialect can
 * express, so each codec's round trip can be checked on arbitrary input.
 */
import fc from 'fast-check';
import type { CanonicalRequest, CanonicalResponse, ImagePart, Message, Part, StopReason, TextPart, ToolCallPart, ToolDefinition } from '../../core/canonical.ts';

export interface Expressible {
  cacheControl: boolean;
  images: boolean;
  /** Reasoning parts on assistant turns, with this origin (undefined: none). */
  reasoningOrigin?: string;
  /** Several system parts (else at most one). */
  multiSystem: boolean;
  /** User turns may mix tool results with other content. */
  mixedToolResults: boolean;
  toolResultErrors: boolean;
  /** Several text parts in one user turn (else one). */
  multiText: boolean;
  midSystem: boolean;
  topK: boolean;
  /** Turns must alternate between user and assistant (the dialect merges neighbours of one role). */
  alternating?: boolean;
  /** The dialect has a caller field (default true). */
  user?: boolean;
}

const text = fc.string({ minLength: 1, maxLength: 40 });
const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/);
const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/);
const jsonObject = fc.dictionary(name, fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean()), { maxKeys: 3 });
const cache = fc.constant({ type: 'ephemeral' as const });

function textPart(x: Expressible): fc.Arbitrary<TextPart> {
  return fc.record({ type: fc.constant('text' as const), text, ...(x.cacheControl ? { cacheControl: fc.option(cache, { nil: undefined }) } : {}) }, { requiredKeys: ['type', 'text'] }) as fc.Arbitrary<TextPart>;
}

const image: fc.Arbitrary<ImagePart> = fc.oneof(
  fc.record({ type: fc.constant('image' as const), source: fc.record({ kind: fc.constant('base64' as const), mediaType: fc.constantFrom('image/png', 'image/jpeg'), data: fc.base64String({ minLength: 4, maxLength: 24 }) }) }),
  fc.record({ type: fc.constant('image' as const), source: fc.record({ kind: fc.constant('url' as const), url: fc.webUrl() }) }),
);

function toolCall(): fc.Arbitrary<ToolCallPart> {
  return fc.record({ type: fc.constant('tool_call' as const), id, name, input: jsonObject });
}

function userMessage(x: Expressible): fc.Arbitrary<Message> {
  const plain: fc.Arbitrary<Part> = x.images ? fc.oneof(textPart(x), image) : textPart(x);
  const content = x.multiText ? fc.array(plain, { minLength: 1, maxLength: 3 }) : plain.map((p) => [p]);
  return content.map((c) => ({ role: 'user' as const, content: c }));
}

function toolResults(x: Expressible): fc.Arbitrary<Message> {
  const result = fc.record(
    {
      type: fc.constant('tool_result' as const),
      toolCallId: id,
      content: fc.oneof(fc.string({ maxLength: 30 }), fc.array(fc.record({ type: fc.constant('text' as const), text }), { minLength: 1, maxLength: 2 })),
      ...(x.toolResultErrors ? { isError: fc.option(fc.constant(true), { nil: undefined }) } : {}),
    },
    { requiredKeys: ['type', 'toolCallId', 'content'] },
  ) as fc.Arbitrary<Part>;
  return fc.array(result, { minLength: 1, maxLength: 3 }).map((content) => ({ role: 'user' as const, content }));
}

function assistantMessage(x: Expressible): fc.Arbitrary<Message> {
  const reasoning = x.reasoningOrigin
    ? fc.option(fc.record({ type: fc.constant('reasoning' as const), text, signature: fc.base64String({ minLength: 8, maxLength: 24 }), origin: fc.constant(x.reasoningOrigin) }), { nil: undefined })
    : fc.constant(undefined);
  return fc.tuple(reasoning, fc.option(text, { nil: undefined }), fc.array(toolCall(), { maxLength: 2 })).filter(([, t, calls]) => t !== undefined || calls.length > 0).map(([r, t, calls]) => {
    const content: Part[] = [];
    if (r) content.push(r);
    if (t !== undefined) content.push({ type: 'text', text: t });
    content.push(...calls);
    return { role: 'assistant' as const, content };
  });
}

export function canonicalRequest(x: Expressible): fc.Arbitrary<CanonicalRequest> {
  const turn = fc.oneof(userMessage(x), assistantMessage(x), toolResults(x), ...(x.midSystem ? [fc.record({ role: fc.constant('system' as const), content: fc.array(fc.record({ type: fc.constant('text' as const), text }), { minLength: 1, maxLength: 1 }) as fc.Arbitrary<Part[]> })] : []));
  const tool: fc.Arbitrary<ToolDefinition> = fc.record(
    { name, description: fc.option(text, { nil: undefined }), inputSchema: fc.constant({ type: 'object', properties: { q: { type: 'string' } } }), ...(x.cacheControl ? { cacheControl: fc.option(cache, { nil: undefined }) } : {}) },
    { requiredKeys: ['name', 'inputSchema'] },
  ).map((t) => (t.description === undefined ? { name: t.name, inputSchema: t.inputSchema, ...(t.cacheControl ? { cacheControl: t.cacheControl } : {}) } : t) as ToolDefinition);
  return fc
    .record({
      system: fc.array(textPart(x), { maxLength: x.multiSystem ? 3 : 1 }),
      first: userMessage(x),
      rest: fc.array(turn, { maxLength: 5 }),
      tools: fc.uniqueArray(tool, { maxLength: 3, selector: (t) => t.name }),
      maxTokens: fc.integer({ min: 1, max: 64000 }),
      temperature: fc.option(fc.double({ min: 0, max: 2, noNaN: true }), { nil: undefined }),
      topP: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
      topK: x.topK ? fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }) : fc.constant(undefined),
      stop: fc.option(fc.array(text, { minLength: 1, maxLength: 2 }), { nil: undefined }),
      stream: fc.boolean(),
      user: x.user === false ? fc.constant(undefined) : fc.option(text, { nil: undefined }),
    })
    .map((r) => {
      let messages = [r.first, ...avoidAdjacentToolResults(r.rest, x)];
      if (x.alternating) messages = messages.filter((m, i) => i === 0 || m.role !== messages[i - 1].role);
      const request: CanonicalRequest = { model: 'm', system: r.system, messages, tools: r.tools, maxTokens: r.maxTokens, stream: r.stream, extras: {} };
      if (r.temperature !== undefined) request.temperature = r.temperature;
      if (r.topP !== undefined) request.topP = r.topP;
      if (r.topK !== undefined) request.topK = r.topK;
      if (r.stop) request.stop = r.stop;
      if (r.user !== undefined) request.user = r.user;
      return clean(request);
    });
}

/** Dialects that keep tool results in their own messages merge neighbours: keep them apart. */
function avoidAdjacentToolResults(messages: Message[], x: Expressible): Message[] {
  if (x.mixedToolResults) return messages;
  const isResults = (m: Message | undefined) => m?.role === 'user' && m.content.every((p) => p.type === 'tool_result');
  return messages.filter((m, i) => !(isResults(m) && isResults(messages[i - 1])));
}

export interface AnswerExpressible {
  stopReasons: StopReason[];
  reasoningOrigin?: string;
  /** Reasoning carries a signature the dialect can transport. */
  reasoningSigned: boolean;
  cacheWrite: boolean;
  /** Several text parts (else at most one, as Chat Completions has one content string). */
  multiText: boolean;
  toolOrigin?: string;
}

export function canonicalAnswer(x: AnswerExpressible): fc.Arbitrary<CanonicalResponse> {
  const signed = { type: fc.constant('reasoning' as const), text, signature: fc.base64String({ minLength: 8, maxLength: 24 }), origin: fc.constant(x.reasoningOrigin ?? '') };
  const { signature: _unsigned, ...unsigned } = signed;
  const reasoning = x.reasoningOrigin ? fc.option(fc.record(x.reasoningSigned ? signed : unsigned), { nil: undefined }) : fc.constant(undefined);
  const texts = fc.array(fc.record({ type: fc.constant('text' as const), text }), { maxLength: x.multiText ? 3 : 1 });
  const calls = fc.array(toolCall().map((c) => (x.toolOrigin ? { ...c, origin: x.toolOrigin } : c)), { maxLength: 3 });
  return fc
    .record({
      id: fc.stringMatching(/^[a-z0-9_]{4,20}$/),
      model: fc.stringMatching(/^[a-z0-9.-]{1,20}$/),
      reasoning,
      texts,
      calls,
      stopReason: fc.constantFrom(...x.stopReasons),
      input: fc.nat(100000),
      output: fc.nat(100000),
      cacheRead: fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }),
      cacheWrite: x.cacheWrite ? fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }) : fc.constant(undefined),
    })
    .map((r) => {
      const content: Part[] = [];
      if (r.reasoning) content.push(r.reasoning);
      content.push(...(r.texts as TextPart[]), ...r.calls);
      const usage: CanonicalResponse['usage'] = { inputTokens: r.input, outputTokens: r.output };
      if (r.cacheRead !== undefined) usage.cacheReadTokens = r.cacheRead;
      if (r.cacheWrite !== undefined) usage.cacheWriteTokens = r.cacheWrite;
      return clean({ id: r.id, model: r.model, content, stopReason: r.stopReason, stopSequence: null, usage });
    });
}

/** Optional fields the generators left undefined are absent, as they would be in real input. */
function clean<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
