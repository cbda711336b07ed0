/**
 * The part bookkeeping every stream reader needs: upstreams stream text and reasoning as runs of
 * deltas and tool calls as their own items, while canonical events want each part opened once,
 * numbered in order, and closed when the next kind begins.
 *
 *   const parts = new PartTracker('gemini');
 *   out.push({ type: 'text_delta', index: parts.ensure('text', out), text });
 *   const index = parts.open(out, { type: 'tool_call', id, name });
 */
import type { PartStart, StreamEvent } from '../canonical.ts';

export class PartTracker {
  #next = 0;
  #current: { kind: 'text' | 'reasoning'; index: number } | undefined;

  /** `origin`: the dialect that produced the reasoning (see ReasoningPart.origin). */
  constructor(private readonly origin: string) {}

  /** The index of the open text or reasoning part of this kind, opening one (and closing the other) if needed. */
  ensure(kind: 'text' | 'reasoning', out: StreamEvent[]): number {
    if (this.#current?.kind === kind) return this.#current.index;
    this.close(out);
    const index = this.#next++;
    this.#current = { kind, index };
    out.push({ type: 'part_start', index, part: kind === 'reasoning' ? { type: 'reasoning', origin: this.origin } : { type: 'text' } });
    return index;
  }

  /** Closes the open text or reasoning part, if any. */
  close(out: StreamEvent[]): void {
    if (this.#current) out.push({ type: 'part_stop', index: this.#current.index });
    this.#current = undefined;
  }

  /** Opens a part of its own (a tool call), after closing the open text or reasoning part. */
  open(out: StreamEvent[], part: PartStart): number {
    this.close(out);
    const index = this.#next++;
    out.push({ type: 'part_start', index, part });
    return index;
  }
}
