/**
 * Ollama tool calls in both directions, shared by the request and answer codecs.
 *
 *   { "function": { "name": "get_weather", "arguments": { "city": "Tokyo" } } }
 *
 * Unlike OpenAI, arguments are a JSON object, not JSON text (some servers in front of Ollama send
 * text anyway, so both are read), and calls carry no id (newer versions add `id`, which is kept
 * when present). A canonical tool call needs an id so the client can pair its result with it, so
 * one is generated: `call_<n>_<random>`. Results go back to Ollama by `tool_name`, not by id.
 */
import { randomBytes } from 'node:crypto';
import type { ToolCallPart } from '../../canonical.ts';
import { parseToolArguments } from '../../canonical-stream.ts';
import { isObject, type Json } from '../shape.ts';

/** A fresh id for a call Ollama did not name; `n` is the call's position in its answer. */
export function newToolCallId(n: number): string {
  return `call_${n}_${randomBytes(6).toString('hex')}`;
}

/** A fresh id for an answer: Ollama's answers have none. */
export function newMessageId(): string {
  return `msg_ollama_${randomBytes(12).toString('hex')}`;
}

/** One entry of `message.tool_calls` → a canonical call; `n` numbers generated ids. */
export function readToolCall(value: unknown, n: number): ToolCallPart | undefined {
  if (!isObject(value) || !isObject(value.function)) return undefined;
  const fn = value.function;
  const id = typeof value.id === 'string' && value.id !== '' ? value.id : newToolCallId(n);
  const input = typeof fn.arguments === 'string' ? parseToolArguments(fn.arguments) : (fn.arguments ?? {});
  return { type: 'tool_call', id, name: typeof fn.name === 'string' ? fn.name : '', input };
}

/**
 * A canonical call → Ollama's shape. `withId` is for answers rendered to Ollama clients (newer
 * Ollama answers carry an id, and a client that echoes it back lets the results pair exactly);
 * requests to an upstream Ollama keep to the documented fields.
 */
export function writeToolCall(call: { id: string; name: string; input: unknown }, withId: boolean): Json {
  const fn = { name: call.name, arguments: isObject(call.input) ? call.input : argumentsObject(call.input) };
  return withId ? { id: call.id, function: fn } : { function: fn };
}

/** Ollama only accepts an object: anything else (a `_raw` fallback is already an object) is wrapped. */
function argumentsObject(input: unknown): Json {
  return input === undefined || input === null ? {} : { value: input };
}
