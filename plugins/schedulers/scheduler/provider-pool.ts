/**
 * One provider's admission: its keys, at most `concurrency` requests in flight (sequential mode
 * when 1), and a priority queue for requests that must wait for capacity. A request is granted a
 * key as soon as one can take it; otherwise it waits (highest class first, first come first served
 * within a class, a class up for every `aging` spent waiting) until its deadline, then gets a 429
 * (every key is rate-limited) or a 503 (the provider is busy) with retry-after.
 *
 * The queue moves on events, never by polling: a slot released, an operator's change, or the one
 * timer set for the moment a key's rate limit or cooldown lets the waiting go on.
 */
import { routerError, type Credential, type PriorityClass, type RouterError } from 'router-kernel';
import { KeyChooser, type Strategy } from './choose-key.ts';
import { KeyState } from './key-state.ts';

export type { Strategy };

export interface PoolSettings {
  strategy: Strategy;
  /** Most requests in flight for the provider (undefined: no limit; 1: sequential mode). */
  concurrency: number | undefined;
  maxQueue: number;
  maxWaitMs: Record<PriorityClass, number>;
  agingMs: number;
}

export interface Lease {
  key: KeyState | undefined;
  release(tokens: number | undefined): void;
}

interface Waiter {
  tokens: number;
  rank: number;
  since: number;
  seq: number;
  deadline: number;
  /** Tokens of the requests admitted ahead of this one while it could not be (see #dispatch). */
  passedBy: number;
  exclude: ReadonlySet<string>;
  /** Whatever the caller tagged it with (the scheduler: the request's generation, by its catalog). */
  origin: object | undefined;
  resolve(lease: Lease): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
  cleanup(): void;
}

const ranks: Record<PriorityClass, number> = { critical: 0, high: 1, normal: 2, low: 3, batch: 4 };

export class ProviderPool {
  keys: KeyState[];
  inflight = 0;
  /** `timers`: wake-ups armed for a rate limit or cooldown to end (one at a time, never a poll). */
  readonly stats = { admitted: 0, waited: 0, timedOut: 0, rejectedFull: 0, timers: 0 };
  #queue: Waiter[] = [];
  #seq = 0;
  #chooser = new KeyChooser();
  #wake: { timer: NodeJS.Timeout; at: number } | undefined;
  /** The keys router.yaml lists for the provider. */
  #listed: Credential[];
  /** An operator's rotations on top of them: listed key id → the key that replaced it. */
  #rotations = new Map<string, Pick<Credential, 'id' | 'key' | 'name'>>();

  constructor(
    readonly provider: string,
    credentials: Credential[],
    public settings: PoolSettings,
  ) {
    this.#listed = credentials;
    this.keys = credentials.map((c) => new KeyState(c));
  }

