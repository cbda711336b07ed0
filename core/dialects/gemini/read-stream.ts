/**
 * Gemini's streamed answer (`streamGenerateContent?alt=sse`: one GenerateContentResponse per SSE
 * `data:`) → canonical events with stable part indexes.
 *
 *   const reader = createGeminiStreamReader();
 *   for await (const ev of readSse(body)) emit(reader.push(ev.data));
 *   emit(reader.end());
 *
 * - Text and thought text arrive in pieces: a text or reasoning part stays open while chunks of
 *   its kind follow, and closes when the kind changes. A thoughtSignature on thought text becomes
 *   that reasoning part's signature; on plain text it is dropped (see wire.ts modelPartOf).
 * - A functionCall normally arrives whole in one part: it becomes its own canonical part
 *   (part_start with id, name and, when signed, signature and origin 'gemini'; one
 *   tool_input_delta with the JSON arguments; part_stop). Vertex's streamed arguments
 *   (`willContinue` with `partialArgs` addressed by jsonPath, closed by an empty functionCall) are
 *   assembled and sent as one delta at the close, because jsonPath pieces are not a prefix of the
 *   final JSON text.
 * - Parts only Gemini knows (executableCode, inlineData images ...) are whole opaque parts.
 * - Usage is complete only in the last chunk, so `finish` is held until the body ends.
 * - An `{error: …}` chunk, or MALFORMED_FUNCTION_CALL, is an `error` event; a body that ends
 *   without any finishReason is one too (from end()).
 */
import type { StopReason, StreamEvent, Usage } from '../../canonical.ts';
import type { StreamReader } from '../codec.ts';
import { PartTracker } from '../part-tracker.ts';
import { isObject, type Json } from '../shape.ts';
import { errorKindOf, malformedCallMessage, newCallId, opaquePartOf, signatureOf, stopReasonOf, usageOf } from './wire.ts';

interface StreamingCall {
  index: number;
  args: Json;
  /** jsonPaths whose string value is still arriving. */
  continuing: Set<string>;
}

export function createGeminiStreamReader(): StreamReader {
  let started = false;
  let done = false;
  let finishReason: string | undefined;
  let usage: Usage | undefined;
  let hasCalls = false;
  const parts = new PartTracker('gemini');
  let call: StreamingCall | undefined;
  const closeCall = (out: StreamEvent[]) => {
    if (!call) return;
    out.push({ type: 'tool_input_delta', index: call.index, json: JSON.stringify(call.args) });
    parts.close(out);
    call = undefined;
  };
  const fail = (out: StreamEvent[], message: string, kind = 'api_error', status?: number) => {
    done = true;
    out.push({ type: 'error', error: { kind, message, ...(status !== undefined ? { status } : {}) } });
  };

  const readPart = (part: Json, out: StreamEvent[]) => {
    const signature = signatureOf(part);
    if (isObject(part.functionCall)) {
      const fc = part.functionCall;
      if (typeof fc.name !== 'string') {
        // A piece of the call whose arguments are streaming (an empty functionCall closes it).
        if (call) applyPartialArgs(call, fc.partialArgs);
        if (call && fc.willContinue !== true) closeCall(out);
        return;
      }
      closeCall(out);
      hasCalls = true;
      const id = typeof fc.id === 'string' && fc.id ? fc.id : newCallId();
      const index = parts.open(out, { type: 'tool_call', id, name: fc.name, ...(signature ? { signature, origin: 'gemini' } : {}) });
      call = { index, args: isObject(fc.args) ? { ...fc.args } : {}, continuing: new Set() };
      applyPartialArgs(call, fc.partialArgs);
      if (fc.willContinue !== true) closeCall(out);
      return;
    }
    if (typeof part.text !== 'string') {
      // Code execution, generated images: whole parts only Gemini clients can use.
      const opaque = opaquePartOf(part);
      if (!opaque) return;
      closeCall(out);
      parts.open(out, { type: 'opaque', dialect: 'gemini', name: opaque.name, raw: opaque.raw });
      parts.close(out);
      return;
    }
    if (part.thought === true) {
      const index = part.text !== '' || signature ? parts.ensure('reasoning', out) : undefined;
      if (index !== undefined && part.text !== '') out.push({ type: 'reasoning_delta', index, text: part.text });
      if (index !== undefined && signature) out.push({ type: 'signature_delta', index, signature });
    } else if (part.text !== '') out.push({ type: 'text_delta', index: parts.ensure('text', out), text: part.text });
  };

  return {
    push(data: string): StreamEvent[] {
      const out: StreamEvent[] = [];
      if (done) return out;
      let chunk: unknown;
      try {
        chunk = JSON.parse(data);
      } catch {
        fail(out, `unreadable stream chunk: ${data.slice(0, 120)}`);
        return out;
      }
      if (!isObject(chunk)) return out;
      if (isObject(chunk.error)) {
        const e = chunk.error;
        fail(out, String(e.message ?? 'upstream error'), errorKindOf(e.status), typeof e.code === 'number' ? e.code : undefined);
        return out;
      }
      const meta = chunk.usageMetadata;
      if (isObject(meta) && ('promptTokenCount' in meta || 'candidatesTokenCount' in meta)) usage = usageOf(meta);
      if (!started) {
        started = true;
        out.push({ type: 'start', id: typeof chunk.responseId === 'string' ? chunk.responseId : '', model: typeof chunk.modelVersion === 'string' ? chunk.modelVersion : '', ...(usage ? { usage: { inputTokens: usage.inputTokens, outputTokens: 0 } } : {}) });
      }
      const candidate = Array.isArray(chunk.candidates) && isObject(chunk.candidates[0]) ? chunk.candidates[0] : undefined;
      if (!candidate) {
        if (isObject(chunk.promptFeedback) && typeof chunk.promptFeedback.blockReason === 'string') finishReason ??= 'SAFETY';
        return out;
      }
      const parts = isObject(candidate.content) && Array.isArray(candidate.content.parts) ? candidate.content.parts : [];
      for (const part of parts) if (isObject(part)) readPart(part, out);
      if (candidate.finishReason === 'MALFORMED_FUNCTION_CALL') fail(out, malformedCallMessage(candidate));
      else if (typeof candidate.finishReason === 'string' && candidate.finishReason !== 'FINISH_REASON_UNSPECIFIED') finishReason = candidate.finishReason;
      return out;
    },
    end(): StreamEvent[] {
      const out: StreamEvent[] = [];
      if (done) return out;
      if (finishReason === undefined) {
        fail(out, 'the upstream stream ended before the answer finished');
        return out;
      }
      done = true;
      parts.close(out);
      closeCall(out);
      const stopReason: StopReason = stopReasonOf(finishReason, hasCalls);
      out.push({ type: 'finish', stopReason, stopSequence: null, usage: usage ?? { inputTokens: 0, outputTokens: 0 } });
      return out;
    },
  };
}

