/**
 * OpenAI Chat Completions request (`POST /v1/chat/completions`) → canonical request.
 * Leading `system`/`developer` messages become the system prompt, later ones stay in place;
 * `tool` messages become tool results in a user turn (consecutive ones share that turn), and
 * `reasoning_content` on assistant turns (DeepSeek's echo) becomes a reasoning part.
 */
import type { CanonicalRequest, ImagePart, Message, Part, TextPart, ToolCallPart, ToolChoice, ToolDefinition } from '../../canonical.ts';
import { fromClientToolId } from '../carry.ts';
import { parseToolArguments } from '../../canonical-stream.ts';
import { array, extrasOf, invalid, isObject, object, optionalBoolean, optionalNumber, optionalString, parseDataUrl, string, type Json } from '../shape.ts';

const known = new Set([
  'model', 'messages', 'tools', 'tool_choice', 'parallel_tool_calls', 'max_tokens', 'max_completion_tokens',
  'temperature', 'top_p', 'stop', 'stream', 'stream_options', 'reasoning_effort', 'user',
]);

export function parseOpenAIRequest(body: Json): CanonicalRequest {
  const model = string(body.model, 'model');
  const rawMessages = array(body.messages, 'messages');
  const system: TextPart[] = [];
  const messages: Message[] = [];
  let leading = true;
  rawMessages.forEach((value, i) => {
    const path = `messages[${i}]`;
    const m = object(value, path);
    const role = m.role;
    if (role === 'system' || role === 'developer') {
      const parts = textParts(m.content, `${path}.content`);
      if (leading) system.push(...parts);
      else messages.push({ role: 'system', content: parts });
      return;
    }
    leading = false;
    if (role === 'user') messages.push({ role: 'user', content: userParts(m.content, `${path}.content`) });
    else if (role === 'assistant') messages.push({ role: 'assistant', content: assistantParts(m, path) });
    else if (role === 'tool' || role === 'function') {
      const result: Part = {
        type: 'tool_result',
        toolCallId: role === 'tool' ? fromClientToolId(string(m.tool_call_id, `${path}.tool_call_id`)).id : string(m.name, `${path}.name`),
        content: toolResultContent(m.content, `${path}.content`),
      };
      const last = messages[messages.length - 1];
      if (last?.role === 'user' && last.content.every((p) => p.type === 'tool_result')) last.content.push(result);
      else messages.push({ role: 'user', content: [result] });
    } else invalid(`${path}.role`, 'must be "system", "developer", "user", "assistant" or "tool"');
  });

  const request: CanonicalRequest = {
    model,
    system,
    messages,
    tools: body.tools === undefined || body.tools === null ? [] : array(body.tools, 'tools').map((t, i) => parseTool(t, `tools[${i}]`)),
    stream: optionalBoolean(body.stream, 'stream') ?? false,
    extras: extrasOf(body, known),
  };
  const maxTokens = optionalNumber(body.max_completion_tokens, 'max_completion_tokens') ?? optionalNumber(body.max_tokens, 'max_tokens');
  if (maxTokens !== undefined) request.maxTokens = maxTokens;
  const temperature = optionalNumber(body.temperature, 'temperature');
  if (temperature !== undefined) request.temperature = temperature;
  const topP = optionalNumber(body.top_p, 'top_p');
  if (topP !== undefined) request.topP = topP;
  if (typeof body.stop === 'string') request.stop = [body.stop];
  else if (Array.isArray(body.stop)) request.stop = body.stop.map((s, i) => string(s, `stop[${i}]`));
  const choice = parseToolChoice(body.tool_choice, body.parallel_tool_calls);
  if (choice) request.toolChoice = choice;
  const effort = optionalString(body.reasoning_effort, 'reasoning_effort');
  if (effort !== undefined) request.thinking = effort === 'none' ? { type: 'disabled' } : { type: 'enabled', effort };
  const user = optionalString(body.user, 'user');
  if (user !== undefined) request.user = user;
  return request;
}

function textParts(content: unknown, path: string): TextPart[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (content === null || content === undefined) return [];
  return array(content, path).map((p, i) => {
    const part = object(p, `${path}[${i}]`);
    return { type: 'text', text: string(part.text, `${path}[${i}].text`) };
  });
}

