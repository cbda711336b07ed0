/**
 * provider.ollama: a local (or remote) Ollama through its native `POST /api/chat`, which, unlike
 * its OpenAI-compatible `/v1`, carries thinking (`think`, `message.thinking`), `keep_alive` and
 * model options such as `num_ctx`. Requests from any client dialect are translated with the
 * Ollama codec; NDJSON streams come back as canonical events. Connections are pooled and kept
 * alive per origin.
 *
 *   providers:
 *     local:
 *       use: ollama
 *       base_url: http://127.0.0.1:11434     # the default; the server root, without /api or /v1
 *       think: auto                          # auto | true | false
 *       keep_alive: 30m
 *       num_ctx: 32768
 *       models: [qwen3:8b, qwen2.5-coder:7b]
 *
 * `api_key` is sent as `Authorization: Bearer`, for Ollama behind an authenticating proxy or
 * Ollama's cloud (https://ollama.com).
 */
import {
  callProvider,
  connectionOptionsSchema,
  definePlugin,
  kernelVersion,
  ollamaCodec,
  upstreamFromOptions,
  type ConnectionOptions,
  type ProviderInstance,
  type UpstreamClient,
} from 'router-kernel';

interface OllamaOptions extends ConnectionOptions {
  base_url: string;
  api_key?: string;
  think: 'auto' | boolean;
  keep_alive?: string | number;
  num_ctx?: number;
}

export default definePlugin<OllamaOptions, ProviderInstance>({
  id: 'provider.ollama',
  kind: 'provider',
  version: '1.0.0',
  description: "Ollama's native /api/chat (thinking, keep_alive, num_ctx), local or behind a proxy.",
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      base_url: { type: 'string', pattern: '^https?://', default: 'http://127.0.0.1:11434' },
      api_key: { type: 'string' },
      think: { enum: ['auto', true, false], default: 'auto' },
      keep_alive: { type: ['string', 'integer'] },
      num_ctx: { type: 'integer', minimum: 1 },
      ...connectionOptionsSchema,
    },
  },
  create(options, scope) {
    const secrets = options.api_key ? [options.api_key] : [];
    let http: UpstreamClient;

    return {
      provision() {
        http = upstreamFromOptions(scope, options.base_url, options, secrets);
      },

      invoke(ctx, call) {
        const body = ollamaCodec.buildRequest(ctx.request, {
          model: call.model,
          source: ctx.dialect,
          dropped: (feature) => ctx.dropped(feature),
          think: options.think,
          ...(options.keep_alive !== undefined ? { keepAlive: options.keep_alive } : {}),
          ...(options.num_ctx !== undefined ? { numCtx: options.num_ctx } : {}),
        });
        const headers: Record<string, string> = {
          accept: ctx.stream ? 'application/x-ndjson' : 'application/json',
          'user-agent': `router-kernel/${kernelVersion}`,
          ...options.headers,
        };
        const key = ctx.credential?.key ?? options.api_key;
        if (key) headers.authorization = `Bearer ${key}`;
        return callProvider({ codec: ollamaCodec, http, provider: scope.name, path: '/api/chat', headers, body, stream: ctx.request.stream, signal: ctx.signal });
      },
    };
  },
});
