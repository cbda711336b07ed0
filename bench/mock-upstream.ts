/**
 * The benchmark's upstream: a separate process that answers as fast as it can, in each dialect's
 * exact wire format (written by the same codecs the tests pin to real recordings). Answers are
 * rendered once at start-up; serving them is a lookup and a write.
 *
 *   node --import tsx bench/mock-upstream.ts --port 0 --events 24 --pace 0 --latency 0
 *
 * Prints `listening <port>` when ready. Routes: POST /v1/chat/completions (OpenAI),
 * /v1/messages (Anthropic), /v1beta/models/<m>:generateContent|:streamGenerateContent (Gemini),
 * /api/chat (Ollama). A request streams when its body says `"stream":true` (or the Gemini URL does).
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import type { CanonicalRequest, CanonicalResponse, Dialect } from '../core/canonical.ts';
import { messageToEvents } from '../core/canonical-stream.ts';
import { anthropicCodec } from '../core/dialects/anthropic/index.ts';
import type { DialectCodec } from '../core/dialects/codec.ts';
import { geminiCodec } from '../core/dialects/gemini/index.ts';
import { ollamaCodec } from '../core/dialects/ollama/index.ts';
import { openaiCodec } from '../core/dialects/openai/index.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    events: { type: 'string', default: '24' },
    pace: { type: 'string', default: '0' },
    latency: { type: 'string', default: '0' },
    words: { type: 'string', default: '2' },
  },
});
const events = Number(values.events);
const pace = Number(values.pace);
const latency = Number(values.latency);

const codecs: Record<Dialect, DialectCodec<any>> = { openai: openaiCodec, anthropic: anthropicCodec, gemini: geminiCodec, ollama: ollamaCodec };
const request: CanonicalRequest = { model: 'bench-model', system: [], messages: [], tools: [], stream: true, extras: {} };
const words = Array.from({ length: events }, (_, i) => `word${i} `.repeat(Number(values.words)));
const answer: CanonicalResponse = {
  id: 'msg_bench_0001',
  model: 'bench-model',
  content: [{ type: 'text', text: words.join('') }],
  stopReason: 'end_turn',
  stopSequence: null,
  usage: { inputTokens: 250, outputTokens: events * 2 },
};

interface Prepared {
  json: Buffer;
  /** Stream frames, one per canonical event that produced bytes. */
  frames: Buffer[];
  whole: Buffer;
  type: string;
}

function prepare(dialect: Dialect): Prepared {
  const codec = codecs[dialect];
  const body = { stream_options: { include_usage: true } };
  const writer = codec.createStreamWriter(request, body);
  const frames: Buffer[] = [];
  // One frame per text delta, as a model would send them.
  for (const event of messageToEvents({ ...answer, content: [] })) {
    if (event.type === 'finish') {
      frames.push(Buffer.from(writer.write({ type: 'part_start', index: 0, part: { type: 'text' } })));
      for (const text of words) frames.push(Buffer.from(writer.write({ type: 'text_delta', index: 0, text })));
      frames.push(Buffer.from(writer.write({ type: 'part_stop', index: 0 })));
    }
    const text = writer.write(event);
    if (text) frames.push(Buffer.from(text));
  }
  const tail = writer.end?.();
  if (tail) frames.push(Buffer.from(tail));
  const nonEmpty = frames.filter((f) => f.length > 0);
  return {
    json: Buffer.from(JSON.stringify(codec.renderMessage(answer, request, {}))),
    frames: nonEmpty,
    whole: Buffer.concat(nonEmpty),
    type: codec.framing === 'sse' ? 'text/event-stream' : 'application/x-ndjson',
  };
}

const prepared: Record<Dialect, Prepared> = { openai: prepare('openai'), anthropic: prepare('anthropic'), gemini: prepare('gemini'), ollama: prepare('ollama') };
const streamMarker = Buffer.from('"stream":true');

function dialectOf(url: string): Dialect | undefined {
  if (url.startsWith('/v1/chat/completions')) return 'openai';
  if (url.startsWith('/v1/messages')) return 'anthropic';
  if (url.startsWith('/v1beta/models/')) return 'gemini';
  if (url.startsWith('/api/chat')) return 'ollama';
  return undefined;
}

async function reply(res: ServerResponse, p: Prepared, stream: boolean): Promise<void> {
  if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
  if (!stream) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': p.json.length });
    res.end(p.json);
    return;
  }
  res.writeHead(200, { 'content-type': p.type });
  if (pace === 0) {
    // Back to back: every event its own write, as an upstream flushing each token would.
    for (const frame of p.frames) res.write(frame);
    res.end();
    return;
  }
  for (const frame of p.frames) {
    if (res.destroyed) return;
    res.write(frame);
    await new Promise((resolve) => setTimeout(resolve, pace));
  }
  res.end();
}

const server = createServer((req, res) => {
  const dialect = dialectOf(req.url ?? '');
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (!dialect) {
      res.writeHead(404).end();
      return;
    }
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    const stream = dialect === 'gemini' ? (req.url ?? '').includes(':streamGenerateContent') : body.includes(streamMarker);
    void reply(res, prepared[dialect], stream);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
