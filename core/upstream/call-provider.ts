/**
 * The common shape of a provider call: send the built body, then read the answer with the
 * dialect's codec, as a complete message or as a stream of canonical events (SSE or NDJSON
 * framing). A server that answers a streaming request with one JSON body is accepted too.
 *
 *   return callProvider({ codec: openaiCodec, http, provider: scope.name, path: '/chat/completions',
 *                         headers, body, stream: ctx.request.stream, signal: ctx.signal });
 */
import type { StreamEvent } from '../canonical.ts';
import { beginStream } from '../canonical-stream.ts';
import type { ProviderResponse } from '../contract.ts';
import type { ProviderCodec } from '../dialects/codec.ts';
import type { Json } from '../dialects/shape.ts';
import { readNdjson } from '../ndjson.ts';
import { readSse } from '../sse.ts';
import { readJson, type UpstreamClient, type UpstreamResponse } from './http-client.ts';
import { upstreamNetworkError, upstreamStreamError } from './upstream-error.ts';

export interface ProviderCallSpec {
  codec: ProviderCodec<any>;
  http: UpstreamClient;
  /** Provider name, for error messages. */
  provider: string;
  path: string;
  headers: Record<string, string>;
  body: Json | string;
  stream: boolean;
  signal: AbortSignal;
  /** Passed to the codec's parseMessage / createStreamReader. */
  readOptions?: Record<string, unknown>;
}

export async function callProvider(spec: ProviderCallSpec): Promise<ProviderResponse> {
  const headers = { 'content-type': 'application/json', ...spec.headers };
  const body = typeof spec.body === 'string' ? spec.body : JSON.stringify(spec.body);
  const res = await spec.http.request({ path: spec.path, headers, body, signal: spec.signal });
  const type = res.headers['content-type'] ?? '';
  const streamed = spec.codec.framing === 'sse' ? /event-stream/i.test(type) : /ndjson|jsonl/i.test(type) || (spec.stream && !/application\/json/i.test(type));
  if (!spec.stream || !streamed) {
    return { kind: 'message', message: spec.codec.parseMessage(await readJson(spec.provider, res, spec.signal), spec.readOptions) };
  }
  return { kind: 'stream', events: await beginStream(spec.provider, readStream(spec, res)) };
}

async function* readStream(spec: ProviderCallSpec, res: UpstreamResponse): AsyncGenerator<StreamEvent> {
  const reader = spec.codec.createStreamReader(spec.readOptions);
  const safe = (events: StreamEvent[]): StreamEvent[] => {
    for (let i = 0; i < events.length; i++) {
      const event = events[i];
      if (event.type === 'error') events[i] = { type: 'error', error: upstreamStreamError(event.error, spec.http.secrets) };
    }
    return events;
  };
  try {
    if (spec.codec.framing === 'sse') {
      for await (const event of readSse(res.body)) yield* safe(reader.push(event.data, event.event));
    } else {
      for await (const line of readNdjson(res.body)) yield* safe(reader.push(line));
    }
  } catch (err) {
    throw upstreamNetworkError(spec.provider, err, spec.signal);
  }
  yield* safe(reader.end());
}
