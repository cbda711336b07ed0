/**
 * Canonical request → Gemini `generateContent` body (v1beta). The model is not in the body: the
 * provider puts it in the URL. What Gemini cannot carry is reported through `dropped`.
 *
 *   geminiCodec.buildRequest(request, { model, source: 'anthropic', dropped, signatureFallback: true })
 *
 * - Leading system text → `systemInstruction`; a `system` message later in the conversation
 *   becomes user text (Gemini has one system slot), reported as `system_message.position`.
 * - Gemini wants user and model turns to alternate, so consecutive contents of one role merge.
 * - Tool results → `functionResponse` named after the call they answer (Gemini pairs by name, the
 *   canonical model by id): `{result: text}`, or `{error: text}` when the tool failed. Images in
 *   a result follow it in the same turn as their own inlineData/fileData parts.
 * - Tool calls → `functionCall {name, args, id}`, with `thoughtSignature` when the call came from
 *   Gemini (origin 'gemini'). Gemini 3 rejects a model turn whose function calls carry no
 *   signature, which is what every call from another provider (or an edited history) looks like:
 *   then the first call of the turn gets the documented sentinel `skip_thought_signature_validator`
 *   (option `signatureFallback`, default true). Gemini signs only the first of parallel calls; the
 *   router sends back exactly what it received, and puts the sentinel on the first call only.
 * - Reasoning signed by Gemini goes back as `{text, thought: true, thoughtSignature}`. Unsigned
 *   reasoning is left out (Gemini never reads thought text it did not sign; not a reported drop);
 *   reasoning signed by another provider, or redacted, is reported as `thinking.signature`.
 * - Images: base64 → inlineData; URL → fileData, mimeType guessed from the extension.
 * - Tools → one `functionDeclarations` list; parameters cleaned for Gemini's schema subset
 *   (schema-cleanup.ts), or sent raw as `parametersJsonSchema` with `schemaMode: 'json_schema'`.
 *   Server tools from other dialects are reported as `tool:<type>`.
 * - `cache_control` anywhere is reported (Gemini caches through `cachedContent` resources only).
 * - Extras: a Gemini client's own fields (safetySettings, extra generationConfig ...) are copied;
 *   other dialects' extras and `user` are reported.
 */
import type { CanonicalRequest, Message, Part, ToolCallPart } from '../../canonical.ts';
import type { BuildOptions } from '../codec.ts';
import { isObject, type Json } from '../shape.ts';
import { cleanSchema } from './schema-cleanup.ts';
import { mimeTypeOfUrl, signatureSentinel } from './wire.ts';

export interface GeminiBuildOptions extends BuildOptions {
  /** 'clean' (default): `parameters` in Gemini's OpenAPI subset; 'json_schema': raw `parametersJsonSchema`. */
  schemaMode?: 'clean' | 'json_schema';
  /** Sign unsigned function-call turns with Gemini's documented sentinel (default true). */
  signatureFallback?: boolean;
  /** The largest thinking budget sent (default 24576, what Gemini 2.5 Flash accepts). */
  maxThinkingBudget?: number;
}

interface Content {
  role: 'user' | 'model';
  parts: Json[];
}

