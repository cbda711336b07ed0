/**
 * The scheduler across reloads: new keys and settings apply only once the new configuration is
 * live, a rejected configuration changes nothing, and an operator's runtime changes hold until
 * router.yaml changes the same setting.
 */
import t, { type Test } from 'tap';
import { request } from 'undici';
import { faultUpstream, type FaultUpstream } from '../../helpers/fault-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';

const adminKey = 'admin-secret-0123456789';

const config = (upstream: FaultUpstream, { keys = '[key-one]', scheduler = '{}', extra = '' } = {}) => `
server: { admin_key: ${adminKey} }
providers:
  up: { use: openai, base_url: ${upstream.url}/v1, keys: ${keys}, models: [m] }
pipeline:
  - use: router
    with: { default: up/m }${extra}
  - use: scheduler
    with: ${scheduler}
`;

/** A pipeline entry whose validation fails: the whole configuration is rejected after provisioning. */
const rejected = `
  - use: fallback
    with: { default: [nowhere/x] }`;

async function setup(t: Test, options: Parameters<typeof config>[1] = {}) {
  const upstream = await faultUpstream({ latencyMs: 100 });
  t.teardown(() => upstream.close());
  const router = await startTestRouter(t, config(upstream, options));
  await chat(router.url);
  return { upstream, ...router, config: (next: Parameters<typeof config>[1]) => config(upstream, next) };
}

async function pool(url: string): Promise<any> {
  const state = (await (await request(`${url}/admin/state`, { headers: { 'x-api-key': adminKey } })).body.json()) as any;
  return state.plugins.find((p: any) => p.plugin === 'scheduler.scheduler').state.up;
}

async function admin(url: string, path: string, body: unknown): Promise<any> {
  const res = await request(`${url}${path}`, { method: 'POST', headers: { 'x-api-key': adminKey }, body: JSON.stringify(body) });
  return { status: res.statusCode, json: await res.body.json() };
}

const chat = (url: string) => request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) }).then((res) => res.body.text());

t.test('a rejected reload leaves the live scheduler exactly as it was', async (t) => {
  const { url, upstream, router, writeConfig, config } = await setup(t, { scheduler: '{ concurrency: 4 }' });
  writeConfig(config({ keys: '[key-one, key-of-the-rejected-config]', scheduler: '{ concurrency: 1, strategy: priority }', extra: rejected }));
  t.match(await router.reload('test'), { ok: false });
  const state = await pool(url);
  t.match(state, { concurrency: 4, strategy: 'least_loaded' }, 'the live settings');
  t.equal(state.keys.length, 1, 'no key of the rejected configuration');
  await Promise.all(Array.from({ length: 4 }, () => chat(url)));
  t.equal(upstream.maxInflight, 4, 'four at a time, as the live configuration says');
  t.same([...new Set(upstream.served.map((s) => s.key))], ['key-one']);
});

t.test("a rejected reload keeps an operator's runtime changes", async (t) => {
  const { url, router, writeConfig, config } = await setup(t, { keys: '[key-one, key-two]' });
  const keys = (await pool(url)).keys;
  t.equal((await admin(url, '/admin/scheduler', { provider: 'up', concurrency: 2 })).status, 200);
  t.equal((await admin(url, '/admin/keys', { provider: 'up', key: keys[1].id, action: 'disable' })).status, 200);
  writeConfig(config({ keys: '[key-one, key-two]', scheduler: '{ concurrency: 8 }', extra: rejected }));
  t.match(await router.reload('test'), { ok: false });
  const state = await pool(url);
  t.equal(state.concurrency, 2);
  t.same(state.keys.map((k: any) => k.health), ['healthy', 'disabled']);
});

t.test('a reload that leaves a setting alone keeps the runtime change to it; one that changes it ends the change', async (t) => {
  const { url, router, writeConfig, config } = await setup(t, { scheduler: '{ concurrency: 1 }' });
  t.equal((await admin(url, '/admin/scheduler', { provider: 'up', concurrency: 3 })).status, 200);
  writeConfig(config({ scheduler: '{ concurrency: 1, strategy: round_robin }' }));
  t.match(await router.reload('test'), { ok: true });
  t.match(await pool(url), { concurrency: 3, strategy: 'round_robin' }, 'YAML changed the strategy, not the concurrency');
  writeConfig(config({ scheduler: '{ concurrency: 2, strategy: round_robin }' }));
  t.match(await router.reload('test'), { ok: true });
  t.match(await pool(url), { concurrency: 2 }, 'YAML changed the concurrency: its value applies');
});

t.test('a disabled key stays disabled across reloads while router.yaml lists it', async (t) => {
  const { url, router, writeConfig, config } = await setup(t, { keys: '[key-one, key-two]' });
  const keys = (await pool(url)).keys;
  await admin(url, '/admin/keys', { provider: 'up', key: keys[0].id, action: 'disable' });
  writeConfig(config({ keys: '[key-one, key-two, key-three]' }));
  t.match(await router.reload('test'), { ok: true });
  t.same((await pool(url)).keys.map((k: any) => k.health), ['disabled', 'healthy', 'healthy']);
});

t.test('a rotated-in key holds across reloads until router.yaml stops listing the key it replaced', async (t) => {
  const { url, upstream, router, writeConfig, config } = await setup(t, { keys: '[old-key-0000, other-key-00]' });
  const keys = (await pool(url)).keys;
  const rotated = await admin(url, '/admin/keys', { provider: 'up', key: keys[0].id, action: 'rotate', new_key: 'new-key-0000' });
  t.equal(rotated.status, 200);
  writeConfig(config({ keys: '[old-key-0000, other-key-00]', scheduler: '{ strategy: priority }' }));
  t.match(await router.reload('test'), { ok: true });
  await chat(url);
  t.equal(upstream.served.at(-1)!.key, 'new-key-0000', 'the reload did not touch the rotated key: the rotation holds');
  t.same((await pool(url)).keys.map((k: any) => k.id), [rotated.json.added, keys[1].id]);

  writeConfig(config({ keys: '[yaml-key-000, other-key-00]', scheduler: '{ strategy: priority }' }));
  t.match(await router.reload('test'), { ok: true });
  await chat(url);
  t.equal(upstream.served.at(-1)!.key, 'yaml-key-000', 'router.yaml replaced that key itself: its list applies');
});

t.test('rotating a key the provider does not have is refused, and nothing is added', async (t) => {
  const { url } = await setup(t);
  const answer = await admin(url, '/admin/keys', { provider: 'up', key: 'key_00000000', action: 'rotate', new_key: 'sk-stray-00000' });
  t.equal(answer.status, 400);
  t.match(answer.json, { error: { message: /key: must be a key id of up/ } });
  t.equal((await pool(url)).keys.length, 1);
});
