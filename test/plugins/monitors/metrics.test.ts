import t from 'tap';
import { request } from 'undici';
import { fixtureReply } from '../../helpers/fixtures.ts';
import { mockUpstream } from '../../helpers/mock-upstream.ts';
import { mockConfig, startTestRouter } from '../../helpers/router.ts';

const withMetrics = (extra = '') => `${mockConfig}  - use: metrics${extra}\n`;
const metric = (text: string, pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 'NaN');

async function ask(url: string, path = '/v1/messages', body: unknown = { model: 'x', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }) {
  const res = await request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.body.dump();
  return res.statusCode;
}

async function scrape(url: string, headers: Record<string, string> = {}) {
  const res = await request(`${url}/metrics`, { headers });
  return { status: res.statusCode, text: await res.body.text(), type: res.headers['content-type'] };
}

t.test('GET /metrics counts requests, tokens and errors in the Prometheus format', async (t) => {
  const { url } = await startTestRouter(t, withMetrics());
  await ask(url);
  await ask(url);
  await ask(url, '/v1/messages', { model: 'x', messages: 'no' });
  const { status, text, type } = await scrape(url);
  t.equal(status, 200);
  t.match(type, /text\/plain/);
  t.equal(metric(text, /router_requests_total\{dialect="anthropic",provider="mock",model="mock-fast",status="200"\} (\d+)/), 2);
  t.ok(metric(text, /router_tokens_total\{provider="mock",model="mock-fast",kind="output"\} (\d+)/) > 0);
  t.match(text, /router_request_duration_seconds_bucket/);
  t.match(text, /process_cpu_seconds_total/);
});

t.test('every loud downgrade is counted by feature', async (t) => {
  const upstream = await mockUpstream(() => fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'));
  t.teardown(() => upstream.close());
  const { url } = await startTestRouter(t, `providers:\n  up:\n    use: openai\n    base_url: ${upstream.url}/v1\n    models: [m]\npipeline:\n  - use: router\n    with: { default: up/m }\n  - use: metrics\n`);
  await ask(url, '/v1/messages', { model: 'x', max_tokens: 5, top_k: 2, messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } }] }] });
  await ask(url, '/v1/messages', { model: 'x', max_tokens: 5, top_k: 2, messages: [{ role: 'user', content: 'hi' }] });
  const { text } = await scrape(url);
  t.equal(metric(text, /router_dropped_features_total\{feature="top_k",provider="up"\} (\d+)/), 2);
  t.equal(metric(text, /router_dropped_features_total\{feature="cache_control",provider="up"\} (\d+)/), 1);
});

t.test('counters survive a reload that changes the plugin, without counting anything twice', async (t) => {
  const r = await startTestRouter(t, withMetrics());
  await ask(r.url);
  r.writeConfig(withMetrics('\n    with: { process_metrics: false }'));
  t.match(await r.router.reload(), { ok: true });
  await ask(r.url);
  const { text } = await scrape(r.url);
  t.equal(metric(text, /router_requests_total\{dialect="anthropic",provider="mock",model="mock-fast",status="200"\} (\d+)/), 2);
  t.equal(metric(text, /router_reloads_total\{result="ok"\} (\d+)/), 1);
});

t.test('access: admin needs server.admin_key', async (t) => {
  const open = await startTestRouter(t, withMetrics('\n    with: { access: admin }'));
  t.equal((await scrape(open.url)).status, 403, 'no admin key configured: admin endpoints are off');
  const keyed = await startTestRouter(t, 'server:\n  admin_key: adm-0123456789\n' + withMetrics('\n    with: { access: admin }'));
  t.equal((await scrape(keyed.url)).status, 401);
  t.equal((await scrape(keyed.url, { authorization: 'Bearer adm-0123456789' })).status, 200);
});

t.test('a plugin endpoint that clashes with another is refused at load', async (t) => {
  const r = await startTestRouter(t, withMetrics());
  r.writeConfig(withMetrics() + '  - use: metrics\n    name: second\n');
  const result = await r.router.reload();
  t.match(!result.ok && result.error.message, /pipeline\[2\]: plugin "monitor\.metrics" serves GET \/metrics, which metrics already serves/);
});