function userParts(content: unknown, path: string): Part[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return array(content, path).map((p, i): Part => {
    const part = object(p, `${path}[${i}]`);
    if (part.type === 'text') return { type: 'text', text: string(part.text, `${path}[${i}].text`) };
    if (part.type === 'image_url') return imagePart(part.image_url, `${path}[${i}].image_url`);
    return { type: 'opaque', dialect: 'openai', name: String(part.type), raw: part };
  });
}

function imagePart(value: unknown, path: string): ImagePart {
  const url = typeof value === 'string' ? value : string(object(value, path).url, `${path}.url`);
  const data = parseDataUrl(url);
  return data ? { type: 'image', source: { kind: 'base64', mediaType: data.mediaType, data: data.data } } : { type: 'image', source: { kind: 'url', url } };
}

function assistantParts(m: Json, path: string): Part[] {
  const parts: Part[] = [];
  const reasoning = typeof m.reasoning_content === 'string' ? m.reasoning_content : typeof m.reasoning === 'string' ? m.reasoning : undefined;
  // An OpenAI client cannot say which provider wrote its reasoning_content: no origin.
  if (reasoning) parts.push({ type: 'reasoning', text: reasoning });
  if (typeof m.content === 'string') {
    if (m.content !== '') parts.push({ type: 'text', text: m.content });
  } else if (Array.isArray(m.content)) {
    for (const [i, p] of m.content.entries()) {
      const part = object(p, `${path}.content[${i}]`);
      if (part.type === 'text') parts.push({ type: 'text', text: string(part.text, `${path}.content[${i}].text`) });
      else if (part.type === 'refusal') parts.push({ type: 'text', text: string(part.refusal, `${path}.content[${i}].refusal`) });
    }
  } else if (m.content !== null && m.content !== undefined) invalid(`${path}.content`, 'must be a string, an array or null');
  if (m.tool_calls !== undefined && m.tool_calls !== null) {
    array(m.tool_calls, `${path}.tool_calls`).forEach((c, i) => {
      const call = object(c, `${path}.tool_calls[${i}]`);
      const fn = object(call.function, `${path}.tool_calls[${i}].function`);
      const args = typeof fn.arguments === 'string' ? fn.arguments : JSON.stringify(fn.arguments ?? {});
      const carried = fromClientToolId(string(call.id, `${path}.tool_calls[${i}].id`));
      const part: ToolCallPart = { type: 'tool_call', id: carried.id, name: string(fn.name, `${path}.tool_calls[${i}].function.name`), input: parseToolArguments(args) };
      if (carried.signature) Object.assign(part, { signature: carried.signature, origin: carried.origin });
      parts.push(part);
    });
  }
  return parts;
}

function toolResultContent(content: unknown, path: string): string | Array<TextPart | ImagePart> {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  return array(content, path).map((p, i) => {
    const part = object(p, `${path}[${i}]`);
    if (part.type === 'image_url') return imagePart(part.image_url, `${path}[${i}].image_url`);
    return { type: 'text', text: string(part.text, `${path}[${i}].text`) } as TextPart;
  });
}

function parseTool(value: unknown, path: string): ToolDefinition {
  const t = object(value, path);
  if (t.type !== 'function') return { name: String(t.type), inputSchema: {}, server: { type: String(t.type), raw: t } };
  const fn = object(t.function, `${path}.function`);
  const tool: ToolDefinition = { name: string(fn.name, `${path}.function.name`), inputSchema: isObject(fn.parameters) ? fn.parameters : { type: 'object', properties: {} } };
  const description = optionalString(fn.description, `${path}.function.description`);
  if (description !== undefined) tool.description = description;
  return tool;
}

function parseToolChoice(choice: unknown, parallel: unknown): ToolChoice | undefined {
  const disableParallel = parallel === false ? { disableParallel: true } : {};
  if (choice === undefined || choice === null) return parallel === false ? { type: 'auto', disableParallel: true } : undefined;
  if (choice === 'auto') return { type: 'auto', ...disableParallel };
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any', ...disableParallel };
  const c = object(choice, 'tool_choice');
  const fn = object(c.function, 'tool_choice.function');
  return { type: 'tool', name: string(fn.name, 'tool_choice.function.name'), ...disableParallel };
}
