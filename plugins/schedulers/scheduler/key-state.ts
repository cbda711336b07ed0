/**
 * One API key's standing: its limits from YAML, what it used in the last minute (always tracked,
 * limits or not: least-loaded picks by it), what the provider's headers say is left, and its
 * health (healthy, cooling until a time, quarantined, or disabled by an operator).
 */
import type { Credential } from 'router-kernel';
import type { Headroom } from './rate-limit-headers.ts';

export type Health = 'healthy' | 'cooling' | 'quarantined' | 'disabled';

const minute = 60_000;

interface Use {
  at: number;
  tokens: number;
  /** Still inside the minute (its tokens are in the running sum). */
  counted: boolean;
}

export class KeyState {
  inflight = 0;
  /** When the pool last chose this key (its own counter, not a clock: ties in a millisecond stay ordered). */
  lastPick = 0;
  /** Start times and token estimates of this minute's requests (for rpm, tpm and least-loaded). */
  #recent: Use[] = [];
  #recentTokens = 0;
  #coolingUntil = 0;
  #quarantine: string | undefined;
  #disabled = false;
  #learned: Headroom = {};
  readonly stats = { requests: 0, ok: 0, rateLimited: 0, failed: 0, tokens: 0 };

  constructor(public credential: Credential) {}

  get id(): string {
    return this.credential.id;
  }

