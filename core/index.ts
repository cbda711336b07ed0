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
export { EventStream, type PullEvents } from './event-stream.ts';
export { isRouterError, RouterError, routerError, type ErrorCode, type ErrorKind } from './errors.ts';
export { encodeSse, encodeSseComment, readSse, SseReader, type SseEvent } from './sse.ts';
export { parseBytes, parseDuration } from './config/units.ts';
export { estimateTextTokens, estimateTokens } from './tokens/estimate.ts';
export { requestBlocks, type PartPosition, type RequestBlocks } from './tokens/blocks.ts';
export { encodingFor, tokenFamilies, tokenFamilyFor, type TokenFamily, type TokenFamilyName } from './tokens/families.ts';
export type { CountOptions, Encoding, TokenCount } from './tokens/token-counter.ts';
export { readJson, upstreamClient, type UpstreamClient, type UpstreamClientOptions, type UpstreamRequest, type UpstreamResponse } from './upstream/http-client.ts';
export type { UpstreamBody } from './upstream/upstream-body.ts';
export { errorMessageOf, retryAfterSeconds, scrubSecrets, upstreamHttpError, upstreamNetworkError } from './upstream/upstream-error.ts';
export type { BuildOptions, DialectCodec, IngressCodec, ProviderCodec, StreamReader, StreamWriter } from './dialects/codec.ts';
export type { Json } from './dialects/shape.ts';
export type { OpenAIBuildOptions } from './dialects/openai/build-request.ts';
export { flavorFor as openaiFlavorFor, vendors as openaiVendors, type OpenAIFlavor, type Vendor as OpenAIVendor } from './dialects/openai/flavor.ts';
export { openaiCodec } from './dialects/openai/index.ts';
export { anthropicCodec } from './dialects/anthropic/index.ts';
export { geminiCodec, type GeminiBuildOptions } from './dialects/gemini/index.ts';
export { ollamaCodec, type OllamaBuildOptions, type OllamaThinkMode } from './dialects/ollama/index.ts';
export { carriesRouterMarkers, fromClientReasoningSignature, fromClientToolId, toClientReasoningSignature, toClientToolId } from './dialects/carry.ts';
export { encodeNdjson, NdjsonReader, readNdjson } from './ndjson.ts';
export { callProvider, type ProviderCallSpec } from './upstream/call-provider.ts';
export { passthrough, type PassthroughSpec } from './upstream/passthrough.ts';
export { RawJsonObject } from './dialects/raw-json.ts';
export type { AnthropicBuildOptions } from './dialects/anthropic/build-request.ts';
export { connectionOptionsSchema, keyOptionsSchema, keyStrings, upstreamFromOptions, type ConnectionOptions, type KeyOption } from './upstream/connection-options.ts';
export { kernelVersion } from './version.ts';
export { defineRouter, type CustomRouter, type CustomRouterContext, type RouteChoice } from './plugins/define-router.ts';
export { fingerprint } from './generation/catalog.ts';
export { classifyFailure, transientStatuses, type Failure, type FailureKind } from './upstream/failure.ts';
export { clientKey } from './http/auth.ts';
export { priorityOf } from './generation/priority.ts';
export { registerSecret } from './upstream/upstream-error.ts';
