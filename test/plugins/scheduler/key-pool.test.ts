/**
 * The scheduler's key pools against a fault-injecting provider: spreading over keys, respecting
 * each key's limits and the provider's headers, moving on from a 429 or a refused key, waiting for
 * capacity instead of failing, and answering 429 with retry-after when the wait is too long.
 */
import t, { type Test } from 'tap';
import { request } from 'undici';
import { faultUpstream, type FaultOptions } from '../../helpers/fault-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';

const adminKey = 'admin-secret-0123456789';

async function setup(t: Test, upstreamOptions: FaultOptions, keys: string, scheduler = '', extraProviders = '') {
  const upstream = await faultUpstream(upstreamOptions);
  t.teardown(() => upstream.close());
  const router = await startTestRouter(
    t,
    `
server: { admin_key: ${adminKey} }
providers:
  up:
    use: openai
    base_url: ${upstream.url}/v1
    keys: ${keys}
    models: [m]${extraProviders}
pipeline:
  - use: router
    with: { default: up/m }
  - use: scheduler${scheduler ? `\n    with:\n${scheduler}` : ''}
`,
  );
  return { upstream, ...router };
}

async function chat(url: string, headers: Record<string, string> = {}, body: Record<string, unknown> = {}) {
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...body }) });
  const text = await res.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.statusCode, headers: res.headers, json };
}

async function adminState(url: string): Promise<any> {
  const res = await request(`${url}/admin/state`, { headers: { authorization: `Bearer ${adminKey}` } });
  return res.body.json();
}

const count = (list: string[]) => list.reduce<Record<string, number>>((out, key) => ({ ...out, [key]: (out[key] ?? 0) + 1 }), {});

t.test('round robin spreads requests evenly over the keys', async (t) => {
  const { url, upstream } = await setup(t, {}, '[k-one, k-two, k-three]', '      strategy: round_robin');
  for (let i = 0; i < 9; i++) t.equal((await chat(url)).status, 200);
  t.same(count(upstream.served.map((s) => s.key)), { 'k-one': 3, 'k-two': 3, 'k-three': 3 });
});

t.test('least loaded, the default strategy, spreads requests over keys that have no limits', async (t) => {
  const { url, upstream } = await setup(t, {}, '[k-one, k-two, k-three]');
  for (let i = 0; i < 9; i++) t.equal((await chat(url)).status, 200);
  t.same(count(upstream.served.map((s) => s.key)), { 'k-one': 3, 'k-two': 3, 'k-three': 3 });
});

t.test('a 429 cools that key until its reset and the request moves to another key; clients see no 429', async (t) => {
  const { url, upstream } = await setup(t, { keys: { 'k-busy': { limit: 0, windowMs: 60_000 } } }, '[k-busy, k-free]', '      strategy: priority');
  for (let i = 0; i < 5; i++) t.equal((await chat(url)).status, 200, `request ${i}`);
  const busy = upstream.served.filter((s) => s.key === 'k-busy');
  t.equal(busy.length, 1, 'the rate-limited key was tried once, then left alone until its reset');
  t.equal(busy[0].status, 429);
  const state = await adminState(url);
  const keys = state.plugins.find((p: any) => p.plugin === 'scheduler.scheduler').state.up.keys;
  t.match(keys[0], { health: 'cooling', totals: { rateLimited: 1 } });
  t.ok(keys[0].coolingForMs > 55_000, 'cooling until the reset the provider announced (60 s)');
  t.notMatch(JSON.stringify(state), /k-busy|k-free/, 'keys appear as fingerprints only');
  t.match(keys[0].id, /^key_[0-9a-f]{8}$/);
});

t.test('requests wait for a key to come back under its limit instead of failing', async (t) => {
  // Two keys of 2 requests per 1.5 s: 8 requests need two windows.
  const { url, upstream } = await setup(t, { keys: { a: { limit: 2, windowMs: 1500 }, b: { limit: 2, windowMs: 1500 } } }, '[a, b]');
  const started = Date.now();
  const results = await Promise.all(Array.from({ length: 8 }, () => chat(url)));
  t.same(results.map((r) => r.status), Array(8).fill(200), 'all answered, none refused');
  t.ok(Date.now() - started >= 1400, 'the later ones waited for the window');
  for (const key of ['a', 'b']) {
    const ok = upstream.served.filter((s) => s.key === key && s.status === 200).map((s) => s.at);
    for (let i = 2; i < ok.length; i++) t.ok(ok[i] - ok[i - 2] >= 1400, `key ${key} never went over 2 per window`);
  }
});

