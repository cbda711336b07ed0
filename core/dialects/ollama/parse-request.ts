/**
 * Ollama `POST /api/chat` request → canonical request, for Ollama clients and for round trips of
 * what buildOllamaRequest sends.
 *
 * - Leading `system` messages become the system prompt; later ones stay in place.
 * - `images` (bare base64) become image parts after the message's text; the media type, which
 *   Ollama never sends, is read from the data's first bytes.
 * - `thinking` on an assistant turn becomes reasoning with origin `ollama`, so it goes back to
 *   Ollama (and only to Ollama) on the next turn.
 * - `tool` messages become tool results in a user turn (consecutive ones share it). Ollama pairs
 *   them with calls by `tool_name`, so a result takes the id of the earliest unanswered call of the
 *   previous assistant turn with that name (`tool_call_id`, which newer clients send, wins).
 * - `stream` defaults to true, as in Ollama. `think` true/false → thinking enabled/disabled; a
 *   level ("high") → enabled with that effort. `options.num_predict`, `temperature`, `top_p`,
 *   `top_k`, `stop` are canonical; other options, `keep_alive`, `format` ... stay in extras.
 */
import type { CanonicalRequest, ImagePart, Message, Part, TextPart, ToolCallPart, ToolDefinition } from '../../canonical.ts';
import { array, extrasOf, invalid, isObject, object, optionalBoolean, optionalNumber, optionalString, string, type Json } from '../shape.ts';
import { newToolCallId, readToolCall } from './tool-calls.ts';

const known = new Set(['model', 'messages', 'tools', 'stream', 'think', 'options']);
const knownOptions = new Set(['num_predict', 'temperature', 'top_p', 'top_k', 'stop']);

export function parseOllamaRequest(body: Json): CanonicalRequest {
  const model = string(body.model, 'model');
  const system: TextPart[] = [];
  const messages: Message[] = [];
  /** Calls of the last assistant turn that no result has answered yet. */
  let pending: ToolCallPart[] = [];
  let leading = true;
  array(body.messages, 'messages').forEach((value, i) => {
    const path = `messages[${i}]`;
    const m = object(value, path);
    const role = m.role;
    if (role === 'system') {
      const parts = contentParts(m, path);
      if (leading && parts.every((p) => p.type === 'text')) system.push(...(parts as TextPart[]));
      else messages.push({ role: 'system', content: parts });
      return;
    }
    leading = false;
    if (role === 'user') messages.push({ role: 'user', content: contentParts(m, path) });
    else if (role === 'assistant') {
      const content = assistantParts(m, path);
      pending = content.filter((p): p is ToolCallPart => p.type === 'tool_call');
      messages.push({ role: 'assistant', content });
    } else if (role === 'tool') {
      const result: Part = { type: 'tool_result', toolCallId: pairResult(m, path, pending), content: optionalString(m.content, `${path}.content`) ?? '' };
      const last = messages[messages.length - 1];
      if (last?.role === 'user' && last.content.every((p) => p.type === 'tool_result')) last.content.push(result);
      else messages.push({ role: 'user', content: [result] });
    } else invalid(`${path}.role`, 'must be "system", "user", "assistant" or "tool"');
  });

  const request: CanonicalRequest = {
    model,
    system,
    messages,
    tools: body.tools === undefined || body.tools === null ? [] : array(body.tools, 'tools').map((t, i) => parseTool(t, `tools[${i}]`)),
    stream: optionalBoolean(body.stream, 'stream') ?? true,
    extras: extrasOf(body, known),
  };
  if (body.options !== undefined && body.options !== null) readOptions(request, object(body.options, 'options'));
  if (typeof body.think === 'boolean') request.thinking = { type: body.think ? 'enabled' : 'disabled' };
  else if (typeof body.think === 'string') request.thinking = { type: 'enabled', effort: body.think };
  else if (body.think !== undefined && body.think !== null) invalid('think', 'must be true, false or a level');
  return request;
}

