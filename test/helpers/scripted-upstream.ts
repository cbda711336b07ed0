/**
 * A mock provider that answers from a script instead of a recording: it reads each request in its
 * dialect and writes the scripted answer in that dialect's exact wire format, through the same
 * codecs the router uses (which the recorded-fixture tests pin to the real formats).
 *
 *   const up = await scriptedUpstream('openai', (request) => ({ text: 'hi' }));
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CanonicalRequest, CanonicalResponse, Dialect, Part } from '../../core/canonical.ts';
import { messageToEvents } from '../../core/canonical-stream.ts';
import { anthropicCodec } from '../../core/dialects/anthropic/index.ts';
import type { DialectCodec } from '../../core/dialects/codec.ts';
import { geminiCodec } from '../../core/dialects/gemini/index.ts';
import { ollamaCodec } from '../../core/dialects/ollama/index.ts';
import { openaiCodec } from '../../core/dialects/openai/index.ts';

const codecs: Record<Dialect, DialectCodec<any>> = { anthropic: anthropicCodec, openai: openaiCodec, gemini: geminiCodec, ollama: ollamaCodec };

export interface ScriptedAnswer {
  text?: string;
  toolCalls?: Array<{ id: string; name: string; input: unknown }>;
}

export interface ScriptedUpstream {
  url: string;
  requests: CanonicalRequest[];
  close(): Promise<void>;
}

export async function scriptedUpstream(dialect: Dialect, script: (request: CanonicalRequest) => ScriptedAnswer): Promise<ScriptedUpstream> {
  const codec = codecs[dialect];
  const requests: CanonicalRequest[] = [];
  let counter = 0;
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    const request = codec.parseRequest(body);
    // Gemini carries the model and the streaming switch in the URL.
    const geminiPath = /\/models\/([^:]+):(\w+)/.exec(req.url ?? '');
    if (geminiPath) {
      request.model = decodeURIComponent(geminiPath[1]);
      request.stream = geminiPath[2] === 'streamGenerateContent';
    }
    requests.push(request);
    const scripted = script(request);
    const content: Part[] = [];
    if (scripted.text !== undefined) content.push({ type: 'text', text: scripted.text });
    for (const call of scripted.toolCalls ?? []) content.push({ type: 'tool_call', ...call });
    const answer: CanonicalResponse = {
      id: `msg_scripted_${++counter}`,
      model: request.model,
      content,
      stopReason: scripted.toolCalls?.length ? 'tool_use' : 'end_turn',
      stopSequence: null,
      usage: { inputTokens: 100 + counter, outputTokens: 10 + counter },
    };
    if (!request.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(codec.renderMessage(answer, request, body)));
      return;
    }
    res.writeHead(200, { 'content-type': codec.framing === 'sse' ? 'text/event-stream' : 'application/x-ndjson' });
    const writer = codec.createStreamWriter(request, body);
    for (const event of messageToEvents(answer)) res.write(writer.write(event));
    res.end(writer.end?.() ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The text of the last user turn's tool results, if it has any. */
export function lastToolResult(request: CanonicalRequest): string | undefined {
  const last = request.messages[request.messages.length - 1];
  const result = last?.role === 'user' ? last.content.find((p) => p.type === 'tool_result') : undefined;
  if (!result || result.type !== 'tool_result') return undefined;
  return typeof result.content === 'string' ? result.content : result.content.map((p) => (p.type === 'text' ? p.text : '')).join('');
}
