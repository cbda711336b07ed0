/**
 * Ollama `/api/chat` answers → canonical: the complete JSON (`stream: false`) and the NDJSON
 * stream, one line at a time.
 *
 * - `message.content` → text, `message.thinking` → reasoning (origin `ollama`), `message.tool_calls`
 *   → tool calls (arguments an object or JSON text; ids generated when absent).
 * - `done_reason`: 'length' → max_tokens; 'stop' (or none, as in older versions) → end_turn, or
 *   tool_use when the answer called tools (Ollama says 'stop' for those too).
 * - Usage: inputTokens = `prompt_eval_count`, outputTokens = `eval_count`. Ollama has no prompt
 *   cache accounting to separate.
 * - Stream: `start` on the first line; text and reasoning parts open and close as the kind of
 *   delta changes, keeping stable indexes; each tool call arrives whole in one line and becomes
 *   its own part (part_start, one tool_input_delta with its JSON, part_stop); the `done: true`
 *   line gives `finish`. An `{"error": ...}` line (Ollama keeps HTTP 200 once it has begun) is an
 *   error event; a body that ends without a done line is one too.
 */
import type { CanonicalResponse, Part, StopReason, StreamEvent, Usage } from '../../canonical.ts';
import type { StreamReader } from '../codec.ts';
import { PartTracker } from '../part-tracker.ts';
import { isObject, type Json } from '../shape.ts';
import { newMessageId, readToolCall } from './tool-calls.ts';

export function parseOllamaResponse(body: Json): CanonicalResponse {
  const message = isObject(body.message) ? body.message : {};
  const content: Part[] = [];
  if (typeof message.thinking === 'string' && message.thinking !== '') content.push({ type: 'reasoning', text: message.thinking, origin: 'ollama' });
  if (typeof message.content === 'string' && message.content !== '') content.push({ type: 'text', text: message.content });
  if (Array.isArray(message.tool_calls)) {
    message.tool_calls.forEach((value, i) => {
      const call = readToolCall(value, i);
      if (call) content.push(call);
    });
  }
  const calledTools = content.some((p) => p.type === 'tool_call');
  return {
    id: newMessageId(),
    model: typeof body.model === 'string' ? body.model : '',
    content,
    stopReason: stopReasonOf(body.done_reason, calledTools),
    stopSequence: null,
    usage: usageOf(body),
  };
}

export function stopReasonOf(reason: unknown, calledTools: boolean): StopReason {
  if (reason === 'length') return 'max_tokens';
  return calledTools ? 'tool_use' : 'end_turn';
}

export function usageOf(body: Json): Usage {
  return { inputTokens: count(body.prompt_eval_count), outputTokens: count(body.eval_count) };
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

/** The message inside an `{"error": ...}` line or body, if that is what it is. */
export function errorOf(line: Json): string | undefined {
  if (typeof line.error === 'string') return line.error;
  if (isObject(line.error)) return typeof line.error.message === 'string' ? line.error.message : JSON.stringify(line.error);
  return undefined;
}

export function createOllamaStreamReader(): StreamReader {
  const id = newMessageId();
  let started = false;
  let done = false;
  let toolCalls = 0;
  /** Text and reasoning runs; tool calls open and close within their line. */
  const parts = new PartTracker('ollama');
  const fail = (message: string): StreamEvent[] => {
    done = true;
    return [{ type: 'error', error: { kind: 'api_error', message } }];
  };

  return {
    push(data: string): StreamEvent[] {
      if (done) return [];
      let line: unknown;
      try {
        line = JSON.parse(data);
      } catch {
        return fail(`unreadable stream line: ${data.slice(0, 120)}`);
      }
      if (!isObject(line)) return fail(`unreadable stream line: ${data.slice(0, 120)}`);
      const error = errorOf(line);
      if (error !== undefined) return fail(error);

      const out: StreamEvent[] = [];
      if (!started) {
        started = true;
        out.push({ type: 'start', id, model: typeof line.model === 'string' ? line.model : '' });
      }
      const message = isObject(line.message) ? line.message : {};
      if (typeof message.thinking === 'string' && message.thinking !== '') out.push({ type: 'reasoning_delta', index: parts.ensure('reasoning', out), text: message.thinking });
      if (typeof message.content === 'string' && message.content !== '') out.push({ type: 'text_delta', index: parts.ensure('text', out), text: message.content });
      if (Array.isArray(message.tool_calls)) {
        for (const value of message.tool_calls) {
          const call = readToolCall(value, toolCalls);
          if (!call) continue;
          toolCalls++;
          const index = parts.open(out, { type: 'tool_call', id: call.id, name: call.name });
          out.push({ type: 'tool_input_delta', index, json: JSON.stringify(call.input) });
          parts.close(out);
        }
      }
      if (line.done === true) {
        done = true;
        parts.close(out);
        out.push({ type: 'finish', stopReason: stopReasonOf(line.done_reason, toolCalls > 0), stopSequence: null, usage: usageOf(line) });
      }
      return out;
    },
    end(): StreamEvent[] {
      return done ? [] : fail('the upstream stream ended before the answer finished');
    },
  };
}