function readOptions(request: CanonicalRequest, options: Json): void {
  const maxTokens = optionalNumber(options.num_predict, 'options.num_predict');
  // -1 (no limit) and -2 (fill the context) have no canonical meaning: they stay Ollama options.
  const rest = extrasOf(options, maxTokens !== undefined && maxTokens < 0 ? new Set([...knownOptions].filter((k) => k !== 'num_predict')) : knownOptions);
  if (maxTokens !== undefined && maxTokens >= 0) request.maxTokens = maxTokens;
  const temperature = optionalNumber(options.temperature, 'options.temperature');
  if (temperature !== undefined) request.temperature = temperature;
  const topP = optionalNumber(options.top_p, 'options.top_p');
  if (topP !== undefined) request.topP = topP;
  const topK = optionalNumber(options.top_k, 'options.top_k');
  if (topK !== undefined) request.topK = topK;
  if (typeof options.stop === 'string') request.stop = [options.stop];
  else if (Array.isArray(options.stop)) request.stop = options.stop.map((s, i) => string(s, `options.stop[${i}]`));
  if (Object.keys(rest).length > 0) request.extras.options = rest;
}

function contentParts(m: Json, path: string): Part[] {
  const parts: Part[] = [];
  const text = optionalString(m.content, `${path}.content`) ?? '';
  if (text !== '') parts.push({ type: 'text', text });
  if (m.images !== undefined && m.images !== null) {
    array(m.images, `${path}.images`).forEach((img, i) => parts.push(imagePart(string(img, `${path}.images[${i}]`))));
  }
  return parts;
}

function assistantParts(m: Json, path: string): Part[] {
  const parts: Part[] = [];
  const thinking = optionalString(m.thinking, `${path}.thinking`);
  if (thinking) parts.push({ type: 'reasoning', text: thinking, origin: 'ollama' });
  parts.push(...contentParts(m, path));
  if (m.tool_calls !== undefined && m.tool_calls !== null) {
    array(m.tool_calls, `${path}.tool_calls`).forEach((c, i) => {
      const call = readToolCall(c, i);
      if (!call) invalid(`${path}.tool_calls[${i}]`, 'must be {"function": {"name", "arguments"}}');
      parts.push(call);
    });
  }
  return parts;
}

function pairResult(m: Json, path: string, pending: ToolCallPart[]): string {
  const explicit = optionalString(m.tool_call_id, `${path}.tool_call_id`);
  const name = optionalString(m.tool_name, `${path}.tool_name`) ?? optionalString(m.name, `${path}.name`);
  if (explicit !== undefined) {
    const at = pending.findIndex((c) => c.id === explicit);
    if (at !== -1) pending.splice(at, 1);
    return explicit;
  }
  // By name; a result whose name matches nothing still answers the earliest open call rather than
  // none, since an unpaired result is rejected by most providers.
  const byName = name === undefined ? -1 : pending.findIndex((c) => c.name === name);
  const at = byName !== -1 ? byName : pending.length > 0 ? 0 : -1;
  return at === -1 ? newToolCallId(0) : pending.splice(at, 1)[0].id;
}

/** Ollama sends bare base64; canonical images need a media type, so read it from the magic bytes. */
function imagePart(data: string): ImagePart {
  const mediaType = data.startsWith('/9j/') ? 'image/jpeg'
    : data.startsWith('R0lGOD') ? 'image/gif'
    : data.startsWith('UklGR') ? 'image/webp'
    : 'image/png';
  return { type: 'image', source: { kind: 'base64', mediaType, data } };
}

function parseTool(value: unknown, path: string): ToolDefinition {
  const t = object(value, path);
  if (t.type !== undefined && t.type !== 'function') return { name: String(t.type), inputSchema: {}, server: { type: String(t.type), raw: t } };
  const fn = object(t.function, `${path}.function`);
  const tool: ToolDefinition = { name: string(fn.name, `${path}.function.name`), inputSchema: isObject(fn.parameters) ? fn.parameters : { type: 'object', properties: {} } };
  const description = optionalString(fn.description, `${path}.function.description`);
  if (description !== undefined) tool.description = description;
  return tool;
}
