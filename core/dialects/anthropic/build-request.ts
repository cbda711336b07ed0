/**
 * Canonical request → Anthropic Messages request body, for Anthropic and Anthropic-compatible
 * providers when the client speaks another dialect (an Anthropic client is passed through).
 *
 * Rules: thinking blocks go back only with a real Anthropic signature (anything else would be
 * rejected); tool ids are made to fit Anthropic's `[A-Za-z0-9_-]` the same way for a call and its
 * result; a system message in the middle of a conversation from an OpenAI client becomes user
 * text; `max_tokens`, which Anthropic requires, falls back to the provider's default.
 */
import type { CacheControl, CanonicalRequest, Message, Part, TextPart } from '../../canonical.ts';
import type { BuildOptions } from '../codec.ts';
import { translatedOnce, type Translation } from '../element-memo.ts';
import type { Json } from '../shape.ts';

export interface AnthropicBuildOptions extends BuildOptions {
  /** Used when the client sent no max_tokens (Anthropic requires one). */
  defaultMaxTokens?: number;
}

const translations: Partial<Record<string, WeakMap<object, Translation<Json>>>> = {};

/** Thinking budgets for an effort level, when a client asks for effort without a budget. */
const effortBudgets: Record<string, number> = { minimal: 1024, low: 2048, medium: 8192, high: 16384, xhigh: 32768, max: 32768 };

export function buildAnthropicRequest(request: CanonicalRequest, options: AnthropicBuildOptions): Json {
  const maxTokens = request.maxTokens ?? options.defaultMaxTokens ?? 8192;
  const body: Json = { model: options.model, max_tokens: maxTokens };
  if (request.system.length > 0) body.system = request.system.map((p) => withCache({ type: 'text', text: p.text }, p.cacheControl));
  const messages: Json[] = [];
  // A message an earlier turn sent is translated once per client dialect (see element-memo.ts).
  const memo = translations[options.source] ??= new WeakMap();
  for (const message of request.messages) translatedOnce(memo, message, messages, options.dropped, (out, dropped) => appendMessage(out, message, { ...options, dropped }));
  body.messages = messages;

  if (request.tools.length > 0) {
    const tools: Json[] = [];
    for (const tool of request.tools) {
      if (tool.server) {
        if (options.source === 'anthropic') tools.push(tool.server.raw);
        else options.dropped(`tool:${tool.server.type}`);
        continue;
      }
      tools.push(withCache({ name: tool.name, ...(tool.description ? { description: tool.description } : {}), input_schema: tool.inputSchema }, tool.cacheControl));
    }
    if (tools.length > 0) body.tools = tools;
  }
  const choice = request.toolChoice;
  if (choice && body.tools) {
    const disable = choice.type !== 'none' && choice.disableParallel ? { disable_parallel_tool_use: true } : {};
    body.tool_choice = choice.type === 'tool' ? { type: 'tool', name: choice.name, ...disable } : { type: choice.type, ...disable };
  }
  const thinking = thinkingAnthropicCanTake(request, maxTokens, messages, options);
  if (thinking && thinking.type !== 'disabled') {
    if (thinking.type === 'adaptive' && options.source === 'anthropic') body.thinking = { type: 'adaptive' };
    else if (thinking.type === 'enabled' || thinking.effort) {
      const budget = thinking.budgetTokens ?? effortBudgets[thinking.effort ?? 'medium'] ?? 8192;
      body.thinking = { type: 'enabled', budget_tokens: Math.max(1024, Math.min(budget, maxTokens - 1)) };
    }
  } else if (thinking?.type === 'disabled' && options.source === 'anthropic') body.thinking = { type: 'disabled' };
  // Extended thinking accepts no sampling changes; keeping them would get the request rejected.
  const thinkingOn = body.thinking !== undefined && (body.thinking as Json).type !== 'disabled';
  if (request.temperature !== undefined) {
    if (thinkingOn && request.temperature !== 1) options.dropped('temperature');
    else body.temperature = request.temperature;
  }
  if (request.topP !== undefined) {
    if (thinkingOn) options.dropped('top_p');
    else body.top_p = request.topP;
  }
  if (request.topK !== undefined) {
    if (thinkingOn) options.dropped('top_k');
    else body.top_k = request.topK;
  }
  if (request.stop && request.stop.length > 0) body.stop_sequences = request.stop;
  if (request.user !== undefined) {
    if (options.source === 'anthropic') body.metadata = { user_id: request.user };
    else options.dropped('user');
  }
  if (options.source === 'anthropic') Object.assign(body, request.extras);
  else for (const key of Object.keys(request.extras)) options.dropped(key);
  body.stream = request.stream;
  return body;
}

