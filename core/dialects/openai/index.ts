/** The OpenAI Chat Completions dialect, both as clients speak it and as providers answer in it. */
import type { DialectCodec } from '../codec.ts';
import { buildOpenAIRequest, type OpenAIBuildOptions } from './build-request.ts';
import { parseOpenAIRequest } from './parse-request.ts';
import { createOpenAIStreamReader, parseOpenAIResponse } from './read-response.ts';
import { createOpenAIStreamWriter, renderOpenAIError, renderOpenAIMessage } from './render-response.ts';

export const openaiCodec: DialectCodec<OpenAIBuildOptions> = {
  dialect: 'openai',
  framing: 'sse',
  parseRequest: parseOpenAIRequest,
  renderMessage: (message, _request, _body, requestId) => renderOpenAIMessage(message, requestId),
  createStreamWriter: (_request, body, requestId) => createOpenAIStreamWriter(body, requestId),
  renderError: renderOpenAIError,
  buildRequest: buildOpenAIRequest,
  parseMessage: parseOpenAIResponse,
  createStreamReader: createOpenAIStreamReader,
};
