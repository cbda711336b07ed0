/**
 * Canonical answer → what a Gemini client expects: the GenerateContentResponse JSON, the
 * `alt=sse` stream of GenerateContentResponse chunks, and google.rpc-style errors. These are the
 * inverses of read-response.ts and read-stream.ts.
 *
 *   res.end(JSON.stringify(renderGeminiMessage(message)));
 *
 * Stream shape: text and thought text are sent as they arrive, one part per chunk; a function
 * call is sent whole when its part stops (Gemini never splits a call, and clients expect `args`
 * as an object); the last chunk carries finishReason and usageMetadata.
 *
 * Signatures are written as thoughtSignature only when they are Gemini's own (origin 'gemini'):
 * another provider's would be rejected by Gemini when the client sends it back. Streamed
 * reasoning is the exception: a reasoning part_start says nothing of its origin, so its
 * signature_delta is written as it comes.
 */
import type { CanonicalResponse, Part, StreamEvent } from '../../canonical.ts';
import { parseToolArguments } from '../../canonical-stream.ts';
import { publicMessage, type RouterError } from '../../errors.ts';
import { encodeSse } from '../../sse.ts';
import type { StreamWriter } from '../codec.ts';
import type { Json } from '../shape.ts';
import { finishReasonOf, statusNameOf, usageMetadataOf } from './wire.ts';

export function renderGeminiMessage(message: CanonicalResponse): Json {
  const parts = message.content.map(renderPart).filter((p): p is Json => p !== undefined);
  return {
    candidates: [{ content: { role: 'model', parts }, finishReason: finishReasonOf(message.stopReason), index: 0 }],
    usageMetadata: usageMetadataOf(message.usage),
    modelVersion: message.model,
    responseId: message.id,
  };
}

function renderPart(part: Part): Json | undefined {
  const own = (origin: string | undefined) => origin === 'gemini';
  switch (part.type) {
    case 'text':
      return { text: part.text };
    case 'reasoning':
      if (part.redacted !== undefined && !part.text) return undefined; // nothing a Gemini client can read
      return { text: part.text, thought: true, ...(part.signature && own(part.origin) ? { thoughtSignature: part.signature } : {}) };
    case 'tool_call':
      return { functionCall: { id: part.id, name: part.name, args: part.input ?? {} }, ...(part.signature && own(part.origin) ? { thoughtSignature: part.signature } : {}) };
    case 'opaque':
      return part.dialect === 'gemini' ? (part.raw as Json) : undefined;
    default:
      return undefined;
  }
}

export function renderGeminiError(err: RouterError, requestId: string): Json {
  return {
    error: {
      code: err.status,
      message: publicMessage(err),
      status: statusNameOf(err.kind),
      details: [{ '@type': 'type.googleapis.com/google.rpc.RequestInfo', requestId }],
    },
  };
}

export function createGeminiStreamWriter(): StreamWriter {
  let id = '';
  let model = '';
  let finished = false;
  const calls = new Map<number, { id: string; name: string; signature?: string; json: string }>();

  const chunk = (parts: Json[], finish?: { finishReason: string; usageMetadata: Json }): string => {
    const candidate: Json = { content: { role: 'model', parts } };
    const body: Json = { candidates: [candidate] };
    if (finish) {
      candidate.finishReason = finish.finishReason;
      body.usageMetadata = finish.usageMetadata;
    }
    candidate.index = 0;
    body.modelVersion = model;
    body.responseId = id;
    return encodeSse(JSON.stringify(body));
  };
  const callPart = (call: { id: string; name: string; signature?: string; json: string }): Json => {
    const part: Json = { functionCall: { id: call.id, name: call.name, args: parseToolArguments(call.json) } };
    if (call.signature) part.thoughtSignature = call.signature;
    return part;
  };
  const errorChunk = (code: number, message: string, kind: string): string => encodeSse(JSON.stringify({ error: { code, message, status: statusNameOf(kind) } }));

  return {
    write(event: StreamEvent): string {
      if (finished) return '';
      switch (event.type) {
        case 'start':
          id = event.id;
          model = event.model;
          return '';
        case 'part_start': {
          const part = event.part;
          if (part.type === 'tool_call') {
            const signature = part.signature && part.origin === 'gemini' ? part.signature : undefined;
            calls.set(event.index, { id: part.id, name: part.name, json: '', ...(signature ? { signature } : {}) });
          }
          return part.type === 'opaque' && part.dialect === 'gemini' ? chunk([part.raw as Json]) : '';
        }
        case 'text_delta':
          return event.text === '' ? '' : chunk([{ text: event.text }]);
        case 'reasoning_delta':
          return event.text === '' ? '' : chunk([{ text: event.text, thought: true }]);
        case 'signature_delta':
          return chunk([{ text: '', thought: true, thoughtSignature: event.signature }]);
        case 'tool_input_delta': {
          const call = calls.get(event.index);
          if (call) call.json += event.json;
          return '';
        }
        case 'part_stop': {
          const call = calls.get(event.index);
          if (!call) return '';
          calls.delete(event.index);
          return chunk([callPart(call)]);
        }
        case 'finish': {
          finished = true;
          // A call never stopped still goes out whole, with the finish.
          const pending = [...calls.values()].map(callPart);
          return chunk(pending.length > 0 ? pending : [{ text: '' }], { finishReason: finishReasonOf(event.stopReason), usageMetadata: usageMetadataOf(event.usage) });
        }
        case 'error':
          finished = true;
          return errorChunk(event.error.status ?? 500, event.error.message, event.error.kind);
      }
    },
    error(err: RouterError): string {
      if (finished) return '';
      finished = true;
      return errorChunk(err.status, publicMessage(err), err.kind);
    },
  };
}