/**
 * Thinking Anthropic would accept, or none. With thinking on, Anthropic requires the last assistant
 * turn, when it called tools, to start with its signed thinking block, which a client of another
 * dialect cannot have kept; and the thinking budget (at least 1024) must stay below max_tokens.
 * Rather than a certain 400, the request goes without thinking, reported as `thinking`.
 */
function thinkingAnthropicCanTake(request: CanonicalRequest, maxTokens: number, messages: Json[], options: AnthropicBuildOptions): CanonicalRequest['thinking'] {
  const thinking = request.thinking;
  if (!thinking || thinking.type === 'disabled' || options.source === 'anthropic') return thinking;
  if (thinking.type === 'adaptive' && !thinking.effort) return thinking;
  const lastAssistant = [...messages].reverse().find((m) => m.role === 'assistant');
  const blocks = (lastAssistant?.content ?? []) as Json[];
  const calledTools = blocks.some((b) => b.type === 'tool_use');
  const startsSigned = blocks[0]?.type === 'thinking' || blocks[0]?.type === 'redacted_thinking';
  if ((calledTools && !startsSigned) || maxTokens <= 1024) {
    options.dropped('thinking');
    return undefined;
  }
  return thinking;
}

function appendMessage(out: Json[], message: Message, options: AnthropicBuildOptions): void {
  if (message.role === 'system' && options.source !== 'anthropic') {
    options.dropped('system_message.position');
    const text = message.content.filter((p): p is TextPart => p.type === 'text').map((p) => p.text).join('\n\n');
    out.push({ role: 'user', content: [{ type: 'text', text: `<system>\n${text}\n</system>` }] });
    return;
  }
  const content: Json[] = [];
  for (const part of message.content) {
    // Anthropic refuses empty text blocks ("text content blocks must be non-empty").
    if (part.type === 'text' && part.text === '' && options.source !== 'anthropic') continue;
    const block = renderPart(part, options);
    if (block) content.push(block);
  }
  // A turn reduced to nothing (only dropped parts) is left out rather than sent empty.
  if (content.length === 0) return;
  out.push({ role: message.role, content });
}

function renderPart(part: Part, options: AnthropicBuildOptions): Json | undefined {
  switch (part.type) {
    case 'text':
      return withCache({ type: 'text', text: part.text }, part.cacheControl);
    case 'image':
      return withCache(
        {
          type: 'image',
          source: part.source.kind === 'base64' ? { type: 'base64', media_type: part.source.mediaType, data: part.source.data } : { type: 'url', url: part.source.url },
        },
        part.cacheControl,
      );
    case 'tool_call':
      return withCache({ type: 'tool_use', id: anthropicToolId(part.id), name: part.name, input: part.input ?? {} }, part.cacheControl);
    case 'tool_result': {
      const content =
        typeof part.content === 'string'
          ? part.content
          : part.content.map((p) => (p.type === 'text' ? { type: 'text', text: p.text } : renderPart(p, options)));
      return withCache({ type: 'tool_result', tool_use_id: anthropicToolId(part.toolCallId), content, ...(part.isError ? { is_error: true } : {}) }, part.cacheControl);
    }
    case 'reasoning':
      if (part.origin !== 'anthropic') {
        // Reasoning from another provider cannot be presented as Claude's own thinking.
        if (part.text || part.signature) options.dropped('thinking');
        return undefined;
      }
      if (part.redacted !== undefined) return { type: 'redacted_thinking', data: part.redacted };
      return { type: 'thinking', thinking: part.text, signature: part.signature ?? '' };
    case 'opaque':
      if (part.dialect === 'anthropic') return part.raw as Json;
      options.dropped(part.name);
      return undefined;
  }
}

/** Anthropic accepts tool ids of `[A-Za-z0-9_-]` only; others are mapped the same way every time. */
export function anthropicToolId(id: string): string {
  return /^[A-Za-z0-9_-]+$/.test(id) ? id : id.replace(/[^A-Za-z0-9_-]/g, '_');
}

function withCache(block: Json, cacheControl: CacheControl | undefined): Json {
  if (cacheControl) block.cache_control = cacheControl;
  return block;
}
