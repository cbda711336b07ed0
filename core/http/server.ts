/**
 * The HTTP front door (node:http). Recognises the client's dialect by path, pins each request to
 * the live generation, runs the pipeline and delivers the answer. Every failure is answered in
 * the client's own dialect with the request id that also appears in the log line.
 *
 *   POST /v1/messages[?beta=true]        Anthropic Messages      (pipeline)
 *   POST /v1/messages/count_tokens       Anthropic token count   (answered locally)
 *   POST /v1/chat/completions            OpenAI Chat Completions (pipeline)
 *   GET  /v1/models                      configured models, Anthropic or OpenAI shape
 *   GET  /health                         liveness and generation
 */
import { randomUUID } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dialect, Usage } from '../canonical.ts';
import { channels, type Logger } from '../contract.ts';
import { anthropicIngress } from '../dialects/anthropic/index.ts';
import type { IngressCodec } from '../dialects/ingress.ts';
import { openaiIngress } from '../dialects/openai/index.ts';
import { isObject, type Json } from '../dialects/shape.ts';
import { routerError, toRouterError, type RouterError } from '../errors.ts';
import type { Generation } from '../generation/generation.ts';
import type { Supervisor } from '../supervisor.ts';
import { estimateTokens } from '../tokens/estimate.ts';
import { kernelVersion } from '../version.ts';
import { authorize } from './auth.ts';
import { KernelContext } from './context.ts';
import { deliver, writeJson } from './deliver.ts';
import { readBody } from './read-body.ts';

const startChannel = channel(channels.requestStart);
const endChannel = channel(channels.requestEnd);


export interface RouterServer {
  server: Server;
  /** Answer 503 to new requests (on kept-alive connections) while the router drains. */
  beginShutdown(): void;
}

interface Outcome {
  status: number;
  dialect?: Dialect;
  route?: string;
  usage?: Usage;
  error?: RouterError;
  dropped?: string[];
}

