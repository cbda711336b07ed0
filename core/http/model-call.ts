/**
 * One model call (`/v1/messages`, `/v1/chat/completions`) after its body was parsed: build the
 * request context, run the generation's chain, deliver the answer. The request was pinned to its
 * generation before its body was read (see server.ts), so a reload cannot retire the plugins it
 * is about to use.
 */
import { channel } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { CanonicalRequest, Dialect, Usage } from '../canonical.ts';
import { channels, type Logger, type ProviderResponse, type RawRequest } from '../contract.ts';
import type { IngressCodec } from '../dialects/codec.ts';
import type { RawJsonObject } from '../dialects/raw-json.ts';
import type { Json } from '../dialects/shape.ts';
import { routerError, type RouterError } from '../errors.ts';
import type { Generation } from '../generation/generation.ts';
import { providerFailure } from '../generation/terminal.ts';
import { KernelContext } from './context.ts';
import type { BodyLease } from '../body-memory.ts';
import { deliver } from './deliver.ts';
import { failureOf, sendError } from './respond.ts';

const startChannel = channel(channels.requestStart);
const endChannel = channel(channels.requestEnd);

export interface Outcome {
  status: number;
  dialect?: Dialect;
  route?: string;
  /** Why that route (and the facts behind it). */
  reason?: string;
  usage?: Usage;
  error?: RouterError;
  dropped?: string[];
}

export interface ModelCall {
  id: string;
  method: string;
  path: string;
  url: string;
  codec: IngressCodec;
  startedAt: number;
  signal: AbortSignal;
  body: RawJsonObject;
  /** The body's hold on pooled memory, if it is in some (core/body-memory.ts). */
  lease: BodyLease | undefined;
  /** The body's `model` and `stream`, read without parsing the rest. */
  model: string;
  stream: boolean;
}

export async function runModelCall(generation: Generation, req: IncomingMessage, res: ServerResponse, call: ModelCall, log: Logger): Promise<Outcome> {
  const { id, codec } = call;
  const raw = new RawRequestView(call.method, call.path, call.url, req.headers, call.body, call.lease);
  const endpoint = codec.dialect === 'anthropic' ? 'messages' : 'chat.completions';
  const parse = (): CanonicalRequest => {
    const request = codec.parseRequest(raw.json);
    // Only a request the dialect accepted leaves its conversation's messages kept for next turn.
    call.body.keepParsed();
    return request;
  };
  const ctx = new KernelContext(id, codec.dialect, endpoint, call.model, call.stream, parse, raw, generation.catalog, call.signal, log, call.startedAt, generation.tokens);
  ctx.deadline = deadlineOf(req.headers);
  if (generation.settings.logBodies) ctx.log.info({ body: raw.json }, 'request body');
  if (startChannel.hasSubscribers) startChannel.publish({ ctx });
  let outcome: Outcome;
  try {
    await generation.chain(ctx);
    if (!ctx.response) throw routerError('RK_INTERNAL', { reason: 'the pipeline finished without an answer' });
    const delivery = await deliver(res, codec, ctx, ctx.response, { ...ctx.headers, ...routeHeaders(ctx) }, id);
    // A provider's stream that throws something unknown is that provider's failure.
    const thrown: unknown = delivery.error?.code === 'RK_INTERNAL' && ctx.route ? providerFailure(delivery.error.cause, ctx.route.provider, 'stream') : delivery.error;
    const error = thrown === undefined ? undefined : failureOf(thrown, call.signal);
    outcome = { status: delivery.status, usage: delivery.usage, error, dialect: codec.dialect };
  } catch (err) {
    // An answer a plugin threw away after it began: close it, so its upstream call ends and
    // whoever waits for its end (a scheduler's slot) is released.
    closeUndelivered(ctx.response);
    const error = failureOf(err, call.signal);
    if (!res.headersSent) for (const [name, value] of Object.entries(routeHeaders(ctx))) res.setHeader(name, value);
    sendError(res, codec, error, id);
    outcome = { status: error.status, error, dialect: codec.dialect };
  }
  if (ctx.route) {
    outcome.route = `${ctx.route.provider}/${ctx.route.model}`;
    outcome.reason = ctx.route.detail ? `${ctx.route.reason}; ${ctx.route.detail}` : ctx.route.reason;
  }
  if (ctx.droppedFeatures.size > 0) outcome.dropped = [...ctx.droppedFeatures];
  if (endChannel.hasSubscribers) endChannel.publish({ ctx, status: outcome.status, error: outcome.error, usage: outcome.usage, durationMs: performance.now() - call.startedAt });
  return outcome;
}

