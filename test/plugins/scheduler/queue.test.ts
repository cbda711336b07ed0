/**
 * Sequential mode and priority queues: at most N requests in flight per provider, the rest waiting
 * in class order (critical first), a bounded queue, and a concurrency switch at runtime that keeps
 * what is queued.
 */
import t, { type Test } from 'tap';
import { request } from 'undici';
import { faultUpstream, type FaultOptions } from '../../helpers/fault-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';
import { waitFor } from '../../helpers/wait.ts';

const adminKey = 'admin-secret-0123456789';

async function setup(t: Test, upstreamOptions: FaultOptions, scheduler: string) {
  const upstream = await faultUpstream(upstreamOptions);
  t.teardown(() => upstream.close());
  const router = await startTestRouter(
    t,
    `
server: { admin_key: ${adminKey} }
providers:
  up: { use: openai, base_url: ${upstream.url}/v1, api_key: k, models: [m] }
pipeline:
  - use: router
    with: { default: up/m }
  - use: scheduler
    with:
${scheduler}
`,
  );
  return { upstream, ...router };
}

function chat(url: string, label: string, priority?: string, stream = false) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (priority) headers['x-router-priority'] = priority;
  return request(`${url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ model: 'm', stream, messages: [{ role: 'user', content: label }] }) }).then(async (res) => ({ status: res.statusCode, text: await res.body.text(), headers: res.headers }));
}

const labels = (served: Array<{ body: any }>) => served.map((s) => s.body.messages[0].content as string);

t.test('sequential mode: one request at a time, the queue served critical first, then in arrival order', async (t) => {
  const { url, upstream } = await setup(t, { latencyMs: 150 }, '      providers: { up: { concurrency: 1 } }\n      priority: { header_max: critical }');
  const first = chat(url, 'first');
  await waitFor(() => upstream.served.length === 0 && upstream.requests.length === 1, 2000, 'the first request upstream');
  const queued = [chat(url, 'batch-1', 'batch'), chat(url, 'normal-1'), chat(url, 'critical-1', 'critical'), chat(url, 'low-1', 'low'), chat(url, 'normal-2'), chat(url, 'high-1', 'high')];
  const results = await Promise.all([first, ...queued]);
  t.same(results.map((r) => r.status), Array(7).fill(200), 'nothing lost');
  t.equal(upstream.maxInflight, 1, 'never more than one in flight upstream');
  t.same(labels(upstream.served), ['first', 'critical-1', 'high-1', 'normal-1', 'normal-2', 'low-1', 'batch-1']);
});

t.test('a stream holds its slot until it ends', async (t) => {
  const { url, upstream } = await setup(t, { eventDelayMs: 30 }, '      concurrency: 1');
  const results = await Promise.all([chat(url, 's1', undefined, true), chat(url, 's2', undefined, true), chat(url, 's3', undefined, true)]);
  t.same(results.map((r) => r.status), [200, 200, 200]);
  for (const r of results) t.match(r.text, /data: \[DONE\]/, 'each stream complete');
  t.equal(upstream.maxInflight, 1);
});

t.test('lower classes are not starved: waiting lifts a request one class per aging period', async (t) => {
  const { url, upstream } = await setup(t, { latencyMs: 120 }, '      aging: 200ms\n      concurrency: 1');
  const all = [chat(url, 'occupy')];
  await waitFor(() => upstream.requests.length === 1, 2000, 'the first request upstream');
  all.push(chat(url, 'old-batch', 'batch'));
  // A stream of fresh normal requests, each arriving after the batch one has waited longer.
  for (let i = 0; i < 6; i++) {
    await new Promise((resolve) => setTimeout(resolve, 110));
    all.push(chat(url, `normal-${i}`));
  }
  await Promise.all(all);
  const order = labels(upstream.served);
  t.ok(order.indexOf('old-batch') < order.indexOf('normal-5'), `the batch request overtook later normal ones: ${order.join(', ')}`);
});

t.test('a full queue refuses at once with 503 and retry-after; the queued ones still finish', async (t) => {
  const { url, upstream } = await setup(t, { latencyMs: 200 }, '      concurrency: 1\n      queue: { max_size: 2 }');
  const running = [chat(url, 'a'), chat(url, 'b'), chat(url, 'c')];
  await waitFor(() => upstream.requests.length === 1, 2000, 'one upstream');
  await new Promise((resolve) => setTimeout(resolve, 30));
  const refused = await chat(url, 'd');
  t.equal(refused.status, 503);
  t.match(JSON.parse(refused.text), { error: { message: /queue is full \(2 waiting\)/ } });
  t.ok(refused.headers['retry-after']);
  t.same((await Promise.all(running)).map((r) => r.status), [200, 200, 200]);
});

t.test('concurrency switched at runtime applies to what is queued, without dropping it', async (t) => {
  const { url, upstream } = await setup(t, { latencyMs: 300 }, '      concurrency: 1');
  const all = Array.from({ length: 6 }, (_, i) => chat(url, `r${i}`));
  await waitFor(() => upstream.requests.length === 1, 2000, 'one upstream');
  const res = await request(`${url}/admin/scheduler`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ provider: 'up', concurrency: 3 }) });
  t.match(await res.body.json(), { provider: 'up', concurrency: 3, inflight: 3, queued: 3 }, 'two of the five queued admitted at once, three still queued');
  t.same((await Promise.all(all)).map((r) => r.status), Array(6).fill(200));
  t.equal(upstream.maxInflight, 3, 'three at a time after the switch');
});

t.test('a client that gives up while queued leaves the queue; nothing is sent for it', async (t) => {
  const { url, upstream } = await setup(t, { latencyMs: 300 }, '      concurrency: 1');
  const first = chat(url, 'first');
  await waitFor(() => upstream.requests.length === 1, 2000, 'one upstream');
  const controller = new AbortController();
  const gone = request(`${url}/v1/chat/completions`, { method: 'POST', signal: controller.signal, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'gone' }] }) }).catch(() => 'aborted');
  await new Promise((resolve) => setTimeout(resolve, 50));
  controller.abort();
  t.equal(await gone, 'aborted');
  t.equal((await first).status, 200);
  t.equal((await chat(url, 'after')).status, 200);
  t.same(labels(upstream.served), ['first', 'after']);
});

t.test('a class claimed by header is capped at header_max (high by default); a rule can still make a request critical', async (t) => {
  const { url, upstream } = await setup(t, { latencyMs: 150 }, '      concurrency: 1\n      priority: { header: X-Router-Priority, by_reason: { explicit: critical } }');
  const ask = (label: string, model: string, priority?: string) =>
    request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...(priority ? { 'x-router-priority': priority } : {}) }, body: JSON.stringify({ model, messages: [{ role: 'user', content: label }] }) }).then((res) => res.body.text());
  const first = ask('first', 'm');
  await waitFor(() => upstream.requests.length === 1, 2000, 'the first request upstream');
  const queued = [ask('claims-critical', 'm', 'Critical'), ask('high', 'm', 'high'), ask('low', 'm', 'low'), ask('critical-by-rule', 'up/m')];
  await Promise.all([first, ...queued]);
  t.same(labels(upstream.served), ['first', 'critical-by-rule', 'claims-critical', 'high', 'low'], 'the header named in any case is read; its critical counts as high');
});
