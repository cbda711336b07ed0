/**
 * Anthropic Messages request (`POST /v1/messages`) → canonical request.
 * Accepts what Claude Code sends: `role: "system"` messages mid-conversation, thinking blocks with
 * signatures echoed back, `thinking: {type: "adaptive"}` with `output_config.effort`, and beta
 * fields (kept in `extras`, so a passthrough keeps them and a translation reports dropping them).
 */
import type { CacheControl, CanonicalRequest, ImagePart, Message, Part, TextPart, ThinkingConfig, ToolCallPart, ToolChoice, ToolDefinition } from '../../canonical.ts';
import { fromClientReasoningSignature, fromClientToolId } from '../carry.ts';
import { derivedOnce } from '../element-memo.ts';
import { array, extrasOf, invalid, isObject, object, optionalBoolean, optionalNumber, optionalString, string, type Json } from '../shape.ts';

const known = new Set([
  'model', 'messages', 'system', 'tools', 'tool_choice', 'max_tokens', 'temperature', 'top_p', 'top_k',
  'stop_sequences', 'stream', 'thinking', 'metadata',
]);

const parsedMessages = new WeakMap<object, Message>();
const parsedTools = new WeakMap<object, ToolDefinition>();

export function parseAnthropicRequest(body: Json): CanonicalRequest {
  const model = string(body.model, 'model');
  // A message or tool the same conversation sent before is already parsed (element-memo.ts).
  const messages = array(body.messages, 'messages').map((m, i) => derivedOnce(parsedMessages, m, () => parseMessage(m, `messages[${i}]`)));
  const extras = extrasOf(body, known);
  const request: CanonicalRequest = {
    model,
    system: parseSystem(body.system),
    messages,
    tools: body.tools === undefined || body.tools === null ? [] : array(body.tools, 'tools').map((t, i) => derivedOnce(parsedTools, t, () => parseTool(t, `tools[${i}]`))),
    stream: optionalBoolean(body.stream, 'stream') ?? false,
    extras,
  };
  const maxTokens = optionalNumber(body.max_tokens, 'max_tokens');
  if (maxTokens !== undefined) request.maxTokens = maxTokens;
  const temperature = optionalNumber(body.temperature, 'temperature');
  if (temperature !== undefined) request.temperature = temperature;
  const topP = optionalNumber(body.top_p, 'top_p');
  if (topP !== undefined) request.topP = topP;
  const topK = optionalNumber(body.top_k, 'top_k');
  if (topK !== undefined) request.topK = topK;
  if (body.stop_sequences !== undefined && body.stop_sequences !== null) {
    request.stop = array(body.stop_sequences, 'stop_sequences').map((s, i) => string(s, `stop_sequences[${i}]`));
  }
  if (body.tool_choice !== undefined && body.tool_choice !== null) request.toolChoice = parseToolChoice(object(body.tool_choice, 'tool_choice'));
  const thinking = parseThinking(body.thinking, extras.output_config);
  if (thinking) request.thinking = thinking;
  if (isObject(body.metadata)) {
    const user = optionalString(body.metadata.user_id, 'metadata.user_id');
    if (user !== undefined) request.user = user;
  }
  return request;
}

function parseSystem(system: unknown): TextPart[] {
  if (system === undefined || system === null) return [];
  if (typeof system === 'string') return system === '' ? [] : [{ type: 'text', text: system }];
  return array(system, 'system').map((block, i) => {
    const b = object(block, `system[${i}]`);
    return withCache({ type: 'text', text: string(b.text, `system[${i}].text`) }, b);
  });
}

function parseMessage(value: unknown, path: string): Message {
  const m = object(value, path);
  const role = m.role;
  if (role !== 'user' && role !== 'assistant' && role !== 'system') invalid(`${path}.role`, 'must be "user", "assistant" or "system"');
  if (typeof m.content === 'string') return { role, content: [{ type: 'text', text: m.content }] };
  const content = array(m.content, `${path}.content`).map((b, i) => parseBlock(b, `${path}.content[${i}]`));
  return { role, content };
}

