/**
 * Reading a recorded or generated wire body the way a provider's answer is read: through the one
 * SSE (or NDJSON) reader, in pieces of any size, then the dialect's stream reader.
 */
import type { CanonicalResponse, StreamEvent } from '../../core/canonical.ts';
import { collectEvents } from '../../core/canonical-stream.ts';
import type { ProviderCodec } from '../../core/dialects/codec.ts';
import { NdjsonReader } from '../../core/ndjson.ts';
import { SseReader } from '../../core/sse.ts';

/** Canonical events for a whole body, fed to the framing reader in pieces of `size` bytes. */
export function readStream(codec: ProviderCodec<any>, body: string | Buffer, size = Infinity, options?: Record<string, unknown>): StreamEvent[] {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const reader = codec.createStreamReader(options);
  const events: StreamEvent[] = [];
  const step = Number.isFinite(size) ? size : bytes.length || 1;
  if (codec.framing === 'sse') {
    const sse = new SseReader();
    for (let i = 0; i < bytes.length; i += step) for (const ev of sse.push(bytes.subarray(i, i + step))) events.push(...reader.push(ev.data, ev.event));
    for (const ev of sse.end()) events.push(...reader.push(ev.data, ev.event));
  } else {
    const lines = new NdjsonReader();
    for (let i = 0; i < bytes.length; i += step) for (const line of lines.push(bytes.subarray(i, i + step))) events.push(...reader.push(line));
    for (const line of lines.end()) events.push(...reader.push(line));
  }
  events.push(...reader.end());
  return events;
}

/** The complete answer a list of events adds up to. */
export function collect(events: StreamEvent[]): Promise<CanonicalResponse> {
  return collectEvents((async function* replay() {
    yield* events;
  })());
}

/** The JSON payloads of an SSE body, as the recording holds them. */
export function ssePayloads(text: string): any[] {
  const sse = new SseReader();
  return [...sse.push(text), ...sse.end()].map((ev) => JSON.parse(ev.data));
}
