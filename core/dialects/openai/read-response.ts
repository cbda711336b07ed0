/**
 * OpenAI Chat Completions answers → canonical: the complete `chat.completion` JSON, and the
 * `chat.completion.chunk` stream (one SSE `data:` payload at a time). The stream reader holds the
 * finish reason until the usage chunk or `[DONE]` arrives, because OpenAI sends usage after the
 * finish chunk and the canonical `finish` event carries both.
 */
import type { CanonicalResponse, Part, StopReason, StreamEvent, Usage } from '../../canonical.ts';
import { parseToolArguments } from '../../canonical-stream.ts';
import { PartTracker } from '../part-tracker.ts';
import { isObject, type Json } from '../shape.ts';
import { ContentDeltaScanner } from './content-delta.ts';
import { splitThinkTags, ThinkTagSplitter, type Piece } from './think-tags.ts';

export interface OpenAIReadOptions {
  /** Split a leading `<think>…</think>` out of the content (see think-tags.ts). Default true. */
  thinkTags?: boolean;
}

export function parseOpenAIResponse(body: Json, options: OpenAIReadOptions = {}): CanonicalResponse {
  const choice = Array.isArray(body.choices) && isObject(body.choices[0]) ? body.choices[0] : {};
  const message = isObject(choice.message) ? choice.message : {};
  const content: Part[] = [];
  let reasoning = reasoningOf(message);
  let text = typeof message.content === 'string' ? message.content : '';
  if (options.thinkTags !== false && !reasoning && text) {
    const split = splitThinkTags(text);
    reasoning = split.reasoning;
    text = split.text;
  }
  if (reasoning) content.push({ type: 'reasoning', text: reasoning, origin: 'openai' });
  if (text !== '') content.push({ type: 'text', text });
  if (typeof message.refusal === 'string' && message.refusal !== '') content.push({ type: 'text', text: message.refusal });
  if (Array.isArray(message.tool_calls)) {
    const messageSignature = thoughtSignatureOf(message);
    message.tool_calls.forEach((call, i) => {
      if (!isObject(call) || !isObject(call.function)) return;
      const args = typeof call.function.arguments === 'string' ? call.function.arguments : JSON.stringify(call.function.arguments ?? {});
      const signature = thoughtSignatureOf(call) ?? (i === 0 ? messageSignature : undefined);
      content.push({ type: 'tool_call', id: toolCallId(call.id, i), name: String(call.function.name ?? ''), input: parseToolArguments(args), ...(signature ? { signature, origin: 'openai' } : {}) });
    });
  }
  let stopReason = stopReasonOf(choice.finish_reason);
  if (typeof message.refusal === 'string' && message.refusal !== '') stopReason = 'refusal';
  return {
    id: typeof body.id === 'string' ? body.id : '',
    model: typeof body.model === 'string' ? body.model : '',
    content,
    stopReason,
    stopSequence: null,
    usage: usageOf(body.usage),
  };
}

export function stopReasonOf(reason: unknown): StopReason {
  switch (reason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'content_filter';
    default:
      return 'end_turn';
  }
}