export function createRouterServer(supervisor: Supervisor, log: Logger): RouterServer {
  let shuttingDown = false;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = 'req_' + randomUUID().replace(/-/g, '');
    const startedAt = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    res.setHeader('x-request-id', id);
    const codec = codecFor(path, req);
    if (codec.dialect === 'anthropic') res.setHeader('request-id', id);

    let outcome: Outcome;
    try {
      if (shuttingDown) {
        res.setHeader('connection', 'close');
        throw routerError('RK_SHUTTING_DOWN');
      }
      const generation = supervisor.current;
      outcome = await dispatch(generation, req, res, { id, method, path, url, codec, startedAt });
    } catch (err) {
      const error = toRouterError(err);
      sendError(res, codec, error, id);
      outcome = { status: error.status, error, dialect: codec.dialect };
    }
    const ms = Math.round((performance.now() - startedAt) * 100) / 100;
    const line = { reqId: id, method, path, status: outcome.status, ms, dialect: outcome.dialect, route: outcome.route, usage: outcome.usage, dropped: outcome.dropped };
    if (outcome.error && (outcome.error.status >= 500 || !outcome.error.expose)) {
      log.error({ ...line, err: outcome.error, code: outcome.error.code }, outcome.error.message);
    } else if (outcome.error) {
      log.info({ ...line, code: outcome.error.code }, outcome.error.message);
    } else if (path !== '/health') {
      log.info(line, 'request');
    }
  }

  interface RequestInfo { id: string; method: string; path: string; url: string; codec: IngressCodec; startedAt: number }

  async function dispatch(generation: Generation, req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<Outcome> {
    const { method, path, codec } = info;
    if (path === '/health') {
      if (method !== 'GET' && method !== 'HEAD') throw routerError('RK_METHOD_NOT_ALLOWED', { method, path });
      writeJson(res, 200, { status: 'ok', generation: generation.id, inflight: generation.inflight, uptime: Math.round(process.uptime()) });
      return { status: 200 };
    }
    if (path === '/' && (method === 'HEAD' || method === 'GET')) {
      // Claude Code sends `HEAD /` once at start-up to check the base URL answers.
      writeJson(res, 200, { name: 'router-kernel', version: kernelVersion, generation: generation.id });
      return { status: 200 };
    }
    const isModelCall = path === '/v1/messages' || path === '/v1/chat/completions';
    const known = isModelCall || path === '/v1/messages/count_tokens' || path === '/v1/models';
    if (!known) throw routerError('RK_NOT_FOUND', { method, path });
    const expected = path === '/v1/models' ? 'GET' : 'POST';
    if (method !== expected) throw routerError('RK_METHOD_NOT_ALLOWED', { method, path });
    authorize(req.headers, generation.settings.authKeys);

    if (path === '/v1/models') {
      writeJson(res, 200, listModels(generation, codec.dialect));
      return { status: 200, dialect: codec.dialect };
    }
    const contentType = req.headers['content-type'];
    if (contentType !== undefined && !/json/i.test(contentType)) throw routerError('RK_UNSUPPORTED_MEDIA_TYPE', { contentType });
    const body = await readBody(req, generation.settings.bodyLimit).catch((err: RouterError) => {
      if (err.code === 'RK_BODY_TOO_LARGE') res.setHeader('connection', 'close');
      throw err;
    });
    const json = parseJson(body);
    const request = codec.parseRequest(json);
    if (path === '/v1/messages/count_tokens') {
      writeJson(res, 200, { input_tokens: estimateTokens(request) });
      return { status: 200, dialect: codec.dialect };
    }
    return runPipeline(generation, req, res, info, body, json, request);
  }

  async function runPipeline(generation: Generation, req: IncomingMessage, res: ServerResponse, info: RequestInfo, body: Buffer, json: Json, request: ReturnType<IngressCodec['parseRequest']>): Promise<Outcome> {
    const { id, codec } = info;
    const controller = new AbortController();
    generation.enter(controller);
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(routerError('RK_CLIENT_CLOSED'));
      generation.leave(controller);
    });
    const raw = { method: info.method, path: info.path, query: new URLSearchParams(info.url.slice(info.path.length + 1)), headers: req.headers, body, json };
    const ctx = new KernelContext(id, codec.dialect, codec === anthropicIngress ? 'messages' : 'chat.completions', request, raw, generation.catalog, controller.signal, log.child({ reqId: id }), info.startedAt);
    if (generation.settings.logBodies) ctx.log.info({ body: json }, 'request body');
    if (startChannel.hasSubscribers) startChannel.publish({ ctx });
    let outcome: Outcome = { status: 500, dialect: codec.dialect };
    try {
      await generation.chain(ctx);
      if (!ctx.response) throw routerError('RK_INTERNAL', { reason: 'the pipeline finished without an answer' });
      const headers = { ...ctx.headers, ...responseHeaders(ctx) };
      const delivery = await deliver(res, codec, ctx.request, json, ctx.response, headers);
      outcome = { status: delivery.status, usage: delivery.usage, error: delivery.error, dialect: codec.dialect };
    } catch (err) {
      const error = toRouterError(err);
      for (const [name, value] of Object.entries(responseHeaders(ctx))) if (!res.headersSent) res.setHeader(name, value);
      sendError(res, codec, error, id);
      outcome = { status: error.status, error, dialect: codec.dialect };
    }
    if (ctx.route) outcome.route = `${ctx.route.provider}/${ctx.route.model}`;
    if (ctx.droppedFeatures.size > 0) outcome.dropped = [...ctx.droppedFeatures];
    if (endChannel.hasSubscribers) endChannel.publish({ ctx, status: outcome.status, error: outcome.error, usage: outcome.usage, durationMs: performance.now() - info.startedAt });
    return outcome;
  }

  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
    handle(req, res).catch((err) => {
      log.error({ err }, 'unhandled error while answering');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  return {
    server,
    beginShutdown() {
      shuttingDown = true;
    },
  };
}

function codecFor(path: string, req: IncomingMessage): IngressCodec {
  if (path.startsWith('/v1/messages')) return anthropicIngress;
  if (path.startsWith('/v1/chat/')) return openaiIngress;
  return req.headers['anthropic-version'] !== undefined || req.headers['x-api-key'] !== undefined ? anthropicIngress : openaiIngress;
}

function parseJson(body: Buffer): Json {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw routerError('RK_BAD_JSON', { reason: (err as Error).message });
  }
  if (!isObject(value)) throw routerError('RK_BAD_JSON', { reason: 'expected a JSON object' });
  return value;
}

function responseHeaders(ctx: KernelContext): Record<string, string> {
  const headers: Record<string, string> = {};
  if (ctx.route) headers['x-router-route'] = `${ctx.route.provider}/${ctx.route.model}; reason=${ctx.route.reason}`;
  if (ctx.droppedFeatures.size > 0) headers['x-router-dropped'] = [...ctx.droppedFeatures].join(', ');
  return headers;
}

function sendError(res: ServerResponse, codec: IngressCodec, error: RouterError, id: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const headers: Record<string, string | number> = {};
  if (error.retryAfter !== undefined) headers['retry-after'] = Math.ceil(error.retryAfter);
  // 499 is nginx's "client closed request": there is nobody left to read it, but logs stay honest.
  writeJson(res, error.status, codec.renderError(error, id), headers);
}

function listModels(generation: Generation, dialect: Dialect): Json {
  const ids: Array<{ id: string; provider: string }> = [];
  for (const provider of generation.catalog.providers()) {
    for (const model of generation.catalog.models(provider)) ids.push({ id: `${provider}/${model.name}`, provider });
  }
  if (dialect === 'anthropic') {
    const data = ids.map((m) => ({ type: 'model', id: m.id, display_name: m.id, created_at: '1970-01-01T00:00:00Z' }));
    return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null };
  }
  return { object: 'list', data: ids.map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.provider })) };
}