  health(now = Date.now()): Health {
    if (this.#disabled) return 'disabled';
    if (this.#quarantine !== undefined) return 'quarantined';
    return this.#coolingUntil > now ? 'cooling' : 'healthy';
  }

  /** When this key can take a request of `tokens` again (now if it can), or Infinity if never by itself. */
  availableAt(tokens: number, now = Date.now()): number {
    const health = this.health(now);
    if (health === 'disabled' || health === 'quarantined') return Infinity;
    let at = Math.max(now, this.#coolingUntil);
    const c = this.credential;
    if (c.concurrency !== undefined && this.inflight >= c.concurrency) return Infinity; // frees on release
    this.#trim(now);
    if (c.rpm !== undefined && this.#recent.length >= c.rpm) at = Math.max(at, this.#recent[this.#recent.length - c.rpm].at + minute);
    if (c.tpm !== undefined) {
      // Tokens age out oldest first; find when enough of them have.
      let used = this.#recentTokens;
      for (let i = 0; used + tokens > c.tpm && i < this.#recent.length; i++) {
        used -= this.#recent[i].tokens;
        at = Math.max(at, this.#recent[i].at + minute);
      }
    }
    const learned = this.#learned;
    if (learned.remainingRequests !== undefined && learned.remainingRequests <= 0 && learned.requestsResetAt !== undefined) at = Math.max(at, learned.requestsResetAt);
    if (learned.remainingTokens !== undefined && learned.remainingTokens < tokens && learned.tokensResetAt !== undefined) at = Math.max(at, learned.tokensResetAt);
    return at;
  }

  /** This minute's requests and tokens (estimates until the answers reported their usage). */
  recent(now = Date.now()): { requests: number; tokens: number } {
    this.#trim(now);
    return { requests: this.#recent.length, tokens: this.#recentTokens };
  }

  /**
   * How much of its minute this key has used, 0 to 1: the larger of its requests and tokens
   * relative to its own `rpm` / `tpm`, and of what its provider's headers say is used of theirs.
   * Undefined when neither is known (a key without limits whose provider sends no headers).
   */
  usedShare(now = Date.now()): number | undefined {
    const c = this.credential;
    const { requests, tokens } = this.recent(now);
    const shares: number[] = [];
    if (c.rpm) shares.push(requests / c.rpm);
    if (c.tpm) shares.push(tokens / c.tpm);
    const l = this.#learned;
    if (l.remainingRequests !== undefined && l.requestsLimit && (l.requestsResetAt ?? Infinity) > now) shares.push(1 - l.remainingRequests / l.requestsLimit);
    if (l.remainingTokens !== undefined && l.tokensLimit && (l.tokensResetAt ?? Infinity) > now) shares.push(1 - l.remainingTokens / l.tokensLimit);
    return shares.length > 0 ? Math.min(1, Math.max(0, ...shares)) : undefined;
  }

  begin(tokens: number, now = Date.now()): Use {
    this.inflight++;
    this.stats.requests++;
    const entry = { at: now, tokens, counted: true };
    this.#recent.push(entry);
    this.#recentTokens += tokens;
    if (this.#learned.remainingRequests !== undefined) this.#learned.remainingRequests--;
    if (this.#learned.remainingTokens !== undefined) this.#learned.remainingTokens -= tokens;
    return entry;
  }

  /** The request ended; `tokens` is what it really used when known (reconciles the estimate). */
  end(entry: Use, tokens: number | undefined): void {
    this.inflight = Math.max(0, this.inflight - 1);
    if (tokens !== undefined) {
      if (entry.counted) this.#recentTokens += tokens - entry.tokens;
      entry.tokens = tokens;
    }
    this.stats.tokens += entry.tokens;
  }

  learn(headroom: Headroom, now = Date.now()): void {
    // Drop what has expired; keep the newest word on each allowance.
    if (headroom.remainingRequests !== undefined) {
      this.#learned.remainingRequests = headroom.remainingRequests;
      this.#learned.requestsResetAt = headroom.requestsResetAt;
      this.#learned.requestsLimit = headroom.requestsLimit;
    }
    if (headroom.remainingTokens !== undefined) {
      this.#learned.remainingTokens = headroom.remainingTokens;
      this.#learned.tokensResetAt = headroom.tokensResetAt;
      this.#learned.tokensLimit = headroom.tokensLimit;
    }
    if (this.#learned.requestsResetAt !== undefined && this.#learned.requestsResetAt <= now) delete this.#learned.remainingRequests;
    if (this.#learned.tokensResetAt !== undefined && this.#learned.tokensResetAt <= now) delete this.#learned.remainingTokens;
  }

  /**
   * A 429: rest until the provider's retry-after or reset when it gave one (at least a quarter
   * second, so that "retry-after: 0" cannot make a tight loop), else for `defaultMs`.
   */
  coolDown(headroom: Headroom, defaultMs: number, now = Date.now()): number {
    const hints = [headroom.retryAt, headroom.remainingRequests === 0 ? headroom.requestsResetAt : undefined, headroom.remainingTokens === 0 ? headroom.tokensResetAt : undefined].filter((v): v is number => v !== undefined);
    const until = hints.length > 0 ? Math.max(now + 250, ...hints) : now + defaultMs;
    this.#coolingUntil = Math.max(this.#coolingUntil, until);
    this.stats.rateLimited++;
    return this.#coolingUntil;
  }

  quarantine(reason: string): void {
    this.#quarantine = reason;
  }

  setDisabled(disabled: boolean): void {
    this.#disabled = disabled;
    if (!disabled) this.#quarantine = undefined; // enabling a key is also how an operator clears a quarantine
  }

  snapshot(now = Date.now()) {
    const c = this.credential;
    return {
      id: c.id,
      ...(c.name ? { name: c.name } : {}),
      health: this.health(now),
      ...(this.#coolingUntil > now ? { coolingForMs: this.#coolingUntil - now } : {}),
      ...(this.#quarantine ? { quarantined: this.#quarantine } : {}),
      inflight: this.inflight,
      lastMinute: this.recent(now),
      limits: { rpm: c.rpm ?? null, tpm: c.tpm ?? null, concurrency: c.concurrency ?? null, weight: c.weight ?? 1 },
      learned: { ...this.#learned },
      totals: { ...this.stats },
    };
  }

  #trim(now: number): void {
    let drop = 0;
    while (drop < this.#recent.length && this.#recent[drop].at + minute <= now) {
      this.#recent[drop].counted = false;
      this.#recentTokens -= this.#recent[drop].tokens;
      drop++;
    }
    if (drop > 0) this.#recent.splice(0, drop);
  }
}
