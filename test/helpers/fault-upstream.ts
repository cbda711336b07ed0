/**
 * A fault-injecting provider on 127.0.0.1, OpenAI- or Anthropic-compatible: per-key rate limits
 * with real-looking headers (`x-ratelimit-*` or `anthropic-ratelimit-*`, `retry-after` on 429), keys
 * it refuses (401/403, or with a recorded body such as Gemini's 400 API_KEY_INVALID), and scripted
 * faults (5xx, 529, recorded error bodies, error events in a 200 stream, connection resets, hangs,
 * slow streams).
 * Records which key served each request, when, and how many were in flight at once.
 */
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { fixtureText } from './fixtures.ts';
import { mockUpstream, type MockUpstream, type RecordedRequest } from './mock-upstream.ts';

/**
 * A scripted answer: an error status (with a recorded `body` in place of the generic one, after
 * `delayMs` for a slow failure), a 200
 * event stream whose body is given (`stream`: say, one whose first event is an error), a reset,
 * a hang, or a delay before the normal answer.
 */
export type Fault = { status: number; retryAfter?: number; body?: string; delayMs?: number } | { stream: string } | 'reset' | 'hang' | { delayMs: number };

export interface FaultOptions {
  dialect?: 'openai' | 'anthropic';
  /** Per key: `limit` requests per `windowMs`, or a status it is refused with (and a recorded body). */
  keys?: Record<string, { limit: number; windowMs: number } | { refuse: 400 | 401 | 402 | 403; body?: string }>;
  /** Faults served to the next requests, one each, in order (then normal answers). */
  faults?: Fault[];
  /** Pause before answering (every request), for queueing tests. */
  latencyMs?: number;
  /** Pause between stream events. */
  eventDelayMs?: number;
  /** Quote the key back in error messages, as some providers do. */
  echoKey?: boolean;
}

export interface Served {
  key: string;
  at: number;
  status: number;
  body: any;
}

export interface FaultUpstream extends MockUpstream {
  served: Served[];
  maxInflight: number;
  faults: Fault[];
}

export async function faultUpstream(options: FaultOptions = {}): Promise<FaultUpstream> {
  const dialect = options.dialect ?? 'openai';
  const windows = new Map<string, number[]>();
  const served: Served[] = [];
  const faults = [...(options.faults ?? [])];
  let inflight = 0;
  let maxInflight = 0;
  let aborted = 0;

  const handler = async (req: RecordedRequest, res: ServerResponse): Promise<'handled'> => {
    inflight++;
    maxInflight = Math.max(maxInflight, inflight);
    // Done when the last byte is handed to the socket (the client may read it a moment later).
    let done = false;
    const finish = () => {
      if (!done) inflight--;
      done = true;
    };
    res.once('finish', finish);
    res.once('close', () => {
      // Closed before the answer was all written: the router cut the call.
      if (!res.writableFinished) aborted++;
      finish();
    });
    const key = keyOf(req);
    const now = Date.now();
    const answer = (status: number, headers: Record<string, string>, body: string) => {
      served.push({ key, at: now, status, body: req.json });
      if (!res.destroyed) {
        res.writeHead(status, headers);
        res.end(body);
      }
      return 'handled' as const;
    };
    const fault = faults.shift();
    if (fault === 'reset') {
      served.push({ key, at: now, status: 0, body: req.json });
      res.socket?.destroy();
      return 'handled';
    }
    if (fault === 'hang') {
      served.push({ key, at: now, status: 0, body: req.json });
      return 'handled'; // never answers; the router's timeout must act
    }
    if (fault && typeof fault === 'object' && 'status' in fault) {
      if (fault.delayMs) await sleep(fault.delayMs);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
      return answer(fault.status, headers, fault.body ?? errorBody(dialect, fault.status, options.echoKey ? key : undefined));
    }
    if (fault && typeof fault === 'object' && 'stream' in fault) return answer(200, { 'content-type': 'text/event-stream' }, fault.stream);
    if (options.latencyMs) await sleep(options.latencyMs);
    if (fault && typeof fault === 'object' && 'delayMs' in fault) await sleep(fault.delayMs);

    const rule = options.keys?.[key];
    if (rule && 'refuse' in rule) return answer(rule.refuse, { 'content-type': 'application/json' }, rule.body ?? errorBody(dialect, rule.refuse));
    const limits: Record<string, string> = {};
    if (rule && 'limit' in rule) {
      const list = (windows.get(key) ?? []).filter((t) => t > now - rule.windowMs);
      windows.set(key, list);
      const resetMs = list.length > 0 ? list[0] + rule.windowMs - now : rule.windowMs;
      if (list.length >= rule.limit) {
        return answer(429, { 'content-type': 'application/json', 'retry-after': String(Math.ceil(resetMs / 1000)), ...rateHeaders(dialect, rule.limit, 0, resetMs, now) }, errorBody(dialect, 429));
      }
      list.push(now);
      Object.assign(limits, rateHeaders(dialect, rule.limit, rule.limit - list.length, list[0] + rule.windowMs - now, now));
    }
    served.push({ key, at: now, status: 200, body: req.json });
    const stream = req.json?.stream === true;
    const file = dialect === 'openai' ? (stream ? 'providers/openai/stream-text-include-usage.sse' : 'providers/openai/chat-completion-ratelimit-headers.json') : stream ? 'providers/anthropic/stream-text-short.sse' : 'providers/anthropic/message-text.json';
    res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json', ...limits });
    const text = fixtureText(file);
    if (!stream || !options.eventDelayMs) {
      res.end(text);
      return 'handled';
    }
    for (const event of text.split(/(?<=\n\n)/)) {
      if (res.destroyed) break;
      res.write(event);
      await sleep(options.eventDelayMs);
    }
    res.end();
    return 'handled';
  };

  const upstream = await mockUpstream(handler);
  return Object.defineProperties(upstream, {
    served: { value: served },
    faults: { value: faults },
    maxInflight: { get: () => maxInflight },
    aborted: { get: () => aborted },
  }) as FaultUpstream;
}

function keyOf(req: RecordedRequest): string {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7);
  const key = req.headers['x-api-key'];
  return typeof key === 'string' ? key : '';
}

function rateHeaders(dialect: 'openai' | 'anthropic', limit: number, remaining: number, resetMs: number, now: number): Record<string, string> {
  if (dialect === 'anthropic') {
    return { 'anthropic-ratelimit-requests-limit': String(limit), 'anthropic-ratelimit-requests-remaining': String(remaining), 'anthropic-ratelimit-requests-reset': new Date(now + resetMs).toISOString() };
  }
  return { 'x-ratelimit-limit-requests': String(limit), 'x-ratelimit-remaining-requests': String(remaining), 'x-ratelimit-reset-requests': `${Math.max(1, Math.round(resetMs))}ms` };
}

function errorBody(dialect: 'openai' | 'anthropic', status: number, key?: string): string {
  const type = status === 429 ? 'rate_limit_error' : status === 529 ? 'overloaded_error' : status === 401 ? 'authentication_error' : status === 403 ? 'permission_error' : 'api_error';
  const message = (status === 429 ? 'Rate limit reached for requests' : status === 401 ? 'Incorrect API key provided' : `upstream failure ${status}`) + (key ? ` (key ${key})` : '');
  return dialect === 'anthropic' ? JSON.stringify({ type: 'error', error: { type, message } }) : JSON.stringify({ error: { message, type, code: status === 429 ? 'rate_limit_exceeded' : null } });
}
