/**
 * Canonical answer → what an Ollama `/api/chat` client expects: the complete JSON, the NDJSON
 * stream, and errors. The inverse of read-response.ts wherever Ollama can express the content.
 *
 * - Text → `message.content`, reasoning → `message.thinking` (a signature, which Ollama has no
 *   field for, is not rendered), tool calls → `message.tool_calls` with object arguments and the
 *   call's id (newer Ollama sends one too; a client that echoes it lets results pair exactly).
 * - Stop reason → `done_reason`: max_tokens → 'length', everything else 'stop' (Ollama reports
 *   tool calls as 'stop'). Usage → `prompt_eval_count` (all prompt tokens, cached ones included)
 *   and `eval_count`.
 * - Stream: one line per text or thinking delta (`done: false`), each tool call whole in one line
 *   when its part stops (Ollama never streams arguments), then the `done: true` line. A failure is
 *   an `{"error": "..."}` line, as Ollama writes one after the stream has begun.
 */
import type { CanonicalResponse, StopReason, StreamEvent, Usage } from '../../canonical.ts';
import { parseToolArguments } from '../../canonical-stream.ts';
import { publicMessage, type RouterError } from '../../errors.ts';
import { encodeNdjson } from '../../ndjson.ts';
import type { StreamWriter } from '../codec.ts';
import type { Json } from '../shape.ts';
import { writeToolCall } from './tool-calls.ts';

export function renderOllamaMessage(message: CanonicalResponse): Json {
  let content = '';
  let thinking = '';
  const toolCalls: Json[] = [];
  for (const part of message.content) {
    if (part.type === 'text') content += part.text;
    else if (part.type === 'reasoning') thinking += part.text;
    else if (part.type === 'tool_call') toolCalls.push(writeToolCall(part, true));
  }
  const reply: Json = { role: 'assistant', content };
  if (thinking !== '') reply.thinking = thinking;
  if (toolCalls.length > 0) reply.tool_calls = toolCalls;
  return { model: message.model, created_at: new Date().toISOString(), message: reply, done: true, ...doneFields(message.stopReason, message.usage) };
}

export function doneReasonOf(reason: StopReason): string {
  return reason === 'max_tokens' ? 'length' : 'stop';
}

function doneFields(reason: StopReason, usage: Usage): Json {
  return {
    done_reason: doneReasonOf(reason),
    prompt_eval_count: usage.inputTokens + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0),
    eval_count: usage.outputTokens,
  };
}

export function renderOllamaError(err: RouterError): Json {
  return { error: publicMessage(err) };
}

export function createOllamaStreamWriter(): StreamWriter {
  let model = '';
  let finished = false;
  /** Tool calls being assembled, by canonical index: Ollama sends each one whole. */
  const calls = new Map<number, { id: string; name: string; json: string }>();

  const line = (message: Json, done: Json | undefined = undefined): string =>
    encodeNdjson({ model, created_at: new Date().toISOString(), message: { role: 'assistant', ...message }, done: done !== undefined, ...done });

  const flushCall = (index: number): string => {
    const call = calls.get(index);
    if (!call) return '';
    calls.delete(index);
    return line({ content: '', tool_calls: [writeToolCall({ id: call.id, name: call.name, input: parseToolArguments(call.json) }, true)] });
  };

  return {
    write(event: StreamEvent): string {
      if (finished) return '';
      switch (event.type) {
        case 'start':
          model = event.model;
          return '';
        case 'part_start':
          if (event.part.type === 'tool_call') calls.set(event.index, { id: event.part.id, name: event.part.name, json: '' });
          return '';
        case 'text_delta':
          return event.text === '' ? '' : line({ content: event.text });
        case 'reasoning_delta':
          return event.text === '' ? '' : line({ content: '', thinking: event.text });
        case 'tool_input_delta': {
          const call = calls.get(event.index);
          if (call) call.json += event.json;
          return '';
        }
        case 'part_stop':
          return flushCall(event.index);
        case 'signature_delta':
          return '';
        case 'finish':
          finished = true;
          // A call whose part never stopped is still owed to the client, before the done line.
          return [...calls.keys()].map(flushCall).join('') + line({ content: '' }, doneFields(event.stopReason, event.usage));
        case 'error':
          finished = true;
          return encodeNdjson({ error: event.error.message });
      }
    },
    error(err: RouterError): string {
      if (finished) return '';
      finished = true;
      return encodeNdjson(renderOllamaError(err));
    },
  };
}
