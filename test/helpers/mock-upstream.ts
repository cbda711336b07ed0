/**
 * A real HTTP server on 127.0.0.1 standing in for a provider: it records what it receives and
 * replays recorded bodies with the chunking the test asks for (whole, per SSE event, every N
 * bytes so that cuts fall inside UTF-8 characters and SSE lines, or paced).
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface UpstreamReply {
  status?: number;
  headers?: Record<string, string>;
  body: string | Buffer;
  /** How to cut the body: 'whole' (default), 'events' (per blank-line-terminated event), or a byte size. */
  chunking?: 'whole' | 'events' | number;
  /** Pause between chunks. */
  delayMs?: number;
  /** Pause before the status line. */
  latencyMs?: number;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
}

export interface MockUpstream {
  url: string;
  requests: RecordedRequest[];
  /** Responses the client abandoned before they were complete. */
  aborted: number;
  close(): Promise<void>;
}

export type UpstreamHandler = (req: RecordedRequest, res: ServerResponse) => UpstreamReply | Promise<UpstreamReply | 'handled'> | 'handled';

export async function mockUpstream(handler: UpstreamHandler): Promise<MockUpstream> {
  const requests: RecordedRequest[] = [];
  const state = { aborted: 0 };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    let json: any;
    try {
      json = body ? JSON.parse(body) : undefined;
    } catch {
      json = undefined;
    }
    const recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, json };
    requests.push(recorded);
    let finished = false;
    res.on('close', () => {
      if (!finished) state.aborted++;
    });
    const reply = await handler(recorded, res);
    if (reply === 'handled') return;
    try {
      await send(res, reply);
      finished = true;
    } catch {
      // the client went away mid-reply
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get aborted() {
      return state.aborted;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function send(res: ServerResponse, reply: UpstreamReply): Promise<void> {
  if (reply.latencyMs) await sleep(reply.latencyMs);
  const body = Buffer.isBuffer(reply.body) ? reply.body : Buffer.from(reply.body, 'utf8');
  res.writeHead(reply.status ?? 200, reply.headers ?? { 'content-type': 'application/json' });
  const pieces = cut(body, reply.chunking ?? 'whole');
  for (const [i, piece] of pieces.entries()) {
    if (res.destroyed) throw new Error('client gone');
    if (i > 0 && reply.delayMs) await sleep(reply.delayMs);
    res.write(piece);
  }
  res.end();
}

function cut(body: Buffer, chunking: 'whole' | 'events' | number): Buffer[] {
  if (chunking === 'whole') return [body];
  if (typeof chunking === 'number') {
    const out: Buffer[] = [];
    for (let i = 0; i < body.length; i += chunking) out.push(body.subarray(i, i + chunking));
    return out;
  }
  const text = body.toString('utf8');
  const out: Buffer[] = [];
  const separator = /\r?\n\r?\n/g;
  let start = 0;
  for (let m = separator.exec(text); m; m = separator.exec(text)) {
    out.push(Buffer.from(text.slice(start, m.index + m[0].length), 'utf8'));
    start = m.index + m[0].length;
  }
  if (start < text.length) out.push(Buffer.from(text.slice(start), 'utf8'));
  return out;
}
