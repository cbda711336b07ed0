/**
 * How each model family turns a request into billed input tokens: what it adds around the text
 * (per request, per message, per tool call), how it writes tool definitions into the prompt, and
 * for tokenizers that are not public, a calibrated scale on the o200k count. Every constant here
 * is checked against usage the providers really billed for recorded requests
 * (test/tokens/calibration.test.ts).
 *
 *   const family = tokenFamilyFor('claude-sonnet-4-5', 'anthropic');   // tokenFamilies.claude
 */
import type { Dialect, ToolDefinition } from '../canonical.ts';
import { openaiToolsFooter, openaiToolsHeader, renderOpenAITool } from './openai-tools.ts';
import type { Encoding } from './token-worker.ts';

export type TokenFamilyName = 'openai' | 'claude' | 'gemini' | 'generic';

export interface TokenFamily {
  name: TokenFamilyName;
  /** Tokens added once (OpenAI primes every reply with 3). */
  perRequest: number;
  /** Tokens around each message, its role included. */
  perMessage: number;
  /** Tokens around each tool call an assistant message makes. */
  perToolCall: number;
  /** A fixed charge per image: the largest standard image, so routing errs towards long context. */
  perImage: number;
  /** Tokens added once when the request offers tools (and, for OpenAI, when a system message is reused for them). */
  withTools: number;
  withToolsAndSystem: number;
  /** Tokens added when thinking is on. */
  withThinking: number;
  /** Tool definitions as the model reads them; `header`/`footer` wrap them once. */
  renderTool(tool: ToolDefinition): string;
  toolsHeader: string;
  toolsFooter: string;
  /** Multiplier on the o200k count when the family's tokenizer is not public. */
  scale: number;
  /** True when the count is an estimate (a tokenizer we do not have), false when it is OpenAI's own. */
  estimate: boolean;
}

/** A tool as JSON-schema-speaking models read it: name, description and the schema itself. */
function jsonTool(tool: ToolDefinition): string {
  return tool.server ? JSON.stringify(tool.server.raw) : `${tool.name}\n${tool.description ?? ''}\n${JSON.stringify(tool.inputSchema)}`;
}

const base = { perImage: 1600, toolsHeader: '', toolsFooter: '', withToolsAndSystem: 0, withThinking: 0 };

export const tokenFamilies: Record<TokenFamilyName, TokenFamily> = {
  // OpenAI's documented chat framing: 3 tokens per message plus its role (1 token), 3 to prime the
  // reply; tools are a TypeScript namespace plus 9 tokens, 4 fewer when a system message exists
  // (the tools reuse it). Exact for plain chat on recorded gpt-4o and o1 traffic.
  openai: { ...base, name: 'openai', perRequest: 3, perMessage: 4, perToolCall: 3, withTools: 9, withToolsAndSystem: -4, renderTool: renderOpenAITool, toolsHeader: openaiToolsHeader, toolsFooter: openaiToolsFooter, scale: 1, estimate: false },
  // Anthropic's tokenizer is not public: Claude Sonnet 4.5 billed 1.00–1.08 tokens per o200k token
  // on English prose, and any request with tools carries Anthropic's tool-use system prompt (346
  // tokens for Claude 4 models with `auto` tool choice, per Anthropic's pricing documentation);
  // thinking adds 29–31 tokens on recorded Sonnet 4 and 4.5 requests.
  claude: { ...base, name: 'claude', perRequest: 3, perMessage: 3, perToolCall: 0, withTools: 346, withThinking: 30, renderTool: jsonTool, scale: 1.05, estimate: true },
  // Gemini's SentencePiece tokenizer is not public either; on recorded requests it bills about
  // one token per turn, with tool declarations close to their JSON length.
  gemini: { ...base, name: 'gemini', perRequest: 1, perMessage: 1, perToolCall: 0, withTools: 0, renderTool: jsonTool, scale: 1, estimate: true },
  // Open models (Ollama, vLLM, ...) use chat templates of about OpenAI's size and put tool
  // schemas into the prompt as JSON.
  generic: { ...base, name: 'generic', perRequest: 3, perMessage: 4, perToolCall: 3, withTools: 0, renderTool: jsonTool, scale: 1, estimate: true },
};

/**
 * The family that bills a request, from the model it names (the client's model; a routed target
 * may differ, but routing thresholds are stated in the client's terms) and, failing that, from
 * the dialect the client speaks. Other models spoken to in OpenAI's dialect (DeepSeek, Llama,
 * Qwen, ...) have tokenizers of their own: they are counted as `generic`, an estimate.
 */
export function tokenFamilyFor(model: string, dialect?: Dialect): TokenFamily {
  const name = model.slice(model.search(/[^/,]*$/)).toLowerCase(); // `provider/model` names the model last
  if (name.startsWith('claude')) return tokenFamilies.claude;
  if (name.startsWith('gemini') || name.startsWith('gemma')) return tokenFamilies.gemini;
  if (/^(gpt-|o\d|chatgpt-|codex-|ft:gpt)/.test(name)) return tokenFamilies.openai;
  switch (dialect) {
    case 'anthropic':
      return tokenFamilies.claude;
    case 'gemini':
      return tokenFamilies.gemini;
    default:
      return tokenFamilies.generic;
  }
}

/** OpenAI models before GPT-4o use cl100k_base; everything else is counted in o200k_base. */
export function encodingFor(model: string): Encoding {
  const name = model.slice(model.search(/[^/,]*$/)).toLowerCase();
  return /^(gpt-4(?!o|\.\d)|gpt-3\.5|ft:gpt-3\.5|ft:gpt-4(?!o|\.\d))/.test(name) ? 'cl100k_base' : 'o200k_base';
}
