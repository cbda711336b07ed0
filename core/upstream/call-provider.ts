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
import { EventStream } from '../event-stream.ts';
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

/**
 * The upstream's bytes as canonical events, a batch per read (see EventStream). Errors the upstream
 * reports in the stream are scrubbed of the router's keys before anyone sees them.
 */
function readStream(spec: ProviderCallSpec, res: UpstreamResponse): EventStream {
  const reader = spec.codec.createStreamReader(spec.readOptions);
  const sse = spec.codec.framing === 'sse' ? new SseReader() : undefined;
  const lines = sse ? undefined : new NdjsonReader();
  const chunks = res.body[Symbol.asyncIterator]();
  let ended = false;
  const scrubbed = (events: StreamEvent[], out: StreamEvent[]) => {
    for (const event of events) out.push(event.type === 'error' ? { type: 'error', error: upstreamStreamError(event.error, spec.http.secrets) } : event);
  };
  /** The events in a chunk of bytes, or (without one) in what the framing reader still holds at the end. */
  const decode = (chunk: Buffer | undefined, out: StreamEvent[]) => {
    if (sse) for (const event of chunk ? sse.push(chunk) : sse.end()) scrubbed(reader.push(event.data, event.event), out);
    else for (const line of chunk ? lines!.push(chunk) : lines!.end()) scrubbed(reader.push(line), out);
  };
  return new EventStream(
    async () => {
      if (ended) return undefined;
      const out: StreamEvent[] = [];
      try {
        const step = await chunks.next();
        if (!step.done) {
          decode(step.value, out);
          return out;
        }
      } catch (err) {
        throw upstreamNetworkError(spec.provider, err, spec.signal);
      }
      ended = true;
      decode(undefined, out);
      scrubbed(reader.end(), out);
      return out;
    },
    async () => chunks.return?.(),
  );
}
