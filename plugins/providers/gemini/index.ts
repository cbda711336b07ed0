/**
 * provider.gemini: Google's Gemini API (AI Studio, `generativelanguage.googleapis.com/v1beta`).
 * Requests from any client dialect are translated to `POST {base_url}/models/{model}:generateContent`
 * (or `:streamGenerateContent?alt=sse` when the client streams); answers come back as canonical
 * events. The translation rules (thought signatures, schema clean-up, what is dropped) are the
 * codec's: core/dialects/gemini.
 *
 *   providers:
 *     gemini:
 *       use: gemini
 *       api_key: ${GEMINI_API_KEY}
 *       models: [gemini-2.5-flash, gemini-3-pro-preview]
 *       schema_mode: clean          # or json_schema: send tool schemas untouched (parametersJsonSchema)
 *       signature_fallback: true    # sign unsigned function-call turns with Gemini's sentinel
 */
import {
  keyOptionsSchema,
  keyStrings,
  type KeyOption,
  callProvider,
  connectionOptionsSchema,
  definePlugin,
  geminiCodec,
  kernelVersion,
  upstreamFromOptions,
  type ConnectionOptions,
  type ProviderInstance,
  type UpstreamClient,
} from 'router-kernel';

interface GeminiOptions extends ConnectionOptions {
  base_url: string;
  api_key?: string;
  keys?: KeyOption[];
  schema_mode: 'clean' | 'json_schema';
  signature_fallback: boolean;
  max_thinking_budget: number;
}

export default definePlugin<GeminiOptions, ProviderInstance>({
  id: 'provider.gemini',
  kind: 'provider',
  version: '1.0.0',
  description: 'Google Gemini API (generateContent, streamGenerateContent).',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      base_url: { type: 'string', pattern: '^https?://', default: 'https://generativelanguage.googleapis.com/v1beta' },
      ...keyOptionsSchema,
      schema_mode: { enum: ['clean', 'json_schema'], default: 'clean' },
      signature_fallback: { type: 'boolean', default: true },
      max_thinking_budget: { type: 'integer', minimum: 0, default: 24576 },
      ...connectionOptionsSchema,
    },
  },
  create(options, scope) {
    // A key pool is a scheduler's job; until one is configured the first key serves every call.
    const keys = keyStrings(options);
    let http: UpstreamClient;

    return {
      provision() {
        http = upstreamFromOptions(scope, options.base_url, options, keys);
      },

      invoke(ctx, call) {
        const body = geminiCodec.buildRequest(ctx.request, {
          model: call.model,
          source: ctx.dialect,
          dropped: (feature) => ctx.dropped(feature),
          schemaMode: options.schema_mode,
          signatureFallback: options.signature_fallback,
          maxThinkingBudget: options.max_thinking_budget,
        });
        const stream = ctx.request.stream;
        const path = `/models/${encodeURIComponent(call.model)}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`;
        const headers: Record<string, string> = {
          accept: stream ? 'text/event-stream' : 'application/json',
          'user-agent': `router-kernel/${kernelVersion}`,
          ...options.headers,
        };
        const key = ctx.credential?.key ?? keys[0];
        if (key) headers['x-goog-api-key'] = key;
        return callProvider({ codec: geminiCodec, http, provider: scope.name, path, headers, body, stream, signal: ctx.signal });
      },
    };
  },
});
