/** The Anthropic Messages dialect: what the kernel uses for `/v1/messages` clients. */
import type { IngressCodec } from '../ingress.ts';
import { parseAnthropicRequest } from './parse-request.ts';
import { createAnthropicStreamWriter, renderAnthropicError, renderAnthropicMessage } from './render-response.ts';

export const anthropicIngress: IngressCodec = {
  dialect: 'anthropic',
  parseRequest: parseAnthropicRequest,
  renderMessage: (message) => renderAnthropicMessage(message),
  createStreamWriter: () => createAnthropicStreamWriter(),
  renderError: renderAnthropicError,
};