function parseBlock(value: unknown, path: string): Part {
  const b = object(value, path);
  switch (b.type) {
    case 'text':
      return withCache({ type: 'text', text: string(b.text, `${path}.text`) }, b);
    case 'image':
      return parseImage(b, path);
    case 'tool_use': {
      const carried = fromClientToolId(string(b.id, `${path}.id`));
      const call: ToolCallPart = { type: 'tool_call', id: carried.id, name: string(b.name, `${path}.name`), input: b.input ?? {} };
      if (carried.signature) Object.assign(call, { signature: carried.signature, origin: carried.origin });
      return withCache(call, b);
    }
    case 'tool_result': {
      const part: Part = { type: 'tool_result', toolCallId: fromClientToolId(string(b.tool_use_id, `${path}.tool_use_id`)).id, content: parseResultContent(b.content, `${path}.content`) };
      if (b.is_error === true) part.isError = true;
      return withCache(part, b);
    }
    case 'thinking':
      return { type: 'reasoning', text: string(b.thinking, `${path}.thinking`), ...(typeof b.signature === 'string' ? fromClientReasoningSignature(b.signature) : {}) };
    case 'redacted_thinking':
      return { type: 'reasoning', text: '', redacted: string(b.data, `${path}.data`), origin: 'anthropic' };
    default:
      if (typeof b.type !== 'string') invalid(`${path}.type`, 'must be a string');
      return { type: 'opaque', dialect: 'anthropic', name: b.type, raw: b };
  }
}

function parseImage(b: Json, path: string): ImagePart {
  const source = object(b.source, `${path}.source`);
  if (source.type === 'base64') {
    return withCache({ type: 'image', source: { kind: 'base64', mediaType: string(source.media_type, `${path}.source.media_type`), data: string(source.data, `${path}.source.data`) } }, b);
  }
  if (source.type === 'url') return withCache({ type: 'image', source: { kind: 'url', url: string(source.url, `${path}.source.url`) } }, b);
  invalid(`${path}.source.type`, 'must be "base64" or "url"');
}

function parseResultContent(content: unknown, path: string): string | Array<TextPart | ImagePart> {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  return array(content, path).map((block, i) => {
    const b = object(block, `${path}[${i}]`);
    if (b.type === 'text') return withCache({ type: 'text', text: string(b.text, `${path}[${i}].text`) }, b) as TextPart;
    if (b.type === 'image') return parseImage(b, `${path}[${i}]`);
    // Search results and documents inside tool results have no canonical form: keep their text.
    return { type: 'text', text: typeof b.text === 'string' ? b.text : JSON.stringify(b) } as TextPart;
  });
}

function parseTool(value: unknown, path: string): ToolDefinition {
  const t = object(value, path);
  const name = string(t.name, `${path}.name`);
  if (typeof t.type === 'string' && t.type !== 'custom') {
    // Server tools (web_search_20250305, code_execution, ...) run at the provider.
    return { name, inputSchema: {}, server: { type: t.type, raw: t } };
  }
  const tool: ToolDefinition = { name, inputSchema: t.input_schema === undefined ? { type: 'object' } : object(t.input_schema, `${path}.input_schema`) };
  const description = optionalString(t.description, `${path}.description`);
  if (description !== undefined) tool.description = description;
  return withCache(tool, t);
}

function parseToolChoice(c: Json): ToolChoice {
  const disableParallel = c.disable_parallel_tool_use === true ? { disableParallel: true } : {};
  switch (c.type) {
    case 'auto':
      return { type: 'auto', ...disableParallel };
    case 'any':
      return { type: 'any', ...disableParallel };
    case 'none':
      return { type: 'none' };
    case 'tool':
      return { type: 'tool', name: string(c.name, 'tool_choice.name'), ...disableParallel };
    default:
      invalid('tool_choice.type', 'must be "auto", "any", "tool" or "none"');
  }
}

function parseThinking(thinking: unknown, outputConfig: unknown): ThinkingConfig | undefined {
  const effort = isObject(outputConfig) && typeof outputConfig.effort === 'string' ? outputConfig.effort : undefined;
  if (thinking === undefined || thinking === null) return effort ? { type: 'adaptive', effort } : undefined;
  const t = object(thinking, 'thinking');
  if (t.type !== 'enabled' && t.type !== 'disabled' && t.type !== 'adaptive') invalid('thinking.type', 'must be "enabled", "disabled" or "adaptive"');
  const out: ThinkingConfig = { type: t.type };
  const budget = optionalNumber(t.budget_tokens, 'thinking.budget_tokens');
  if (budget !== undefined) out.budgetTokens = budget;
  if (effort) out.effort = effort;
  return out;
}

function withCache<T extends Part | ToolDefinition>(part: T, block: Json): T {
  if (isObject(block.cache_control)) (part as { cacheControl?: CacheControl }).cacheControl = block.cache_control as unknown as CacheControl;
  return part;
}
