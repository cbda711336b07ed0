/**
 * How a provider pool picks among ready keys, and how it honours per-key limits from YAML.
 */
import t from 'tap';
import { ProviderPool, type PoolSettings, type Strategy } from '../../../plugins/schedulers/scheduler/provider-pool.ts';

const settings = (strategy: Strategy, extra: Partial<PoolSettings> = {}): PoolSettings => ({
  strategy,
  concurrency: undefined,
  maxQueue: 100,
  maxWaitMs: { critical: 1000, high: 1000, normal: 1000, low: 1000, batch: 1000 },
  agingMs: 1000,
  ...extra,
});
const keys = (...specs: Array<Record<string, unknown>>) => specs.map((s, i) => ({ id: `key_${i}`, key: `k${i}`, ...s }));
const never = new AbortController().signal;

async function picks(pool: ProviderPool, n: number, release = true): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const lease = await pool.acquire('normal', 10, never, undefined);
    out.push(lease.key!.id);
    if (release) lease.release(10);
  }
  return out;
}

t.test('weighted shares work by weight, smoothly interleaved', async (t) => {
  const pool = new ProviderPool('p', keys({ weight: 2 }, { weight: 1 }), settings('weighted'));
  const order = await picks(pool, 6);
  t.same(order, ['key_0', 'key_1', 'key_0', 'key_0', 'key_1', 'key_0']);
});

t.test('least recently used takes the key idle longest', async (t) => {
  const pool = new ProviderPool('p', keys({}, {}, {}), settings('least_recently_used'));
  const order = await picks(pool, 3);
  t.same(new Set(order).size, 3, 'each key once before any twice');
});

t.test('least loaded prefers the key with fewer requests in flight, relative to its limits', async (t) => {
  const pool = new ProviderPool('p', keys({ concurrency: 10 }, { concurrency: 2 }), settings('least_loaded'));
  const held = await picks(pool, 6, false);
  t.equal(held.filter((k) => k === 'key_1').length, 1, 'the small key gets a share matching its limit');
});

t.test('per-key concurrency and rpm from YAML are never exceeded; the rest waits', async (t) => {
  const pool = new ProviderPool('p', keys({ concurrency: 1, rpm: 2 }), settings('round_robin'));
  const first = await pool.acquire('normal', 1, never, undefined);
  let second: string | undefined;
  const waiting = pool.acquire('normal', 1, never, undefined).then((lease) => {
    second = lease.key!.id;
    return lease;
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(second, undefined, 'concurrency 1: the second waits');
  first.release(1);
  const lease = await waiting;
  t.equal(second, 'key_0');
  lease.release(1);
  // The pool's timers do not keep a process alive (a server does); this test must, meanwhile.
  const alive = setTimeout(() => {}, 5000);
  const third = pool.acquire('normal', 1, never, Date.now() + 50);
  await t.rejects(third, { code: 'RK_RATE_LIMITED', status: 429 }, 'rpm 2 reached: the third waits until its deadline, then 429');
  clearTimeout(alive);
});

t.test('least loaded spreads requests over keys without limits, taking turns when they tie', async (t) => {
  const pool = new ProviderPool('p', keys({}, {}, {}), settings('least_loaded'));
  t.same(await picks(pool, 6), ['key_0', 'key_1', 'key_2', 'key_0', 'key_1', 'key_2']);
});

t.test("least loaded sends the next request to the key that carried the fewest of this minute's tokens", async (t) => {
  const pool = new ProviderPool('p', keys({}, {}, {}), settings('least_loaded'));
  const big = await pool.acquire('normal', 20_000, never, undefined);
  big.release(20_000);
  const order = await picks(pool, 4);
  t.same(order, ['key_1', 'key_2', 'key_1', 'key_2'], 'the key that carried a large request rests while the others catch up');
});

t.test('least loaded prefers the key whose provider reports more of its allowance left', async (t) => {
  const pool = new ProviderPool('p', keys({}, {}), settings('least_loaded'));
  const resetAt = Date.now() + 60_000;
  pool.keys[0].learn({ remainingRequests: 10, requestsLimit: 100, requestsResetAt: resetAt });
  pool.keys[1].learn({ remainingRequests: 90, requestsLimit: 100, requestsResetAt: resetAt });
  t.same(await picks(pool, 3), ['key_1', 'key_1', 'key_1']);
});

t.test('a key at its tpm is not given a request until enough of its tokens age out', async (t) => {
  const pool = new ProviderPool('p', keys({ tpm: 1000 }, {}), settings('priority'));
  const first = await pool.acquire('normal', 900, never, undefined);
  t.equal(first.key!.id, 'key_0');
  first.release(900);
  const second = await pool.acquire('normal', 200, never, undefined);
  t.equal(second.key!.id, 'key_1', '900 + 200 would pass the first key’s 1,000 tokens a minute');
  second.release(200);
  t.equal((await pool.acquire('normal', 100, never, undefined)).key!.id, 'key_0', 'a request that fits still goes to it');

  const alone = new ProviderPool('p', keys({ tpm: 1000 }), settings('least_loaded'));
  (await alone.acquire('normal', 900, never, undefined)).release(900);
  const alive = setTimeout(() => {}, 5000);
  await t.rejects(alone.acquire('normal', 200, never, Date.now() + 50), { code: 'RK_RATE_LIMITED', status: 429 }, 'with no other key it waits, then hears 429');
  clearTimeout(alive);
});
