/**
 * The HTTP front door (node:http). Recognises the client's dialect by path, pins each request to
 * the live generation before reading its body, and answers every failure in the client's own
 * dialect with the request id that also appears in the log line.
 *
 *   POST /v1/messages[?beta=true]        Anthropic Messages      (pipeline)
 *   POST /v1/messages/count_tokens       Anthropic token count   (answered locally)
 *   POST /v1/chat/completions            OpenAI Chat Completions (pipeline)
 *   GET  /v1/models                      configured models, Anthropic or OpenAI shape
 *   GET  /health                         liveness and generation
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dialect } from '../canonical.ts';
import type { Logger } from '../contract.ts';
import { anthropicCodec } from '../dialects/anthropic/index.ts';
import type { IngressCodec } from '../dialects/codec.ts';
import { openaiCodec } from '../dialects/openai/index.ts';
import { RawJsonObject } from '../dialects/raw-json.ts';
import type { Json } from '../dialects/shape.ts';
import { routerError, type RouterError } from '../errors.ts';
import type { Generation } from '../generation/generation.ts';
import type { Supervisor } from '../supervisor.ts';
import { encodingFor, tokenFamilyFor } from '../tokens/families.ts';
import { kernelVersion } from '../version.ts';
import { authorize } from './auth.ts';
import { writeJson } from './deliver.ts';
import { runModelCall, type Outcome } from './model-call.ts';
import { adminState } from './admin-state.ts';
import { authorizeAdmin, methodsFor, servePluginRoute } from './plugin-routes.ts';
import { giveBackMemory, IdleCollector } from './idle-collect.ts';
import { readBody } from './read-body.ts';
import type { BodyLease } from '../body-memory.ts';
import { failureOf, sendError } from './respond.ts';

export interface RouterServer {
  server: Server;
  /** Answer 503 to new requests (on kept-alive connections) while the router drains. */
  beginShutdown(): void;
}

interface Incoming {
  id: string;
  method: string;
  path: string;
  url: string;
  codec: IngressCodec;
  startedAt: number;
  signal: AbortSignal;
}

const endpoints: Record<string, string> = {
  '/v1/messages': 'POST',
  '/v1/chat/completions': 'POST',
  '/v1/messages/count_tokens': 'POST',
  '/v1/models': 'GET',
};

