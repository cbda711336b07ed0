/**
 * Canonical answer → what an OpenAI Chat Completions client expects: the `chat.completion` JSON,
 * the `chat.completion.chunk` SSE sequence ending in `data: [DONE]`, and errors. Reasoning is
 * rendered as `reasoning_content` (the field DeepSeek introduced and most clients read).
 */
import type { CanonicalResponse, StopReason, StreamEvent, Usage } from '../../canonical.ts';
import { publicMessage, type ErrorKind, type RouterError } from '../../errors.ts';
import { encodeSse } from '../../sse.ts';
import type { StreamWriter } from '../codec.ts';
import { toClientToolId } from '../carry.ts';
import { isObject, type Json } from '../shape.ts';

export function renderOpenAIMessage(message: CanonicalResponse, requestId?: string): Json {
  let text: string | null = null;
  let reasoning: string | undefined;
  const toolCalls: Json[] = [];
  for (const part of message.content) {
    if (part.type === 'text') text = (text ?? '') + part.text;
    else if (part.type === 'reasoning' && part.text) reasoning = (reasoning ?? '') + part.text;
    else if (part.type === 'tool_call') {
      toolCalls.push({ id: toClientToolId(part.id, part.signature, part.origin), type: 'function', function: { name: part.name, arguments: JSON.stringify(part.input ?? {}) } });
    }
  }
  const reply: Json = { role: 'assistant', content: text };
  if (reasoning !== undefined) reply.reasoning_content = reasoning;
  if (toolCalls.length > 0) reply.tool_calls = toolCalls;
  if (message.stopReason === 'refusal' && text !== null) reply.refusal = null;
  return {
    id: message.id || completionId(requestId),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: message.model,
    choices: [{ index: 0, message: reply, logprobs: null, finish_reason: openaiFinishReason(message.stopReason) }],
    usage: renderOpenAIUsage(message.usage),
  };
}

export function openaiFinishReason(reason: StopReason): string {
  switch (reason) {
    case 'max_tokens':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
    case 'content_filter':
      return 'content_filter';
    default:
      return 'stop';
  }
}

export function renderOpenAIUsage(usage: Usage): Json {
  const cached = usage.cacheReadTokens ?? 0;
  const prompt = usage.inputTokens + cached + (usage.cacheWriteTokens ?? 0);
  return {
    prompt_tokens: prompt,
    completion_tokens: usage.outputTokens,
    total_tokens: prompt + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: cached },
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens ?? 0 },
  };
}

const errorTypes: Record<ErrorKind, string> = {
  invalid_request: 'invalid_request_error',
  authentication: 'authentication_error',
  permission: 'permission_error',
  not_found: 'not_found_error',
  request_too_large: 'invalid_request_error',
  rate_limit: 'rate_limit_error',
  api_error: 'api_error',
  overloaded: 'server_error',
  timeout: 'timeout_error',
};

export function renderOpenAIError(err: RouterError, requestId: string): Json {
  return { error: { message: publicMessage(err), type: errorTypes[err.kind] ?? 'api_error', param: null, code: err.code, request_id: requestId } };
}

/** An id for answers whose upstream sent none. */
function completionId(requestId: string | undefined): string {
  return `chatcmpl-${(requestId ?? '').replace(/^req_/, '') || Date.now().toString(36)}`;
}

export function createOpenAIStreamWriter(body: Json, requestId?: string): StreamWriter {
  const includeUsage = isObject(body.stream_options) && body.stream_options.include_usage === true;
  let id = '';
  let model = '';
  const created = Math.floor(Date.now() / 1000);
  let started = false;
  let finished = false;
  const toolIndexes = new Map<number, number>();
  /** Tool calls that have received argument text; one that ends with none gets `{}` (as OpenAI sends). */
  const withArguments = new Set<number>();

  // Every chunk repeats id, created and model: that prefix is serialised once per stream, and the
  // result is exactly what JSON.stringify would write for the whole chunk.
  let prefix = '';
  const chunk = (delta: Json, finishReason: string | null = null): string => {
    prefix ||= `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"choices":[{"index":0,"delta":`;
    return `${prefix}${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finishReason === null ? 'null' : JSON.stringify(finishReason)}}]}\n\n`;
  };
  const ensureStarted = (): string => {
    if (started) return '';
    started = true;
    return chunk({ role: 'assistant', content: '' });
  };

  return {
    write(event: StreamEvent): string {
      if (finished) return '';
      switch (event.type) {
        case 'start':
          id = event.id || completionId(requestId);
          model = event.model;
          return ensureStarted();
        case 'part_start':
          if (event.part.type !== 'tool_call') return ensureStarted();
          toolIndexes.set(event.index, toolIndexes.size);
          return ensureStarted() + chunk({ tool_calls: [{ index: toolIndexes.size - 1, id: toClientToolId(event.part.id, event.part.signature, event.part.origin), type: 'function', function: { name: event.part.name, arguments: '' } }] });
        case 'text_delta':
          return ensureStarted() + chunk({ content: event.text });
        case 'reasoning_delta':
          return ensureStarted() + chunk({ reasoning_content: event.text });
        case 'tool_input_delta': {
          const index = toolIndexes.get(event.index);
          if (index === undefined || event.json === '') return '';
          withArguments.add(event.index);
          return chunk({ tool_calls: [{ index, function: { arguments: event.json } }] });
        }
        case 'part_stop': {
          const index = toolIndexes.get(event.index);
          if (index === undefined || withArguments.has(event.index)) return '';
          withArguments.add(event.index);
          return chunk({ tool_calls: [{ index, function: { arguments: '{}' } }] });
        }
        case 'signature_delta':
          return '';
        case 'finish': {
          finished = true;
          let out = ensureStarted() + chunk({}, openaiFinishReason(event.stopReason));
          if (includeUsage) out += encodeSse(JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: renderOpenAIUsage(event.usage) }));
          return out + encodeSse('[DONE]');
        }
        case 'error':
          finished = true;
          return encodeSse(JSON.stringify({ error: { message: event.error.message, type: errorTypes[event.error.kind as ErrorKind] ?? 'api_error', code: null } }));
      }
    },
    error(err: RouterError): string {
      if (finished) return '';
      finished = true;
      return encodeSse(JSON.stringify({ error: { message: publicMessage(err), type: errorTypes[err.kind] ?? 'api_error', code: err.code } }));
    },
  };
}
