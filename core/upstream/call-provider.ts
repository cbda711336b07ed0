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
import { encodeText, jsonChunks } from '../json-bytes.ts';
import { NdjsonReader } from '../ndjson.ts';
import { SseReader } from '../sse.ts';
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
  const body = typeof spec.body === 'string' ? encodeText(spec.body) : jsonChunks(spec.body);
  const res = await spec.http.request({ path: spec.path, headers, body, signal: spec.signal });
  const type = res.headers['content-type'] ?? '';
  const streamed = spec.codec.framing === 'sse' ? /event-stream/i.test(type) : /ndjson|jsonl/i.test(type) || (spec.stream && !/application\/json/i.test(type));
  if (!spec.stream || !streamed) {
    return { kind: 'message', message: spec.codec.parseMessage(await readJson(spec.provider, res, spec.signal), spec.readOptions), upstream: { status: res.status, headers: res.headers } };
  }
  return { kind: 'stream', events: await beginStream(spec.provider, readStream(spec, res), { untilContent: spec.codec.dialect === 'anthropic' }), upstream: { status: res.status, headers: res.headers } };
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
  // The framing readers are used directly (not through their generators): one async step per
  // upstream chunk rather than per event.
  const sse = spec.codec.framing === 'sse' ? new SseReader() : undefined;
  const lines = sse ? undefined : new NdjsonReader();
  const read = (chunk: Buffer): StreamEvent[] => {
    const out: StreamEvent[] = [];
    if (sse) for (const event of sse.push(chunk)) out.push(...reader.push(event.data, event.event));
    else for (const line of lines!.push(chunk)) out.push(...reader.push(line));
    return out;
  };
  try {
    // A loop of plain yields: `yield*` over an array costs an extra await per element here.
    for await (const chunk of res.body) for (const event of safe(read(chunk))) yield event;
  } catch (err) {
    throw upstreamNetworkError(spec.provider, err, spec.signal);
  }
  const tail: StreamEvent[] = [];
  if (sse) for (const event of sse.end()) tail.push(...reader.push(event.data, event.event));
  else for (const line of lines!.end()) tail.push(...reader.push(line));
  yield* safe([...tail, ...reader.end()]);
}