export function createRouterServer(supervisor: Supervisor, log: Logger): RouterServer {
  let shuttingDown = false;
  const idle = new IdleCollector(
    () => supervisor.current.settings.idleCollectAfter,
    () => void giveBackMemory(supervisor.current.tokens, log, () => idle.quiet),
  );

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = requestId();
    const startedAt = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    res.setHeader('x-request-id', id);
    const codec = codecFor(path, req);
    if (codec.dialect === 'anthropic') res.setHeader('request-id', id);

    let outcome: Outcome;
    if (shuttingDown) {
      res.setHeader('connection', 'close');
      const error = routerError('RK_SHUTTING_DOWN');
      sendError(res, codec, error, id);
      outcome = { status: error.status, error, dialect: codec.dialect };
    } else {
      // Pinned before the body is read: a reload meanwhile must not retire what this request uses.
      const generation = supervisor.current;
      const controller = new AbortController();
      generation.enter(controller);
      idle.begin(path !== '/health' && path !== '/');
      res.once('close', () => {
        if (!res.writableFinished) controller.abort(routerError('RK_CLIENT_CLOSED'));
        generation.leave(controller);
        idle.end();
      });
      try {
        outcome = await dispatch(generation, req, res, { id, method, path, url, codec, startedAt, signal: controller.signal });
      } catch (err) {
        const error = failureOf(err, controller.signal);
        sendError(res, codec, error, id);
        outcome = { status: error.status, error, dialect: codec.dialect };
      }
    }
    logOutcome(log, { id, method, path, startedAt }, outcome);
  }

  async function dispatch(generation: Generation, req: IncomingMessage, res: ServerResponse, incoming: Incoming): Promise<Outcome> {
    const { method, path, codec } = incoming;
    if (path === '/health') {
      if (method !== 'GET' && method !== 'HEAD') throw routerError('RK_METHOD_NOT_ALLOWED', { method, path, allow: 'GET, HEAD' });
      writeJson(res, 200, { status: 'ok', generation: generation.id, inflight: generation.inflight - 1, uptime: Math.round(process.uptime()) });
      return { status: 200 };
    }
    if (path === '/' && (method === 'HEAD' || method === 'GET')) {
      // Claude Code sends `HEAD /` once at start-up to check the base URL answers.
      writeJson(res, 200, { name: 'router-kernel', version: kernelVersion, generation: generation.id });
      return { status: 200 };
    }
    if (path === '/admin/state') {
      if (method !== 'GET') throw routerError('RK_METHOD_NOT_ALLOWED', { method, path, allow: 'GET' });
      authorizeAdmin(generation, req, path);
      writeJson(res, 200, adminState(generation));
      return { status: 200 };
    }
    const expected = endpoints[path];
    if (!expected) {
      const plugin = generation.routes.get(`${method} ${path}`);
      if (plugin) {
        await servePluginRoute(generation, plugin, req, res);
        return { status: res.statusCode };
      }
      const allow = methodsFor(generation, path);
      if (allow.length > 0) throw routerError('RK_METHOD_NOT_ALLOWED', { method, path, allow: allow.join(', ') });
      throw routerError('RK_NOT_FOUND', { method, path });
    }
    if (method !== expected) throw routerError('RK_METHOD_NOT_ALLOWED', { method, path, allow: expected });
    authorize(req.headers, generation.settings.authKeys);
    if (path === '/v1/models') {
      writeJson(res, 200, listModels(generation, codec.dialect));
      return { status: 200, dialect: codec.dialect };
    }

    const contentType = req.headers['content-type'];
    if (contentType !== undefined && !/json/i.test(contentType)) throw routerError('RK_UNSUPPORTED_MEDIA_TYPE', { contentType });
    const { body, lease } = await readBody(req, generation.settings.bodyLimit, generation.settings.reuseBodyMemory).catch((err: RouterError) => {
      if (err.code === 'RK_BODY_TOO_LARGE') res.setHeader('connection', 'close');
      throw err;
    });
    try {
      return await answerModelCall(generation, req, res, incoming, codec, body, lease);
    } finally {
      // Answered (or failed): nothing of the kernel's reads the body any more; upstream exchanges still sending it hold their own.
      lease?.end();
    }
  }

  async function answerModelCall(generation: Generation, req: IncomingMessage, res: ServerResponse, incoming: Incoming, codec: IngressCodec, body: Buffer, lease: BodyLease | undefined): Promise<Outcome> {
    const { method, path } = incoming;
    const object = new RawJsonObject(body);
    if (path === '/v1/messages/count_tokens') {
      // Counted the way the named model's family bills (Claude: a calibrated estimate).
      const request = codec.parseRequest(object.parse());
      const count = await generation.tokens.count(request, { family: tokenFamilyFor(request.model, 'anthropic').name, encoding: encodingFor(request.model) });
      writeJson(res, 200, { input_tokens: count.tokens });
      return { status: 200, dialect: codec.dialect };
    }
    // Only what every request needs is read up front; the rest is parsed if a plugin asks for it.
    const model = object.field('model');
    if (typeof model !== 'string' || model === '') throw routerError('RK_BAD_REQUEST', { reason: 'model: must be a non-empty string' });
    const call = { id: incoming.id, method, path, url: incoming.url, codec, startedAt: incoming.startedAt, signal: incoming.signal, body: object, lease, model, stream: object.field('stream') === true };
    return runModelCall(generation, req, res, call, log);
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
      idle.stop();
    },
  };
}

/** `req_` and 32 hex digits: a random UUID without its dashes (sliced: a regex costs more). */
function requestId(): string {
  const u = randomUUID();
  return 'req_' + u.slice(0, 8) + u.slice(9, 13) + u.slice(14, 18) + u.slice(19, 23) + u.slice(24);
}

function logOutcome(log: Logger, request: { id: string; method: string; path: string; startedAt: number }, outcome: Outcome): void {
  // Nothing to build when the level would drop the line anyway (a busy router at level warn).
  if (!log.isLevelEnabled(outcome.error ? (outcome.error.status >= 500 || !outcome.error.expose ? 'error' : 'info') : 'info')) return;
  const ms = Math.round((performance.now() - request.startedAt) * 100) / 100;
  const line = { reqId: request.id, method: request.method, path: request.path, status: outcome.status, ms, dialect: outcome.dialect, route: outcome.route, reason: outcome.reason, usage: outcome.usage, dropped: outcome.dropped };
  const error = outcome.error;
  if (error && (error.status >= 500 || !error.expose)) log.error({ ...line, err: error, code: error.code }, error.message);
  else if (error) log.info({ ...line, code: error.code }, error.message);
  else if (request.path !== '/health') log.info(line, 'request');
}

function codecFor(path: string, req: IncomingMessage): IngressCodec {
  if (path.startsWith('/v1/messages')) return anthropicCodec;
  if (path.startsWith('/v1/chat/')) return openaiCodec;
  return req.headers['anthropic-version'] !== undefined || req.headers['x-api-key'] !== undefined ? anthropicCodec : openaiCodec;
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
