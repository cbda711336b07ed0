/**
 * Writes a provider's answer to the client in the client's dialect: JSON, an SSE stream (events
 * encoded by the dialect's writer, written with backpressure, one socket write per upstream chunk),
 * or passthrough bytes. Errors before the first byte become a normal error response; errors after
 * it become the dialect's mid-stream error event.
 */
import type { ServerResponse } from 'node:http';
import type { CanonicalRequest, StreamEvent, Usage } from '../canonical.ts';
import { collectEvents, messageToEvents, streamErrorToRouterError } from '../canonical-stream.ts';
import type { ProviderResponse, RequestContext } from '../contract.ts';
import type { IngressCodec } from '../dialects/codec.ts';
import type { Json } from '../dialects/shape.ts';
import { toRouterError, type RouterError } from '../errors.ts';
import { EventStream } from '../event-stream.ts';
import { jsonBytes } from '../json-bytes.ts';

export interface Delivery {
  status: number;
  usage?: Usage;
  /** A failure after the response had started (reported in-stream). */
  error?: RouterError;
}

export async function deliver(res: ServerResponse, codec: IngressCodec, ctx: RequestContext, response: ProviderResponse, headers: Record<string, string>, requestId: string): Promise<Delivery> {
  if (response.kind === 'passthrough') return deliverPassthrough(res, response, headers);
  // A translated answer is rendered against the request (already parsed by the provider that built the call).
  const request = ctx.request;
  const body = ctx.raw.json;
  if (!request.stream) {
    const message = response.kind === 'message' ? response.message : await collectEvents(response.events);
    writeJson(res, 200, codec.renderMessage(message, request, body, requestId), { ...response.headers, ...headers });
    return { status: 200, usage: message.usage };
  }
  const events = response.kind === 'stream' ? response.events : toAsync(messageToEvents(response.message));
  return deliverStream(res, codec, request, body, events, { ...response.headers, ...headers }, requestId);
}

export function writeJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | number> = {}): void {
  const bytes = jsonBytes(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': bytes.length });
  res.end(bytes);
}

async function deliverStream(res: ServerResponse, codec: IngressCodec, request: CanonicalRequest, body: Json, events: AsyncIterable<StreamEvent>, headers: Record<string, string>, requestId: string): Promise<Delivery> {
  const writer = codec.createStreamWriter(request, body, requestId);
  const out = new SocketWriter(res);
  let usage: Usage | undefined;
  let streamError: RouterError | undefined;
  let started = false;
  const start = () => {
    started = true;
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
  };
  const stream = EventStream.of(events);
  try {
    // A batch at a time (see EventStream): its events become one string and one socket write.
    reading: for (let batch = await stream.nextBatch(); batch !== undefined; batch = await stream.nextBatch()) {
      for (const event of batch) {
        if (event.type === 'finish') usage = event.usage;
        else if (event.type === 'error') streamError = streamErrorToRouterError('upstream', event.error);
        const text = writer.write(event);
        if (!started) start();
        if (text && !out.write(text)) await out.drained();
        if (res.destroyed) {
          await stream.close();
          break reading;
        }
      }
    }
    const tail = writer.end?.() ?? '';
    if (!started) start();
    if (tail) out.write(tail);
  } catch (err) {
    // The upstream is dropped unless the failure was its own (then it is over already).
    await stream.close().catch(() => {});
    const error = toRouterError(err);
    if (!started) throw error;
    if (!res.destroyed) out.write(writer.error(error));
    out.end();
    return { status: 200, usage, error };
  }
  out.end();
  return streamError ? { status: 200, usage, error: streamError } : { status: 200, usage };
}

async function deliverPassthrough(res: ServerResponse, response: Extract<ProviderResponse, { kind: 'passthrough' }>, headers: Record<string, string>): Promise<Delivery> {
  // A complete answer goes out in one write with its length (no chunked encoding, no extra write).
  if (Array.isArray(response.body) && response.body.length === 1) {
    const body = response.body[0] as Uint8Array;
    res.writeHead(response.status, { ...response.headers, ...headers, 'content-length': body.byteLength });
    res.end(body);
    return { status: response.status, usage: await response.usage.catch(() => undefined) };
  }
  res.writeHead(response.status, { ...response.headers, ...headers });
  const out = new SocketWriter(res);
  try {
    for await (const chunk of response.body) {
      if (!out.write(chunk)) await out.drained();
      if (res.destroyed) break;
    }
  } catch (err) {
    res.destroy();
    return { status: response.status, error: toRouterError(err) };
  }
  out.end();
  return { status: response.status, usage: await response.usage.catch(() => undefined) };
}

/**
 * Joins the writes made in one turn of the event loop into one response write: the events one
 * upstream chunk brought become one HTTP chunk and one socket write, not a chunk (with its own
 * size line and iovec entries) per event. Waits for 'drain' without hanging when the client goes
 * away.
 */
class SocketWriter {
  #pending: Array<string | Uint8Array> = [];
  #scheduled = false;
  readonly #flush = () => {
    this.#scheduled = false;
    const pending = this.#pending;
    if (pending.length === 0 || this.res.destroyed) return;
    this.#pending = [];
    if (pending.length === 1) this.res.write(pending[0]);
    else if (pending.every((piece) => typeof piece === 'string')) this.res.write(pending.join(''));
    else this.res.write(Buffer.concat(pending.map((piece) => (typeof piece === 'string' ? Buffer.from(piece) : piece))));
  };
  constructor(private readonly res: ServerResponse) {}

  /** False when the client is not keeping up: wait for `drained()` before writing more. */
  write(data: string | Uint8Array): boolean {
    if (this.res.destroyed) return true;
    this.#pending.push(data);
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(this.#flush);
    }
    return !this.res.writableNeedDrain;
  }

  end(): void {
    this.#flush();
    this.res.end();
  }

  drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }
}

async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}
