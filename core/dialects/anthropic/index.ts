/** The Anthropic Messages dialect, both as clients speak it and as providers answer in it. */
import type { DialectCodec } from '../codec.ts';
import { buildAnthropicRequest, type AnthropicBuildOptions } from './build-request.ts';
import { parseAnthropicRequest } from './parse-request.ts';
import { createAnthropicStreamReader, parseAnthropicMessage } from './read-response.ts';
import { createAnthropicStreamWriter, renderAnthropicError, renderAnthropicMessage } from './render-response.ts';

export const anthropicCodec: DialectCodec<AnthropicBuildOptions> = {
  dialect: 'anthropic',
  framing: 'sse',
  parseRequest: parseAnthropicRequest,
  renderMessage: (message, _request, _body, requestId) => renderAnthropicMessage(message, requestId),
  createStreamWriter: (_request, _body, requestId) => createAnthropicStreamWriter(requestId),
  renderError: renderAnthropicError,
  buildRequest: buildAnthropicRequest,
  parseMessage: parseAnthropicMessage,
  createStreamReader: createAnthropicStreamReader,
};
