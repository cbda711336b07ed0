/**
 * Subagent routing: a Claude Code subagent's prompt may carry `<router-model>provider/model</router-model>`
 * (or `<CCR-SUBAGENT-MODEL>…</CCR-SUBAGENT-MODEL>`, which claude-code-router users already write)
 * in a system block or in the first user message. The tag picks the route and is removed before the
 * request goes upstream.
 */
import type { CanonicalRequest, TextPart } from 'router-kernel';

const tag = /<(router-model|CCR-SUBAGENT-MODEL)>\s*([^<]*?)\s*<\/\1>/i;
/** Cheap test on the raw body before any parsing: most requests carry no tag at all. */
export const tagMarkers = ['<router-model>', '<CCR-SUBAGENT-MODEL>', '<ccr-subagent-model>'];

/** Finds the first tag, removes every tag from the text it was in, and returns its target. */
export function takeSubagentTag(request: CanonicalRequest): string | undefined {
  const candidates: TextPart[] = [...request.system];
  const firstUser = request.messages.find((m) => m.role === 'user');
  if (firstUser) for (const part of firstUser.content) if (part.type === 'text') candidates.push(part);
  for (const part of candidates) {
    const found = tag.exec(part.text);
    if (!found) continue;
    part.text = part.text.replace(new RegExp(tag.source, 'gi'), '').replace(/^\s+/, '');
    return found[2];
  }
  return undefined;
}
