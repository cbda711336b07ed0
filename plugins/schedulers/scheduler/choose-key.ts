/**
 * Which of a provider's ready keys takes the next request, by the pool's strategy:
 *
 *   round_robin           keys in turn (YAML order)
 *   least_loaded          fewest in flight, then least of its minute used, then idle longest
 *   least_recently_used   the one chosen longest ago
 *   weighted              smooth weighted round robin by `weight` (nginx's)
 *   priority              the first ready key in YAML order (spares after the main key)
 *
 * One chooser per pool: it keeps the turn of round robin and the running weights.
 */
import type { KeyState } from './key-state.ts';

export type Strategy = 'round_robin' | 'least_loaded' | 'least_recently_used' | 'weighted' | 'priority';

export class KeyChooser {
  #rotation = 0;
  #weights = new Map<string, number>();
  #picks = 0;

  /** Picks among `ready` (a non-empty subset of `all`, in YAML order) and marks the key chosen. */
  choose(strategy: Strategy, ready: KeyState[], all: KeyState[], now: number): KeyState {
    const key = this.#pick(strategy, ready, all, now);
    key.lastPick = ++this.#picks;
    return key;
  }

  #pick(strategy: Strategy, ready: KeyState[], all: KeyState[], now: number): KeyState {
    switch (strategy) {
      case 'priority':
        return ready[0];
      case 'round_robin': {
        // The next key in YAML order after the last one granted, among those ready.
        for (let i = 0; i < all.length; i++) {
          const index = (this.#rotation + i) % all.length;
          if (ready.includes(all[index])) {
            this.#rotation = (index + 1) % all.length;
            return all[index];
          }
        }
        return ready[0];
      }
      case 'least_recently_used':
        return ready.reduce((a, b) => (b.lastPick < a.lastPick ? b : a));
      case 'weighted': {
        // Every pick adds each weight, takes the largest, pays the total.
        let total = 0;
        let best = ready[0];
        for (const k of ready) {
          const w = k.credential.weight ?? 1;
          total += w;
          const current = (this.#weights.get(k.id) ?? 0) + w;
          this.#weights.set(k.id, current);
          if (current > (this.#weights.get(best.id) ?? 0)) best = k;
        }
        this.#weights.set(best.id, (this.#weights.get(best.id) ?? 0) - total);
        return best;
      }
      case 'least_loaded':
      default:
        return leastLoaded(ready, now);
    }
  }
}

/**
 * Fewest requests in flight (relative to the key's `concurrency`), then the smallest share of its
 * minute used (its requests and tokens against its `rpm` / `tpm`, or against what its provider's
 * headers report; a key with neither is compared by its share of the tokens all ready keys carried
 * this minute), then the one chosen longest ago, so that keys alike take turns. `weight` divides
 * the load: a key of weight 2 counts as half as loaded.
 */
function leastLoaded(ready: KeyState[], now: number): KeyState {
  let poolTokens = 0;
  for (const k of ready) poolTokens += k.recent(now).tokens;
  const loads = ready.map((k) => {
    const weight = k.credential.weight ?? 1;
    const concurrency = k.credential.concurrency;
    const used = k.usedShare(now) ?? (poolTokens > 0 ? k.recent(now).tokens / poolTokens : 0);
    return { k, inflight: (concurrency ? k.inflight / concurrency : k.inflight) / weight, used: used / weight };
  });
  const epsilon = 1e-9;
  let best = loads[0];
  for (const candidate of loads.slice(1)) {
    const byInflight = candidate.inflight - best.inflight;
    const byUse = candidate.used - best.used;
    const better = byInflight < -epsilon || (Math.abs(byInflight) <= epsilon && (byUse < -epsilon || (Math.abs(byUse) <= epsilon && candidate.k.lastPick < best.k.lastPick)));
    if (better) best = candidate;
  }
  return best.k;
}
