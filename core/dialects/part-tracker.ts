/**
 * The part bookkeeping every stream reader needs: upstreams stream text and reasoning as runs of
 * deltas and tool calls as their own items, while canonical events want each part opened once,
 * numbered in order, and closed before the next one opens (as Anthropic clients require: content
 * blocks never overlap).
 *
 *   const parts = new PartTracker('gemini');
 *   out.push({ type: 'text_delta', index: parts.ensure('text', out), text });
 *   const index = parts.open(out, { type: 'tool_call', id, name });   // closes the text part
 *   parts.close(out);
 */
import type { PartStart, StreamEvent } from '../canonical.ts';

export class PartTracker {
  #next = 0;
  #current: { kind: 'text' | 'reasoning' | 'other'; index: number } | undefined;

  /** `origin`: the dialect that produced the reasoning (see ReasoningPart.origin). */
  constructor(private readonly origin: string) {}

  /** The index of the open text or reasoning part of this kind, opening one (and closing the open part) if needed. */
  ensure(kind: 'text' | 'reasoning', out: StreamEvent[]): number {
    if (this.#current?.kind === kind) return this.#current.index;
    this.close(out);
    const index = this.#next++;
    this.#current = { kind, index };
    out.push({ type: 'part_start', index, part: kind === 'reasoning' ? { type: 'reasoning', origin: this.origin } : { type: 'text' } });
    return index;
  }

  /** Opens a part of its own (a tool call, an opaque block) after closing the open one. */
  open(out: StreamEvent[], part: PartStart): number {
    this.close(out);
    const index = this.#next++;
    this.#current = { kind: 'other', index };
    out.push({ type: 'part_start', index, part });
    return index;
  }

  /** Closes the open part, if any. */
  close(out: StreamEvent[]): void {
    if (this.#current) out.push({ type: 'part_stop', index: this.#current.index });
    this.#current = undefined;
  }

  isOpen(index: number): boolean {
    return this.#current?.index === index;
  }
}
