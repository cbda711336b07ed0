/**
 * One API key's standing: its limits from YAML, what it used in the last minute, what the
 * provider's headers say is left, and its health (healthy, cooling until a time, quarantined, or
 * disabled by an operator).
 */
import type { Credential } from 'router-kernel';
import type { Headroom } from './rate-limit-headers.ts';

export type Health = 'healthy' | 'cooling' | 'quarantined' | 'disabled';

const minute = 60_000;

export class KeyState {
  inflight = 0;
  lastUsed = 0;
  /** Start times and token estimates of this minute's requests (for rpm and tpm). */
  #recent: Array<{ at: number; tokens: number }> = [];
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
      let used = this.#recent.reduce((n, r) => n + r.tokens, 0);
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

  begin(tokens: number, now = Date.now()): { at: number; tokens: number } {
    this.inflight++;
    this.lastUsed = now;
    this.stats.requests++;
    const entry = { at: now, tokens };
    this.#recent.push(entry);
    if (this.#learned.remainingRequests !== undefined) this.#learned.remainingRequests--;
    if (this.#learned.remainingTokens !== undefined) this.#learned.remainingTokens -= tokens;
    return entry;
  }

  /** The request ended; `tokens` is what it really used when known (reconciles the estimate). */
  end(entry: { tokens: number }, tokens: number | undefined): void {
    this.inflight = Math.max(0, this.inflight - 1);
    if (tokens !== undefined) entry.tokens = tokens;
    this.stats.tokens += entry.tokens;
  }

  learn(headroom: Headroom, now = Date.now()): void {
    // Drop what has expired; keep the newest word on each allowance.
    if (headroom.remainingRequests !== undefined) {
      this.#learned.remainingRequests = headroom.remainingRequests;
      this.#learned.requestsResetAt = headroom.requestsResetAt;
    }
    if (headroom.remainingTokens !== undefined) {
      this.#learned.remainingTokens = headroom.remainingTokens;
      this.#learned.tokensResetAt = headroom.tokensResetAt;
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
    this.#trim(now);
    const c = this.credential;
    return {
      id: c.id,
      ...(c.name ? { name: c.name } : {}),
      health: this.health(now),
      ...(this.#coolingUntil > now ? { coolingForMs: this.#coolingUntil - now } : {}),
      ...(this.#quarantine ? { quarantined: this.#quarantine } : {}),
      inflight: this.inflight,
      lastMinute: { requests: this.#recent.length, tokens: this.#recent.reduce((n, r) => n + r.tokens, 0) },
      limits: { rpm: c.rpm ?? null, tpm: c.tpm ?? null, concurrency: c.concurrency ?? null, weight: c.weight ?? 1 },
      learned: { ...this.#learned },
      totals: { ...this.stats },
    };
  }

  #trim(now: number): void {
    let drop = 0;
    while (drop < this.#recent.length && this.#recent[drop].at + minute <= now) drop++;
    if (drop > 0) this.#recent.splice(0, drop);
  }
}
