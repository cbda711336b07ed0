import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { request } from 'undici';
import { collectGarbage } from '../../core/full-gc.ts';
import { trimNativeHeap, trimUnavailableReason } from '../../core/native-heap.ts';
import { IdleCollector } from '../../core/http/idle-collect.ts';
import { mockConfig, startTestRouter } from '../helpers/router.ts';

const glibc = process.platform === 'linux' && Boolean((process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime);

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

t.test('a router gone quiet after traffic runs a full collection and trims the C heap', async (t) => {
  const { url, logs } = await startTestRouter(t, `server: { idle_collect: 200ms }\n${mockConfig}`);
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
  const given = logs.find((line) => line.msg === 'idle: memory given back');
  if (glibc) {
    t.ok(given, 'the C heap was trimmed after the collections, and the log says how much was given back');
    t.type(given?.rss_before_mb, 'number');
    t.type(given?.rss_after_mb, 'number');
  } else {
    t.ok(logs.some((line) => line.msg.startsWith('idle: heaps collected')), 'without glibc the log says why nothing was trimmed');
  }
});

t.test('malloc_trim gives a fragmented C heap back to the system', { skip: glibc ? false : 'needs glibc' }, async (t) => {
  // Buffers of 16-40 KB come from glibc's heap. Keeping every 50th pins the heap's top, so free()
  // alone returns nothing: the pattern a busy router leaves behind.
  let buffers: Buffer[] = [];
  for (let i = 0; i < 4000; i++) buffers.push(Buffer.allocUnsafeSlow(16384 + (i % 7) * 4096).fill(1));
  const kept = buffers.filter((_, i) => i % 50 === 0);
  buffers = [];
  collectGarbage();
  await sleep(200); // V8 frees array buffers' memory on a background thread after the collection
  const before = process.memoryUsage.rss();
  t.equal(await trimNativeHeap(), true, 'trimmed on Linux with glibc');
  const after = process.memoryUsage.rss();
  t.ok(before - after > 40 * 1048576, `${Math.round((before - after) / 1048576)} MB went back to the system (~100 MB of buffers were freed)`);
  t.equal(kept.length, 80, 'what was kept is still there');
  t.equal(trimUnavailableReason(), undefined);
});
