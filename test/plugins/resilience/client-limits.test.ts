/**
 * Per-client rate limits: request and token buckets per router key, reservations reconciled with
 * the real usage, 429 with retry-after in the client's dialect.
 */
import t from 'tap';
import { request } from 'undici';
import { startTestRouter } from '../../helpers/router.ts';

const config = (limits: string) => `
server: { admin_key: admin-0123456789, auth: { keys: [alice-key-000, bob-key-0000, team-key-000] } }
providers:
  mock: { use: mock, models: [m] }
pipeline:
  - use: client-limits
    with:
${limits}
  - use: router
    with: { default: mock/m }
`;

async function ask(url: string, key: string, body: Record<string, unknown> = {}) {
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify({ model: 'm', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }], ...body }) });
  return { status: res.statusCode, headers: res.headers, json: (await res.body.json()) as any };
}

t.test('a client over its request rate gets 429 with retry-after; other clients are unaffected', async (t) => {
  const { url } = await startTestRouter(t, config('      default: { rpm: 3 }'));
  for (let i = 0; i < 3; i++) t.equal((await ask(url, 'alice-key-000')).status, 200);
  const limited = await ask(url, 'alice-key-000');
  t.equal(limited.status, 429);
  t.match(limited.json, { type: 'error', error: { type: 'rate_limit_error', message: /over its request limit \(3 per minute\)/ } });
  t.ok(Number(limited.headers['retry-after']) >= 15 && Number(limited.headers['retry-after']) <= 20, `one request refills in 20 s (${limited.headers['retry-after']})`);
  t.equal((await ask(url, 'bob-key-0000')).status, 200, "bob's bucket is his own");
});

t.test('token reservations are replaced by what the answer really used', async (t) => {
  const { url } = await startTestRouter(t, config('      default: { tpm: 3000 }'));
  // Each request reserves its max_tokens (2,000) but the mock answers with a few tokens: without
  // reconciliation the second request would be refused.
  t.equal((await ask(url, 'alice-key-000', { max_tokens: 2000 })).status, 200);
  t.equal((await ask(url, 'alice-key-000', { max_tokens: 2000 })).status, 200);
  t.equal((await ask(url, 'alice-key-000', { max_tokens: 2000 })).status, 200);
  const big = await ask(url, 'alice-key-000', { max_tokens: 2900, messages: [{ role: 'user', content: 'x'.repeat(2000) }] });
  t.equal(big.status, 429, 'a reservation bigger than what is left waits');
  t.match(big.json, { error: { message: /token limit \(3000 tokens per minute\)/ } });
});

t.test('named clients get their own limits; the state shows names and fingerprints, never keys', async (t) => {
  const { url } = await startTestRouter(t, config('      default: { rpm: 1 }\n      clients:\n        - { key: team-key-000, name: team, rpm: 100 }'));
  for (let i = 0; i < 5; i++) t.equal((await ask(url, 'team-key-000')).status, 200);
  t.equal((await ask(url, 'bob-key-0000')).status, 200);
  t.equal((await ask(url, 'bob-key-0000')).status, 429);
  const state = JSON.stringify(await (await request(`${url}/admin/state`, { headers: { 'x-api-key': 'admin-0123456789' } })).body.json());
  t.match(state, /"client":"team"/);
  t.match(state, /key_[0-9a-f]{8}/);
  t.notMatch(state, /team-key-000|bob-key-0000/);
});

t.test('a stream the client drops before its usage keeps its reservation (no free tokens by hanging up)', async (t) => {
  const { url } = await startTestRouter(t, `
server: { auth: { keys: [alice-key-000] } }
providers:
  mock: { use: mock, models: [m], chunk_delay: 30ms, chunk_words: 1 }
pipeline:
  - use: client-limits
    with: { default: { tpm: 3000 } }
  - use: router
    with: { default: mock/m }
`);
  const controller = new AbortController();
  const res = await request(`${url}/v1/messages`, { method: 'POST', signal: controller.signal, headers: { 'content-type': 'application/json', 'x-api-key': 'alice-key-000' }, body: JSON.stringify({ model: 'm', max_tokens: 2000, stream: true, messages: [{ role: 'user', content: 'tell me a long story' }] }) });
  t.equal(res.statusCode, 200);
  res.body.on('error', () => {});
  await new Promise((resolve) => setTimeout(resolve, 80));
  controller.abort();
  await new Promise((resolve) => setTimeout(resolve, 150));
  const next = await ask(url, 'alice-key-000', { max_tokens: 2000 });
  t.equal(next.status, 429, 'the dropped stream still counts');
});

const openConfig = (limits: string) => `
server: { admin_key: admin-0123456789 }
providers:
  mock: { use: mock, models: [m] }
pipeline:
  - use: client-limits
    with:
${limits}
  - use: router
    with: { default: mock/m }
`;

const limitsState = async (url: string) => ((await (await request(`${url}/admin/state`, { headers: { 'x-api-key': 'admin-0123456789' } })).body.json()) as any).plugins.find((p: any) => p.plugin === 'middleware.client-limits').state;

t.test('without server.auth.keys, a client sending a new key with every request shares one bucket and is still limited', async (t) => {
  const { url } = await startTestRouter(t, openConfig('      default: { rpm: 3 }'));
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await ask(url, `invented-key-${i}-${Math.random()}`)).status);
  t.same(statuses, [200, 200, 200, 429, 429]);
  t.same(Object.keys(await limitsState(url)), ['anonymous'], 'one bucket, not one per invented key');
});

t.test('without server.auth.keys, a key listed under clients still names its client', async (t) => {
  const { url } = await startTestRouter(t, openConfig('      default: { rpm: 1 }\n      clients:\n        - { key: team-key-000, name: team, rpm: 100 }'));
  for (let i = 0; i < 3; i++) t.equal((await ask(url, 'team-key-000')).status, 200);
  t.equal((await ask(url, 'someone-else')).status, 200, 'anonymous has its own minute');
  t.equal((await ask(url, 'someone-else-again')).status, 429, 'and shares it');
});

t.test('the buckets kept are bounded by max_clients, the least recently seen dropped first', async (t) => {
  const { url } = await startTestRouter(t, config('      default: { rpm: 10 }\n      max_clients: 2'));
  for (const key of ['alice-key-000', 'bob-key-0000', 'team-key-000']) t.equal((await ask(url, key)).status, 200);
  t.equal(Object.keys(await limitsState(url)).length, 2);
});
