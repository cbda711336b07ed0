/**
 * The package entry, `router-kernel`: everything a plugin may use. Built-in plugins import from
 * here and nowhere else, exactly as third-party plugins do.
 *
 *   import { definePlugin, upstreamClient, routerError } from 'router-kernel';
 */
export * from './contract.ts';
export type * from './canonical.ts';
export { emptyUsage, textOf } from './canonical.ts';
export { beginStream, collectEvents, messageToEvents, parseToolArguments, streamErrorToRouterError } from './canonical-stream.ts';
export { isRouterError, RouterError, routerError, type ErrorCode, type ErrorKind } from './errors.ts';
export { encodeSse, encodeSseComment, readSse, SseReader, type SseEvent } from './sse.ts';
export { parseBytes, parseDuration } from './config/units.ts';
export { estimateTextTokens, estimateTokens } from './tokens/estimate.ts';
export { readJson, upstreamClient, type UpstreamClient, type UpstreamClientOptions, type UpstreamRequest, type UpstreamResponse } from './upstream/http-client.ts';
export { errorMessageOf, retryAfterSeconds, scrubSecrets, upstreamHttpError, upstreamNetworkError } from './upstream/upstream-error.ts';
export { buildOpenAIRequest, defaultFlavor as defaultOpenAIFlavor, type OpenAIFlavor } from './dialects/openai/build-request.ts';
export { createOpenAIStreamReader, parseOpenAIResponse, type OpenAIStreamReader } from './dialects/openai/read-response.ts';
export { parseAnthropicRequest } from './dialects/anthropic/parse-request.ts';
export { parseOpenAIRequest } from './dialects/openai/parse-request.ts';
export { kernelVersion } from './version.ts';