/** Vertex's streamed arguments: each piece names its place by jsonPath; strings may come in pieces. */
function applyPartialArgs(call: StreamingCall, pieces: unknown): void {
  if (!Array.isArray(pieces)) return;
  for (const piece of pieces) {
    if (!isObject(piece) || typeof piece.jsonPath !== 'string') continue;
    const keys = pathKeys(piece.jsonPath);
    if (!keys || keys.length === 0) continue;
    let value: unknown;
    if (typeof piece.stringValue === 'string') {
      const before = getAt(call.args, keys);
      value = call.continuing.has(piece.jsonPath) && typeof before === 'string' ? before + piece.stringValue : piece.stringValue;
    } else if (typeof piece.numberValue === 'number') value = piece.numberValue;
    else if (typeof piece.boolValue === 'boolean') value = piece.boolValue;
    else if ('nullValue' in piece) value = null;
    else continue;
    setAt(call.args, keys, value);
    if (piece.willContinue === true) call.continuing.add(piece.jsonPath);
    else call.continuing.delete(piece.jsonPath);
  }
}

/** `$.a.b[0]['c d']` → ['a', 'b', 0, 'c d']; undefined when the path is not of that simple form. */
function pathKeys(path: string): Array<string | number> | undefined {
  if (!path.startsWith('$')) return undefined;
  const keys: Array<string | number> = [];
  const unsafe = new Set(['__proto__', 'constructor', 'prototype']);
  const step = /\.([^.[\]]+)|\[(\d+)\]|\[(['"])(.*?)\3\]/y;
  step.lastIndex = 1;
  while (step.lastIndex < path.length) {
    const m = step.exec(path);
    if (!m) return undefined;
    const key = m[1] ?? (m[2] !== undefined ? Number(m[2]) : m[4]);
    if (typeof key === 'string' && unsafe.has(key)) return undefined; // the upstream's path must not reach prototypes
    keys.push(key);
  }
  return keys;
}

function getAt(root: Json, keys: Array<string | number>): unknown {
  let node: unknown = root;
  for (const key of keys) node = isObject(node) || Array.isArray(node) ? (node as Record<string | number, unknown>)[key] : undefined;
  return node;
}

function setAt(root: Json, keys: Array<string | number>, value: unknown): void {
  let node = root as Record<string | number, unknown>;
  for (let i = 0; i < keys.length - 1; i++) {
    const next = node[keys[i]];
    if (typeof next !== 'object' || next === null) node[keys[i]] = typeof keys[i + 1] === 'number' ? [] : {};
    node = node[keys[i]] as Record<string | number, unknown>;
  }
  node[keys[keys.length - 1]] = value;
}
