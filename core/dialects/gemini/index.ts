/**
 * The Gemini API dialect (v1beta `generateContent` / `streamGenerateContent?alt=sse`), both as a
 * provider answers in it and as a Gemini client would speak it.
 *
 *   const body = geminiCodec.buildRequest(request, { model, source: ctx.dialect, dropped: ctx.dropped });
 *   // POST {base}/models/{model}:generateContent  (x-goog-api-key: …)
 *
 * The rules, each documented in its own file:
 * - build-request.ts: canonical → request body (system instruction, turn merging, function
 *   names for results, thought signatures and the sentinel fallback, what is reported dropped);
 * - schema-cleanup.ts: JSON Schema → Gemini's OpenAPI subset for tool parameters;
 * - parse-request.ts: request body → canonical (the inverse, for Gemini clients);
 * - read-response.ts / read-stream.ts: answers → canonical (parts, signatures, finish reasons,
 *   usage: input excludes cached tokens, thinking counts as output and as reasoning);
 * - render-response.ts: canonical → answers and errors for Gemini clients;
 * - wire.ts: the mappings the readers and writers share.
 */
import type { DialectCodec } from '../codec.ts';
import { buildGeminiRequest, type GeminiBuildOptions } from './build-request.ts';
import { parseGeminiRequest } from './parse-request.ts';
import { parseGeminiResponse } from './read-response.ts';
import { createGeminiStreamReader } from './read-stream.ts';
import { createGeminiStreamWriter, renderGeminiError, renderGeminiMessage } from './render-response.ts';

export type { GeminiBuildOptions } from './build-request.ts';
export { signatureSentinel } from './wire.ts';
export { cleanSchema } from './schema-cleanup.ts';

export const geminiCodec: DialectCodec<GeminiBuildOptions> = {
  dialect: 'gemini',
  framing: 'sse',
  parseRequest: parseGeminiRequest,
  renderMessage: (message) => renderGeminiMessage(message),
  createStreamWriter: () => createGeminiStreamWriter(),
  renderError: renderGeminiError,
  buildRequest: buildGeminiRequest,
  parseMessage: parseGeminiResponse,
  createStreamReader: createGeminiStreamReader,
};
