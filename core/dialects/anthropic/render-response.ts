/**
 * Canonical answer → what an Anthropic client expects: the Message JSON, the SSE event sequence
 * (`message_start` … `message_stop`, always well formed whatever the upstream sent), and errors.
 */
import type { CanonicalResponse, Part, StopReason, StreamEvent, Usage } from '../../canonical.ts';
import { publicMessage, type ErrorKind, type RouterError } from '../../errors.ts';
import { encodeSse } from '../../sse.ts';
import type { StreamWriter } from '../codec.ts';
import { toClientReasoningSignature, toClientToolId } from '../carry.ts';

/**
 * The id an Anthropic client gets. Claude Code treats assistant messages that share an id as one
 * message (even apart), so a translated answer always gets the router's own unique id: upstream ids
 * repeat (Ollama's chatcmpl-0…998) or are missing. Passthrough answers keep Anthropic's.
 */
export function anthropicMessageId(upstreamId: string, requestId: string | undefined): string {
  return requestId ? `msg_${requestId.startsWith('req_') ? requestId.slice(4) : requestId}` : upstreamId;
}

export function renderAnthropicMessage(message: CanonicalResponse, requestId?: string): Record<string, unknown> {
  return {
    id: anthropicMessageId(message.id, requestId),
    type: 'message',
    role: 'assistant',
    model: message.model,
    content: message.content.map(renderPart).filter((p) => p !== undefined),
    stop_reason: anthropicStopReason(message.stopReason),
    stop_sequence: message.stopSequence ?? null,
    usage: renderUsage(message.usage),
  };
}

function renderPart(part: Part): unknown {
  switch (part.type) {
    case 'text':
      return { type: 'text', text: part.text };
    case 'reasoning':
      return part.redacted !== undefined ? { type: 'redacted_thinking', data: part.redacted } : { type: 'thinking', thinking: part.text, signature: toClientReasoningSignature(part.signature, part.origin) };
    case 'tool_call':
      return { type: 'tool_use', id: toClientToolId(part.id, part.signature, part.origin), name: part.name, input: part.input ?? {} };
    case 'opaque':
      return part.dialect === 'anthropic' ? part.raw : undefined;
    default:
      return undefined;
  }
}

export function renderUsage(usage: Partial<Usage>): Record<string, number> {
  return {
    input_tokens: usage.inputTokens ?? 0,
    cache_creation_input_tokens: usage.cacheWriteTokens ?? 0,
    cache_read_input_tokens: usage.cacheReadTokens ?? 0,
    output_tokens: usage.outputTokens ?? 0,
  };
}

export function anthropicStopReason(reason: StopReason): string {
  if (reason === 'content_filter') return 'refusal';
  if (reason === 'error') return 'end_turn';
  return reason;
}

const errorTypes: Record<ErrorKind, string> = {
  invalid_request: 'invalid_request_error',
  authentication: 'authentication_error',
  permission: 'permission_error',
  not_found: 'not_found_error',
  request_too_large: 'request_too_large',
  rate_limit: 'rate_limit_error',
  api_error: 'api_error',
  overloaded: 'overloaded_error',
  timeout: 'timeout_error',
};

export function anthropicErrorType(kind: string): string {
  return errorTypes[kind as ErrorKind] ?? 'api_error';
}

export function renderAnthropicError(err: RouterError, requestId: string): Record<string, unknown> {
  return { type: 'error', error: { type: anthropicErrorType(err.kind), message: publicMessage(err) }, request_id: requestId };
}

/** Builds the SSE frames for one stream. Indexes are renumbered from 0 in order of appearance. */
/**
 * A content_block_delta frame, written by hand: it is by far the most frequent event, and this is
 * exactly what JSON.stringify would produce for it, without building the object first.
 */
function deltaFrame(index: number, type: string, field: string, value: string): string {
  return `event: content_block_delta\ndata: {"type":"content_block_delta","index":${index},"delta":{"type":"${type}","${field}":${JSON.stringify(value)}}}\n\n`;
}

