/**
 * The Ollama dialect: its native `POST /api/chat`, as clients speak it and as Ollama answers.
 * Streams are NDJSON (`application/x-ndjson`), one JSON object per line, read and written through
 * the kernel's one NDJSON reader/encoder (core/ndjson.ts).
 *
 *   const body = ollamaCodec.buildRequest(ctx.request, { model, source: ctx.dialect, dropped, think: 'auto' });
 *
 * The rules of each direction are in the module comments of build-request.ts, parse-request.ts,
 * read-response.ts and render-response.ts; tool-call ids (Ollama has none) in tool-calls.ts.
 */
import type { DialectCodec } from '../codec.ts';
import { buildOllamaRequest, type OllamaBuildOptions } from './build-request.ts';
import { parseOllamaRequest } from './parse-request.ts';
import { createOllamaStreamReader, parseOllamaResponse } from './read-response.ts';
import { createOllamaStreamWriter, renderOllamaError, renderOllamaMessage } from './render-response.ts';

export type { OllamaBuildOptions, OllamaThinkMode } from './build-request.ts';

export const ollamaCodec: DialectCodec<OllamaBuildOptions> = {
  dialect: 'ollama',
  framing: 'ndjson',
  parseRequest: parseOllamaRequest,
  renderMessage: (message) => renderOllamaMessage(message),
  createStreamWriter: () => createOllamaStreamWriter(),
  renderError: (err) => renderOllamaError(err),
  buildRequest: buildOllamaRequest,
  parseMessage: parseOllamaResponse,
  createStreamReader: createOllamaStreamReader,
};
