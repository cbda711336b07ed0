/** The OpenAI Chat Completions dialect: what the kernel uses for `/v1/chat/completions` clients. */
import type { IngressCodec } from '../ingress.ts';
import { parseOpenAIRequest } from './parse-request.ts';
import { createOpenAIStreamWriter, renderOpenAIError, renderOpenAIMessage } from './render-response.ts';

export const openaiIngress: IngressCodec = {
  dialect: 'openai',
  parseRequest: parseOpenAIRequest,
  renderMessage: (message) => renderOpenAIMessage(message),
  createStreamWriter: (_request, body) => createOpenAIStreamWriter(body),
  renderError: renderOpenAIError,
};
