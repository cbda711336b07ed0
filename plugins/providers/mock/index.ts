/**
 * provider.mock: a built-in provider that answers without any network, key or model. The shipped
 * router.yaml uses it so `npx router-kernel` works on a fresh machine; tests and demos use it to
 * see streaming, stop reasons and usage behave like a real upstream's.
 *
 *   providers:
 *     mock:
 *       use: mock
 *       models: [mock-fast, mock-smart]
 *       latency: 200ms        # before the first token
 *       chunk_delay: 20ms     # between streamed chunks
 *       chunk_words: 2        # words per chunk
 *
 * The answer is deterministic: it names the model and quotes the start of the last user message.
 * `max_tokens` and stop sequences cut it the way a real model's would.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  definePlugin,
  estimateTextTokens,
  estimateTokens,
  parseDuration,
  textOf,
  type CanonicalRequest,
  type CanonicalResponse,
  type ProviderInstance,
  type StopReason,
  type StreamEvent,
} from 'router-kernel';

interface MockOptions {
  latency: number | string;
  chunk_delay: number | string;
  chunk_words: number;
  reply?: string;
}

const duration = { type: ['integer', 'string'], format: 'duration' };

export default definePlugin<MockOptions, ProviderInstance>({
  id: 'provider.mock',
  kind: 'provider',
  version: '1.0.0',
  description: 'Answers locally with deterministic text; no network or keys needed.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      latency: { ...duration, default: 0 },
      chunk_delay: { ...duration, default: 0 },
      chunk_words: { type: 'integer', minimum: 1, default: 3 },
      reply: { type: 'string', description: 'Fixed answer text instead of the default echo.' },
    },
  },
  create(options) {
    const latency = parseDuration(options.latency);
    const chunkDelay = parseDuration(options.chunk_delay);

    return {
      async invoke(ctx, call) {
        const request = ctx.request;
        const answer = shape(options.reply ?? defaultReply(request, call.model), request);
        const id = `msg_mock_${randomBytes(8).toString('hex')}`;
        const usage = { inputTokens: estimateTokens(request), outputTokens: answer.outputTokens };
        if (latency > 0) await sleep(latency, undefined, { signal: ctx.signal });
        if (!request.stream) {
          const message: CanonicalResponse = { id, model: call.model, content: [{ type: 'text', text: answer.text }], stopReason: answer.stopReason, stopSequence: answer.stopSequence, usage };
          return { kind: 'message', message };
        }
        const chunks = chunkWords(answer.text, options.chunk_words);
        async function* events(): AsyncGenerator<StreamEvent> {
          yield { type: 'start', id, model: call.model, usage: { inputTokens: usage.inputTokens, outputTokens: 0 } };
          yield { type: 'part_start', index: 0, part: { type: 'text' } };
          for (const [i, text] of chunks.entries()) {
            if (i > 0 && chunkDelay > 0) await sleep(chunkDelay, undefined, { signal: ctx.signal });
            yield { type: 'text_delta', index: 0, text };
          }
          yield { type: 'part_stop', index: 0 };
          yield { type: 'finish', stopReason: answer.stopReason, stopSequence: answer.stopSequence, usage };
        }
        return { kind: 'stream', events: events() };
      },
    };
  },
});

function defaultReply(request: CanonicalRequest, model: string): string {
  const lastUser = [...request.messages].reverse().find((m) => m.role === 'user');
  const said = lastUser ? textOf(lastUser.content).replace(/\s+/g, ' ').trim() : '';
  const quote = said.length > 120 ? said.slice(0, 120) + '…' : said;
  return `Hello from router-kernel's mock provider, answering as ${model}. You said: "${quote}"`;
}

/** Applies stop sequences and max_tokens as a model would. */
function shape(text: string, request: CanonicalRequest): { text: string; stopReason: StopReason; stopSequence: string | null; outputTokens: number } {
  let out = text;
  let stopReason: StopReason = 'end_turn';
  let stopSequence: string | null = null;
  for (const stop of request.stop ?? []) {
    const at = stop === '' ? -1 : out.indexOf(stop);
    if (at !== -1) {
      out = out.slice(0, at);
      stopReason = 'stop_sequence';
      stopSequence = stop;
    }
  }
  if (request.maxTokens !== undefined && estimateTextTokens(out) > request.maxTokens) {
    out = out.slice(0, Math.max(0, request.maxTokens * 4));
    stopReason = 'max_tokens';
    stopSequence = null;
  }
  return { text: out, stopReason, stopSequence, outputTokens: estimateTextTokens(out) };
}

function chunkWords(text: string, perChunk: number): string[] {
  const words = text.match(/\S+\s*/g) ?? [];
  const chunks: string[] = [];
  for (let i = 0; i < words.length; i += perChunk) chunks.push(words.slice(i, i + perChunk).join(''));
  return chunks;
}
