/**
 * What providers say about a key outside the status line and headers, in the wire formats they
 * really use (recordings in test/fixtures/providers): Gemini's retry delay and invalid-key reason
 * in the error body, and a rate limit arriving as the first event of a 200 stream.
 */
import t, { type Test } from 'tap';
import { request } from 'undici';
import { fixtureText } from '../../helpers/fixtures.ts';
import { faultUpstream, type FaultOptions } from '../../helpers/fault-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';

const adminKey = 'admin-secret-0123456789';

async function setup(t: Test, upstreamOptions: FaultOptions) {
  const upstream = await faultUpstream(upstreamOptions);
  t.teardown(() => upstream.close());
  const router = await startTestRouter(
    t,
    `
server: { admin_key: ${adminKey} }
providers:
  up: { use: openai, base_url: ${upstream.url}/v1, keys: [key-first, key-spare], models: [m] }
pipeline:
  - use: router
    with: { default: up/m }
  - use: scheduler
    with: { strategy: priority }
`,
  );
  return { upstream, ...router };
}

async function chat(url: string, stream = false) {
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream, messages: [{ role: 'user', content: 'hi' }] }) });
  return { status: res.statusCode, text: await res.body.text() };
}

async function keys(url: string): Promise<any[]> {
  const state = (await (await request(`${url}/admin/state`, { headers: { 'x-api-key': adminKey } })).body.json()) as any;
  return state.plugins.find((p: any) => p.plugin === 'scheduler.scheduler').state.up.keys;
}

t.test("a 429 whose retry delay is only in the body (Gemini's RetryInfo) cools the key until then", async (t) => {
  // Recorded: RESOURCE_EXHAUSTED with QuotaFailure and RetryInfo { retryDelay: "34.4s" }, no retry-after header.
  const { url, upstream } = await setup(t, { faults: [{ status: 429, body: fixtureText('providers/gemini/error-429-retry-info.json') }] });
  t.equal((await chat(url)).status, 200, 'moved on to the spare key');
  t.same(upstream.served.map((s) => [s.key, s.status]), [['key-first', 429], ['key-spare', 200]]);
  const [first] = await keys(url);
  t.equal(first.health, 'cooling');
  t.ok(first.coolingForMs > 30_000, `resting for the 34.4 s the body asked (${first.coolingForMs} ms), not the default 10 s`);
});

t.test("a key Gemini calls invalid (400 with reason API_KEY_INVALID) is quarantined and the request moves on", async (t) => {
  const { url, upstream } = await setup(t, { keys: { 'key-first': { refuse: 400, body: fixtureText('providers/gemini/error-400-api-key-invalid-on-stream.json') } } });
  t.equal((await chat(url)).status, 200);
  t.equal((await chat(url)).status, 200);
  t.equal(upstream.served.filter((s) => s.key === 'key-first').length, 1, 'never tried again');
  const [first, spare] = await keys(url);
  t.match(first, { health: 'quarantined', quarantined: /400/ });
  t.equal(spare.health, 'healthy');
});

t.test('a plain 400 (the request is wrong, not the key) reaches the client and quarantines nothing', async (t) => {
  const { url, upstream } = await setup(t, { faults: [{ status: 400, body: fixtureText('providers/groq/error-400-tool-use-failed.json') }] });
  t.equal((await chat(url)).status, 400);
  t.equal(upstream.served.length, 1);
  t.same((await keys(url)).map((k) => k.health), ['healthy', 'healthy']);
});

t.test('a 429 arriving as the first event of a 200 stream cools the key and the request moves to another', async (t) => {
  // OpenRouter reports an upstream failure inside the stream: the recorded error chunk, carrying
  // the recorded 429 error object OpenRouter sends for a rate-limited upstream.
  const chunkLine = fixtureText('providers/openrouter/stream-error-midstream.sse').split('\n').find((line) => line.includes('"error":'))!;
  const chunk = { ...JSON.parse(chunkLine.slice('data: '.length)), error: JSON.parse(fixtureText('providers/openrouter/error-429-upstream.json')).error };
  const stream = `: OPENROUTER PROCESSING\n\ndata: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`;
  const { url, upstream } = await setup(t, { faults: [{ stream }] });
  const answer = await chat(url, true);
  t.equal(answer.status, 200);
  t.match(answer.text, /data: \[DONE\]\n\n$/, 'a complete stream from the spare key');
  t.notMatch(answer.text, /rate-limited upstream/);
  t.same(upstream.served.map((s) => s.key), ['key-first', 'key-spare']);
  t.equal((await keys(url))[0].health, 'cooling');
});