export function createAnthropicStreamWriter(requestId?: string): StreamWriter {
  let started = false;
  let finished = false;
  const indexes = new Map<number, number>();
  const open = new Set<number>();
  let nextIndex = 0;

  const frame = (type: string, payload: Record<string, unknown>) => encodeSse(JSON.stringify(payload), type);
  const ensureStarted = (): string => {
    if (started) return '';
    started = true;
    return frame('message_start', { type: 'message_start', message: emptyMessage(anthropicMessageId('', requestId), '', {}) });
  };
  const blockIndex = (canonical: number): number => {
    let index = indexes.get(canonical);
    if (index === undefined) {
      index = nextIndex++;
      indexes.set(canonical, index);
    }
    return index;
  };
  // Deltas for a block that was never started get a text/thinking block opened for them.
  const ensureOpen = (canonical: number, block: Record<string, unknown>): string => {
    const index = blockIndex(canonical);
    if (open.has(index)) return '';
    open.add(index);
    return frame('content_block_start', { type: 'content_block_start', index, content_block: block });
  };
  /**
   * Thinking from another provider gets its origin as the block's signature, sent when the block
   * closes (its own signature, if any, accumulated meanwhile), so the block can be recognised when
   * the client echoes it back (see carry.ts).
   */
  const foreign = new Map<number, { origin: string; signature: string }>();
  const close = (index: number): string => {
    open.delete(index);
    const held = foreign.get(index);
    foreign.delete(index);
    const signature = held
      ? frame('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: toClientReasoningSignature(held.signature || undefined, held.origin) } })
      : '';
    return signature + frame('content_block_stop', { type: 'content_block_stop', index });
  };
  const closeAll = (): string => {
    let out = '';
    for (const index of [...open]) out += close(index);
    return out;
  };

  return {
    write(event: StreamEvent): string {
      if (finished) return '';
      switch (event.type) {
        case 'start':
          if (started) return '';
          started = true;
          return frame('message_start', { type: 'message_start', message: emptyMessage(anthropicMessageId(event.id, requestId), event.model, event.usage ?? {}) });
        case 'part_start': {
          const part = event.part;
          if (part.type === 'opaque') {
            if (part.dialect !== 'anthropic') return '';
            const index = blockIndex(event.index);
            open.add(index);
            return ensureStarted() + frame('content_block_start', { type: 'content_block_start', index, content_block: part.raw as Record<string, unknown> });
          }
          const block =
            part.type === 'text' ? { type: 'text', text: '' }
            : part.type === 'tool_call' ? { type: 'tool_use', id: toClientToolId(part.id, part.signature, part.origin), name: part.name, input: {} }
            : part.redacted !== undefined ? { type: 'redacted_thinking', data: part.redacted }
            : { type: 'thinking', thinking: '', signature: '' };
          if (part.type === 'reasoning' && part.redacted === undefined && part.origin && part.origin !== 'anthropic') {
            foreign.set(blockIndex(event.index), { origin: part.origin, signature: '' });
          }
          return ensureStarted() + ensureOpen(event.index, block);
        }
        case 'text_delta':
          return ensureStarted() + ensureOpen(event.index, { type: 'text', text: '' }) + deltaFrame(blockIndex(event.index), 'text_delta', 'text', event.text);
        case 'reasoning_delta':
          return ensureStarted() + ensureOpen(event.index, { type: 'thinking', thinking: '', signature: '' }) + deltaFrame(blockIndex(event.index), 'thinking_delta', 'thinking', event.text);
        case 'signature_delta': {
          const held = foreign.get(blockIndex(event.index));
          if (held) {
            held.signature += event.signature;
            return '';
          }
          return ensureStarted() + ensureOpen(event.index, { type: 'thinking', thinking: '', signature: '' }) + deltaFrame(blockIndex(event.index), 'signature_delta', 'signature', event.signature);
        }
        case 'tool_input_delta': {
          const index = blockIndex(event.index);
          if (!open.has(index)) return ''; // arguments for a tool call that never started have no home
          return deltaFrame(index, 'input_json_delta', 'partial_json', event.json);
        }
        case 'part_stop': {
          const index = indexes.get(event.index);
          if (index === undefined || !open.has(index)) return '';
          return close(index);
        }
        case 'finish':
          finished = true;
          return ensureStarted() + closeAll() +
            frame('message_delta', {
              type: 'message_delta',
              delta: { stop_reason: anthropicStopReason(event.stopReason), stop_sequence: event.stopSequence ?? null },
              usage: renderUsage(event.usage),
            }) +
            frame('message_stop', { type: 'message_stop' });
        case 'error':
          finished = true;
          return frame('error', { type: 'error', error: { type: anthropicErrorType(event.error.kind), message: event.error.message }, ...(requestId ? { request_id: requestId } : {}) });
      }
    },
    error(err: RouterError): string {
      if (finished) return '';
      finished = true;
      return frame('error', { type: 'error', error: { type: anthropicErrorType(err.kind), message: publicMessage(err) }, ...(requestId ? { request_id: requestId } : {}) });
    },
  };
}

function emptyMessage(id: string, model: string, usage: Partial<Usage>): Record<string, unknown> {
  return { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: renderUsage(usage) };
}
