/**
 * Passthrough: the client and the provider speak the same dialect, so the client's body goes
 * upstream with only the routed fields changed and the upstream's bytes come back untouched. This
 * is the fastest path and the only lossless one (cache_control, thinking signatures and beta fields
 * survive by construction).
 *
 * Usage is read from the bytes as they pass: only the SSE events that carry it are parsed
 * (Anthropic's message_start / message_delta; OpenAI chunks containing a usage object). Before the
 * answer is handed over, the stream is read up to its first content event, so an upstream that
 * fails right away (an `overloaded_error` after message_start) is still an ordinary, retryable error.
 */
import type { Dialect, StreamEvent, Usage } from '../canonical.ts';
import { streamErrorToRouterError } from '../canonical-stream.ts';
import type { PassthroughResponse } from '../contract.ts';
import { usageOf as anthropicUsage } from '../dialects/anthropic/read-response.ts';
import { createAnthropicStreamReader } from '../dialects/anthropic/read-response.ts';
import { usageOf as openaiUsage } from '../dialects/openai/read-response.ts';
import { RawJsonObject } from '../dialects/raw-json.ts';
import { endsEvent, SseReader, type SseEvent } from '../sse.ts';
import type { UpstreamClient } from './http-client.ts';
import { scrubSecrets, secretsWith, upstreamNetworkError, upstreamStreamError } from './upstream-error.ts';

export interface PassthroughSpec {
  http: UpstreamClient;
  provider: string;
  path: string;
  headers: Record<string, string>;
  /** The client's body, edited (see RawRequest.withString) or not. */
  body: Buffer | readonly Buffer[];
  /** The shared dialect of client and provider. */
  dialect: Extract<Dialect, 'anthropic' | 'openai'>;
  signal: AbortSignal;
}

/** Response headers worth handing to the client; everything else stays upstream. */
const forwardedHeaders = ['content-type', 'cache-control'];

export async function passthrough(spec: PassthroughSpec): Promise<PassthroughResponse> {
  const res = await spec.http.request({ path: spec.path, headers: { 'content-type': 'application/json', ...spec.headers }, body: spec.body, signal: spec.signal });
  const headers: Record<string, string> = {};
  for (const name of forwardedHeaders) if (res.headers[name]) headers[name] = res.headers[name];
  const upstreamId = res.headers['request-id'] ?? res.headers['x-request-id'];
  if (upstreamId) headers['x-upstream-request-id'] = upstreamId;

  if (!/event-stream/i.test(res.headers['content-type'] ?? '')) {
    let bytes: Buffer;
    try {
      bytes = await res.body.bytes();
    } catch (err) {
      throw upstreamNetworkError(spec.provider, err, spec.signal);
    }
    return { kind: 'passthrough', status: res.status, headers, body: [bytes], usage: Promise.resolve(usageOfJson(spec.dialect, bytes)), upstream: { status: res.status, headers: res.headers } };
  }

  const scan = new StreamScan(usageScanner(spec.dialect));
  const iterator = res.body[Symbol.asyncIterator]();
  const held: Buffer[] = [];
  // Read until the first content event (or an error, which is thrown before anything was sent).
  while (!scan.begun) {
    let step: IteratorResult<Buffer>;
    try {
      step = await iterator.next();
    } catch (err) {
      throw upstreamNetworkError(spec.provider, err, spec.signal);
    }
    if (step.done) break;
    held.push(step.value);
    const error = scan.push(step.value);
    if (error) {
      await iterator.return?.();
      throw streamErrorToRouterError(spec.provider, upstreamStreamError(error, spec.http.secrets));
    }
  }

  let settle: (usage: Usage | undefined) => void = () => {};
  const usage = new Promise<Usage | undefined>((resolve) => (settle = resolve));
  async function* body(): AsyncGenerator<Uint8Array> {
    try {
      for (const chunk of held) yield scrubBytes(chunk, spec.http.secrets);
      for (;;) {
        const step = await iterator.next();
        if (step.done) break;
        scan.push(step.value);
        // An upstream error may quote the router's own key; that never reaches the client.
        yield scrubBytes(step.value, spec.http.secrets);
      }
    } finally {
      settle(scan.scanner.usage());
      await iterator.return?.();
    }
  }
  return { kind: 'passthrough', status: res.status, headers, body: body(), usage, upstream: { status: res.status, headers: res.headers } };
}

/**
 * Reads from a passthrough stream only the events that matter: those up to the first content (an
 * error among them fails the call before anything reached the client) and, after that, the ones
 * carrying usage. Whole events without the usage marker are skipped as bytes, never decoded: a
 * 26-event answer that arrives in one chunk has one event decoded after its first, not 25.
 */
