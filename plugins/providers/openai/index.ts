/**
 * provider.openai: OpenAI Chat Completions and every server that speaks it (DeepSeek, OpenRouter,
 * Groq, xAI, Mistral, Together, vLLM, LM Studio, llama.cpp, Ollama's /v1 ...). Requests from any
 * client dialect are translated to `POST {base_url}/chat/completions`; answers come back as
 * canonical events. Connections are pooled and kept alive per origin.
 *
 *   providers:
 *     deepseek:
 *       use: openai
 *       base_url: https://api.deepseek.com/v1
 *       api_key: ${DEEPSEEK_API_KEY}
 *       models: [deepseek-chat, deepseek-reasoner]
 */
import {
  beginStream,
  buildOpenAIRequest,
  createOpenAIStreamReader,
  definePlugin,
  kernelVersion,
  parseDuration,
  parseOpenAIResponse,
  readJson,
  readSse,
  upstreamClient,
  upstreamNetworkError,
  type ProviderInstance,
  type StreamEvent,
  type UpstreamResponse,
} from 'router-kernel';

interface OpenAIOptions {
  base_url: string;
  api_key?: string;
  keys?: string[];
  headers: Record<string, string>;
  max_tokens_field: 'max_tokens' | 'max_completion_tokens';
  stream_usage: boolean;
  connections: number;
  timeouts: { connect: number | string; headers: number | string; body: number | string };
}

const duration = { type: ['integer', 'string'], format: 'duration' };

export default definePlugin<OpenAIOptions, ProviderInstance>({
  id: 'provider.openai',
  kind: 'provider',
  version: '1.0.0',
  description: 'OpenAI Chat Completions and OpenAI-compatible servers.',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['base_url'],
    properties: {
      base_url: { type: 'string', pattern: '^https?://' },
      api_key: { type: 'string' },
      keys: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
      headers: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
      max_tokens_field: { enum: ['max_tokens', 'max_completion_tokens'], default: 'max_tokens' },
      stream_usage: { type: 'boolean', default: true },
      connections: { type: 'integer', minimum: 1, default: 64 },
      timeouts: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          connect: { ...duration, default: '10s' },
          headers: { ...duration, default: '10m' },
          body: { ...duration, default: '5m' },
        },
      },
    },
  },
  create(options, scope) {
    const keys = options.keys ?? (options.api_key ? [options.api_key] : []);
    const flavor = { maxTokensField: options.max_tokens_field, streamUsage: options.stream_usage };
    let http: ReturnType<typeof upstreamClient> | undefined;

    return {
      provision() {
        http = upstreamClient(scope, {
          baseUrl: options.base_url,
          connections: options.connections,
          connectTimeout: parseDuration(options.timeouts.connect),
          headersTimeout: parseDuration(options.timeouts.headers),
          bodyTimeout: parseDuration(options.timeouts.body),
          secrets: keys,
        });
      },

      async invoke(ctx, call) {
        const request = ctx.request;
        const body = buildOpenAIRequest(request, { model: call.model, flavor, source: ctx.dialect, dropped: (f) => ctx.dropped(f) });
        const headers: Record<string, string> = {
          'content-type': 'application/json',
          accept: request.stream ? 'text/event-stream' : 'application/json',
          'user-agent': `router-kernel/${kernelVersion}`,
          ...options.headers,
        };
        if (keys.length > 0) headers.authorization = `Bearer ${keys[0]}`;
        const res = await http!.request({ path: '/chat/completions', headers, body: JSON.stringify(body), signal: ctx.signal });
        // Some servers ignore `stream: true` and answer with one JSON body; accept that too.
        if (!request.stream || !/event-stream/i.test(res.headers['content-type'] ?? '')) {
          return { kind: 'message', message: parseOpenAIResponse(await readJson(scope.name, res, ctx.signal)) };
        }
        return { kind: 'stream', events: await beginStream(scope.name, translate(res, scope.name, ctx.signal)) };
      },
    };
  },
});

async function* translate(res: UpstreamResponse, provider: string, signal: AbortSignal): AsyncGenerator<StreamEvent> {
  const reader = createOpenAIStreamReader();
  try {
    for await (const event of readSse(res.body)) yield* reader.push(event.data);
  } catch (err) {
    throw upstreamNetworkError(provider, err, signal);
  }
  yield* reader.end();
}
