/**
 * A complete Gemini answer (GenerateContentResponse JSON) → canonical answer.
 *
 *   const message = parseGeminiResponse(await res.body.json());
 *
 * Parts are read by wire.ts `modelPartOf` (thought text → reasoning signed by its own
 * thoughtSignature; functionCall → tool_call with origin 'gemini'; a signature on plain text is
 * dropped). An answer the model broke (MALFORMED_FUNCTION_CALL) or an `{error: …}` body is thrown
 * as a catalog error rather than returned as an empty answer, so retries and fallbacks can act on
 * it; a prompt blocked before any candidate (promptFeedback.blockReason) is a `content_filter`.
 */
import type { CanonicalResponse, Part } from '../../canonical.ts';
import { routerError } from '../../errors.ts';
import { upstreamHttpError } from '../../upstream/upstream-error.ts';
import { isObject, type Json } from '../shape.ts';
import { malformedCallMessage, modelPartOf, stopReasonOf, usageOf } from './wire.ts';

export function parseGeminiResponse(body: Json): CanonicalResponse {
  if (isObject(body.error)) {
    const status = typeof body.error.code === 'number' ? body.error.code : 502;
    throw upstreamHttpError('gemini', status, JSON.stringify(body), {});
  }
  const candidate = Array.isArray(body.candidates) && isObject(body.candidates[0]) ? body.candidates[0] : undefined;
  const content: Part[] = [];
  const parts = candidate && isObject(candidate.content) && Array.isArray(candidate.content.parts) ? candidate.content.parts : [];
  for (const raw of parts) {
    const part = isObject(raw) ? modelPartOf(raw) : undefined;
    if (part) content.push(part);
  }
  if (candidate?.finishReason === 'MALFORMED_FUNCTION_CALL') {
    throw routerError('RK_UPSTREAM_BAD_RESPONSE', { provider: 'gemini', reason: malformedCallMessage(candidate) });
  }
  const blocked = !candidate && isObject(body.promptFeedback) && typeof body.promptFeedback.blockReason === 'string';
  return {
    id: typeof body.responseId === 'string' ? body.responseId : '',
    model: typeof body.modelVersion === 'string' ? body.modelVersion : '',
    content,
    stopReason: blocked ? 'content_filter' : stopReasonOf(candidate?.finishReason, content.some((p) => p.type === 'tool_call')),
    stopSequence: null,
    usage: usageOf(body.usageMetadata),
  };
}