t.test('past its wait, a request gets 429 with retry-after in the client dialect', async (t) => {
  const { url } = await setup(t, { keys: { only: { limit: 1, windowMs: 30_000 } } }, '[only]', '      max_wait: { normal: 300ms }');
  t.equal((await chat(url)).status, 200);
  const second = await chat(url);
  t.equal(second.status, 429);
  t.match(second.json, { error: { type: 'rate_limit_error', message: /Every key of up is at its rate limit/ } });
  t.ok(Number(second.headers['retry-after']) >= 25, `retry-after says when the key is back (${second.headers['retry-after']})`);
  t.match(String(second.headers['x-request-id']), /^req_/);
  const anthropic = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(anthropic.statusCode, 429);
  t.match(await anthropic.body.json(), { type: 'error', error: { type: 'rate_limit_error' } });
});

t.test('a refused key (401) is quarantined and reported; an operator can disable, enable and rotate keys', async (t) => {
  const { url, upstream } = await setup(t, { keys: { revoked: { refuse: 401 } } }, '[revoked, good]', '      strategy: priority');
  t.equal((await chat(url)).status, 200, 'served by the other key');
  t.equal((await chat(url)).status, 200);
  t.equal(upstream.served.filter((s) => s.key === 'revoked').length, 1, 'never tried again');
  let state = await adminState(url);
  let keys = state.plugins.find((p: any) => p.plugin === 'scheduler.scheduler').state.up.keys;
  t.match(keys[0], { health: 'quarantined', quarantined: 'provider answered 401' });

  const admin = (body: unknown) => request(`${url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  t.equal((await admin({ provider: 'up', key: keys[1].id, action: 'disable' })).statusCode, 200);
  const none = await chat(url);
  t.equal(none.status, 503, 'no usable key left');
  t.match(none.json, { error: { message: /Every key of up is disabled or was refused/ } });

  const rotated = await admin({ provider: 'up', key: keys[0].id, action: 'rotate', new_key: 'fresh-key' });
  t.equal(rotated.statusCode, 200);
  t.notMatch(await rotated.body.text(), /fresh-key/, 'the new key is not echoed');
  t.equal((await chat(url)).status, 200);
  t.equal(upstream.served.at(-1)!.key, 'fresh-key');
  t.equal((await admin({ provider: 'up', key: keys[1].id, action: 'enable' })).statusCode, 200);
  state = await adminState(url);
  keys = state.plugins.find((p: any) => p.plugin === 'scheduler.scheduler').state.up.keys;
  t.same(keys.map((k: any) => k.health), ['healthy', 'healthy']);

  const noAuth = await request(`${url}/admin/state`);
  t.equal(noAuth.statusCode, 401, 'the admin endpoint needs the admin key');
  await noAuth.body.dump();
});

t.test('a reload keeps usage, cooldowns and quarantines', async (t) => {
  const { url, router, writeConfig, upstream } = await setup(t, { keys: { 'k-busy': { limit: 0, windowMs: 60_000 } } }, '[k-busy, k-free]', '      strategy: priority');
  t.equal((await chat(url)).status, 200);
  writeConfig(`
server: { admin_key: ${adminKey} }
providers:
  up:
    use: openai
    base_url: ${upstream.url}/v1
    keys: [k-busy, k-free, k-extra]
    models: [m]
pipeline:
  - use: router
    with: { default: up/m }
  - use: scheduler
    with: { strategy: priority }
`);
  t.match(await router.reload('test'), { ok: true });
  t.equal((await chat(url)).status, 200);
  t.equal(upstream.served.filter((s) => s.key === 'k-busy').length, 1, 'still cooling after the reload');
  const keys = (await adminState(url)).plugins.find((p: any) => p.plugin === 'scheduler.scheduler').state.up.keys;
  t.same(keys.map((k: any) => k.health), ['cooling', 'healthy', 'healthy'], 'the new key joined; the cooling one kept its state');
});

t.test('a provider answering 429 over and over gets one wait for the whole request, then the client hears 429', async (t) => {
  const { url, upstream } = await setup(t, { faults: Array(50).fill({ status: 429, retryAfter: 1 }) }, '[only-key]', '      max_wait: { normal: 1500ms }');
  const started = Date.now();
  const answer = await chat(url);
  t.equal(answer.status, 429);
  t.ok(Date.now() - started < 5000, 'not an endless series of fresh waits');
  t.ok(upstream.served.length <= 4, `the key was tried a bounded number of times (${upstream.served.length})`);
});

t.test("a key at its own concurrency limit is busy (503), not rate-limited", async (t) => {
  const { url } = await setup(t, { latencyMs: 600 }, '[{ key: kc, concurrency: 1 }]', '      max_wait: { normal: 200ms }');
  const first = chat(url);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const second = await chat(url);
  t.equal(second.status, 503);
  t.match(second.json, { error: { message: /up is busy; waited 0 s in its queue/ } });
  t.equal((await first).status, 200);
});

t.test('a slot is given back even when a later plugin throws the answer away', async (t) => {
  const upstream = await faultUpstream({ eventDelayMs: 5 });
  t.teardown(() => upstream.close());
  const { url } = await startTestRouter(
    t,
    `
server: { admin_key: ${adminKey} }
providers:
  up: { use: openai, base_url: ${upstream.url}/v1, api_key: k, models: [m] }
pipeline:
  - use: router
    with: { default: up/m }
  - use: ./thrower.ts
  - use: scheduler
    with: { concurrency: 1, max_wait: { normal: 2s } }
`,
    { files: { 'thrower.ts': "import { definePlugin, routerError } from 'router-kernel';\nexport default definePlugin({ id: 'thrower', kind: 'middleware', version: '1', create: () => ({ async handle(ctx, next) { await next(); if (ctx.raw.headers['x-throw']) throw routerError('RK_BAD_REQUEST', { reason: 'thrown away' }); } }) });\n" } },
  );
  const thrown = await chat(url, { 'x-throw': '1' }, { stream: true });
  t.equal(thrown.status, 400);
  const next = await chat(url, {}, { stream: true });
  t.equal(next.status, 200, 'the slot was released: the next request is admitted');
  const state = await adminState(url);
  t.equal(state.plugins.find((p: any) => p.plugin === 'scheduler.scheduler').state.up.inflight, 0);
});

t.test('a rotated-in key is scrubbed from upstream errors like the keys in router.yaml', async (t) => {
  // A provider that quotes the key back in its error messages (some do).
  const upstream = await faultUpstream({ echoKey: true });
  t.teardown(() => upstream.close());
  const { url, logText } = await startTestRouter(
    t,
    `
server: { admin_key: ${adminKey} }
providers:
  up: { use: openai, base_url: ${upstream.url}/v1, keys: [yaml-key-0000], models: [m] }
pipeline:
  - use: router
    with: { default: up/m }
  - use: scheduler
`,
  );
  await chat(url);
  const keys = (await adminState(url)).plugins.find((p: any) => p.plugin === 'scheduler.scheduler').state.up.keys;
  const rotated = await request(`${url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}` }, body: JSON.stringify({ provider: 'up', key: keys[0].id, action: 'rotate', new_key: 'sk-rotated-SECRET-2222' }) });
  t.equal(rotated.statusCode, 200);
  await rotated.body.dump();
  upstream.faults.push({ status: 400 });
  const answer = await chat(url);
  t.equal(answer.status, 400);
  t.equal(upstream.served.at(-1)!.key, 'sk-rotated-SECRET-2222', 'the rotated key was used');
  t.match(JSON.stringify(answer.json), /\[redacted\]/, 'the quoted key is replaced');
  t.notMatch(JSON.stringify(answer.json) + logText(), /sk-rotated-SECRET-2222/);
});

t.test('a key too short to be scrubbed from text cannot be rotated in', async (t) => {
  const { url } = await setup(t, {}, '[k-long-enough]');
  await chat(url);
  const keys = (await adminState(url)).plugins.find((p: any) => p.plugin === 'scheduler.scheduler').state.up.keys;
  const res = await request(`${url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}` }, body: JSON.stringify({ provider: 'up', key: keys[0].id, action: 'rotate', new_key: 'short' }) });
  t.equal(res.statusCode, 400);
  t.match(await res.body.json(), { error: { message: /at least 8 characters/ } });
});
