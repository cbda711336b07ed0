/**
 * What the kernel needs from a client dialect: parse its request into the canonical model and
 * render canonical answers and errors back in its own shapes. One codec per dialect the router
 * accepts from clients; each is a set of plain functions, the stream writer holds per-stream state.
 */
import type { CanonicalRequest, CanonicalResponse, Dialect, StreamEvent } from '../canonical.ts';
import type { RouterError } from '../errors.ts';
import type { Json } from './shape.ts';

export interface StreamWriter {
  /** SSE text for one canonical event ('' when the event has nothing to say in this dialect). */
  write(event: StreamEvent): string;
  /** SSE text reporting a failure after the stream began ('' when the stream already ended). */
  error(err: RouterError): string;
  /** SSE text closing the stream after the last event (OpenAI's `[DONE]`). */
  end?(): string;
}

export interface IngressCodec {
  dialect: Dialect;
  parseRequest(body: Json): CanonicalRequest;
  /** `body` is the client's original JSON, for options that only concern the answer's shape. */
  renderMessage(message: CanonicalResponse, request: CanonicalRequest, body: Json): Json;
  createStreamWriter(request: CanonicalRequest, body: Json): StreamWriter;
  renderError(err: RouterError, requestId: string): Json;
}