/** The request as received; the query string and the body are parsed only when a plugin asks. */
class RawRequestView implements RawRequest {
  #query: URLSearchParams | undefined;
  #json: Json | undefined;
  #copy: Buffer | undefined;
  constructor(
    readonly method: string,
    readonly path: string,
    private readonly url: string,
    readonly headers: IncomingMessage['headers'],
    private readonly object: RawJsonObject,
    private readonly lease: BodyLease | undefined,
  ) {}
  /** A pooled body is copied for whoever takes it: the copy is theirs, the pooled memory is lent. */
  get body(): Buffer {
    if (!this.lease) return this.object.bytes;
    this.#copy ??= Buffer.from(this.#live().bytes);
    return this.#copy;
  }
  get size(): number {
    return this.object.bytes.length;
  }
  get bytes(): Buffer {
    return this.#live().bytes;
  }
  get json(): Json {
    this.#json ??= this.#live().parse();
    return this.#json;
  }
  get query(): URLSearchParams {
    this.#query ??= new URLSearchParams(this.url.slice(this.path.length + 1));
    return this.#query;
  }
  field(name: string): unknown {
    return this.#json ? this.#json[name] : this.#live().field(name);
  }
  withString(name: string, value: string): Buffer[] | undefined {
    return this.#live().withString(name, value);
  }
  layout(name: string) {
    return this.#live().layout(name);
  }
  /** The received body, while it may be read: once a pooled body's request is answered, its memory may hold another body. */
  #live(): RawJsonObject {
    if (this.lease?.ended) throw routerError('RK_INTERNAL', { reason: "the request body was read after its request had been answered (keep what you need while the request is in flight: docs/plugins.md, \"The body's bytes\")" });
    return this.object;
  }
}

/**
 * When the client stops waiting: `x-router-timeout` (seconds), or `x-stainless-timeout`, the
 * timeout the official OpenAI and Anthropic SDKs (and Claude Code) send with every request. Queues
 * give up then instead of holding a request its client has abandoned.
 */
function deadlineOf(headers: IncomingMessage['headers']): number | undefined {
  for (const name of ['x-router-timeout', 'x-stainless-timeout']) {
    const value = headers[name];
    const seconds = Number(Array.isArray(value) ? value[0] : value);
    if (value !== undefined && Number.isFinite(seconds) && seconds > 0) return Date.now() + seconds * 1000;
  }
  return undefined;
}

function closeUndelivered(response: ProviderResponse | undefined): void {
  if (!response || response.kind === 'message') return;
  const source = response.kind === 'stream' ? response.events : response.body;
  const iterator = Symbol.asyncIterator in source ? (source as AsyncIterable<unknown>)[Symbol.asyncIterator]() : undefined;
  void iterator?.return?.()?.catch(() => {});
}

function routeHeaders(ctx: KernelContext): Record<string, string> {
  const headers: Record<string, string> = {};
  if (ctx.route) headers['x-router-route'] = `${ctx.route.provider}/${ctx.route.model}; reason=${ctx.route.reason}${ctx.route.detail ? `; ${ctx.route.detail}` : ''}`;
  if (ctx.droppedFeatures.size > 0) headers['x-router-dropped'] = [...ctx.droppedFeatures].join(', ');
  return headers;
}
