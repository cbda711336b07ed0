/**
 * How a provider pool's queue moves: on events (a slot released, a cooldown ending, an operator's
 * change), never by polling; a client that already left is not queued; a request held back by its
 * own size does not block smaller ones behind it, for a bounded while.
 */
import { setImmediate as turn } from 'node:timers/promises';
import t from 'tap';
import { ProviderPool, type Lease, type PoolSettings } from '../../../plugins/schedulers/scheduler/provider-pool.ts';

const settings = (extra: Partial<PoolSettings> = {}): PoolSettings => ({
  strategy: 'priority',
  concurrency: undefined,
  maxQueue: 100,
  maxWaitMs: { critical: 60_000, high: 60_000, normal: 60_000, low: 60_000, batch: 60_000 },
  agingMs: 60_000,
  ...extra,
});
const never = new AbortController().signal;

/** Lets every promise settled by a dispatch run its callbacks. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await turn();
}

t.test('sequential mode waits for the slot to be released without arming any timer', async (t) => {
  const pool = new ProviderPool('p', [{ id: 'key_a', key: 'a' }], settings({ concurrency: 1 }));
  const first = await pool.acquire('normal', 10, never, undefined);
  let second: Lease | undefined;
  const waiting = pool.acquire('normal', 10, never, undefined).then((lease) => (second = lease));
  await settle();
  t.equal(second, undefined, 'the second request waits');
  t.equal(pool.stats.timers, 0, 'no wake-up armed: only a release can free the slot');
  t.equal(pool.wakeAt, undefined);
  first.release(10);
  await waiting;
  t.ok(second, 'the release admitted the waiting request');
  t.equal(pool.stats.timers, 0);
  second!.release(10);
});

t.test('a cooling key arms one wake-up, for the moment it is back', async (t) => {
  const pool = new ProviderPool('p', [{ id: 'key_a', key: 'a' }], settings());
  const until = pool.keys[0].coolDown({ retryAt: Date.now() + 300 }, 10_000);
  const alive = setTimeout(() => {}, 5000); // the pool's timers are unreferenced; a server keeps the process up
  const waiting = pool.acquire('normal', 10, never, undefined);
  const more = [pool.acquire('normal', 10, never, undefined), pool.acquire('high', 10, never, undefined)];
  t.equal(pool.wakeAt, until, 'due when the cooldown ends');
  t.equal(pool.stats.timers, 1, 'one timer for the three waiting');
  for (const lease of await Promise.all([waiting, ...more])) lease.release(10);
  clearTimeout(alive);
  t.equal(pool.stats.timers, 1, 'nothing armed in between');
});

t.test('enabling a disabled key admits the waiting at once', async (t) => {
  const pool = new ProviderPool('p', [{ id: 'key_a', key: 'a' }, { id: 'key_b', key: 'b' }], settings());
  pool.keys[0].setDisabled(true);
  pool.keys[1].coolDown({ retryAt: Date.now() + 60_000 }, 60_000);
  let lease: Lease | undefined;
  const waiting = pool.acquire('normal', 10, never, undefined).then((l) => (lease = l));
  await settle();
  t.equal(lease, undefined);
  pool.keys[0].setDisabled(false);
  pool.poke();
  await waiting;
  t.equal(lease!.key!.id, 'key_a');
});

t.test('a request whose client already left takes neither a slot nor a place in the queue', async (t) => {
  const pool = new ProviderPool('p', [{ id: 'key_a', key: 'a' }], settings({ concurrency: 1 }));
  const gone = new AbortController();
  gone.abort(new Error('client closed'));
  await t.rejects(pool.acquire('normal', 10, gone.signal, undefined), { message: 'client closed' }, 'free capacity is not given to it');
  t.equal(pool.inflight, 0);

  const first = await pool.acquire('normal', 10, never, undefined);
  await t.rejects(pool.acquire('normal', 10, gone.signal, undefined), { message: 'client closed' }, 'nor is it queued');
  t.equal(pool.queued, 0);
  first.release(10);
  t.equal(pool.inflight, 0, 'the freed slot went to nobody');
});

t.test('smaller requests pass one held back by its size, until they took as many tokens as it needs', async (t) => {
  const pool = new ProviderPool('p', [{ id: 'key_a', key: 'a' }], settings());
  const key = pool.keys[0];
  const resetAt = Date.now() + 60_000;
  // The provider says 300 tokens are left this minute.
  key.learn({ remainingTokens: 300, tokensResetAt: resetAt });
  const admitted: string[] = [];
  const ask = (label: string, tokens: number) => pool.acquire('normal', tokens, never, undefined).then((lease) => (admitted.push(label), lease));
  const all = [ask('large', 500), ...Array.from({ length: 6 }, (_, i) => ask(`small-${i + 1}`, 100))];
  await settle();
  t.same(admitted, ['small-1', 'small-2', 'small-3'], 'the small ones use the headroom the large one cannot');

  key.learn({ remainingTokens: 400, tokensResetAt: resetAt });
  pool.poke();
  await settle();
  t.same(admitted.slice(3), ['small-4', 'small-5'], 'two more: together the five took the 500 tokens the large one needs');
  t.equal(pool.queued, 2, 'small-6 waits behind the large one although 200 tokens are left');

  key.learn({ remainingTokens: 500, tokensResetAt: resetAt });
  pool.poke();
  await settle();
  t.same(admitted.slice(5), ['large'], 'the large one goes next');
  key.learn({ remainingTokens: 100, tokensResetAt: resetAt });
  pool.poke();
  await settle();
  t.same(admitted.slice(6), ['small-6']);
  for (const lease of await Promise.all(all)) lease.release(undefined);
});

t.test('nobody passes a request held back by what holds everyone back (the provider at its concurrency)', async (t) => {
  const pool = new ProviderPool('p', [{ id: 'key_a', key: 'a' }], settings({ concurrency: 1 }));
  const first = await pool.acquire('normal', 10, never, undefined);
  const admitted: string[] = [];
  const leases: Lease[] = [];
  const ask = (label: string, tokens: number) => pool.acquire('normal', tokens, never, undefined).then((lease) => (admitted.push(label), leases.push(lease)));
  void ask('large', 5000);
  void ask('small', 10);
  first.release(10);
  await settle();
  t.same(admitted, ['large'], 'first come, first served');
  leases[0].release(10);
  await settle();
  t.same(admitted, ['large', 'small']);
  leases[1].release(10);
});
