/**
 * provider.openai: OpenAI Chat Completions and every server that speaks it (DeepSeek, OpenRouter,
 * Groq, xAI, Mistral, Together, vLLM, LM Studio, llama.cpp, Ollama's /v1 ...). An OpenAI client is
 * passed through (its body goes upstream with only `model` changed, the answer's bytes come back
 * untouched); other clients are translated. Per-vendor differences are a preset (`vendor`) whose
 * fields can each be overridden. Connections are pooled and kept alive per origin.
 *
 *   providers:
 *     deepseek:
 *       use: openai
 *       vendor: deepseek
 *       base_url: https://api.deepseek.com/v1
 *       api_key: ${DEEPSEEK_API_KEY}
 *       models: [deepseek-chat, deepseek-reasoner]
 */
import {
  keyOptionsSchema,
  keyStrings,
  type KeyOption,
  carriesRouterMarkers,
  callProvider,
  connectionOptionsSchema,
  definePlugin,
  kernelVersion,
  openaiCodec,
  openaiFlavorFor,
  openaiVendors,
  passthrough,
  upstreamFromOptions,
  type ConnectionOptions,
  type OpenAIFlavor,
  type OpenAIVendor,
  type ProviderInstance,
  type UpstreamClient,
} from 'router-kernel';

interface OpenAIOptions extends ConnectionOptions {
  base_url: string;
  api_key?: string;
  keys?: KeyOption[];
  vendor: OpenAIVendor;
  passthrough: boolean;
  max_tokens_field?: OpenAIFlavor['maxTokensField'];
  stream_usage?: boolean;
  reasoning_echo?: OpenAIFlavor['reasoningEcho'];
  reasoning_field?: OpenAIFlavor['reasoningField'];
  reasoning_param?: OpenAIFlavor['reasoningParam'];
  cache_control?: boolean;
  tool_ids?: OpenAIFlavor['toolIds'];
  think_tags?: boolean;
  thought_signatures?: boolean;
}

export default definePlugin<OpenAIOptions, ProviderInstance>({
  id: 'provider.openai',
  kind: 'provider',
  version: '1.1.0',
  description: 'OpenAI Chat Completions and OpenAI-compatible servers.',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['base_url'],
    properties: {
      base_url: { type: 'string', pattern: '^https?://' },
      ...keyOptionsSchema,
      vendor: { enum: [...openaiVendors], default: 'generic' },
      passthrough: { type: 'boolean', default: true },
      // The flavor fields have no defaults here: an unset field takes the vendor's value.
      max_tokens_field: { enum: ['max_tokens', 'max_completion_tokens'] },
      stream_usage: { type: 'boolean' },
      reasoning_echo: { enum: ['none', 'tool_turns', 'all'] },
      reasoning_field: { enum: ['reasoning_content', 'reasoning'] },
      reasoning_param: { enum: ['none', 'reasoning_effort', 'openrouter', 'deepseek'] },
      cache_control: { type: 'boolean' },
      tool_ids: { enum: ['any', 'alnum9'] },
      think_tags: { type: 'boolean' },
      thought_signatures: { type: 'boolean' },
      ...connectionOptionsSchema,
    },
  },
  create(options, scope) {
    const keys = keyStrings(options);
    const overrides: Partial<OpenAIFlavor> = {};
    if (options.max_tokens_field !== undefined) overrides.maxTokensField = options.max_tokens_field;
    if (options.stream_usage !== undefined) overrides.streamUsage = options.stream_usage;
    if (options.reasoning_echo !== undefined) overrides.reasoningEcho = options.reasoning_echo;
    if (options.reasoning_field !== undefined) overrides.reasoningField = options.reasoning_field;
    if (options.reasoning_param !== undefined) overrides.reasoningParam = options.reasoning_param;
    if (options.cache_control !== undefined) overrides.cacheControl = options.cache_control;
    if (options.tool_ids !== undefined) overrides.toolIds = options.tool_ids;
    if (options.think_tags !== undefined) overrides.thinkTags = options.think_tags;
    if (options.thought_signatures !== undefined) overrides.thoughtSignatures = options.thought_signatures;
    const flavor = openaiFlavorFor(options.vendor, overrides);
    const readOptions = { thinkTags: flavor.thinkTags };
    let http: UpstreamClient;

    return {
      provision() {
        http = upstreamFromOptions(scope, options.base_url, options, keys);
      },

      invoke(ctx, call) {
        const headers: Record<string, string> = {
          accept: ctx.stream ? 'text/event-stream' : 'application/json',
          'user-agent': `router-kernel/${kernelVersion}`,
          ...options.headers,
        };
        const key = ctx.credential?.key ?? keys[0];
        if (key) headers.authorization = `Bearer ${key}`;
        if (ctx.dialect === 'openai' && options.passthrough && !ctx.rawStale && !carriesRouterMarkers(ctx.raw.bytes)) {
          const body = ctx.model === call.model ? ctx.raw.bytes : ctx.raw.withString('model', call.model);
          if (body) return passthrough({ http, provider: scope.name, path: '/chat/completions', headers, body, dialect: 'openai', signal: ctx.signal });
        }
        const body = openaiCodec.buildRequest(ctx.request, { model: call.model, flavor, source: ctx.dialect, dropped: (f) => ctx.dropped(f) });
        return callProvider({ codec: openaiCodec, http, provider: scope.name, path: '/chat/completions', headers, body, stream: ctx.request.stream, signal: ctx.signal, readOptions });
      },
    };
  },
});
