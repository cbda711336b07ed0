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
