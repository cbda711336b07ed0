/**
 * Gemini `generateContent` body → canonical request, for Gemini clients (and for checking that
 * buildRequest loses nothing: the two are inverses where Gemini can express the content).
 *
 *   parseGeminiRequest({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] })
 *
 * - The model and the stream flag are in the URL, not the body: `model` is '' and `stream` false
 *   here; the ingress that knows the URL fills them in.
 * - `functionResponse` is paired with its call by `id` when both have one, otherwise with the
 *   oldest unanswered call of the same name (Gemini 2.x sends no ids; the canonical model needs
 *   them, so calls without one get a generated `call_…` id that their response then shares).
 * - `{result: x}` / `{error: x}` responses become the result text (x itself when it is a string);
 *   any other response object is kept as its JSON text.
 * - Parts only Gemini knows (executableCode, codeExecutionResult, non-image inline data ...) are
 *   opaque parts: sent on unchanged to Gemini, reported as dropped elsewhere. Non-function tools
 *   (googleSearch, codeExecution ...) are server tools, likewise.
 * - generationConfig fields without a canonical meaning stay in `extras.generationConfig`.
 */
import type { CanonicalRequest, Message, Part, TextPart, ThinkingConfig, ToolChoice, ToolDefinition } from '../../canonical.ts';
import { array, extrasOf, isObject, object, optionalNumber, string, type Json } from '../shape.ts';
import { modelPartOf, newCallId, opaquePartOf } from './wire.ts';

// snake_case spellings of these (which Google also accepts) stay in extras: sent on to Gemini as they are.
const known = new Set(['model', 'contents', 'systemInstruction', 'tools', 'toolConfig', 'generationConfig']);
const knownGeneration = new Set(['maxOutputTokens', 'temperature', 'topP', 'topK', 'stopSequences', 'thinkingConfig']);

export function parseGeminiRequest(body: Json): CanonicalRequest {
  const pending = new Map<string, string[]>();
  const messages: Message[] = array(body.contents, 'contents').map((value, i) => {
    const path = `contents[${i}]`;
    const content = object(value, path);
    const role = content.role === 'model' ? 'assistant' : 'user';
    const parts = array(content.parts ?? [], `${path}.parts`).map((p, j) => parsePart(object(p, `${path}.parts[${j}]`), role, pending));
    return { role, content: parts.filter((p): p is Part => p !== undefined) };
  });

  const extras = extrasOf(body, known);
  const request: CanonicalRequest = {
    model: '',
    system: parseSystem(body.systemInstruction),
    messages,
    tools: parseTools(body.tools),
    stream: false,
    extras,
  };
  const choice = isObject(body.toolConfig) ? parseToolChoice(body.toolConfig.functionCallingConfig) : undefined;
  if (choice) request.toolChoice = choice;

  if (body.generationConfig !== undefined && body.generationConfig !== null) {
    const config = object(body.generationConfig, 'generationConfig');
    const maxTokens = optionalNumber(config.maxOutputTokens, 'generationConfig.maxOutputTokens');
    if (maxTokens !== undefined) request.maxTokens = maxTokens;
    const temperature = optionalNumber(config.temperature, 'generationConfig.temperature');
    if (temperature !== undefined) request.temperature = temperature;
    const topP = optionalNumber(config.topP, 'generationConfig.topP');
    if (topP !== undefined) request.topP = topP;
    const topK = optionalNumber(config.topK, 'generationConfig.topK');
    if (topK !== undefined) request.topK = topK;
    if (config.stopSequences !== undefined && config.stopSequences !== null) {
      request.stop = array(config.stopSequences, 'generationConfig.stopSequences').map((s, i) => string(s, `generationConfig.stopSequences[${i}]`));
    }
    const thinking = parseThinking(config.thinkingConfig);
    if (thinking) request.thinking = thinking;
    const rest = extrasOf(config, knownGeneration);
    if (Object.keys(rest).length > 0) extras.generationConfig = rest;
  }
  return request;
}