  /**
   * A configuration went live: limits change in place; keys that stay keep their usage and health;
   * new ones join. A rotation holds while router.yaml still lists the key it replaced (and not yet
   * the new one): a reload that did not touch that key keeps the operator's change.
   */
  reconfigure(credentials: Credential[], settings: PoolSettings): void {
    this.#listed = credentials;
    const listed = new Set(credentials.map((c) => c.id));
    for (const [from, to] of this.#rotations) if (!listed.has(from) || listed.has(to.id)) this.#rotations.delete(from);
    this.settings = settings;
    this.#adopt();
  }

  /**
   * Puts `fresh` in the place of key `id` (listed in router.yaml, or rotated in before), with the
   * same limits. Returns false when the pool has no such key.
   */
  rotate(id: string, fresh: Pick<Credential, 'id' | 'key' | 'name'>): boolean {
    const listed = this.#listed.find((c) => (this.#rotations.get(c.id)?.id ?? c.id) === id);
    if (!listed) return false;
    this.#rotations.set(listed.id, fresh);
    this.#adopt();
    return true;
  }

  #adopt(): void {
    const byId = new Map(this.keys.map((k) => [k.id, k]));
    this.keys = this.#listed.map((listed) => {
      const rotated = this.#rotations.get(listed.id);
      const c = rotated ? { ...listed, ...rotated } : listed;
      const existing = byId.get(c.id);
      if (!existing) return new KeyState(c);
      existing.credential = c;
      return existing;
    });
    this.#dispatch();
  }

  /** Waits for a key (or, for a provider without keys, a slot); rejects past the deadline. */
  acquire(priority: PriorityClass, tokens: number, signal: AbortSignal, deadline: number | undefined, exclude: ReadonlySet<string> = new Set(), origin?: object): Promise<Lease> {
    // A client that left before it got here takes no slot and no place in the queue.
    if (signal.aborted) return Promise.reject(signal.reason);
    const now = Date.now();
    if (this.keys.length > 0 && this.keys.every((k) => k.health(now) === 'disabled' || k.health(now) === 'quarantined')) {
      return Promise.reject(routerError('RK_NO_USABLE_KEY', { provider: this.provider }));
    }
    if (this.#queue.length === 0) {
      const lease = this.#grant(tokens, exclude, now);
      if (lease) return Promise.resolve(lease);
    }
    if (this.#queue.length >= this.settings.maxQueue) {
      this.stats.rejectedFull++;
      const err = routerError('RK_QUEUE_FULL', { provider: this.provider, size: this.settings.maxQueue });
      err.retryAfter = 1;
      return Promise.reject(err);
    }
    const until = Math.min(deadline ?? Infinity, now + this.settings.maxWaitMs[priority]);
    this.stats.waited++;
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = {
        tokens,
        rank: ranks[priority],
        since: now,
        seq: this.#seq++,
        deadline: until,
        passedBy: 0,
        exclude,
        origin,
        resolve,
        reject,
        timer: setTimeout(() => this.#expire(waiter), Math.max(0, until - now)).unref(),
        cleanup: () => {
          clearTimeout(waiter.timer);
          signal.removeEventListener('abort', onAbort);
        },
      };
      const onAbort = () => {
        this.#remove(waiter);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiter);
      this.#dispatch();
    });
  }

  /**
   * Brings the deadline of every waiter tagged `origin` forward to `until` (if later): it is then
   * answered like any request that waited too long (429/503 with retry-after).
   */
  shorten(origin: object, until: number): void {
    const now = Date.now();
    for (const waiter of this.#queue) {
      if (waiter.origin !== origin || waiter.deadline <= until) continue;
      waiter.deadline = until;
      clearTimeout(waiter.timer);
      waiter.timer = setTimeout(() => this.#expire(waiter), Math.max(0, until - now)).unref();
    }
  }

  /** Called when something may have freed capacity (a cooldown set or ended, an admin change). */
  poke(): void {
    this.#dispatch();
  }

  get queued(): number {
    return this.#queue.length;
  }

  queueByClass(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, rank] of Object.entries(ranks)) out[name] = this.#queue.filter((w) => w.rank === rank).length;
    return out;
  }

  /** When the next wake-up is due (epoch ms), if one is armed. */
  get wakeAt(): number | undefined {
    return this.#wake?.at;
  }

  #full(): boolean {
    return this.settings.concurrency !== undefined && this.inflight >= this.settings.concurrency;
  }

  #grant(tokens: number, exclude: ReadonlySet<string>, now: number): Lease | undefined {
    if (this.#full()) return undefined;
    let key: KeyState | undefined;
    if (this.keys.length > 0) {
      const ready = this.keys.filter((k) => !exclude.has(k.id) && k.availableAt(tokens, now) <= now);
      if (ready.length === 0) return undefined;
      key = this.#chooser.choose(this.settings.strategy, ready, this.keys, now);
    }
    this.inflight++;
    this.stats.admitted++;
    const entry = key?.begin(tokens, now);
    let released = false;
    return {
      key,
      release: (used) => {
        if (released) return;
        released = true;
        this.inflight--;
        if (key && entry) key.end(entry, used);
        this.#dispatch();
      },
    };
  }

  /** When some key this waiter may use could take it by time alone (Infinity: only a release or an operator can free one). */
  #readyAt(waiter: Waiter, now: number): number {
    let soonest = Infinity;
    for (const k of this.keys) if (!waiter.exclude.has(k.id)) soonest = Math.min(soonest, k.availableAt(waiter.tokens, now));
    return soonest;
  }

  /** Whether any key could take a small request now: if none can, nobody in the queue can go. */
  #anyKeyFree(now: number): boolean {
    return this.keys.length === 0 || this.keys.some((k) => k.availableAt(1, now) <= now);
  }

  /**
   * Admits what can go, in queue order (highest class first; a class up for every `aging` waited;
   * first come first served within). A waiter held back by something of its own (its size against
   * a key's token headroom, or keys it was already refused by) does not hold up those behind it
   * (same class or lower, by the order): they may go first, until the tokens they took add up to
   * its own; then it is next, so passing delays it a bounded amount and never starves it. Then arms
   * one timer for the soonest moment time alone lets a waiter go (a cooldown or rate-limit window
   * ending); a request finishing dispatches again by itself.
   */
  #dispatch(): void {
    const now = Date.now();
    let wakeAt = Infinity;
    if (this.#queue.length > 0) {
      const effective = (w: Waiter) => w.rank - Math.floor((now - w.since) / this.settings.agingMs);
      this.#queue.sort((a, b) => effective(a) - effective(b) || a.seq - b.seq);
      const held: Waiter[] = [];
      for (let i = 0; i < this.#queue.length && !this.#full(); ) {
        if (held.some((w) => w.passedBy >= w.tokens)) break;
        const waiter = this.#queue[i];
        const lease = this.#grant(waiter.tokens, waiter.exclude, now);
        if (lease) {
          this.#queue.splice(i, 1);
          for (const w of held) w.passedBy += waiter.tokens;
          waiter.cleanup();
          waiter.resolve(lease);
          continue;
        }
        const at = this.#readyAt(waiter, now);
        if (at > now && Number.isFinite(at)) wakeAt = Math.min(wakeAt, at);
        if (!this.#anyKeyFree(now)) {
          // Nothing is free for anyone: wake when the first key is back, for whoever fits then.
          for (const k of this.keys) {
            const back = k.availableAt(1, now);
            if (back > now && Number.isFinite(back)) wakeAt = Math.min(wakeAt, back);
          }
          break;
        }
        held.push(waiter);
        i++;
      }
    }
    this.#arm(wakeAt, now);
  }

  #arm(at: number, now: number): void {
    if (this.#wake && this.#wake.at === at) return;
    if (this.#wake) clearTimeout(this.#wake.timer);
    this.#wake = undefined;
    if (!Number.isFinite(at)) return;
    this.stats.timers++;
    // Unreferenced: a queue must not keep a stopping process alive (its requests are aborted then).
    const timer = setTimeout(() => {
      this.#wake = undefined;
      this.#dispatch();
    }, Math.max(1, at - now)).unref();
    this.#wake = { timer, at };
  }

  #expire(waiter: Waiter): void {
    if (!this.#remove(waiter)) return;
    this.stats.timedOut++;
    waiter.reject(this.#tooLong(waiter));
  }

  #remove(waiter: Waiter): boolean {
    const index = this.#queue.indexOf(waiter);
    if (index === -1) return false;
    this.#queue.splice(index, 1);
    waiter.cleanup();
    // Those it was holding back (or a timer set for it) may now be different.
    queueMicrotask(() => this.#dispatch());
    return true;
  }

  /**
   * 429 when every usable key is waiting out a rate limit (cooling, rpm, tpm or the provider's
   * announced headroom: with when the first is back), else 503 (busy: keys or the provider at their
   * concurrency, which frees when a request ends, not at a known time).
   */
  #tooLong(waiter: Waiter): RouterError {
    const now = Date.now();
    const usable = this.keys.filter((k) => k.health(now) === 'healthy' || k.health(now) === 'cooling');
    const times = usable.map((k) => k.availableAt(waiter.tokens, now));
    const soonest = Math.min(...times);
    const retryAfter = Number.isFinite(soonest) ? Math.max(1, Math.ceil((soonest - now) / 1000)) : 1;
    const busy = this.settings.concurrency !== undefined && this.inflight >= this.settings.concurrency;
    const limited = !busy && usable.length > 0 && times.every((at) => at > now && Number.isFinite(at));
    const err = limited
      ? routerError('RK_RATE_LIMITED', { provider: this.provider, waited: Math.round((now - waiter.since) / 1000) })
      : this.keys.length > 0 && usable.length === 0
        ? routerError('RK_NO_USABLE_KEY', { provider: this.provider })
        : routerError('RK_QUEUE_TIMEOUT', { provider: this.provider, waited: Math.round((now - waiter.since) / 1000) });
    err.retryAfter = retryAfter;
    return err;
  }
}
