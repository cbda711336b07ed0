/**
 * Splits a leading `<think>…</think>` out of streamed content into reasoning. Several servers
 * (vLLM, llama.cpp, LM Studio, older Ollama) put a reasoning model's thoughts in the content this
 * way. Only a tag at the very start of the answer counts, so text that merely mentions `<think>`
 * is left alone. Tags cut across chunks are handled by holding back the few characters that could
 * still become one.
 */

const open = '<think>';
const close = '</think>';

export type Piece = { kind: 'reasoning' | 'text'; text: string };

export class ThinkTagSplitter {
  #state: 'start' | 'thinking' | 'text' = 'start';
  #pending = '';

  push(text: string): Piece[] {
    if (this.#state === 'text') return text ? [{ kind: 'text', text }] : [];
    this.#pending += text;
    if (this.#state === 'start') {
      const head = this.#pending.trimStart();
      if (head.length < open.length && open.startsWith(head)) return [];
      if (!head.startsWith(open)) {
        this.#state = 'text';
        const all = this.#pending;
        this.#pending = '';
        return [{ kind: 'text', text: all }];
      }
      this.#state = 'thinking';
      this.#pending = head.slice(open.length);
    }
    const end = this.#pending.indexOf(close);
    if (end !== -1) {
      const thought = this.#pending.slice(0, end);
      const after = this.#pending.slice(end + close.length).replace(/^\s+/, '');
      this.#state = 'text';
      this.#pending = '';
      const out: Piece[] = [];
      if (thought) out.push({ kind: 'reasoning', text: thought });
      if (after) out.push({ kind: 'text', text: after });
      return out;
    }
    const keep = partialSuffix(this.#pending);
    const thought = this.#pending.slice(0, this.#pending.length - keep);
    this.#pending = this.#pending.slice(this.#pending.length - keep);
    return thought ? [{ kind: 'reasoning', text: thought }] : [];
  }

  /**
   * Something other than content arrived (a tool call): whatever is held back is settled now, so
   * content keeps its place before it.
   */
  flush(): Piece[] {
    const pieces = this.end();
    if (this.#state === 'start') this.#state = 'text';
    return pieces;
  }

  end(): Piece[] {
    const rest = this.#pending;
    this.#pending = '';
    if (!rest) return [];
    return [{ kind: this.#state === 'thinking' ? 'reasoning' : 'text', text: rest }];
  }
}

/** How many trailing characters could be the start of `</think>`. */
function partialSuffix(text: string): number {
  for (let n = Math.min(close.length - 1, text.length); n > 0; n--) if (close.startsWith(text.slice(-n))) return n;
  return 0;
}

/** The same split for a complete answer. */
export function splitThinkTags(content: string): { reasoning?: string; text: string } {
  const splitter = new ThinkTagSplitter();
  const pieces = [...splitter.push(content), ...splitter.end()];
  const reasoning = pieces.filter((p) => p.kind === 'reasoning').map((p) => p.text).join('');
  const text = pieces.filter((p) => p.kind === 'text').map((p) => p.text).join('');
  return reasoning ? { reasoning, text } : { text };
}
