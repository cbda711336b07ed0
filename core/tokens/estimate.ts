/**
 * A quick token estimate (about four characters per token) for when an exact count is not needed
 * or not available. Cheap enough for every request; `count_tokens` and routing thresholds use the
 * exact counter when it is configured.
 */
import { textOf, type CanonicalRequest } from '../canonical.ts';

const perMessage = 3;
const perImage = 1000;

export function estimateTokens(request: CanonicalRequest): number {
  let chars = 0;
  let extra = 0;
  for (const part of request.system) chars += part.text.length;
  for (const message of request.messages) {
    extra += perMessage;
    chars += textOf(message.content).length;
    for (const part of message.content) if (part.type === 'image') extra += perImage;
  }
  for (const tool of request.tools) chars += tool.name.length + (tool.description?.length ?? 0) + JSON.stringify(tool.inputSchema).length;
  return Math.ceil(chars / 4) + extra;
}

export function estimateTextTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
