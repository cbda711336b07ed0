/**
 * What a model family reads besides the texts themselves: its tool definitions, written its own
 * way, and the tokens it frames messages, images, tool calls and the tools preamble with.
 */
import type { RequestBlocks } from './blocks.ts';
import type { TokenFamily } from './families.ts';

/** The parts of `RequestBlocks` that framing depends on. */
export interface BodyShape {
  messages: number;
  system: boolean;
  images: number;
  toolCalls: number;
  tools: { length: number };
  thinking: boolean;
}

/** Every text the family's model reads: the request's texts, then its tool definitions as the family writes them (each its own cached block). */
export function familyTexts(blocks: RequestBlocks, family: TokenFamily): string[] {
  if (blocks.tools.length === 0) return blocks.texts;
  const texts = [...blocks.texts, ...blocks.tools.map((tool) => family.renderTool(tool))];
  if (family.toolsHeader) texts.push(family.toolsHeader);
  if (family.toolsFooter) texts.push(family.toolsFooter);
  return texts;
}

/** Tokens the family adds that are not text: message framing, images, tool calls, the tools preamble. */
export function framingOf(blocks: BodyShape, family: TokenFamily): number {
  let tokens = family.perRequest + (blocks.messages + (blocks.system ? 1 : 0)) * family.perMessage + blocks.toolCalls * family.perToolCall + blocks.images * family.perImage;
  if (blocks.tools.length > 0) tokens += family.withTools + (blocks.system ? family.withToolsAndSystem : 0);
  if (blocks.thinking) tokens += family.withThinking;
  return tokens;
}
