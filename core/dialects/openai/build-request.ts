/**
 * Canonical request → OpenAI Chat Completions request body, for OpenAI-compatible providers.
 * What the dialect cannot express is reported through `dropped` (the loud downgrade), never lost
 * silently. Vendor differences are options (`OpenAIFlavor`), not copies of this code.
 */
import type { CanonicalRequest, Dialect, Message, Part, TextPart } from '../../canonical.ts';
import type { Json } from '../shape.ts';

export interface OpenAIFlavor {
  /** `max_tokens` (most compatible servers) or `max_completion_tokens` (OpenAI's newer models). */
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** Ask for a final usage chunk when streaming (`stream_options.include_usage`). */
  streamUsage: boolean;
}

export const defaultFlavor: OpenAIFlavor = { maxTokensField: 'max_tokens', streamUsage: true };

export interface BuildOptions {
  model: string;
  flavor?: Partial<OpenAIFlavor>;
  /** The client's dialect: extras from an OpenAI client are forwarded, others are reported. */
  source: Dialect;
  dropped(feature: string): void;
}

export function buildOpenAIRequest(request: CanonicalRequest, options: BuildOptions): Json {
  const flavor = { ...defaultFlavor, ...options.flavor };
  const messages: Json[] = [];
  if (request.system.length > 0) {
    messages.push({ role: 'system', content: joinText(request.system) });
    if (request.system.some((p) => p.cacheControl)) options.dropped('cache_control');
  }
  for (const message of request.messages) appendMessage(messages, message, options);

  const body: Json = { model: options.model, messages };
  if (request.tools.length > 0) {
    const tools: Json[] = [];
    for (const tool of request.tools) {
      if (tool.server) {
        options.dropped(`tool:${tool.server.type}`);
        continue;
      }
      if (tool.cacheControl) options.dropped('cache_control');
      tools.push({ type: 'function', function: { name: tool.name, ...(tool.description ? { description: tool.description } : {}), parameters: tool.inputSchema } });
    }
    if (tools.length > 0) body.tools = tools;
  }
  const choice = request.toolChoice;
  if (choice && body.tools) {
    body.tool_choice = choice.type === 'auto' ? 'auto' : choice.type === 'any' ? 'required' : choice.type === 'none' ? 'none' : { type: 'function', function: { name: choice.name } };
    if (choice.type !== 'none' && choice.disableParallel) body.parallel_tool_calls = false;
  }
  if (request.maxTokens !== undefined) body[flavor.maxTokensField] = request.maxTokens;
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.topP !== undefined) body.top_p = request.topP;
  if (request.topK !== undefined) options.dropped('top_k');
  if (request.stop && request.stop.length > 0) body.stop = request.stop;
  if (request.thinking && request.thinking.type !== 'disabled' && request.thinking.effort && options.source === 'openai') body.reasoning_effort = request.thinking.effort;
  if (request.user !== undefined) {
    if (options.source === 'openai') body.user = request.user;
    else options.dropped('metadata.user_id');
  }
  if (options.source === 'openai') Object.assign(body, request.extras);
  else for (const key of Object.keys(request.extras)) options.dropped(key);
  body.stream = request.stream;
  if (request.stream && flavor.streamUsage) body.stream_options = { include_usage: true };
  return body;
}

function appendMessage(out: Json[], message: Message, options: BuildOptions): void {
  if (message.role === 'system') {
    out.push({ role: 'system', content: joinText(message.content.filter((p): p is TextPart => p.type === 'text')) });
    return;
  }
  if (message.role === 'assistant') {
    let text = '';
    const toolCalls: Json[] = [];
    for (const part of message.content) {
      if (part.type === 'text') text += part.text;
      else if (part.type === 'tool_call') toolCalls.push({ id: part.id, type: 'function', function: { name: part.name, arguments: JSON.stringify(part.input ?? {}) } });
      else if (part.type === 'reasoning') options.dropped('thinking');
      else reportDrop(part, options);
      if ('cacheControl' in part && part.cacheControl) options.dropped('cache_control');
    }
    const reply: Json = { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text };
    if (toolCalls.length > 0) reply.tool_calls = toolCalls;
    out.push(reply);
    return;
  }
  // User turn: tool results first (they must follow the assistant's tool calls), then the rest.
  const rest: Json[] = [];
  for (const part of message.content) {
    if ('cacheControl' in part && part.cacheControl) options.dropped('cache_control');
    if (part.type === 'tool_result') {
      const content = typeof part.content === 'string' ? part.content : joinText(part.content.filter((p): p is TextPart => p.type === 'text'));
      if (typeof part.content !== 'string' && part.content.some((p) => p.type === 'image')) options.dropped('tool_result.image');
      out.push({ role: 'tool', tool_call_id: part.toolCallId, content: part.isError ? `Error: ${content}` : content });
    } else if (part.type === 'text') rest.push({ type: 'text', text: part.text });
    else if (part.type === 'image') {
      const url = part.source.kind === 'url' ? part.source.url : `data:${part.source.mediaType};base64,${part.source.data}`;
      rest.push({ type: 'image_url', image_url: { url } });
    } else reportDrop(part, options);
  }
  if (rest.length === 0) return;
  const textOnly = rest.every((p) => p.type === 'text');
  out.push({ role: 'user', content: textOnly ? rest.map((p) => p.text as string).join('\n\n') : rest });
}

function reportDrop(part: Part, options: BuildOptions): void {
  if (part.type === 'opaque') options.dropped(part.name);
  else options.dropped(part.type);
}

function joinText(parts: TextPart[]): string {
  return parts.map((p) => p.text).join('\n\n');
}
