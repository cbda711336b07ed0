/**
 * Anthropic Messages answers → canonical: the Message JSON, and the SSE event sequence
 * (message_start, content_block_start/delta/stop, message_delta, message_stop, ping, error).
 * Blocks only Anthropic knows (server tool use, web search results) become opaque parts; their
 * deltas are folded into the block so a same-dialect client can still receive it whole.
 */
import type { CanonicalResponse, Part, StopReason, StreamEvent, Usage } from '../../canonical.ts';
import type { StreamReader } from '../codec.ts';
import { isObject, type Json } from '../shape.ts';

const errorKinds: Record<string, string> = {
  invalid_request_error: 'invalid_request',
  authentication_error: 'authentication',
  permission_error: 'permission',
  not_found_error: 'not_found',
  request_too_large: 'request_too_large',
  rate_limit_error: 'rate_limit',
  api_error: 'api_error',
  overloaded_error: 'overloaded',
  timeout_error: 'timeout',
};
const errorStatus: Record<string, number> = { invalid_request: 400, authentication: 401, permission: 403, not_found: 404, request_too_large: 413, rate_limit: 429, api_error: 500, overloaded: 529, timeout: 504 };

export function parseAnthropicMessage(body: Json): CanonicalResponse {
  const content: Part[] = [];
  for (const block of Array.isArray(body.content) ? body.content : []) {
    if (!isObject(block)) continue;
    const part = partOf(block);
    if (part) content.push(part);
  }
  return {
    id: typeof body.id === 'string' ? body.id : '',
    model: typeof body.model === 'string' ? body.model : '',
    content,
    stopReason: stopReasonOf(body.stop_reason),
    stopSequence: typeof body.stop_sequence === 'string' ? body.stop_sequence : null,
    usage: usageOf(body.usage, { inputTokens: 0, outputTokens: 0 }),
  };
}

function partOf(block: Json): Part | undefined {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: String(block.text ?? '') };
    case 'thinking':
      return { type: 'reasoning', text: String(block.thinking ?? ''), signature: String(block.signature ?? ''), origin: 'anthropic' };
    case 'redacted_thinking':
      return { type: 'reasoning', text: '', redacted: String(block.data ?? ''), origin: 'anthropic' };
    case 'tool_use':
      return { type: 'tool_call', id: String(block.id ?? ''), name: String(block.name ?? ''), input: block.input ?? {}, origin: 'anthropic' };
    default:
      return { type: 'opaque', dialect: 'anthropic', name: String(block.type), raw: block };
  }
}

export function stopReasonOf(reason: unknown): StopReason {
  switch (reason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'max_tokens';
    case 'stop_sequence':
    case 'tool_use':
    case 'refusal':
    case 'pause_turn':
      return reason;
    default:
      return 'end_turn';
  }
}

/** Anthropic usage fields over a base: message_delta repeats only what changed. */
export function usageOf(value: unknown, base: Usage): Usage {
  if (!isObject(value)) return base;
  const usage: Usage = { ...base };
  if (typeof value.input_tokens === 'number') usage.inputTokens = value.input_tokens;
  if (typeof value.output_tokens === 'number') usage.outputTokens = value.output_tokens;
  if (typeof value.cache_read_input_tokens === 'number') usage.cacheReadTokens = value.cache_read_input_tokens;
  if (typeof value.cache_creation_input_tokens === 'number') usage.cacheWriteTokens = value.cache_creation_input_tokens;
  return usage;
}

