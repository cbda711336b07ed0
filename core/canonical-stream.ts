/**
 * Moving between the two answer shapes: a complete CanonicalResponse and a StreamEvent sequence.
 * A client that asked for JSON may be served by a streaming upstream (collect), and a streaming
 * client may be served by a complete answer (replay), so every provider works for every client.
 */
import type { CanonicalResponse, Part, StreamError, StreamEvent, Usage } from './canonical.ts';
import { routerError, type ErrorKind, type RouterError } from './errors.ts';
import { EventStream } from './event-stream.ts';

/** Replays a complete answer as the event sequence a streaming upstream would have sent. */
export function* messageToEvents(message: CanonicalResponse): Generator<StreamEvent> {
  yield { type: 'start', id: message.id, model: message.model, usage: { inputTokens: message.usage.inputTokens, outputTokens: 0 } };
  let index = 0;
  for (const part of message.content) {
    switch (part.type) {
      case 'text':
        yield { type: 'part_start', index, part: { type: 'text' } };
        if (part.text) yield { type: 'text_delta', index, text: part.text };
        break;
      case 'reasoning':
        yield { type: 'part_start', index, part: { type: 'reasoning', ...(part.redacted !== undefined ? { redacted: part.redacted } : {}), ...(part.origin ? { origin: part.origin } : {}) } };
        if (part.text) yield { type: 'reasoning_delta', index, text: part.text };
        if (part.signature) yield { type: 'signature_delta', index, signature: part.signature };
        break;
      case 'tool_call':
        yield { type: 'part_start', index, part: { type: 'tool_call', id: part.id, name: part.name, ...(part.signature ? { signature: part.signature, origin: part.origin } : {}) } };
        yield { type: 'tool_input_delta', index, json: JSON.stringify(part.input ?? {}) };
        break;
      case 'opaque':
        yield { type: 'part_start', index, part: { type: 'opaque', dialect: part.dialect, name: part.name, raw: part.raw } };
        break;
      default:
        continue; // tool results and images never appear in an assistant answer
    }
    yield { type: 'part_stop', index };
    index++;
  }
  yield { type: 'finish', stopReason: message.stopReason, stopSequence: message.stopSequence ?? null, usage: message.usage };
}

/** Builds the complete answer from a stream; throws the stream's error event as a RouterError. */
export async function collectEvents(events: AsyncIterable<StreamEvent>): Promise<CanonicalResponse> {
  const message: CanonicalResponse = { id: '', model: '', content: [], stopReason: 'end_turn', stopSequence: null, usage: { inputTokens: 0, outputTokens: 0 } };
  const toolJson = new Map<number, string>();
  const parts = new Map<number, Part>();
  let finished = false;
  for await (const event of events) {
    switch (event.type) {
      case 'start':
        message.id = event.id;
        message.model = event.model;
        if (event.usage) message.usage = { ...message.usage, ...event.usage } as Usage;
        break;
      case 'part_start': {
        const start = event.part;
        const part: Part =
          start.type === 'text' ? { type: 'text', text: '' }
          : start.type === 'reasoning' ? { type: 'reasoning', text: '', ...(start.redacted !== undefined ? { redacted: start.redacted } : {}), ...(start.origin ? { origin: start.origin } : {}) }
          : start.type === 'opaque' ? { type: 'opaque', dialect: start.dialect, name: start.name, raw: start.raw }
          : { type: 'tool_call', id: start.id, name: start.name, input: {}, ...(start.signature ? { signature: start.signature } : {}), ...(start.origin ? { origin: start.origin } : {}) };
        parts.set(event.index, part);
        message.content.push(part);
        if (start.type === 'tool_call') toolJson.set(event.index, '');
        break;
      }
      case 'text_delta': {
        const part = parts.get(event.index);
        if (part?.type === 'text') part.text += event.text;
        break;
      }
      case 'reasoning_delta': {
        const part = parts.get(event.index);
        if (part?.type === 'reasoning') part.text += event.text;
        break;
      }
      case 'signature_delta': {
        const part = parts.get(event.index);
        if (part?.type === 'reasoning') part.signature = (part.signature ?? '') + event.signature;
        break;
      }
      case 'tool_input_delta':
        toolJson.set(event.index, (toolJson.get(event.index) ?? '') + event.json);
        break;
      case 'part_stop': {
        const part = parts.get(event.index);
        if (part?.type === 'tool_call') part.input = parseToolArguments(toolJson.get(event.index) ?? '');
        break;
      }
      case 'finish':
        message.stopReason = event.stopReason;
        message.stopSequence = event.stopSequence ?? null;
        message.usage = event.usage;
        finished = true;
        break;
      case 'error':
        throw streamErrorToRouterError('upstream', event.error);
    }
  }
  if (!finished) throw routerError('RK_UPSTREAM_BAD_RESPONSE', { provider: 'upstream', reason: 'stream ended before it finished' });
  return message;
}

/** Tool arguments as the model wrote them: JSON text that does not parse is kept, not lost. */
export function parseToolArguments(json: string): unknown {
  if (json.trim() === '') return {};
  try {
    return JSON.parse(json);
  } catch {
    return { _raw: json };
  }
}

/**
 * Waits for a stream's first event, so that an upstream failing at once is thrown to the pipeline
 * (where retries and fallbacks can still act) instead of surfacing mid-stream to the client. With
 * `untilContent`, it waits past `start` for the first content too: an Anthropic upstream can send
 * `message_start` and then `overloaded_error`. Other dialects report such failures first (OpenAI's
 * error chunk) or send content with their first chunk, so waiting would only delay the first byte.
 */
export async function beginStream(provider: string, events: AsyncIterable<StreamEvent>, options: { untilContent?: boolean } = {}): Promise<EventStream> {
  const stream = EventStream.of(events);
  const held: StreamEvent[] = [];
  for (;;) {
    const batch = await stream.nextBatch();
    if (batch === undefined) {
      if (held.length === 0) throw routerError('RK_UPSTREAM_BAD_RESPONSE', { provider, reason: 'the stream ended without any event' });
      break;
    }
    // Events are looked at up to the first that decides; the rest of its batch goes by unread.
    const decider = batch.find((event) => event.type !== 'start' || !options.untilContent);
    if (decider?.type === 'error') {
      await stream.close();
      throw streamErrorToRouterError(provider, decider.error);
    }
    for (const event of batch) held.push(event);
    if (decider) break;
  }
  stream.putBack(held);
  return stream;
}

export function streamErrorToRouterError(provider: string, error: StreamError): RouterError {
  const status = error.status ?? (error.kind === 'overloaded' ? 529 : error.kind === 'rate_limit' ? 429 : 502);
  return routerError('RK_UPSTREAM_STREAM_ERROR', { provider, reason: error.message, upstreamStatus: status }, { status, kind: error.kind as ErrorKind });
}
