/**
 * Memory for large request bodies, used again by the next large body once its request is over.
 *
 * A body arrives as the socket's reads (64 KB at most each), and the router joins them into one
 * buffer to scan. For a 470 KB Claude Code request that join was the costliest thing the router did:
 * a fresh 470 KB allocation every time, whose pages fault as they are first written, and 470 KB more
 * of external memory, which makes V8 run full mark-compacts several times a second under load.
 * Joining into memory a finished request gave back cut the 470 KB translated case from 4.4–5.1 to
 * 2.8–2.9 ms of CPU (docs/performance.md, "What we tried").
 *
 * Memory is only given back when nothing can still read it. Each pooled body has a lease:
 * - the request holds it until it has been answered (`end`); after that, reading the body through
 *   `ctx.raw` throws instead of reading memory another body may be in;
 * - an upstream exchange sending views of it holds it until undici is done with them (`pin`, which
 *   the upstream client calls): until the response has ended. Over HTTP/1.1 undici writes such a
 *   body as a sequence of chunks, and destroys the socket if the answer ends while it is still
 *   writing, so nothing more is read from it after that. An exchange that did not end in a 2xx
 *   answer, and any over HTTP/2 (where a stream's queued data is sent as the peer's window opens,
 *   even after the answer), leave the memory to the garbage collector instead (`escape`).
 * Plugins read a body without keeping it through `ctx.raw.bytes` (lent); `ctx.raw.body` gives them their
 * own copy of a pooled body, which they may keep.
 *
 * Bodies under 64 KB (Node's allocator serves those well), over 8 MB, or arriving in one chunk are
 * not pooled. At most 16 MB of free memory is kept; the idle collection lets it all go.
 */

/** Below this a body is joined with `Buffer.concat`. */
const SMALLEST = 64 * 1024;
/** Above this too: such bodies are rare, and a slab this size would be kept for one of them. */
const LARGEST = 8 * 1024 * 1024;

export interface JoinedBody {
  body: Buffer;
  /** Present when the body is in pooled memory: `end` it once the request has been answered. */
  lease?: BodyLease;
}

export class BodyLease {
  /** The request's own hold, and one per upstream exchange sending views of the body. */
  #holds = 1;
  #escaped = false;
  #ended = false;

  constructor(
    readonly slab: Buffer,
    private readonly pool: BodyMemory,
  ) {}

  /** The request has been answered: its hold goes, and its body may no longer be read. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.release();
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Something may still read the memory when the lease is over: leave it to the garbage collector. */
  escape(): void {
    this.#escaped = true;
  }

  get escaped(): boolean {
    return this.#escaped;
  }

  hold(): void {
    this.#holds++;
  }

  /** Drops a hold (the request's, through `end`, or an upstream exchange's); the last gives the memory back. */
  release(): void {
    if (this.#holds === 0) return; // never below zero: a slab is given back once
    if (--this.#holds === 0) this.pool.giveBack(this);
  }
}

export class BodyMemory {
  /** Free slabs by capacity (a power of two). */
  readonly #free = new Map<number, Buffer[]>();
  #freeBytes = 0;
  /** The lease of each slab lent out, by its memory, so the upstream client can find it from a view. */
  readonly #lent = new WeakMap<ArrayBufferLike, BodyLease>();
  #reused = 0;

  /** `keep`: the most free memory kept, in bytes. */
  constructor(readonly keep = 16 * 1024 * 1024) {}

  /** The chunks as one buffer: in pooled memory when `pooled` and the size suits, else as before. */
  join(chunks: readonly Buffer[], size: number, pooled: boolean): JoinedBody {
    if (chunks.length === 1) return { body: chunks[0] };
    if (!pooled || size < SMALLEST || size > LARGEST) return { body: Buffer.concat(chunks, size) };
    const slab = this.#take(capacityFor(size));
    let at = 0;
    for (const chunk of chunks) {
      slab.set(chunk, at);
      at += chunk.length;
    }
    const lease = new BodyLease(slab, this);
    this.#lent.set(slab.buffer, lease);
    return { body: slab.subarray(0, size), lease };
  }

  /** Whether `chunk` is a view of a pooled body still lent out. */
  isLent(chunk: Buffer): boolean {
    return this.#lent.has(chunk.buffer);
  }

  /**
   * Holds the leases of any pooled bodies `chunks` are views of, for as long as undici may read
   * them. Returns what lets them go (`clean`: the exchange ended in a 2xx answer; anything else
   * leaves the memory to the garbage collector), or undefined when there were none (the usual
   * case). `escape`: never reuse the memory (an HTTP/2 exchange).
   */
  pin(chunks: string | Buffer | readonly Buffer[] | undefined, escape = false): ((clean: boolean) => void) | undefined {
    if (chunks === undefined || typeof chunks === 'string') return undefined;
    let held: BodyLease[] | undefined;
    for (const chunk of Buffer.isBuffer(chunks) ? [chunks] : chunks) {
      const lease = this.#lent.get(chunk.buffer);
      if (!lease || held?.includes(lease)) continue;
      lease.hold();
      if (escape) lease.escape();
      (held ??= []).push(lease);
    }
    if (!held) return undefined;
    let done = false;
    return (clean) => {
      if (done) return;
      done = true;
      for (const lease of held) {
        if (!clean) lease.escape();
        lease.release();
      }
    };
  }

  /** Called by a lease's last release. */
  giveBack(lease: BodyLease): void {
    this.#lent.delete(lease.slab.buffer);
    if (lease.escaped || this.#freeBytes + lease.slab.length > this.keep) return;
    let slabs = this.#free.get(lease.slab.length);
    if (!slabs) this.#free.set(lease.slab.length, (slabs = []));
    slabs.push(lease.slab);
    this.#freeBytes += lease.slab.length;
  }

  /** Lets every free slab go (the idle collection calls this before collecting). */
  dropFree(): void {
    this.#free.clear();
    this.#freeBytes = 0;
  }

  /** For tests: free bytes kept, and how many bodies went into reused memory. */
  stats(): { freeBytes: number; reused: number } {
    return { freeBytes: this.#freeBytes, reused: this.#reused };
  }

  #take(capacity: number): Buffer {
    const slab = this.#free.get(capacity)?.pop();
    if (!slab) return Buffer.allocUnsafeSlow(capacity);
    this.#freeBytes -= capacity;
    this.#reused++;
    return slab;
  }
}

/** The power of two at or above `size`: the bodies of a growing conversation share slabs. */
function capacityFor(size: number): number {
  return 2 ** Math.ceil(Math.log2(size));
}

/** The process's pool: the server joins bodies into it, the upstream client pins what it sends. */
export const bodyMemory = new BodyMemory();
