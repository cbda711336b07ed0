/**
 * Token figures the router uses instead of an exact count: from the body's size, to skip counting
 * when no decision can depend on it, and from the blocks, when a count failed (a crashed worker, a
 * count past `count_timeout`) and the decision goes on rather than failing a request that a
 * provider could answer perfectly well.
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

/** Counted as 1,600 tokens in every family, whatever the image's size: each `"image` in the body. */
function imagesIn(body: Buffer): number {
  let images = 0;
  for (let at = body.indexOf('"image'); at !== -1; at = body.indexOf('"image', at + 6)) images++;
  return images;
}

/**
 * Half a token per byte of body, plus 1,600 per image and 400 for a tool-use prompt and framing:
 * what a request can hold at most unless its text is unusually dense. Claude Code's traffic is
 * about four bytes per token (its first request, ~76 KB, is ~19k tokens), English prose and code
 * three to five, CJK text about three (UTF-8), and the Claude estimate adds 5%; so the margin is
 * 1.5× to 2× over ordinary text, and a request this figure puts under a threshold is not counted.
 * Text denser than two bytes per token (long random letter strings, some emoji runs) can be under
 * it: such a request may be routed as if it were under the threshold.
 */
export function sizeEstimate(body: Buffer): number {
  return Math.ceil(body.length / 2) + 400 + imagesIn(body) * 1600;
}

/**
 * A true upper bound on a request's tokens from its body size alone, for every token family: a
 * token encodes at least one byte, the body holds every text (escaping only adds bytes; tool
 * schemas are written at least as long as any family renders them), framing adds at most 4 tokens
 * per message or tool call, which takes at least 28 bytes to write, estimates scale by at most
 * 1.05, and tools add a preamble of at most 346 tokens. Used where a wrong guess would match a
 * rule that asks for fewer tokens (`tokens: { below }`).
 */
export function upperBound(body: Buffer): number {
  return Math.ceil(body.length * (1 + 4 / 28) * 1.05) + 10 + 346 + imagesIn(body) * 1600;
}
