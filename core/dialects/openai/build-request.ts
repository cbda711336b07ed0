/**
 * Canonical request → OpenAI Chat Completions request body, for OpenAI-compatible providers.
 * What the dialect cannot express is reported through `dropped` (the loud downgrade), never lost
 * silently. Vendor differences come from the flavor (flavor.ts), not from copies of this code.
 *
 * Reasoning rule: earlier reasoning goes back only as the flavor says (DeepSeek needs it on
 * tool-call turns); otherwise it is left out, which is no loss, as these APIs never read it back.
 * A reasoning signature from another provider (Anthropic, Gemini) cannot go anywhere: reported.
 */
import { createHash } from 'node:crypto';
import type { CacheControl, CanonicalRequest, Message, Part, ReasoningPart, TextPart, ToolCallPart, ToolDefinition } from '../../canonical.ts';
import { translatedOnce, type Translation } from '../element-memo.ts';
import type { BuildOptions } from '../codec.ts';
import type { Json } from '../shape.ts';
import { defaultFlavor, type OpenAIFlavor } from './flavor.ts';

export { defaultFlavor, type OpenAIFlavor } from './flavor.ts';

export interface OpenAIBuildOptions extends BuildOptions {
  flavor?: Partial<OpenAIFlavor>;
}

interface Context extends OpenAIBuildOptions {
  f: OpenAIFlavor;
}

export function buildOpenAIRequest(request: CanonicalRequest, options: OpenAIBuildOptions): Json {
  const c: Context = { ...options, f: { ...defaultFlavor, ...options.flavor } };
  const messages: Json[] = [];
  if (request.system.length > 0) messages.push({ role: 'system', content: textContent(request.system, c) });
  const memo = translationsFor(options.flavor);
  for (const message of request.messages) translatedOnce(memo.messages, message, messages, c.dropped, (out, dropped) => appendMessage(out, message, { ...c, dropped }));

  const body: Json = { model: options.model, messages };
  if (request.tools.length > 0) {
    const tools: Json[] = [];
    for (const tool of request.tools) translatedOnce(memo.tools, tool, tools, c.dropped, (out, dropped) => appendTool(out, tool, { ...c, dropped }));
    if (tools.length > 0) body.tools = tools;
  }
  const choice = request.toolChoice;
  if (choice && body.tools) {
    body.tool_choice = choice.type === 'auto' ? 'auto' : choice.type === 'any' ? 'required' : choice.type === 'none' ? 'none' : { type: 'function', function: { name: choice.name } };
    if (choice.type !== 'none' && choice.disableParallel) body.parallel_tool_calls = false;
  }
  if (request.maxTokens !== undefined) body[c.f.maxTokensField] = request.maxTokens;
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.topP !== undefined) body.top_p = request.topP;
  if (request.topK !== undefined) c.dropped('top_k');
  if (request.stop && request.stop.length > 0) {
    // Chat Completions takes at most four stop sequences.
    body.stop = request.stop.slice(0, 4);
    if (request.stop.length > 4) c.dropped('stop_sequences');
  }
  applyThinking(body, request, c);
  if (request.user !== undefined) {
    if (c.source === 'openai') body.user = request.user;
    else c.dropped('metadata.user_id');
  }
  if (c.source === 'openai') Object.assign(body, request.extras);
  else for (const key of Object.keys(request.extras)) c.dropped(key);
  body.stream = request.stream;
  if (request.stream && c.f.streamUsage) body.stream_options = { include_usage: true };
  return body;
}

function appendTool(out: Json[], tool: ToolDefinition, c: Context): void {
  if (tool.server) {
    c.dropped(`tool:${tool.server.type}`);
    return;
  }
  if (tool.cacheControl) c.dropped('cache_control');
  out.push({ type: 'function', function: { name: tool.name, ...(tool.description ? { description: tool.description } : {}), parameters: tool.inputSchema } });
}

/**
 * A message or tool translates the same way every time for one flavor, so a shared (frozen) one
 * that earlier turns of the conversation sent is translated once (see element-memo.ts).
 */
type Memo = { messages: WeakMap<object, Translation<Json>>; tools: WeakMap<object, Translation<Json>> };
const translations = new WeakMap<object, Memo>();
const defaultFlavorKey = {};

function translationsFor(flavor: object | undefined): Memo {
  const key = flavor ?? defaultFlavorKey;
  let memo = translations.get(key);
  if (!memo) translations.set(key, (memo = { messages: new WeakMap(), tools: new WeakMap() }));
  return memo;
}

