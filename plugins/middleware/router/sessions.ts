/**
 * Long-context stickiness. Once a conversation's last answer reported more input tokens than the
 * threshold (the provider's own count, cache reads and writes included), its next requests go to
 * the long-context model too, even when a cheap bound or the estimate says they are under: a
 * conversation that just crossed the line should not bounce back and forth. An answer under the
 * threshold (after Claude Code compacts the conversation) ends it.
 *
 * Claude Code names its session in the `x-claude-code-session-id` header, and in
 * `metadata.user_id`: a JSON-encoded object with `session_id` in current versions, or a string
 * ending in `_session_<uuid>` in older ones. Its subagents (the Task tool) send the parent's
 * session id too, so a session is not one conversation: newer versions add
 * `x-claude-code-agent-id` to a subagent's requests (stable for the subagent's life, absent on the
 * main conversation's), and a conversation is the session plus that id.
 */
import { LRUCache } from 'lru-cache';
import type { RequestContext, Usage } from 'router-kernel';

export class SessionUsage {
  readonly #lastInput = new LRUCache<string, number>({ max: 10_000, ttl: 6 * 60 * 60 * 1000 });

  lastInput(session: string): number | undefined {
    return this.#lastInput.get(session);
  }

  record(session: string, usage: Usage): void {
    this.#lastInput.set(session, usage.inputTokens + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0));
  }
}

/** The conversation a request belongs to: its session, and its subagent when it names one. */
export function conversationOf(ctx: RequestContext): string | undefined {
  const session = sessionOf(ctx);
  if (session === undefined) return undefined;
  const agent = ctx.raw.headers['x-claude-code-agent-id'];
  return typeof agent === 'string' && agent !== '' ? `${session} agent:${agent}` : session;
}

export function sessionOf(ctx: RequestContext): string | undefined {
  const header = ctx.raw.headers['x-claude-code-session-id'];
  if (typeof header === 'string' && header !== '') return header;
  const metadata = ctx.raw.field('metadata');
  const userId = metadata && typeof metadata === 'object' ? (metadata as Record<string, unknown>).user_id : undefined;
  if (typeof userId !== 'string') return undefined;
  if (userId.startsWith('{')) {
    try {
      const parsed = JSON.parse(userId) as { session_id?: unknown };
      if (typeof parsed.session_id === 'string') return parsed.session_id;
    } catch {
      // not JSON after all: fall through to the older format
    }
  }
  return /_session_([0-9a-f-]{8,})$/i.exec(userId)?.[1];
}
