/**
 * A request as the blocks a tokenizer counts: every piece of text a model reads (system parts,
 * message parts, tool definitions), plus what each model family frames rather than reads as text
 * (messages, images, tool calls; see families.ts). Blocks are the unit of the count cache: a
 * conversation that grows by a turn brings only its new blocks to the tokenizer.
 *
 *   const blocks = requestBlocks(request, (part, at) => { ... });   // one walk, features too
 *   const { tokens } = await counter.countBlocks(blocks);
 */
import type { CanonicalRequest, Part, ToolDefinition } from '../canonical.ts';

export interface RequestBlocks {
  /** Every text a model reads except tool definitions (each family writes those its own way). */
  texts: string[];
  tools: ToolDefinition[];
  /** What each family frames rather than reads: messages (besides the system prompt), images, tool calls. */
  messages: number;
  system: boolean;
  images: number;
  toolCalls: number;
  /** Thinking was asked for (Claude then reads a short thinking prompt). */
  thinking: boolean;
}

/** Where a visited part sits: its message index (-1 for system text) and role. */
export interface PartPosition {
  message: number;
  role: 'system' | 'user' | 'assistant';
}

export function requestBlocks(request: CanonicalRequest, visit?: (part: Part, at: PartPosition) => void): RequestBlocks {
  const blocks: RequestBlocks = { texts: [], tools: request.tools, messages: request.messages.length, system: request.system.length > 0, images: 0, toolCalls: 0, thinking: request.thinking !== undefined && request.thinking.type !== 'disabled' };
  for (const part of request.system) {
    blocks.texts.push(part.text);
    visit?.(part, { message: -1, role: 'system' });
  }
  for (let i = 0; i < request.messages.length; i++) {
    const message = request.messages[i];
    for (const part of message.content) {
      partBlocks(part, blocks);
      visit?.(part, { message: i, role: message.role });
    }
  }
  return blocks;
}

/** Adds a part's texts and what is not text (images, tool calls) to the blocks. */
function partBlocks(part: Part, blocks: RequestBlocks): void {
  switch (part.type) {
    case 'text':
      blocks.texts.push(part.text);
      return;
    case 'image':
      blocks.images++;
      return;
    case 'tool_call':
      blocks.toolCalls++;
      blocks.texts.push(part.name, JSON.stringify(part.input ?? {}));
      return;
    case 'tool_result':
      if (typeof part.content === 'string') blocks.texts.push(part.content);
      else for (const inner of part.content) partBlocks(inner, blocks);
      return;
    case 'reasoning':
      // Redacted reasoning is opaque to us; its text is what the provider counts.
      if (part.text) blocks.texts.push(part.text);
      return;
    case 'opaque':
      blocks.texts.push(JSON.stringify(part.raw));
      return;
  }
}