function applyThinking(body: Json, request: CanonicalRequest, c: Context): void {
  const thinking = request.thinking;
  if (!thinking) return;
  const on = thinking.type !== 'disabled';
  switch (c.f.reasoningParam) {
    case 'none':
      // Only an OpenAI client's own reasoning_effort is forwarded: many models reject the field.
      if (c.source === 'openai' && on && thinking.effort) body.reasoning_effort = thinking.effort;
      return;
    case 'reasoning_effort':
      if (on && (thinking.effort || thinking.type === 'enabled')) body.reasoning_effort = thinking.effort ?? 'medium';
      return;
    case 'openrouter':
      if (!on) return;
      if (thinking.budgetTokens !== undefined) body.reasoning = { max_tokens: thinking.budgetTokens };
      else if (thinking.effort) body.reasoning = { effort: thinking.effort };
      else if (thinking.type === 'enabled') body.reasoning = { enabled: true };
      return;
    case 'deepseek':
      body.thinking = { type: on ? 'enabled' : 'disabled' };
      if (on && thinking.effort) body.reasoning_effort = thinking.effort;
      return;
  }
}

function appendMessage(out: Json[], message: Message, c: Context): void {
  if (message.role === 'system') {
    out.push({ role: 'system', content: textContent(message.content.filter((p): p is TextPart => p.type === 'text'), c) });
    return;
  }
  if (message.role === 'assistant') {
    let text = '';
    let reasoning: string | undefined;
    const toolCalls: Json[] = [];
    for (const part of message.content) {
      if (part.type === 'text') text += part.text;
      else if (part.type === 'tool_call') toolCalls.push(toolCall(part, c));
      else if (part.type === 'reasoning') reasoning = (reasoning ?? '') + reasoningText(part, c);
      else reportDrop(part, c);
    }
    const reply: Json = { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text };
    if (toolCalls.length > 0) reply.tool_calls = toolCalls;
    const echo = c.f.reasoningEcho === 'all' || (c.f.reasoningEcho === 'tool_turns' && toolCalls.length > 0);
    // DeepSeek wants the field on a tool-call turn even when the reasoning was empty.
    if (echo) reply[c.f.reasoningField] = reasoning ?? '';
    out.push(reply);
    return;
  }
  // User turn: tool results first (they must follow the assistant's tool calls), then the rest.
  const rest: Json[] = [];
  for (const part of message.content) {
    if (part.type === 'tool_result') {
      if (part.cacheControl) c.dropped('cache_control');
      const content = typeof part.content === 'string' ? part.content : part.content.filter((p): p is TextPart => p.type === 'text').map((p) => p.text).join('\n\n');
      if (typeof part.content !== 'string' && part.content.some((p) => p.type === 'image')) c.dropped('tool_result.image');
      out.push({ role: 'tool', tool_call_id: toolId(part.toolCallId, c), content: part.isError ? `Error: ${content}` : content });
    } else if (part.type === 'text') rest.push(textPart(part, c));
    else if (part.type === 'image') {
      if (part.cacheControl) c.dropped('cache_control');
      const url = part.source.kind === 'url' ? part.source.url : `data:${part.source.mediaType};base64,${part.source.data}`;
      rest.push({ type: 'image_url', image_url: { url } });
    } else reportDrop(part, c);
  }
  if (rest.length === 0) return;
  const plain = rest.every((p) => p.type === 'text' && p.cache_control === undefined);
  out.push({ role: 'user', content: plain ? rest.map((p) => p.text as string).join('\n\n') : rest });
}

/** Plain text where possible (what every server accepts); parts when cache_control must travel. */
function textContent(parts: TextPart[], c: Context): string | Json[] {
  if (parts.some((p) => p.cacheControl) && c.f.cacheControl) return parts.map((p) => textPart(p, c));
  if (parts.some((p) => p.cacheControl)) c.dropped('cache_control');
  return parts.map((p) => p.text).join('\n\n');
}

function textPart(part: TextPart, c: Context): Json {
  const out: Json = { type: 'text', text: part.text };
  if (part.cacheControl) {
    if (c.f.cacheControl) out.cache_control = part.cacheControl as CacheControl;
    else c.dropped('cache_control');
  }
  return out;
}

function reasoningText(part: ReasoningPart, c: Context): string {
  if ((part.signature && part.origin !== 'openai') || part.redacted !== undefined) c.dropped('thinking.signature');
  return part.text;
}

function toolCall(part: ToolCallPart, c: Context): Json {
  const call: Json = { id: toolId(part.id, c), type: 'function', function: { name: part.name, arguments: JSON.stringify(part.input ?? {}) } };
  if (part.signature) {
    if (c.f.thoughtSignatures && part.origin === 'openai') call.extra_content = { google: { thought_signature: part.signature } };
    else c.dropped('thinking.signature');
  }
  return call;
}

function reportDrop(part: Part, c: Context): void {
  if (part.type === 'opaque') c.dropped(part.name);
  else c.dropped(part.type);
}

/** Mistral accepts only ids of nine letters and digits; others are mapped the same way every time. */
function toolId(id: string, c: Context): string {
  if (c.f.toolIds !== 'alnum9' || /^[A-Za-z0-9]{9}$/.test(id)) return id;
  return createHash('sha256').update(id).digest('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 9);
}
