/**
 * Canonical request → Ollama's native `POST /api/chat` body. What Ollama cannot carry is reported
 * through `dropped` (the loud downgrade), never lost silently.
 *
 *   buildOllamaRequest(request, { model: 'qwen3:8b', source: 'anthropic', dropped, think: 'auto' })
 *
 * Rules:
 * - System text becomes a leading `system` message; mid-conversation system messages stay
 *   `system` messages in place. Text parts of a message are joined into its one `content` string.
 * - Base64 images go in the message's `images` (Ollama takes bare base64, no media type); URL
 *   images cannot be fetched by Ollama: `image.url`. Images inside tool results: `tool_result.image`.
 * - Tool results become `tool` messages (before the rest of their user turn, as they answer the
 *   previous assistant turn) with `tool_name` looked up from the earlier call with that id, because
 *   Ollama pairs results with calls by name. Error results are prefixed `Error: `.
 * - Assistant tool calls become `tool_calls` with object arguments. Reasoning that Ollama produced
 *   (origin `ollama`, or unsigned of unknown origin) goes back as `thinking`; other reasoning is omitted (it is the client's view of
 *   another model's thoughts), and reported as `thinking.signature` only when it carries another
 *   provider's signature, since that is the case where a client expected it to be verified.
 * - Tools become OpenAI-style function tools; provider-executed tools: `tool:<type>`. `tool_choice`
 *   has no Ollama equivalent: reported unless it is `auto`.
 * - maxTokens, temperature, topP, topK, stop → `options.num_predict`, `temperature`, `top_p`,
 *   `top_k`, `stop`. `stream` is always sent: Ollama streams when it is absent.
 * - `think` (option): 'auto' (default) sends `think: true` only when the client enabled thinking
 *   explicitly (Claude Code sends `adaptive` on every request, and `think: true` to a model without
 *   thinking is a 400), `think: false` when it disabled it; true sends it unless thinking is
 *   disabled; false always sends `think: false`. Ollama's think is on/off, so a budget only bounds
 *   it and is not reported.
 * - Configured `keepAlive` and `numCtx` (→ `options.num_ctx`) are set last: the operator owns the
 *   upstream. cache_control anywhere: `cache_control`. Extras of an Ollama client are copied
 *   (its `options` merged); other clients' extras, and `user`, are reported by name.
 */
import type { CanonicalRequest, ImagePart, Message, Part, TextPart } from '../../canonical.ts';
import type { BuildOptions } from '../codec.ts';
import { isObject, type Json } from '../shape.ts';
import { writeToolCall } from './tool-calls.ts';

export type OllamaThinkMode = 'auto' | boolean;

export interface OllamaBuildOptions extends BuildOptions {
  /** When to send `think` (see the module comment); default 'auto'. */
  think?: OllamaThinkMode;
  /** Ollama's `keep_alive`: how long the model stays loaded ('5m', 3600, -1 ...). */
  keepAlive?: string | number;
  /** Context window to load the model with (`options.num_ctx`). */
  numCtx?: number;
}

const efforts = new Set(['low', 'medium', 'high']);

export function buildOllamaRequest(request: CanonicalRequest, options: OllamaBuildOptions): Json {
  const messages: Json[] = [];
  if (request.system.length > 0) {
    messages.push({ role: 'system', content: joinText(request.system) });
    if (request.system.some((p) => p.cacheControl)) options.dropped('cache_control');
  }
  // Tool-call id → tool name, filled as assistant turns are read, for the results that follow.
  const toolNames = new Map<string, string>();
  for (const message of request.messages) appendMessage(messages, message, toolNames, options);

  const body: Json = { model: options.model, messages };
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
  if (request.toolChoice && request.toolChoice.type !== 'auto' && tools.length > 0) options.dropped('tool_choice');

  const sampling: Json = {};
  if (request.maxTokens !== undefined) sampling.num_predict = request.maxTokens;
  if (request.temperature !== undefined) sampling.temperature = request.temperature;
  if (request.topP !== undefined) sampling.top_p = request.topP;
  if (request.topK !== undefined) sampling.top_k = request.topK;
  if (request.stop && request.stop.length > 0) sampling.stop = request.stop;

  const think = thinkValue(request, options);
  if (think !== undefined) body.think = think;
  if (request.user !== undefined) options.dropped(options.source === 'openai' ? 'user' : 'metadata.user_id');
  for (const [key, value] of Object.entries(request.extras)) {
    if (options.source !== 'ollama') options.dropped(key);
    else if (key === 'options' && isObject(value)) Object.assign(sampling, { ...value, ...sampling });
    else body[key] = value;
  }
  if (options.keepAlive !== undefined) body.keep_alive = options.keepAlive;
  if (options.numCtx !== undefined) sampling.num_ctx = options.numCtx;
  if (Object.keys(sampling).length > 0) body.options = sampling;
  body.stream = request.stream;
  return body;
}