export function createAnthropicStreamReader(): StreamReader {
  let usage: Usage = { inputTokens: 0, outputTokens: 0 };
  let stopReason: StopReason = 'end_turn';
  let stopSequence: string | null = null;
  let done = false;
  let deltaSeen = false;
  /** Opaque blocks being assembled: index → block and its streamed input JSON. */
  const opaque = new Map<number, { block: Json; json: string }>();

  const finish = (): StreamEvent => {
    done = true;
    return { type: 'finish', stopReason, stopSequence, usage };
  };

  return {
    push(data: string): StreamEvent[] {
      if (done) return [];
      let event: Json;
      try {
        event = JSON.parse(data) as Json;
      } catch {
        done = true;
        return [{ type: 'error', error: { kind: 'api_error', message: `unreadable stream event: ${data.slice(0, 120)}` } }];
      }
      const index = typeof event.index === 'number' ? event.index : 0;
      switch (event.type) {
        case 'message_start': {
          const message = isObject(event.message) ? event.message : {};
          usage = usageOf(message.usage, usage);
          return [{ type: 'start', id: String(message.id ?? ''), model: String(message.model ?? ''), usage: { ...usage } }];
        }
        case 'content_block_start': {
          const block = isObject(event.content_block) ? event.content_block : {};
          if (block.type === 'text') {
            const out: StreamEvent[] = [{ type: 'part_start', index, part: { type: 'text' } }];
            if (typeof block.text === 'string' && block.text) out.push({ type: 'text_delta', index, text: block.text });
            return out;
          }
          if (block.type === 'thinking') return [{ type: 'part_start', index, part: { type: 'reasoning', origin: 'anthropic' } }];
          if (block.type === 'redacted_thinking') return [{ type: 'part_start', index, part: { type: 'reasoning', redacted: String(block.data ?? ''), origin: 'anthropic' } }];
          if (block.type === 'tool_use') return [{ type: 'part_start', index, part: { type: 'tool_call', id: String(block.id ?? ''), name: String(block.name ?? ''), origin: 'anthropic' } }];
          opaque.set(index, { block, json: '' });
          return [];
        }
        case 'content_block_delta': {
          const delta = isObject(event.delta) ? event.delta : {};
          const held = opaque.get(index);
          if (held) {
            if (delta.type === 'input_json_delta') held.json += String(delta.partial_json ?? '');
            return [];
          }
          switch (delta.type) {
            case 'text_delta':
              return [{ type: 'text_delta', index, text: String(delta.text ?? '') }];
            case 'input_json_delta':
              return [{ type: 'tool_input_delta', index, json: String(delta.partial_json ?? '') }];
            case 'thinking_delta':
              return [{ type: 'reasoning_delta', index, text: String(delta.thinking ?? '') }];
            case 'signature_delta':
              return [{ type: 'signature_delta', index, signature: String(delta.signature ?? '') }];
            default:
              return []; // citations_delta and future delta kinds carry nothing canonical
          }
        }
        case 'content_block_stop': {
          const held = opaque.get(index);
          if (!held) return [{ type: 'part_stop', index }];
          opaque.delete(index);
          const block = { ...held.block };
          if (held.json) {
            try {
              block.input = JSON.parse(held.json);
            } catch {
              block.input = { _raw: held.json };
            }
          }
          return [{ type: 'part_start', index, part: { type: 'opaque', dialect: 'anthropic', name: String(block.type), raw: block } }, { type: 'part_stop', index }];
        }
        case 'message_delta': {
          deltaSeen = true;
          const delta = isObject(event.delta) ? event.delta : {};
          if (delta.stop_reason !== undefined && delta.stop_reason !== null) stopReason = stopReasonOf(delta.stop_reason);
          if (typeof delta.stop_sequence === 'string') stopSequence = delta.stop_sequence;
          usage = usageOf(event.usage, usage);
          return [];
        }
        case 'message_stop':
          return [finish()];
        case 'error': {
          done = true;
          const error = isObject(event.error) ? event.error : {};
          const kind = errorKinds[String(error.type)] ?? 'api_error';
          return [{ type: 'error', error: { kind, message: String(error.message ?? 'upstream error'), status: errorStatus[kind] } }];
        }
        default:
          return []; // ping
      }
    },
    end(): StreamEvent[] {
      if (done) return [];
      // message_delta without message_stop: the answer is complete, only the closing event is missing.
      if (deltaSeen) return [finish()];
      done = true;
      return [{ type: 'error', error: { kind: 'api_error', message: 'the upstream stream ended before the answer finished' } }];
    },
  };
}
