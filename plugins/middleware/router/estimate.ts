/**
 * What the router does without an exact count. The tokenizer pool can fail a count (a crashed
 * worker, a count past `count_timeout`); a routing decision then goes on with an estimate rather
 * than failing a request that a provider could answer perfectly well.
 */
import type { RequestBlocks } from 'router-kernel';

/**
 * About four characters per token over every text and tool definition (what English prose and
 * code average in o200k and Claude's tokenizer), plus what each family adds at most: 1,600 per
 * image, 4 per message, and Anthropic's 346-token tool-use prompt when tools are offered.
 */
export function estimateBlocks(blocks: RequestBlocks): number {
  let chars = 0;
  for (const text of blocks.texts) chars += text.length;
  for (const tool of blocks.tools) chars += tool.name.length + (tool.description?.length ?? 0) + JSON.stringify(tool.inputSchema).length;
  return Math.ceil(chars / 4) + blocks.images * 1600 + (blocks.messages + 1) * 4 + (blocks.tools.length > 0 ? 346 : 0);
}
