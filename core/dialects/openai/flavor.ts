/**
 * The known differences between servers that speak Chat Completions, as data. A provider entry
 * names its vendor (`vendor: deepseek`) and may override any single field; the adapter is one.
 */

export interface OpenAIFlavor {
  /** `max_tokens` (most servers) or `max_completion_tokens` (OpenAI's reasoning models, Groq). */
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** Ask for the final usage chunk when streaming (`stream_options.include_usage`). */
  streamUsage: boolean;
  /**
   * Send earlier reasoning back on assistant turns: never; only on turns that called tools
   * (DeepSeek's thinking mode rejects a tool-call turn without its `reasoning_content`); always.
   */
  reasoningEcho: 'none' | 'tool_turns' | 'all';
  /** The assistant-message field reasoning is echoed in. */
  reasoningField: 'reasoning_content' | 'reasoning';
  /**
   * How a client's request for thinking is expressed upstream: not at all (only an OpenAI client's
   * own `reasoning_effort` is forwarded), `reasoning_effort`, OpenRouter's `reasoning` object, or
   * DeepSeek's `thinking` switch (with `reasoning_effort`).
   */
  reasoningParam: 'none' | 'reasoning_effort' | 'openrouter' | 'deepseek';
  /** Forward Anthropic `cache_control` on content parts (OpenRouter hands it to Claude and Gemini). */
  cacheControl: boolean;
  /** Tool-call ids the server accepts: any string, or exactly nine letters and digits (Mistral). */
  toolIds: 'any' | 'alnum9';
  /** Split a leading `<think>…</think>` out of the content into reasoning (vLLM, llama.cpp, LM Studio). */
  thinkTags: boolean;
  /**
   * Send function-call thought signatures back as `extra_content.google.thought_signature`
   * (Gemini's OpenAI-compatible endpoint; Gemini 3 rejects tool turns without them).
   */
  thoughtSignatures: boolean;
}

export const defaultFlavor: OpenAIFlavor = {
  maxTokensField: 'max_tokens',
  streamUsage: true,
  reasoningEcho: 'none',
  reasoningField: 'reasoning_content',
  reasoningParam: 'none',
  cacheControl: false,
  toolIds: 'any',
  thinkTags: true,
  thoughtSignatures: false,
};

export const vendors = ['generic', 'openai', 'deepseek', 'openrouter', 'groq', 'xai', 'mistral', 'gemini', 'together', 'vllm', 'lmstudio', 'llamacpp', 'ollama'] as const;
export type Vendor = (typeof vendors)[number];

export const vendorFlavors: Record<Vendor, Partial<OpenAIFlavor>> = {
  generic: {},
  openai: { maxTokensField: 'max_completion_tokens' },
  deepseek: { reasoningEcho: 'tool_turns', reasoningParam: 'deepseek' },
  openrouter: { reasoningField: 'reasoning', reasoningParam: 'openrouter', cacheControl: true },
  groq: { maxTokensField: 'max_completion_tokens', reasoningField: 'reasoning' },
  xai: {},
  mistral: { toolIds: 'alnum9' },
  gemini: { thoughtSignatures: true, reasoningParam: 'reasoning_effort' },
  together: {},
  vllm: {},
  lmstudio: {},
  llamacpp: {},
  ollama: {},
};

export function flavorFor(vendor: Vendor, overrides: Partial<OpenAIFlavor>): OpenAIFlavor {
  return { ...defaultFlavor, ...vendorFlavors[vendor], ...overrides };
}