export function buildGeminiRequest(request: CanonicalRequest, options: GeminiBuildOptions): Json {
  const body: Json = {};
  const contents: Content[] = [];
  const names = callNames(request.messages);
  for (const message of request.messages) {
    if (message.role === 'system') options.dropped('system_message.position');
    const role = message.role === 'assistant' ? 'model' : 'user';
    const parts = role === 'model' ? modelParts(message, options) : userParts(message, names, options);
    if (parts.length === 0) continue;
    const last = contents[contents.length - 1];
    if (last?.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  }
  if (options.signatureFallback !== false) for (const content of contents) if (content.role === 'model') signTurn(content);
  body.contents = contents;

  if (request.system.length > 0) {
    body.systemInstruction = { parts: request.system.map((p) => ({ text: p.text })) };
    if (request.system.some((p) => p.cacheControl)) options.dropped('cache_control');
  }
  addTools(body, request, options);
  const generation = generationConfigOf(request, options);
  if (Object.keys(generation).length > 0) body.generationConfig = generation;

  if (request.user !== undefined) options.dropped(options.source === 'openai' ? 'user' : 'metadata.user_id');
  for (const [key, value] of Object.entries(request.extras)) {
    if (options.source !== 'gemini') options.dropped(key);
    else if (key !== 'generationConfig') body[key] = value;
  }
  return body;
}

function addTools(body: Json, request: CanonicalRequest, options: GeminiBuildOptions): void {
  const declarations: Json[] = [];
  const passed: Json[] = [];
  for (const tool of request.tools) {
    if (tool.cacheControl) options.dropped('cache_control');
    if (tool.server) {
      if (options.source === 'gemini') passed.push(tool.server.raw);
      else options.dropped(`tool:${tool.server.type}`);
      continue;
    }
    const declaration: Json = { name: tool.name };
    if (tool.description !== undefined) declaration.description = tool.description;
    if (options.schemaMode === 'json_schema') declaration.parametersJsonSchema = tool.inputSchema;
    else declaration.parameters = cleanSchema(tool.inputSchema);
    declarations.push(declaration);
  }
  if (declarations.length > 0 || passed.length > 0) body.tools = [...(declarations.length > 0 ? [{ functionDeclarations: declarations }] : []), ...passed];
  const choice = request.toolChoice;
  if (!choice || declarations.length === 0) return;
  const config: Json = { mode: choice.type === 'auto' ? 'AUTO' : choice.type === 'none' ? 'NONE' : 'ANY' };
  if (choice.type === 'tool') config.allowedFunctionNames = [choice.name];
  body.toolConfig = { functionCallingConfig: config };
  // Gemini has no switch for parallel calls.
  if (choice.type !== 'none' && choice.disableParallel) options.dropped(options.source === 'openai' ? 'parallel_tool_calls' : 'disable_parallel_tool_use');
}

function generationConfigOf(request: CanonicalRequest, options: GeminiBuildOptions): Json {
  const generation: Json = options.source === 'gemini' && isObject(request.extras.generationConfig) ? { ...request.extras.generationConfig } : {};
  if (request.maxTokens !== undefined) generation.maxOutputTokens = request.maxTokens;
  if (request.temperature !== undefined) generation.temperature = request.temperature;
  if (request.topP !== undefined) generation.topP = request.topP;
  if (request.topK !== undefined) generation.topK = request.topK;
  if (request.stop && request.stop.length > 0) {
    // Gemini takes at most five stop sequences.
    generation.stopSequences = request.stop.slice(0, 5);
    if (request.stop.length > 5) options.dropped('stop_sequences');
  }
  const thinking = request.thinking;
  if (thinking && thinking.type !== 'disabled') {
    const config: Json = { includeThoughts: true };
    if (thinking.type === 'enabled' && thinking.budgetTokens !== undefined) {
      // Claude Code asks for 31999; Gemini 2.5 Flash accepts at most 24576 (Pro 32768).
      const limit = options.maxThinkingBudget ?? 24576;
      config.thinkingBudget = Math.min(thinking.budgetTokens, limit);
      if (thinking.budgetTokens > limit) options.dropped('thinking.budget_tokens');
    }
    // Only a Gemini client's own thinkingLevel is known to suit the model it asked for.
    if (thinking.effort && options.source === 'gemini') config.thinkingLevel = thinking.effort;
    generation.thinkingConfig = config;
  } else if (thinking?.type === 'disabled' && options.source === 'gemini') {
    // A Gemini client's own `thinkingBudget: 0`. From other dialects "disabled" is just the
    // default, and Gemini 2.5 Pro rejects a zero budget, so nothing is sent for them.
    generation.thinkingConfig = { thinkingBudget: 0 };
  }
  return generation;
}

/** Tool call id → function name, for every call in the conversation. */
function callNames(messages: Message[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const message of messages) for (const part of message.content) if (part.type === 'tool_call') names.set(part.id, part.name);
  return names;
}

function modelParts(message: Message, options: GeminiBuildOptions): Json[] {
  const parts: Json[] = [];
  for (const part of message.content) {
    if ('cacheControl' in part && part.cacheControl) options.dropped('cache_control');
    switch (part.type) {
      case 'text':
        if (part.text !== '') parts.push({ text: part.text });
        break;
      case 'tool_call':
        parts.push(functionCallPart(part));
        break;
      case 'reasoning':
        if (part.origin === 'gemini' && part.signature) parts.push({ text: part.text, thought: true, thoughtSignature: part.signature });
        else if (part.redacted !== undefined || (part.signature && part.origin !== 'gemini')) options.dropped('thinking.signature');
        break;
      default:
        otherPart(part, parts, options);
    }
  }
  return parts;
}

function functionCallPart(part: ToolCallPart): Json {
  const out: Json = { functionCall: { name: part.name, args: isObject(part.input) ? part.input : {}, id: part.id } };
  if (part.signature && part.origin === 'gemini') out.thoughtSignature = part.signature;
  return out;
}

/** A model turn with calls none of which is signed gets the sentinel on its first call. */
function signTurn(content: Content): void {
  const calls = content.parts.filter((p) => isObject(p.functionCall));
  if (calls.length > 0 && !calls.some((p) => typeof p.thoughtSignature === 'string')) calls[0].thoughtSignature = signatureSentinel;
}

function userParts(message: Message, names: Map<string, string>, options: GeminiBuildOptions): Json[] {
  const parts: Json[] = [];
  for (const part of message.content) {
    if ('cacheControl' in part && part.cacheControl) options.dropped('cache_control');
    if (part.type === 'text') {
      if (part.text !== '') parts.push({ text: part.text });
    } else if (part.type === 'tool_result') {
      const content = typeof part.content === 'string' ? [{ type: 'text' as const, text: part.content }] : part.content;
      const text = content.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('\n\n');
      // A result whose call is not in the conversation still needs a name; its id is all there is.
      const name = names.get(part.toolCallId) ?? part.toolCallId;
      parts.push({ functionResponse: { name, response: part.isError ? { error: text } : { result: text }, id: part.toolCallId } });
      for (const inner of content) {
        if (inner.cacheControl) options.dropped('cache_control');
        if (inner.type === 'image') otherPart(inner, parts, options);
      }
    } else otherPart(part, parts, options);
  }
  return parts;
}

function otherPart(part: Part, parts: Json[], options: GeminiBuildOptions): void {
  if (part.type === 'image') {
    const source = part.source;
    parts.push(source.kind === 'base64' ? { inlineData: { mimeType: source.mediaType, data: source.data } } : { fileData: { mimeType: mimeTypeOfUrl(source.url), fileUri: source.url } });
  } else if (part.type === 'opaque') {
    if (part.dialect === 'gemini' && isObject(part.raw)) parts.push(part.raw);
    else options.dropped(part.name);
  } else if (part.type === 'tool_call') parts.push(functionCallPart(part));
  else options.dropped(part.type);
}