function parsePart(part: Json, role: 'user' | 'assistant', pending: Map<string, string[]>): Part | undefined {
  if (isObject(part.functionCall)) {
    const call = modelPartOf(part);
    if (call?.type === 'tool_call') {
      const queue = pending.get(call.name) ?? [];
      queue.push(call.id);
      pending.set(call.name, queue);
    }
    return call;
  }
  if (isObject(part.functionResponse)) {
    const res = part.functionResponse;
    const name = String(res.name ?? '');
    const queue = pending.get(name) ?? [];
    let id = typeof res.id === 'string' && res.id ? res.id : undefined;
    if (id !== undefined && queue.includes(id)) queue.splice(queue.indexOf(id), 1);
    else id ??= queue.shift() ?? newCallId();
    const response = isObject(res.response) ? res.response : {};
    const isError = 'error' in response && !('result' in response);
    const value = isError ? response.error : 'result' in response ? response.result : response;
    return { type: 'tool_result', toolCallId: id, content: typeof value === 'string' ? value : JSON.stringify(value ?? null), ...(isError ? { isError: true } : {}) };
  }
  if (typeof part.text === 'string') {
    // Thought text in a user turn is not reasoning anyone can sign; it is just text.
    if (role === 'assistant') return modelPartOf(part);
    return part.text === '' ? undefined : { type: 'text', text: part.text };
  }
  if (isObject(part.inlineData) && typeof part.inlineData.mimeType === 'string' && part.inlineData.mimeType.startsWith('image/') && typeof part.inlineData.data === 'string') {
    return { type: 'image', source: { kind: 'base64', mediaType: part.inlineData.mimeType, data: part.inlineData.data } };
  }
  if (isObject(part.fileData) && typeof part.fileData.fileUri === 'string' && (typeof part.fileData.mimeType !== 'string' || part.fileData.mimeType.startsWith('image/'))) {
    return { type: 'image', source: { kind: 'url', url: part.fileData.fileUri } };
  }
  return opaquePartOf(part);
}

function parseSystem(value: unknown): TextPart[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return value === '' ? [] : [{ type: 'text', text: value }];
  const instruction = object(value, 'systemInstruction');
  return array(instruction.parts ?? [], 'systemInstruction.parts').map((p, i) => ({ type: 'text', text: string(object(p, `systemInstruction.parts[${i}]`).text, `systemInstruction.parts[${i}].text`) }));
}

function parseTools(value: unknown): ToolDefinition[] {
  if (value === undefined || value === null) return [];
  const tools: ToolDefinition[] = [];
  array(value, 'tools').forEach((t, i) => {
    const tool = object(t, `tools[${i}]`);
    for (const [key, entry] of Object.entries(tool)) {
      if (key !== 'functionDeclarations' && key !== 'function_declarations') {
        tools.push({ name: key, inputSchema: {}, server: { type: key, raw: { [key]: entry } } });
        continue;
      }
      array(entry, `tools[${i}].${key}`).forEach((d, j) => {
        const path = `tools[${i}].${key}[${j}]`;
        const declaration = object(d, path);
        const raw = declaration.parametersJsonSchema ?? declaration.parameters_json_schema;
        const schema = isObject(raw) ? raw : isObject(declaration.parameters) ? jsonSchemaOf(declaration.parameters) : { type: 'object', properties: {} };
        const def: ToolDefinition = { name: string(declaration.name, `${path}.name`), inputSchema: schema };
        if (typeof declaration.description === 'string') def.description = declaration.description;
        tools.push(def);
      });
    }
  });
  return tools;
}

/**
 * Gemini's OpenAPI-style `parameters` → JSON Schema, so other dialects' providers can read it:
 * type names are lower-cased (`STRING` → `string`) and `nullable: true` becomes a `null` type
 * (which schema-cleanup.ts turns back into `nullable` for Gemini).
 */
function jsonSchemaOf(schema: Json): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'type' && typeof value === 'string') out.type = value.toLowerCase();
    else if (key === 'nullable') continue;
    else if (key === 'properties' && isObject(value)) out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, isObject(v) ? jsonSchemaOf(v) : v]));
    else if (key === 'items' && isObject(value)) out.items = jsonSchemaOf(value);
    else if (key === 'anyOf' && Array.isArray(value)) out.anyOf = value.map((v) => (isObject(v) ? jsonSchemaOf(v) : v));
    else out[key] = value;
  }
  if (schema.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  return out;
}

function parseToolChoice(value: unknown): ToolChoice | undefined {
  if (!isObject(value)) return undefined;
  const allowed = Array.isArray(value.allowedFunctionNames) ? value.allowedFunctionNames.filter((n): n is string => typeof n === 'string') : [];
  switch (value.mode) {
    case 'NONE':
      return { type: 'none' };
    case 'ANY':
    case 'VALIDATED':
      return allowed.length === 1 ? { type: 'tool', name: allowed[0] } : { type: 'any' };
    case 'AUTO':
      return { type: 'auto' };
    default:
      return undefined;
  }
}

/**
 * thinkingBudget 0 turns thinking off; a positive budget is `enabled` with that budget; thoughts
 * asked for without a budget (or with -1, "dynamic") are `adaptive`.
 */
function parseThinking(value: unknown): ThinkingConfig | undefined {
  if (!isObject(value)) return undefined;
  const budget = typeof value.thinkingBudget === 'number' ? value.thinkingBudget : undefined;
  const effort = typeof value.thinkingLevel === 'string' ? { effort: value.thinkingLevel.toLowerCase() } : {};
  if (budget === 0) return { type: 'disabled' };
  if (budget !== undefined && budget > 0) return { type: 'enabled', budgetTokens: budget, ...effort };
  if (value.includeThoughts === true || budget === -1 || effort.effort) return { type: 'adaptive', ...effort };
  return undefined;
}
