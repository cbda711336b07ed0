import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { request } from 'undici';
import { collectGarbage } from '../../core/full-gc.ts';
import { IdleCollector } from '../../core/http/idle-collect.ts';
import { mockConfig, startTestRouter } from '../helpers/router.ts';

t.test('one collection per idle spell, only after traffic, never while a request runs', async (t) => {
  let collections = 0;
  let after = 40;
  const idle = new IdleCollector(() => after, () => collections++);
  t.teardown(() => idle.stop());

  await sleep(120);
  t.equal(collections, 0, 'no traffic yet: nothing to give back');

  idle.begin();
  idle.begin();
  idle.end();
  await sleep(120);
  t.equal(collections, 0, 'a request still in flight');
  idle.end();
  await sleep(20);
  t.equal(collections, 0, 'not before the quiet period has passed');
  await sleep(100);
  t.equal(collections, 1, 'collected once the router had been quiet long enough');
  await sleep(120);
  t.equal(collections, 1, 'once per idle spell');

  // Traffic that keeps arriving postpones the collection until it stops.
  for (let i = 0; i < 6; i++) {
    idle.begin();
    idle.end();
    await sleep(15);
  }
  t.equal(collections, 1, 'requests every 15 ms keep a 40 ms quiet period from passing');
  await sleep(120);
  t.equal(collections, 2);

  // Health checks alone (a load balancer's probes) never cause a collection.
  for (let i = 0; i < 3; i++) {
    idle.begin(false);
    idle.end();
  }
  await sleep(120);
  t.equal(collections, 2, 'health checks are not traffic');

  after = 0;
  idle.begin();
  idle.end();
  await sleep(120);
  t.equal(collections, 2, 'idle_collect: 0 turns it off');
});

t.test('the real collection does not expose gc to other code', async (t) => {
  collectGarbage();
  if (!process.execArgv.includes('--expose-gc')) t.equal((globalThis as { gc?: unknown }).gc, undefined);
});

t.test('a router gone quiet after traffic runs a full collection', async (t) => {
  const { url } = await startTestRouter(t, `server: { idle_collect: 200ms }\n${mockConfig}`);
  const majors: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (((entry as { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors.push(entry);
  });
  observer.observe({ entryTypes: ['gc'] });
  t.teardown(() => observer.disconnect());

  const body = JSON.stringify({ model: 'mock-fast', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
  for (let i = 0; i < 5; i++) {
    const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    t.equal(res.statusCode, 200);
    await res.body.dump();
  }
  const quietSince = performance.now();
  await sleep(1000);
  t.ok(
    majors.some((entry) => entry.startTime >= quietSince + 150),
    'a full collection ran once the router had been quiet for idle_collect',
  );
});
