/**
 * The small vocabulary the Gemini codec's readers and writers share, kept in one place so each
 * mapping and its inverse sit side by side: finish reasons, usage, error statuses, the reading of
 * one answer part, media types of image URLs and generated call ids.
 *
 *   stopReasonOf('STOP', true)  // 'tool_use'
 *   finishReasonOf('tool_use')  // 'STOP'
 */
import { randomBytes } from 'node:crypto';
import type { OpaquePart, Part, StopReason, Usage } from '../../canonical.ts';
import type { ErrorKind } from '../../errors.ts';
import { isObject, type Json } from '../shape.ts';

/** Gemini reasons that mean "a filter stopped the answer". */
const filtered = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'LANGUAGE']);

/**
 * Gemini says STOP both for a plain answer and for one that calls functions, so whether the answer
 * has calls decides between end_turn and tool_use. MALFORMED_FUNCTION_CALL is not a stop reason
 * here: readers turn it into an error (see malformedCallMessage).
 */
export function stopReasonOf(reason: unknown, hasCalls: boolean): StopReason {
  if (reason === 'MAX_TOKENS') return 'max_tokens';
  if (typeof reason === 'string' && filtered.has(reason)) return 'content_filter';
  if (reason === 'MALFORMED_FUNCTION_CALL') return 'error';
  return hasCalls ? 'tool_use' : 'end_turn';
}

/** The inverse of stopReasonOf, for Gemini clients. */
export function finishReasonOf(reason: StopReason): string {
  switch (reason) {
    case 'max_tokens':
      return 'MAX_TOKENS';
    case 'content_filter':
    case 'refusal':
      return 'SAFETY';
    case 'error':
      return 'OTHER';
    default:
      return 'STOP';
  }
}

export function malformedCallMessage(candidate: Json): string {
  const detail = typeof candidate.finishMessage === 'string' && candidate.finishMessage ? `: ${candidate.finishMessage}` : '';
  return `the model produced a malformed function call (finishReason MALFORMED_FUNCTION_CALL)${detail}`;
}

/**
 * usageMetadata → canonical usage. `promptTokenCount` includes cached tokens, so input excludes
 * them (the canonical convention); thinking is billed as output, as Anthropic counts it, and also
 * reported on its own. Tool-use prompt tokens (search or code-execution results fed back to the
 * model) are input the model read, so they count as input.
 */
export function usageOf(meta: unknown): Usage {
  if (!isObject(meta)) return { inputTokens: 0, outputTokens: 0 };
  const cached = num(meta.cachedContentTokenCount);
  const thoughts = num(meta.thoughtsTokenCount);
  const usage: Usage = {
    inputTokens: Math.max(0, num(meta.promptTokenCount) + num(meta.toolUsePromptTokenCount) - cached),
    outputTokens: num(meta.candidatesTokenCount) + thoughts,
  };
  if (cached > 0) usage.cacheReadTokens = cached;
  if (thoughts > 0) usage.reasoningTokens = thoughts;
  return usage;
}

