/**
 * The canonical model: one provider-neutral shape for requests, complete answers and streamed
 * answers. Ingress codecs parse a client's dialect into it; provider plugins turn it into their
 * upstream's wire format and parse the upstream's answer back into it.
 *
 * Conventions chosen once, here, so no codec has to guess:
 * - Tool results live in `user` messages (as in Anthropic); OpenAI `tool` messages become them.
 * - `Usage.inputTokens` counts input NOT served from or written to the prompt cache (Anthropic's
 *   meaning); OpenAI's `prompt_tokens` is `inputTokens + cacheReadTokens + cacheWriteTokens`.
 * - Tool-call input is kept as a parsed JSON value; streamed arguments arrive as raw JSON text.
 */

export type Dialect = 'anthropic' | 'openai' | 'gemini' | 'ollama';

export interface CacheControl {
  type: 'ephemeral';
  ttl?: string;
}

export interface TextPart {
  type: 'text';
  text: string;
  cacheControl?: CacheControl;
}

export type ImageSource = { kind: 'base64'; mediaType: string; data: string } | { kind: 'url'; url: string };

export interface ImagePart {
  type: 'image';
  source: ImageSource;
  cacheControl?: CacheControl;
}

export interface ToolCallPart {
  type: 'tool_call';
  id: string;
  name: string;
  input: unknown;
  cacheControl?: CacheControl;
  /** Opaque provider data that must travel back with the call (Gemini's thoughtSignature). */
  signature?: string;
  origin?: string;
}

export interface ToolResultPart {
  type: 'tool_result';
  toolCallId: string;
  content: string | Array<TextPart | ImagePart>;
  isError?: boolean;
  cacheControl?: CacheControl;
}

export interface ReasoningPart {
  type: 'reasoning';
  text: string;
  /** Opaque proof the provider needs to accept this reasoning back (Anthropic `signature`). */
  signature?: string;
  /** Encrypted reasoning with no readable text (Anthropic `redacted_thinking.data`). */
  redacted?: string;
  /** Which provider dialect produced the signature, so it is only sent back where it is valid. */
  origin?: string;
}

/**
 * A block only its own dialect understands (an Anthropic `document` or `server_tool_use`, ...).
 * Providers of that dialect send it on unchanged; others drop it and report the drop.
 */
export interface OpaquePart {
  type: 'opaque';
  dialect: Dialect;
  /** The block's own type name, for the drop report. */
  name: string;
  raw: unknown;
}

export type Part = TextPart | ImagePart | ToolCallPart | ToolResultPart | ReasoningPart | OpaquePart;

export interface Message {
  /** `system` appears mid-conversation in Claude Code traffic; leading system text is in `system`. */
  role: 'user' | 'assistant' | 'system';
  content: Part[];
}

export interface ToolDefinition {
  name: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  cacheControl?: CacheControl;
  /** Provider-executed tools (Anthropic `web_search_20250305`, ...) keep their raw definition. */
  server?: { type: string; raw: Record<string, unknown> };
}

export type ToolChoice =
  | { type: 'auto'; disableParallel?: boolean }
  | { type: 'any'; disableParallel?: boolean }
  | { type: 'none' }
  | { type: 'tool'; name: string; disableParallel?: boolean };

export interface ThinkingConfig {
  type: 'enabled' | 'disabled' | 'adaptive';
  budgetTokens?: number;
  /** low | medium | high | ... as the client sent it (Claude Code `output_config.effort`, OpenAI `reasoning_effort`). */
  effort?: string;
}

export interface CanonicalRequest {
  model: string;
  system: TextPart[];
  messages: Message[];
  tools: ToolDefinition[];
  toolChoice?: ToolChoice;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  stop?: string[];
  stream: boolean;
  thinking?: ThinkingConfig;
  /** Caller identity as sent (Anthropic `metadata.user_id`, OpenAI `user`). */
  user?: string;
  /** Fields of the client's body that have no canonical meaning; reported when dropped. */
  extras: Record<string, unknown>;
}

export type StopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'refusal'
  | 'pause_turn'
  | 'content_filter'
  | 'error';

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  reasoningTokens?: number;
}

export interface CanonicalResponse {
  id: string;
  model: string;
  content: Part[];
  stopReason: StopReason;
  stopSequence?: string | null;
  usage: Usage;
}

/** Streamed answers are a sequence of these. Indexes are per content part, from 0, in order. */
export type StreamEvent =
  | { type: 'start'; id: string; model: string; usage?: Partial<Usage> }
  | { type: 'part_start'; index: number; part: PartStart }
  | { type: 'text_delta'; index: number; text: string }
  | { type: 'tool_input_delta'; index: number; json: string }
  | { type: 'reasoning_delta'; index: number; text: string }
  | { type: 'signature_delta'; index: number; signature: string }
  | { type: 'part_stop'; index: number }
  | { type: 'finish'; stopReason: StopReason; stopSequence?: string | null; usage: Usage }
  | { type: 'error'; error: StreamError };

export type PartStart =
  | { type: 'text' }
  | { type: 'tool_call'; id: string; name: string; signature?: string; origin?: string }
  /** `origin`: the dialect of the provider that produced the reasoning (see ReasoningPart). */
  | { type: 'reasoning'; redacted?: string; origin?: string }
  /** A whole block only its own dialect understands (see OpaquePart); no deltas follow. */
  | { type: 'opaque'; dialect: Dialect; name: string; raw: unknown };

export interface StreamError {
  /** An ErrorKind from the catalog, so every dialect can name it in its own words. */
  kind: string;
  message: string;
  status?: number;
}

export function emptyUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0 };
}

/** Every part's plain text, for estimates and routing; images and opaque data contribute nothing. */
export function textOf(parts: Part[]): string {
  let out = '';
  for (const part of parts) {
    if (part.type === 'text' || part.type === 'reasoning') out += part.text;
    else if (part.type === 'tool_result') out += typeof part.content === 'string' ? part.content : textOf(part.content);
    else if (part.type === 'tool_call') out += JSON.stringify(part.input ?? {});
  }
  return out;
}
