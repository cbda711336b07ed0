/**
 * An Anthropic request counted from its body's bytes. Each turn of an agent's conversation resends
 * every earlier message byte for byte, and decoding and parsing a 470 KB body costs milliseconds,
 * more than everything else in a routing decision. So each message is remembered by a hash of its
 * bytes: what it adds to a count (its texts' tokens, images, tool calls). The rest of the body
 * (system prompt, tools, thinking: the frame) is remembered the same way, per family and encoding.
 * Only what was not seen before is decoded and parsed, by the same codec as the whole request,
 * one message at a time, and its texts counted through the block cache as usual.
 *
 * The result equals the count of the parsed request (`requestBlocks` + `countBlocks`): an
 * Anthropic message parses on its own, the same whatever surrounds it, and the family's framing
 * depends only on how many messages, images and tool calls there are, and on the frame.
 */
import type { LRUCache } from 'lru-cache';
import type { RawRequest } from '../contract.ts';
import { parseAnthropicRequest } from '../dialects/anthropic/parse-request.ts';
import type { BlockHasher } from './block-hash.ts';
import { requestBlocks, type RequestBlocks } from './blocks.ts';
import { messagesLayout } from './body-layout.ts';
import type { TokenFamily } from './families.ts';
import { familyTexts, type BodyShape } from './framing.ts';
import type { Encoding } from './token-worker.ts';

/** What one message, or the frame, adds to a count: its texts' tokens (before the family's scale) and what is framed. */
export interface Piece {
  tokens: number;
  blocks: number;
  images: number;
  toolCalls: number;
  /** Frame only: a system prompt, the number of tools, thinking on. */
  system?: boolean;
  tools?: number;
  thinking?: boolean;
}

export interface BodyCount {
  /** Every text's tokens, before the family's scale and framing. */
  tokens: number;
  shape: BodyShape;
  blocks: number;
  counted: number;
}

type CountEach = (texts: string[]) => Promise<{ counts: number[]; counted: number }>;

export async function countAnthropicBody(source: Buffer | Pick<RawRequest, 'bytes' | 'layout'>, family: TokenFamily, encoding: Encoding, hasher: BlockHasher, pieces: LRUCache<string, Piece>, countEach: CountEach): Promise<BodyCount | undefined> {
  const layout = messagesLayout(source);
  if (!layout) return undefined;
  const { body, elements } = layout;
  const digest = hasher.bytes;
  const frameKey = `f${encoding}${family.name}${digest(body.subarray(0, layout.start))}${digest(body.subarray(layout.end))}`;
  // The same hashes the element memo recognised these messages by: computed once per request.
  const keys = elements.hashes.map((hash) => `m${encoding}${hash}`);

  // Known pieces are taken out of the cache first (adding new ones below may evict others).
  const found = new Map<string, Piece>();
  const missing: Array<{ key: string; blocks: RequestBlocks; texts: string[] }> = [];
  try {
    const frame = pieces.get(frameKey);
    if (frame) found.set(frameKey, frame);
    else {
      const skeleton = `${body.toString('utf8', 0, layout.start)}[]${body.toString('utf8', layout.end)}`;
      const blocks = requestBlocks(parseAnthropicRequest(JSON.parse(skeleton) as Record<string, unknown>));
      missing.push({ key: frameKey, blocks, texts: familyTexts(blocks, family) });
    }
    const parsing = new Set<string>();
    elements.starts.forEach((start, i) => {
      const end = elements.ends[i];
      if (found.has(keys[i]) || parsing.has(keys[i])) return;
      const piece = pieces.get(keys[i]);
      if (piece) {
        found.set(keys[i], piece);
        return;
      }
      parsing.add(keys[i]);
      const message = JSON.parse(body.toString('utf8', start, end)) as unknown;
      const blocks = requestBlocks(parseAnthropicRequest({ model: '-', messages: [message] } as Record<string, unknown>));
      missing.push({ key: keys[i], blocks, texts: blocks.texts });
    });
  } catch {
    // Not a body the codec accepts: counting the parsed request reports why.
    return undefined;
  }
  let counted = 0;
  if (missing.length > 0) {
    const result = await countEach(missing.flatMap((m) => m.texts));
    counted = result.counted;
    let at = 0;
    for (const m of missing) {
      let tokens = 0;
      for (let i = 0; i < m.texts.length; i++) tokens += result.counts[at + i];
      at += m.texts.length;
      const piece: Piece = { tokens, blocks: m.texts.length, images: m.blocks.images, toolCalls: m.blocks.toolCalls };
      if (m.key === frameKey) Object.assign(piece, { system: m.blocks.system, tools: m.blocks.tools.length, thinking: m.blocks.thinking });
      found.set(m.key, piece);
      pieces.set(m.key, piece);
    }
  }
  const frame = found.get(frameKey)!;
  const shape: BodyShape = { messages: keys.length, system: frame.system === true, images: 0, toolCalls: 0, tools: { length: frame.tools ?? 0 }, thinking: frame.thinking === true };
  let tokens = frame.tokens;
  let blocks = frame.blocks;
  for (const key of keys) {
    const piece = found.get(key)!;
    tokens += piece.tokens;
    blocks += piece.blocks;
    shape.images += piece.images;
    shape.toolCalls += piece.toolCalls;
  }
  return { tokens, shape, blocks, counted };
}
