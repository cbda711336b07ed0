/**
 * provider.anthropic: the Anthropic Messages API and Anthropic-compatible endpoints (DeepSeek's
 * /anthropic, Moonshot, MiniMax, z.ai, ... offer one). An Anthropic client is passed through: its
 * body goes upstream with only `model` changed and the answer's bytes come back untouched, so
 * cache_control, thinking signatures and beta fields survive exactly. Other clients are translated.
 *
 *   providers:
 *     claude:
 *       use: anthropic
 *       api_key: ${ANTHROPIC_API_KEY}
 *       models: [claude-sonnet-4-5, claude-haiku-4-5]
 */
import {
  keyOptionsSchema,
  keyStrings,
  type KeyOption,
  carriesRouterMarkers,
  anthropicCodec,
  callProvider,
  connectionOptionsSchema,
  definePlugin,
  kernelVersion,
  passthrough,
  upstreamFromOptions,
  type ConnectionOptions,
  type ProviderInstance,
  type RequestContext,
  type UpstreamClient,
} from 'router-kernel';

interface AnthropicOptions extends ConnectionOptions {
  base_url: string;
  api_key?: string;
  keys?: KeyOption[];
  auth: 'x-api-key' | 'bearer';
  anthropic_version: string;
  betas: string[];
  passthrough: boolean;
  default_max_tokens: number;
}

export default definePlugin<AnthropicOptions, ProviderInstance>({
  id: 'provider.anthropic',
  kind: 'provider',
  version: '1.0.0',
  description: 'Anthropic Messages API and Anthropic-compatible endpoints.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      base_url: { type: 'string', pattern: '^https?://', default: 'https://api.anthropic.com' },
      ...keyOptionsSchema,
      auth: { enum: ['x-api-key', 'bearer'], default: 'x-api-key' },
      anthropic_version: { type: 'string', default: '2023-06-01' },
      betas: { type: 'array', items: { type: 'string' }, default: [] },
      passthrough: { type: 'boolean', default: true },
      default_max_tokens: { type: 'integer', minimum: 1, default: 8192 },
      ...connectionOptionsSchema,
    },
  },
  create(options, scope) {
    const keys = keyStrings(options);
    let http: UpstreamClient;

    function headersFor(ctx: RequestContext): Record<string, string> {
      const client = ctx.dialect === 'anthropic' ? ctx.raw.headers : {};
      const version = typeof client['anthropic-version'] === 'string' ? client['anthropic-version'] : options.anthropic_version;
      const betas = new Set(options.betas);
      const clientBetas = client['anthropic-beta'];
      for (const beta of (Array.isArray(clientBetas) ? clientBetas.join(',') : (clientBetas ?? '')).split(',')) if (beta.trim()) betas.add(beta.trim());
      const headers: Record<string, string> = {
        accept: ctx.stream ? 'text/event-stream' : 'application/json',
        'anthropic-version': version,
        'user-agent': `router-kernel/${kernelVersion}`,
        ...options.headers,
      };
      if (betas.size > 0) headers['anthropic-beta'] = [...betas].join(',');
      const key = ctx.credential?.key ?? keys[0];
      if (key) {
        if (options.auth === 'bearer') headers.authorization = `Bearer ${key}`;
        else headers['x-api-key'] = key;
      }
      return headers;
    }

    return {
      provision() {
        http = upstreamFromOptions(scope, options.base_url, options, keys);
      },

      invoke(ctx, call) {
        const headers = headersFor(ctx);
        if (ctx.dialect === 'anthropic' && options.passthrough && !ctx.rawStale && !carriesRouterMarkers(ctx.raw.bytes)) {
          const body = ctx.model === call.model ? ctx.raw.bytes : ctx.raw.withString('model', call.model);
          if (body) return passthrough({ http, provider: scope.name, path: '/v1/messages', headers, body, dialect: 'anthropic', signal: ctx.signal });
        }
        const body = anthropicCodec.buildRequest(ctx.request, { model: call.model, source: ctx.dialect, dropped: (f) => ctx.dropped(f), defaultMaxTokens: options.default_max_tokens });
        return callProvider({ codec: anthropicCodec, http, provider: scope.name, path: '/v1/messages', headers, body, stream: ctx.request.stream, signal: ctx.signal });
      },
    };
  },
});
