/**
 * Resilience state across reloads: the kernel tells plugins when a configuration has gone live
 * (`activate`), which is when shared state may take new settings; counters carry over; requests
 * queued on the old configuration go on under the new settings and are answered, not cut off.
 */
import t from 'tap';
import { request } from 'undici';
import { faultUpstream, type Fault } from '../../helpers/fault-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';
import { waitFor } from '../../helpers/wait.ts';

/** A plugin that records its lifecycle hooks, and whether a request could see its generation yet. */
const recorder = `
import { definePlugin } from 'router-kernel';
const events: string[] = ((globalThis as any).__rkActivate ??= []);
export default definePlugin({
  id: 'middleware.recorder', kind: 'middleware', version: '1.0.0',
  schema: { type: 'object', properties: { tag: { type: 'string' }, fail: { type: 'boolean' } } },
  create(options: { tag: string; fail?: boolean }) {
    return {
      provision() { events.push('provision ' + options.tag); },
      validate() { events.push('validate ' + options.tag); if (options.fail) throw new Error('refused'); },
      activate(live: { id: number; catalog: { providers(): string[] }; clientAuth: boolean }) {
        events.push('activate ' + options.tag + ' generation=' + live.id + ' providers=' + live.catalog.providers().join(',') + ' auth=' + live.clientAuth);
      },
    };
  },
});
`;

const events = (): string[] => ((globalThis as any).__rkActivate ??= []);

const config = (tag: string, fail = false, auth = '') => `
server: { admin_key: admin-0123456789${auth} }
providers:
  mock: { use: mock, models: [m] }
pipeline:
  - use: ./recorder.ts
    with: { tag: ${tag}, fail: ${fail} }
  - use: router
    with: { default: mock/m }
`;

t.test('activate runs once a configuration is live, for reused instances too, and never for a rejected one', async (t) => {
  events().length = 0;
  const r = await startTestRouter(t, config('a'), { files: { 'recorder.ts': recorder } });
  t.same(events(), ['provision a', 'validate a', 'activate a generation=1 providers=mock auth=false']);

  events().length = 0;
  r.writeConfig(config('b', true));
  t.match(await r.router.reload('test'), { ok: false });
  t.same(events(), ['provision b', 'validate b'], 'provisioned and validated, never activated');

  events().length = 0;
  r.writeConfig(config('a', false, ', auth: { keys: [client-key-0000] }'));
  t.match(await r.router.reload('test'), { ok: true });
  t.same(events(), ['validate a', 'activate a generation=2 providers=mock auth=true'], 'the reused instance hears of its new generation (the rejected one used no number)');
  const res = await request(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer client-key-0000' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(res.statusCode, 200);
  await res.body.dump();
});

t.test('fallback counters carry over a reload that changes its options', async (t) => {
  const broken = await faultUpstream({ faults: Array<Fault>(10).fill({ status: 500 }) });
  const spare = await faultUpstream({});
  t.teardown(() => Promise.all([broken.close(), spare.close()]));
  const yaml = (statuses: string) => `
server: { admin_key: admin-0123456789 }
providers:
  broken: { use: openai, base_url: ${broken.url}/v1, api_key: key-broken, models: [m] }
  spare: { use: openai, base_url: ${spare.url}/v1, api_key: key-spare, models: [m] }
pipeline:
  - use: router
    with: { default: broken/m }
  - use: fallback
    with: { default: [spare/m], statuses: ${statuses} }
`;
  const r = await startTestRouter(t, yaml('[500, 502]'));
  const fallbackState = async () => ((await (await request(`${r.url}/admin/state`, { headers: { 'x-api-key': 'admin-0123456789' } })).body.json()) as any).plugins.find((p: any) => p.plugin === 'middleware.fallback').state;
  t.equal((await chat(r.url)).status, 200);
  t.match(await fallbackState(), { fellBack: 1 });
  r.writeConfig(yaml('[500, 502, 503]'));
  t.match(await r.router.reload('test'), { ok: true });
  t.match(await fallbackState(), { fellBack: 1 }, 'the new instance kept the count');
  t.equal((await chat(r.url)).status, 200);
  t.match(await fallbackState(), { fellBack: 2 });
});

const queueConfig = (upstream: string, scheduler: string) => `
server: { admin_key: admin-0123456789, drain_timeout: 2s }
providers:
  up: { use: openai, base_url: ${upstream}/v1, api_key: key-up, models: [m] }
pipeline:
  - use: router
    with: { default: up/m }
  - use: scheduler
    with: ${scheduler}
`;

t.test('a reload that raises the concurrency admits the requests queued on the old configuration', async (t) => {
  const upstream = await faultUpstream({ latencyMs: 300 });
  t.teardown(() => upstream.close());
  const r = await startTestRouter(t, queueConfig(upstream.url, '{ concurrency: 1 }'));
  const all = Array.from({ length: 4 }, () => chat(r.url));
  await waitFor(async () => (await schedulerQueue(r.url)).normal === 3, 3000, 'three requests queued');
  r.writeConfig(queueConfig(upstream.url, '{ concurrency: 4 }'));
  t.match(await r.router.reload('test'), { ok: true });
  t.same((await Promise.all(all)).map((a) => a.status), [200, 200, 200, 200]);
  t.equal(upstream.maxInflight, 4, 'the queued ones went at once under the new limit');
});

t.test('a request still queued when the old configuration must finish draining is answered by the queue, with retry-after', async (t) => {
  const upstream = await faultUpstream({ latencyMs: 3000 });
  t.teardown(() => upstream.close());
  const r = await startTestRouter(t, queueConfig(upstream.url, '{ concurrency: 1, max_wait: { normal: 1m } }'));
  const first = chat(r.url);
  await waitFor(() => upstream.requests.length === 1, 3000, 'the first request upstream');
  const queued = chat(r.url);
  await waitFor(async () => (await schedulerQueue(r.url)).normal === 1, 3000, 'the second request queued');
  r.writeConfig(queueConfig(upstream.url, '{ concurrency: 1, max_wait: { normal: 1m }, strategy: round_robin }'));
  t.match(await r.router.reload('test'), { ok: true });
  const answer = await queued;
  t.equal(answer.status, 503);
  t.equal(answer.json.error.code, 'RK_QUEUE_TIMEOUT', 'the queue answered it, not the drain cutting it off');
  t.ok(answer.headers['retry-after'], 'with retry-after');
  t.equal(upstream.requests.length, 1, 'nothing was sent for it');
  t.match(await first, { json: { error: { code: 'RK_DRAIN_TIMEOUT' } } }, 'the request in flight past drain_timeout is cut off, as documented');
});

async function chat(url: string) {
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
  return { status: res.statusCode, headers: res.headers, json: (await res.body.json()) as any };
}

async function schedulerQueue(url: string): Promise<Record<string, number>> {
  const state = (await (await request(`${url}/admin/state`, { headers: { 'x-api-key': 'admin-0123456789' } })).body.json()) as any;
  return state.plugins.find((p: any) => p.plugin === 'scheduler.scheduler').state.up.queued;
}
