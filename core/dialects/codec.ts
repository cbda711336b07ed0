/**
 * A dialect codec: everything the router knows about one wire format, in both roles.
 *
 * As the CLIENT's dialect (ingress): parse its request into the canonical model, render canonical
 * answers, streams and errors back in its shapes.
 * As a PROVIDER's dialect: build the upstream request from a canonical one, parse the upstream's
 * complete answer, and read its stream into canonical events.
 *
 * Each direction's pair is the other's inverse wherever the dialect can express the content, which
 * the property tests check (test/dialects/round-trip.test.ts). Mock upstreams in tests and
 * benchmarks speak each dialect through the same codec.
 */
import type { CanonicalRequest, CanonicalResponse, Dialect, StreamEvent } from '../canonical.ts';
import type { RouterError } from '../errors.ts';
import type { Json } from './shape.ts';

export interface StreamWriter {
  /** Wire text for one canonical event ('' when the event has nothing to say in this dialect). */
  write(event: StreamEvent): string;
  /** Wire text reporting a failure after the stream began ('' when the stream already ended). */
  error(err: RouterError): string;
  /** Wire text closing the stream after the last event, if the dialect has any. */
  end?(): string;
}

export interface StreamReader {
  /** Canonical events for one stream payload: an SSE event's data (and name), or one NDJSON line. */
  push(data: string, event?: string): StreamEvent[];
  /** Events owed when the body ends: a held finish, or an error if the stream stopped short. */
  end(): StreamEvent[];
}

export interface BuildOptions {
  /** The model id to send upstream. */
  model: string;
  /** The client's dialect: fields only that dialect knows are forwarded to a provider of the same one. */
  source: Dialect;
  /** Report something the upstream dialect cannot carry (a loud downgrade). */
  dropped(feature: string): void;
}

export interface IngressCodec {
  dialect: Dialect;
  parseRequest(body: Json): CanonicalRequest;
  /**
   * `body` is the client's original JSON, for options that only concern the answer's shape;
   * `requestId` lets a dialect whose clients rely on unique answer ids mint one (see Anthropic).
   */
  renderMessage(message: CanonicalResponse, request: CanonicalRequest, body: Json, requestId?: string): Json;
  /** `requestId` goes into in-stream errors where the dialect has a place for it. */
  createStreamWriter(request: CanonicalRequest, body: Json, requestId?: string): StreamWriter;
  renderError(err: RouterError, requestId: string): Json;
}

export interface ProviderCodec<Options extends BuildOptions = BuildOptions> {
  dialect: Dialect;
  /** How streamed answers are framed on the wire. */
  framing: 'sse' | 'ndjson';
  buildRequest(request: CanonicalRequest, options: Options): Json;
  /** `options` are dialect-specific reading switches (OpenAI's `thinkTags`, ...). */
  parseMessage(body: Json, options?: Record<string, unknown>): CanonicalResponse;
  createStreamReader(options?: Record<string, unknown>): StreamReader;
}

export type DialectCodec<Options extends BuildOptions = BuildOptions> = IngressCodec & ProviderCodec<Options>;