/** The inverse of usageOf. Cache writes have no Gemini field; they are counted as prompt. */
export function usageMetadataOf(usage: Usage): Json {
  const cached = usage.cacheReadTokens ?? 0;
  const thoughts = Math.min(usage.reasoningTokens ?? 0, usage.outputTokens);
  const prompt = usage.inputTokens + cached + (usage.cacheWriteTokens ?? 0);
  const candidates = usage.outputTokens - thoughts;
  const meta: Json = { promptTokenCount: prompt, candidatesTokenCount: candidates, totalTokenCount: prompt + candidates + thoughts };
  if (cached > 0) meta.cachedContentTokenCount = cached;
  if (thoughts > 0) meta.thoughtsTokenCount = thoughts;
  return meta;
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** google.rpc status names for the catalog's kinds (what renderError writes). */
const statusNames: Record<ErrorKind, string> = {
  invalid_request: 'INVALID_ARGUMENT',
  authentication: 'UNAUTHENTICATED',
  permission: 'PERMISSION_DENIED',
  not_found: 'NOT_FOUND',
  request_too_large: 'INVALID_ARGUMENT',
  rate_limit: 'RESOURCE_EXHAUSTED',
  api_error: 'INTERNAL',
  overloaded: 'UNAVAILABLE',
  timeout: 'DEADLINE_EXCEEDED',
};

export function statusNameOf(kind: string): string {
  return statusNames[kind as ErrorKind] ?? 'INTERNAL';
}

/** The inverse: a google.rpc status (from an `{error:…}` chunk) → the catalog's kind. */
export function errorKindOf(status: unknown): ErrorKind {
  switch (status) {
    case 'INVALID_ARGUMENT':
    case 'FAILED_PRECONDITION':
    case 'OUT_OF_RANGE':
      return 'invalid_request';
    case 'UNAUTHENTICATED':
      return 'authentication';
    case 'PERMISSION_DENIED':
      return 'permission';
    case 'NOT_FOUND':
      return 'not_found';
    case 'RESOURCE_EXHAUSTED':
      return 'rate_limit';
    case 'UNAVAILABLE':
      return 'overloaded';
    case 'DEADLINE_EXCEEDED':
      return 'timeout';
    default:
      return 'api_error';
  }
}

const imageTypes: Record<string, string> = {
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp',
  heic: 'image/heic', heif: 'image/heif', bmp: 'image/bmp', svg: 'image/svg+xml',
};

/** fileData needs a mimeType and an image URL rarely says one; the extension is the best guess. */
export function mimeTypeOfUrl(url: string): string {
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    // not an absolute URL: read the extension from the text itself
  }
  const ext = /\.([a-z0-9]+)$/i.exec(path.split(/[?#]/)[0])?.[1]?.toLowerCase();
  return (ext && imageTypes[ext]) || 'image/jpeg';
}

/** Gemini 2.x sends calls without ids, but every client needs one to answer the call. */
export function newCallId(): string {
  return `call_${randomBytes(12).toString('hex')}`;
}

/** Gemini's documented value for "this call has no signature; skip validating it". */
export const signatureSentinel = 'skip_thought_signature_validator';

/** A part's thoughtSignature, if it is a real one (the sentinel stands for "none"). */
export function signatureOf(part: Json): string | undefined {
  const value = part.thoughtSignature;
  return typeof value === 'string' && value !== '' && value !== signatureSentinel ? value : undefined;
}

/**
 * One part of a model turn → a canonical part (undefined when it carries nothing canonical).
 * `thought: true` text is reasoning whose signature is that part's own thoughtSignature; a
 * thoughtSignature on plain text is dropped, because a text part has nowhere to keep it and
 * Gemini does not validate signatures on text parts (only on function calls). A call's origin
 * says who made its signature, so it is set only with one. Parts only Gemini knows (code
 * execution, generated images) are opaque parts, sent back only to Gemini.
 */
export function modelPartOf(part: Json): Part | undefined {
  const signature = signatureOf(part);
  if (typeof part.text === 'string') {
    if (part.thought === true) return { type: 'reasoning', text: part.text, origin: 'gemini', ...(signature ? { signature } : {}) };
    return part.text === '' ? undefined : { type: 'text', text: part.text };
  }
  if (isObject(part.functionCall)) {
    const call = part.functionCall;
    const id = typeof call.id === 'string' && call.id ? call.id : newCallId();
    return { type: 'tool_call', id, name: String(call.name ?? ''), input: isObject(call.args) ? call.args : {}, ...(signature ? { signature, origin: 'gemini' } : {}) };
  }
  return opaquePartOf(part);
}

export function opaquePartOf(part: Json): OpaquePart | undefined {
  const name = Object.keys(part).find((k) => k !== 'thoughtSignature' && k !== 'thought');
  return name === undefined ? undefined : { type: 'opaque', dialect: 'gemini', name, raw: part };
}