export function usageOf(value: unknown): Usage {
  if (!isObject(value)) return { inputTokens: 0, outputTokens: 0 };
  const prompt = num(value.prompt_tokens);
  const details = isObject(value.prompt_tokens_details) ? value.prompt_tokens_details : {};
  // DeepSeek reports cache hits in its own field.
  const cached = num(details.cached_tokens) || num(value.prompt_cache_hit_tokens);
  const usage: Usage = { inputTokens: Math.max(0, prompt - cached), outputTokens: num(value.completion_tokens) };
  if (cached > 0) usage.cacheReadTokens = cached;
  const completion = isObject(value.completion_tokens_details) ? value.completion_tokens_details : {};
  const reasoning = num(completion.reasoning_tokens);
  if (reasoning > 0) usage.reasoningTokens = reasoning;
  return usage;
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function reasoningOf(delta: Json): string | undefined {
  if (typeof delta.reasoning_content === 'string' && delta.reasoning_content !== '') return delta.reasoning_content;
  if (typeof delta.reasoning === 'string' && delta.reasoning !== '') return delta.reasoning;
  return undefined;
}

/**
 * Gemini's OpenAI-compatible endpoint returns a thought signature with function calls, on the
 * call (`extra_content.google.thought_signature`) or, in older versions, on the message; it must
 * go back with the call (see the `thoughtSignatures` flavor switch in flavor.ts).
 */
function thoughtSignatureOf(value: Json): string | undefined {
  const google = isObject(value.extra_content) && isObject(value.extra_content.google) ? value.extra_content.google : undefined;
  const signature = google?.thought_signature ?? value.thought_signature;
  return typeof signature === 'string' && signature !== '' ? signature : undefined;
}

/** Some servers send tool calls without ids (or with ""); clients need one to answer the call. */
function toolCallId(id: unknown, index: number): string {
  return typeof id === 'string' && id !== '' ? id : `call_rk_${index}_${Math.random().toString(36).slice(2, 10)}`;
}

export interface OpenAIStreamReader {
  /** Events for one SSE `data:` payload. */
  push(data: string): StreamEvent[];
  /** Events owed when the body ends: the held finish, or an error if the stream stopped short. */
  end(): StreamEvent[];
}

export function createOpenAIStreamReader(options: OpenAIReadOptions = {}): OpenAIStreamReader {
  const splitter = options.thinkTags === false ? undefined : new ThinkTagSplitter();
  let started = false;
  let done = false;
  let stopReason: StopReason | undefined;
  let usage: Usage | undefined;
  /** Text and reasoning runs; tool calls stay open (by their own index) until the answer ends. */
  const parts = new PartTracker('openai');
  /** Tool calls by their position in the stream, with their id as first seen. */
  const tools = new Map<number, { index: number; id: string | undefined }>();
  let messageSignature: string | undefined;
  const scanner = new ContentDeltaScanner();
  const emit = (pieces: Piece[], out: StreamEvent[]) => {
    for (const piece of pieces) {
      if (piece.kind === 'reasoning') out.push({ type: 'reasoning_delta', index: parts.ensure('reasoning', out), text: piece.text });
      else out.push({ type: 'text_delta', index: parts.ensure('text', out), text: piece.text });
    }
  };
  const finish = (out: StreamEvent[]) => {
    if (done) return;
    if (splitter) emit(splitter.end(), out);
    done = true;
    parts.close(out);
    out.push({ type: 'finish', stopReason: stopReason ?? 'end_turn', stopSequence: null, usage: usage ?? { inputTokens: 0, outputTokens: 0 } });
  };

  return {
    push(data: string): StreamEvent[] {
      const out: StreamEvent[] = [];
      if (done) return out;
      if (data === '[DONE]') {
        finish(out);
        return out;
      }
      if (started) {
        // The common case, a piece of text, without parsing the chunk (see content-delta.ts).
        const content = scanner.scan(data);
        if (content !== undefined) {
          if (content !== '') emit(splitter ? splitter.push(content) : [{ kind: 'text', text: content }], out);
          return out;
        }
      }
      let chunk: Json;
      try {
        chunk = JSON.parse(data) as Json;
      } catch {
        done = true;
        out.push({ type: 'error', error: { kind: 'api_error', message: `unreadable stream chunk: ${data.slice(0, 120)}` } });
        return out;
      }
      if (isObject(chunk.error)) {
        done = true;
        const status = typeof chunk.error.code === 'number' ? chunk.error.code : undefined;
        out.push({ type: 'error', error: { kind: 'api_error', message: String(chunk.error.message ?? 'upstream error'), ...(status ? { status } : {}) } });
        return out;
      }
      if (!started) {
        started = true;
        out.push({ type: 'start', id: typeof chunk.id === 'string' ? chunk.id : '', model: typeof chunk.model === 'string' ? chunk.model : '' });
      }
      if (chunk.usage !== undefined && chunk.usage !== null) usage = usageOf(chunk.usage);
      const choice = Array.isArray(chunk.choices) && isObject(chunk.choices[0]) ? chunk.choices[0] : undefined;
      if (!choice) return out;
      const delta = isObject(choice.delta) ? choice.delta : {};
      messageSignature ??= thoughtSignatureOf(delta);
      const reasoning = reasoningOf(delta);
      if (reasoning) out.push({ type: 'reasoning_delta', index: parts.ensure('reasoning', out), text: reasoning });
      if (typeof delta.content === 'string' && delta.content !== '') emit(splitter ? splitter.push(delta.content) : [{ kind: 'text', text: delta.content }], out);
      if (typeof delta.refusal === 'string' && delta.refusal !== '') {
        stopReason = 'refusal';
        out.push({ type: 'text_delta', index: parts.ensure('text', out), text: delta.refusal });
      }
      if (Array.isArray(delta.tool_calls)) {
        for (const call of delta.tool_calls) {
          if (!isObject(call)) continue;
          const position = typeof call.index === 'number' ? call.index : tools.size;
          const fn = isObject(call.function) ? call.function : {};
          const id = typeof call.id === 'string' && call.id !== '' ? call.id : undefined;
          let held = tools.get(position);
          // Some servers (Ollama's /v1, SGLang) send every parallel call at index 0: a new id is a new call.
          if (!held || (id !== undefined && held.id !== undefined && id !== held.id)) {
            if (splitter) emit(splitter.flush(), out);
            const signature = thoughtSignatureOf(call) ?? (tools.size === 0 ? messageSignature : undefined);
            held = { index: parts.open(out, { type: 'tool_call', id: toolCallId(id, position), name: String(fn.name ?? ''), ...(signature ? { signature, origin: 'openai' } : {}) }), id };
            tools.set(position, held);
          }
          const args = typeof fn.arguments === 'string' ? fn.arguments : fn.arguments !== undefined ? JSON.stringify(fn.arguments) : '';
          if (args !== '') out.push({ type: 'tool_input_delta', index: held.index, json: args });
        }
      }
      if (typeof choice.finish_reason === 'string' && choice.finish_reason !== '') {
        if (stopReason !== 'refusal') stopReason = stopReasonOf(choice.finish_reason);
      }
      return out;
    },
    end(): StreamEvent[] {
      const out: StreamEvent[] = [];
      if (done) return out;
      // A finish reason without [DONE] is a complete answer from a lax server; nothing at all is not.
      if (stopReason !== undefined) finish(out);
      else {
        done = true;
        out.push({ type: 'error', error: { kind: 'api_error', message: 'the upstream stream ended before the answer finished' } });
      }
      return out;
    },
  };
}
