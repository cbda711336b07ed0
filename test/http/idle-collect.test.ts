import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { request } from 'undici';
import { collectGarbage } from '../../core/full-gc.ts';
import { heapTrimmer, nativeHeap, type HeapTrimmer } from '../../core/native-heap.ts';
import { giveBackMemory } from '../../core/http/idle-collect.ts';
import { captureLogs } from '../helpers/logs.ts';
import { IdleCollector } from '../../core/http/idle-collect.ts';
import { mockConfig, startTestRouter } from '../helpers/router.ts';

// On Linux with glibc, CI has koffi (an optional dependency npm ci installs): the trim must work there.
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
  const idleLine = () => logs.find((line) => typeof line.msg === 'string' && line.msg.startsWith('idle: '));
  for (let waited = 0; !idleLine() && waited < 5000; waited += 50) await sleep(50);
  t.ok(
    majors.some((entry) => entry.startTime >= quietSince + 150),
    'a full collection ran once the router had been quiet for idle_collect',
  );
  const line = idleLine();
  if (glibc) {
    t.equal(line?.msg, 'idle: memory given back', 'the C heap was trimmed after the collections');
    t.type(line?.rssBeforeMb, 'number', 'the log says how much memory the router held before');
    t.type(line?.rssAfterMb, 'number', 'and after');
  } else {
    t.equal(line?.msg, 'idle: heaps collected; the C heap could not be trimmed', 'without glibc the log says nothing was trimmed');
    t.type(line?.trim, 'string', 'and why');
  }
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  t.equal(res.statusCode, 200, 'the router answers after giving memory back');
  await res.body.dump();
});

t.test('malloc_trim gives a fragmented C heap back to the system', { skip: glibc ? false : 'needs glibc' }, async (t) => {
  const baseline = process.memoryUsage.rss();
  // Buffers of 16-40 KB come from glibc's heap. Keeping every 50th pins the heap's top, so free()
  // alone returns little: the pattern a busy router leaves behind.
  let buffers: Buffer[] = [];
  for (let i = 0; i < 4000; i++) buffers.push(Buffer.allocUnsafeSlow(16384 + (i % 7) * 4096).fill(i % 251));
  const kept = buffers.filter((_, i) => i % 50 === 0);
  buffers = [];
  collectGarbage();
  // V8 frees array buffers' memory on a background thread after the collection.
  for (let waited = 0; process.memoryUsage().arrayBuffers > 8 * 1048576 && waited < 2000; waited += 20) await sleep(20);
  const retained = process.memoryUsage.rss() - baseline;
  if (retained < 40 * 1048576) {
    // An allocator set to map buffers this size one by one (MALLOC_MMAP_THRESHOLD_) returns them itself.
    t.pass('nothing left to trim', { skip: `the allocator returned the freed buffers itself (${Math.round(retained / 1048576)} MB kept)` });
    return;
  }
  t.equal(await nativeHeap.trim(), true, 'trimmed on Linux with glibc');
  t.equal(nativeHeap.reason(), undefined);
  const after = process.memoryUsage.rss() - baseline;
  t.ok(after < retained / 2, `the process kept ${Math.round(retained / 1048576)} MB of ~100 MB of freed buffers; after the trim ${Math.round(after / 1048576)} MB`);
  t.ok(
    kept.every((buffer, i) => buffer[0] === (i * 50) % 251 && buffer[buffer.length - 1] === (i * 50) % 251),
    'the buffers still in use are intact',
  );
});

t.test('where malloc_trim cannot be called, trimming says why and never throws', async (t) => {
  let imports = 0;
  const missing = heapTrimmer(async () => {
    imports++;
    throw new Error("Cannot find package 'koffi'");
  }, 'linux');
  t.equal(await missing.trim(), false);
  t.equal(await missing.trim(), false);
  t.match(missing.reason(), /cannot call glibc's malloc_trim: Cannot find package 'koffi'/);
  t.equal(imports, 1, 'a failed load is not retried every idle spell');

  const mac = heapTrimmer(async () => t.fail('koffi is not loaded off Linux') as never, 'darwin');
  t.equal(await mac.trim(), false);
  t.match(mac.reason(), /glibc's; this is darwin/);

  const noSymbol = heapTrimmer(async () => ({ load: () => ({ func: () => { throw new Error('Cannot find function malloc_trim in shared library'); } }) }), 'linux');
  t.equal(await noSymbol.trim(), false, 'musl: no malloc_trim');
  t.match(noSymbol.reason(), /Cannot find function malloc_trim/);

  // koffi's call can fail on its libuv thread, or at once when its queue of calls is full.
  let mode: 'ok' | 'callback error' | 'throws' = 'callback error';
  const flaky = heapTrimmer(async () => ({
    load: () => ({
      func: () => ({
        async: (_pad: number, done: (err: unknown, result: number) => void) => {
          if (mode === 'throws') throw new Error('too many asynchronous calls');
          setImmediate(() => (mode === 'ok' ? done(null, 1) : done(new Error('call failed'), 0)));
        },
      }),
    }),
  }), 'linux');
  t.equal(await flaky.trim(), false);
  t.match(flaky.reason(), /malloc_trim failed: call failed/);
  mode = 'throws';
  t.equal(await flaky.trim(), false, 'a synchronous throw resolves false instead of rejecting');
  t.match(flaky.reason(), /too many asynchronous calls/);
  mode = 'ok';
  t.equal(await flaky.trim(), true);
  t.equal(flaky.reason(), undefined, 'a trim that worked clears the last failure');
});

t.test('the C heap is left alone when a request arrived during the collections', async (t) => {
  const { log, lines } = captureLogs();
  let trims = 0;
  const heap: HeapTrimmer = { trim: async () => (trims++, true), reason: () => undefined };
  const tokens = { collect: async () => {} };

  await giveBackMemory(tokens, log, () => false, heap);
  t.equal(trims, 0, 'a request in flight: no trim (it would hold the allocator while the request runs)');
  await giveBackMemory(tokens, log, () => true, heap);
  t.equal(trims, 1, 'still quiet: trimmed');
  await sleep(10);
  t.same(lines.map((line) => line.msg), ['idle: heaps collected; the C heap not trimmed, a request arrived', 'idle: memory given back']);

  const failing = { collect: async () => { throw new Error('worker gone'); } };
  await t.resolves(giveBackMemory(failing, log, () => true, heap), 'a failed worker collection does not reject');
  t.equal(trims, 2, 'and the trim still runs');
});
