import t from 'tap';
import { compose, type ChainLink } from '../../core/compose.ts';
import type { RequestContext } from '../../core/contract.ts';
import { isRouterError } from '../../core/errors.ts';

const ctx = {} as RequestContext;

t.test('middleware runs in order on the way in and in reverse on the way out', async (t) => {
  const seen: string[] = [];
  const link = (name: string): ChainLink => ({
    name,
    handle: async (_ctx, next) => {
      seen.push(`${name} in`);
      await next();
      seen.push(`${name} out`);
    },
  });
  await compose([link('a'), link('b'), link('c')], async () => void seen.push('terminal'))(ctx);
  t.same(seen, ['a in', 'b in', 'c in', 'terminal', 'c out', 'b out', 'a out']);
});

t.test('not calling next() short-circuits the rest of the chain', async (t) => {
  let reached = false;
  await compose([{ name: 'cache', handle: async () => {} }], async () => void (reached = true))(ctx);
  t.equal(reached, false);
});

t.test('calling next() twice is refused and names the middleware', async (t) => {
  const calls: number[] = [];
  const run = compose([{ name: 'sloppy', handle: async (_c, next) => { await next(); await next(); } }], async () => void calls.push(1));
  const err = await run(ctx).then(() => undefined, (e: unknown) => e);
  t.ok(isRouterError(err));
  t.match(err, { code: 'RK_NEXT_CALLED_TWICE', message: /sloppy/ });
  t.same(calls, [1], 'the terminal ran once');
});

t.test('calling next() again while the first call is running is refused even for reentrant middleware', async (t) => {
  const run = compose([{ name: 'racer', reentrant: true, handle: async (_c, next) => { await Promise.all([next(), next()]); } }], async () => new Promise((r) => setTimeout(r, 5)));
  await t.rejects(run(ctx), { code: 'RK_NEXT_CALLED_TWICE' });
});

t.test('reentrant middleware may call next() again after it settled (a retry)', async (t) => {
  let attempts = 0;
  const retry: ChainLink = {
    name: 'retry',
    reentrant: true,
    handle: async (_c, next) => {
      try {
        await next();
      } catch {
        await next();
      }
    },
  };
  await compose([retry], async () => {
    attempts++;
    if (attempts === 1) throw new Error('flaky');
  })(ctx);
  t.equal(attempts, 2);
});

t.test('next() called after the middleware returned is refused', async (t) => {
  let late: (() => Promise<void>) | undefined;
  await compose([{ name: 'leaky', handle: async (_c, next) => { late = next; } }], async () => {})(ctx);
  await t.rejects(late!(), { code: 'RK_NEXT_CALLED_TWICE' });
});

t.test('an ordinary error from a middleware is wrapped with the plugin name', async (t) => {
  const run = compose([{ name: 'guard', handle: async () => { throw new TypeError('boom'); } }], async () => {});
  await t.rejects(run(ctx), { code: 'RK_PLUGIN_FAILED', message: /guard.*boom/, expose: false });
});

t.test('a middleware without a handle function is refused when composing', async (t) => {
  t.throws(() => compose([{ name: 'broken', handle: undefined as never }], async () => {}), /broken/);
});

t.test('with no middleware the terminal runs directly', async (t) => {
  const terminal = async () => {};
  t.equal(compose([], terminal), terminal);
});