class StreamScan {
  readonly #reader = new SseReader();
  begun = false;
  constructor(readonly scanner: UsageScanner) {}

  /** Feeds the next chunk; returns an error the upstream sent before any content. */
  push(chunk: Buffer): Seen['error'] {
    let at = 0;
    // Event by event until content: a "\n\n" always ends an event, whatever came before it.
    while (!this.begun && at < chunk.length) {
      const boundary = chunk.indexOf(eventEnd, at);
      const end = boundary === -1 ? chunk.length : boundary + eventEnd.length;
      for (const event of this.#reader.push(at === 0 && end === chunk.length ? chunk : chunk.subarray(at, end))) {
        if (this.begun) {
          // Past the first content in this piece: only usage matters (errors are the client's).
          scanSafely(this.scanner, event);
          continue;
        }
        const seen = scanSafely(this.scanner, event);
        if (seen.error) return seen.error;
        if (seen.content) this.begun = true;
      }
      at = end;
    }
    if (at >= chunk.length) return undefined;
    let rest = at === 0 ? chunk : chunk.subarray(at);
    if (this.#reader.idle) {
      const marker = rest.indexOf(this.scanner.marker);
      if (marker === -1 && endsEvent(rest)) return undefined;
      // Whole events before the one holding the marker go by undecoded.
      if (marker !== -1) {
        const before = rest.lastIndexOf(eventEnd, marker);
        if (before !== -1) rest = rest.subarray(before + eventEnd.length);
      }
    }
    for (const event of this.#reader.push(rest)) scanSafely(this.scanner, event);
    return undefined;
  }
}

const eventEnd = '\n\n';

interface Seen {
  content?: boolean;
  error?: Extract<StreamEvent, { type: 'error' }>['error'];
}

interface UsageScanner {
  push(event: SseEvent): Seen;
  usage(): Usage | undefined;
  /** Text every event that updates usage contains (once the answer has begun). */
  marker: string;
}

/** A malformed event is the client's to see; it must not stop the bytes from flowing. */
function scanSafely(scanner: UsageScanner, event: SseEvent): Seen {
  try {
    return scanner.push(event);
  } catch {
    return { content: true };
  }
}

function usageScanner(dialect: 'anthropic' | 'openai'): UsageScanner {
  let usage: Usage | undefined;
  if (dialect === 'anthropic') {
    // The canonical reader understands error events; only usage-bearing ones are parsed otherwise.
    const errors = createAnthropicStreamReader();
    return {
      push(event) {
        const name = event.event;
        if (name === 'message_start') {
          const message = (JSON.parse(event.data) as { message?: { usage?: unknown } }).message;
          usage = anthropicUsage(message?.usage, { inputTokens: 0, outputTokens: 0 });
          return {};
        }
        if (name === 'message_delta') {
          usage = anthropicUsage((JSON.parse(event.data) as { usage?: unknown }).usage, usage ?? { inputTokens: 0, outputTokens: 0 });
          return { content: true };
        }
        if (name === 'error') {
          const failure = errors.push(event.data).find((e) => e.type === 'error');
          return failure?.type === 'error' ? { error: failure.error } : {};
        }
        return name === 'ping' ? {} : { content: true };
      },
      usage: () => usage,
      marker: 'message_delta',
    };
  }
  return {
    push(event) {
      const data = event.data;
      if (data === '[DONE]') return { content: true };
      if (data.includes('"usage":{')) usage = openaiUsage((JSON.parse(data) as { usage?: unknown }).usage);
      if (data.startsWith('{"error"') || data.includes('"error":{')) {
        const parsed = JSON.parse(data) as { error?: { message?: string; code?: unknown } };
        if (parsed.error) return { error: { kind: 'api_error', message: String(parsed.error.message ?? 'upstream error'), ...(typeof parsed.error.code === 'number' ? { status: parsed.error.code } : {}) } };
      }
      return { content: true };
    },
    usage: () => usage,
    marker: '"usage":{',
  };
}

function scrubBytes(chunk: Buffer, own: readonly string[]): Buffer {
  const secrets = secretsWith(own);
  if (!secrets.some((s) => s.length >= 8 && chunk.includes(s.slice(-8)))) return chunk;
  return Buffer.from(scrubSecrets(chunk.toString('utf8'), secrets), 'utf8');
}

function usageOfJson(dialect: 'anthropic' | 'openai', bytes: Buffer): Usage | undefined {
  try {
    // Only `usage` is parsed: the answer itself goes to the client as it came.
    const usage = new RawJsonObject(bytes).field('usage');
    return dialect === 'anthropic' ? anthropicUsage(usage, { inputTokens: 0, outputTokens: 0 }) : openaiUsage(usage);
  } catch {
    return undefined;
  }
}