function thinkValue(request: CanonicalRequest, options: OllamaBuildOptions): boolean | string | undefined {
  const mode = options.think ?? 'auto';
  const type = request.thinking?.type;
  if (mode === false || type === 'disabled') return false;
  if (mode === 'auto' && type !== 'enabled') return undefined;
  // An Ollama client's own level (gpt-oss takes "low" | "medium" | "high") survives a round trip.
  const effort = request.thinking?.effort;
  return options.source === 'ollama' && effort !== undefined && efforts.has(effort) ? effort : true;
}

function appendMessage(out: Json[], message: Message, toolNames: Map<string, string>, options: OllamaBuildOptions): void {
  const texts: string[] = [];
  const images: string[] = [];
  let thinking = '';
  const toolCalls: Json[] = [];
  for (const part of message.content) {
    if ('cacheControl' in part && part.cacheControl) options.dropped('cache_control');
    switch (part.type) {
      case 'text':
        texts.push(part.text);
        break;
      case 'image':
        addImage(images, part, options);
        break;
      case 'tool_call':
        if (message.role !== 'assistant') {
          options.dropped('tool_call');
          break;
        }
        toolNames.set(part.id, part.name);
        toolCalls.push(writeToolCall(part, false));
        break;
      case 'tool_result':
        // Results answer the previous assistant turn, so they go before the rest of this turn.
        out.push(toolMessage(part.content, part.isError === true, toolNames.get(part.toolCallId), options));
        break;
      case 'reasoning':
        // Ollama's own thinking, or reasoning of unknown origin with no signature (an OpenAI client's
        // reasoning_content): plain text Ollama can take back.
        if (message.role === 'assistant' && (part.origin === 'ollama' || (part.origin === undefined && !part.signature && part.redacted === undefined))) thinking += part.text;
        else if (part.signature || part.redacted !== undefined) options.dropped('thinking.signature');
        break;
      default:
        reportDrop(part, options);
    }
  }
  if (message.role === 'assistant') {
    const reply: Json = { role: 'assistant', content: texts.join('') };
    if (thinking !== '') reply.thinking = thinking;
    if (toolCalls.length > 0) reply.tool_calls = toolCalls;
    if (images.length > 0) reply.images = images;
    out.push(reply);
    return;
  }
  if (texts.length === 0 && images.length === 0) return; // a turn of tool results only
  const turn: Json = { role: message.role, content: texts.join('\n\n') };
  if (images.length > 0) turn.images = images;
  out.push(turn);
}

function toolMessage(content: string | Array<TextPart | ImagePart>, isError: boolean, name: string | undefined, options: OllamaBuildOptions): Json {
  let text: string;
  if (typeof content === 'string') text = content;
  else {
    text = joinText(content.filter((p): p is TextPart => p.type === 'text'));
    if (content.some((p) => p.type === 'image')) options.dropped('tool_result.image');
  }
  const message: Json = { role: 'tool', content: isError ? `Error: ${text}` : text };
  if (name !== undefined) message.tool_name = name;
  return message;
}

function addImage(images: string[], part: ImagePart, options: OllamaBuildOptions): void {
  if (part.source.kind === 'base64') images.push(part.source.data);
  else options.dropped('image.url');
}

function reportDrop(part: Part, options: OllamaBuildOptions): void {
  options.dropped(part.type === 'opaque' ? part.name : part.type);
}

function joinText(parts: TextPart[]): string {
  return parts.map((p) => p.text).join('\n\n');
}
