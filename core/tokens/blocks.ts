/**
 * A request as the blocks a tokenizer counts: every piece of text a model reads (system parts,
 * tool definitions, message parts), plus a fixed number of tokens for what is not text (message
 * framing, images). Blocks are the unit of the count cache: a conversation that grows by a turn
 * brings only its new blocks to the tokenizer.
 *
 *   const blocks = requestBlocks(request, (part, at) => { ... });   // one walk, features too
 *   const { tokens } = await counter.countBlocks(blocks);
 */
import type { CanonicalRequest, Part } from '../canonical.ts';

export interface RequestBlocks {
  texts: string[];
  /** Tokens that are not text: per-message and per-tool framing, images. */
  fixed: number;
  /** Tool definitions in the request (Claude adds a tool-use system prompt when there are any). */
  tools: number;
}

/** Where a visited part sits: its message index (-1 for system text) and role. */
export interface PartPosition {
  message: number;
  role: 'system' | 'user' | 'assistant';
}

/**
 * Framing every chat format adds around text (OpenAI documents 3 tokens per message and 3 to
 * prime the reply; tool definitions are rendered with a few tokens of syntax each). Images count
 * as the largest standard image Anthropic and OpenAI bill (~1,600 tokens): routing should err
 * towards the long-context model, not away from it.
 */
export const framing = { perRequest: 3, perMessage: 3, perTool: 8, perImage: 1600 };

export function requestBlocks(request: CanonicalRequest, visit?: (part: Part, at: PartPosition) => void): RequestBlocks {
  const texts: string[] = [];
  let fixed = framing.perRequest;
  if (request.system.length > 0) fixed += framing.perMessage;
  for (const part of request.system) {
    texts.push(part.text);
    visit?.(part, { message: -1, role: 'system' });
  }
  for (const tool of request.tools) {
    fixed += framing.perTool;
    texts.push(tool.server ? JSON.stringify(tool.server.raw) : `${tool.name}\n${tool.description ?? ''}\n${JSON.stringify(tool.inputSchema)}`);
  }
  for (let i = 0; i < request.messages.length; i++) {
    const message = request.messages[i];
    fixed += framing.perMessage;
    for (const part of message.content) {
      fixed += partBlocks(part, texts);
      visit?.(part, { message: i, role: message.role });
    }
  }
  return { texts, fixed, tools: request.tools.length };
}

/** Appends a part's texts; returns its tokens that are not text. */
function partBlocks(part: Part, texts: string[]): number {
  switch (part.type) {
    case 'text':
      texts.push(part.text);
      return 0;
    case 'image':
      return framing.perImage;
    case 'tool_call':
      texts.push(part.name, JSON.stringify(part.input ?? {}));
      return 0;
    case 'tool_result': {
      if (typeof part.content === 'string') {
        texts.push(part.content);
        return 0;
      }
      let fixed = 0;
      for (const inner of part.content) fixed += partBlocks(inner, texts);
      return fixed;
    }
    case 'reasoning':
      // Redacted reasoning is opaque to us; its text is what the provider counts.
      if (part.text) texts.push(part.text);
      return 0;
    case 'opaque':
      texts.push(JSON.stringify(part.raw));
      return 0;
  }
}
