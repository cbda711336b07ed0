/**
 * Retries, fallbacks and circuit breakers against a fault-injecting provider: 5xx, 529, 429 with
 * retry-after, connection resets and hangs. No request may be lost or hang; every client gets an
 * answer or an error in its own dialect.
 */
import t, { type Test } from 'tap';
import { request } from 'undici';
import { faultUpstream, type Fault, type FaultOptions } from '../../helpers/fault-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';

async function upstreamWith(t: Test, options: FaultOptions) {
  const upstream = await faultUpstream(options);
  t.teardown(() => upstream.close());
  return upstream;
}

async function chat(url: string, body: Record<string, unknown> = {}) {
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...body }) });
  const text = await res.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, json, text };
}

const provider = (name: string, url: string, extra = '') => `  ${name}: { use: openai, base_url: ${url}/v1, api_key: key-${name}, models: [m]${extra} }`;

t.test('retry: transient failures are retried with backoff until an answer; the client never sees them', async (t) => {
  const up = await upstreamWith(t, { faults: [{ status: 503 }, { status: 529 }, 'reset'] });
  const { url } = await startTestRouter(t, `
providers:
${provider('up', up.url)}
pipeline:
  - use: router
    with: { default: up/m }
  - use: retry
    with: { attempts: 4, base_delay: 20ms }
`);
  const answer = await chat(url);
  t.equal(answer.status, 200);
  t.equal(answer.headers['x-router-attempts'], '4');
  t.same(up.served.map((s) => s.status), [503, 529, 0, 200]);
});

t.test('retry: honours retry-after, gives up when it is beyond max_delay, and never retries a client error', async (t) => {
  const up = await upstreamWith(t, { faults: [{ status: 429, retryAfter: 1 }] });
  const { url } = await startTestRouter(t, `
providers:
${provider('up', up.url)}
pipeline:
  - use: router
    with: { default: up/m }
  - use: retry
    with: { attempts: 3, base_delay: 10ms, max_delay: 5s }
`);
  t.equal((await chat(url)).status, 200);
  t.ok(up.served[1].at - up.served[0].at >= 950, `waited the second the provider asked for (${up.served[1].at - up.served[0].at} ms)`);

  up.faults.push({ status: 429, retryAfter: 60 });
  const limited = await chat(url);
  t.equal(limited.status, 429, 'a minute is longer than max_delay: the client hears it now');
  t.equal(limited.headers['retry-after'], '60');

  const before = up.served.length;
  up.faults.push({ status: 400 });
  t.equal((await chat(url)).status, 400);
  t.equal(up.served.length, before + 1, 'a 400 is not retried');
});

t.test('retry: a timeout (the provider never answers) is retried', async (t) => {
  const up = await upstreamWith(t, { faults: ['hang'] });
  const { url } = await startTestRouter(t, `
providers:
${provider('up', up.url, ', timeouts: { headers: 300ms }')}
pipeline:
  - use: router
    with: { default: up/m }
  - use: retry
    with: { base_delay: 10ms }
`);
  const answer = await chat(url);
  t.equal(answer.status, 200);
  t.equal(up.served.length, 2);
});

t.test('retry: the budget keeps retries to a share of the traffic during an outage', async (t) => {
  const up = await upstreamWith(t, { faults: Array<Fault>(200).fill({ status: 503 }) });
  const { url, router } = await startTestRouter(t, `
providers:
${provider('up', up.url)}
pipeline:
  - use: router
    with: { default: up/m }
  - use: retry
    with: { attempts: 5, base_delay: 1ms, max_delay: 2ms, budget: { ratio: 0.1, min_per_second: 0.5 } }
`);
  const answers = await Promise.all(Array.from({ length: 30 }, () => chat(url)));
  t.ok(answers.every((a) => a.status === 503), 'every client still gets an answer');
  const retries = up.served.length - 30;
  t.ok(retries <= 8, `${retries} retries for 30 requests (without a budget: 120)`);
  void router;
});

t.test('fallback: a failing provider hands over to the next target, translated for its dialect', async (t) => {
  const broken = await upstreamWith(t, { faults: Array<Fault>(10).fill({ status: 500 }) });
  const spare = await upstreamWith(t, { dialect: 'anthropic' });
  const { url } = await startTestRouter(t, `
providers:
${provider('broken', broken.url)}
  spare: { use: anthropic, base_url: ${spare.url}, api_key: key-spare, models: [claude] }
pipeline:
  - use: router
    with: { default: broken/m }
  - use: fallback
    with: { default: [spare/claude] }
  - use: retry
    with: { attempts: 2, base_delay: 5ms }
`);
  const answer = await chat(url);
  t.equal(answer.status, 200);
  t.equal(answer.headers['x-router-route'], 'spare/claude; reason=model; fallback_from=broken/m');
  t.match(answer.json, { object: 'chat.completion', choices: [{ message: { role: 'assistant' } }] }, 'an Anthropic answer, translated to the OpenAI client');
  t.equal(broken.served.length, 2, 'retried once on the broken one first');
  t.equal(spare.served[0].body.model, 'claude');
});

t.test('breaker: opens after consecutive failures, sends traffic to the fallback at once, closes after a good probe', async (t) => {
  const flaky = await upstreamWith(t, { faults: Array<Fault>(3).fill({ status: 502 }) });
  const spare = await upstreamWith(t, {});
  const { url, router } = await startTestRouter(t, `
server: { admin_key: admin-0123456789 }
providers:
${provider('flaky', flaky.url)}
${provider('spare', spare.url)}
pipeline:
  - use: router
    with: { default: [flaky/m, spare/m] }
  - use: fallback
  - use: breaker
    with: { consecutive: 3, cooldown: 400ms }
`);
  const ask = () => chat(url, { model: 'gpt-4o' });
  for (let i = 0; i < 3; i++) t.equal((await ask()).status, 200, `request ${i} answered by the fallback`);
  t.equal(flaky.served.length, 3, 'three failures opened the circuit');
  const state = await (await request(`${url}/admin/state`, { headers: { 'x-api-key': 'admin-0123456789' } })).body.json() as any;
  t.match(state.plugins.find((p: any) => p.plugin === 'middleware.breaker').state['flaky/m'], { status: 'open', totals: { failed: 3, opened: 1 } });

  const fast = await ask();
  t.equal(fast.headers['x-router-route'], 'spare/m; reason=default; fallback_from=flaky/m');
  t.equal(flaky.served.length, 3, 'an open circuit is not even tried');

  await new Promise((resolve) => setTimeout(resolve, 450));
  const probe = await ask();
  t.equal(probe.headers['x-router-route'], 'flaky/m; reason=default', 'the half-open probe succeeded');
  t.equal((await ask()).headers['x-router-route'], 'flaky/m; reason=default', 'closed again');
  void router;
});

t.test('breaker without a fallback: the client gets 503 with retry-after at once', async (t) => {
  const down = await upstreamWith(t, { faults: Array<Fault>(5).fill({ status: 500 }) });
  const { url } = await startTestRouter(t, `
providers:
${provider('down', down.url)}
pipeline:
  - use: router
    with: { default: down/m }
  - use: breaker
    with: { consecutive: 2, cooldown: 30s }
`);
  await chat(url);
  await chat(url);
  const open = await chat(url);
  t.equal(open.status, 503);
  t.match(open.json, { error: { message: /down\/m is failing; requests to it are paused for \d+ s/ } });
  t.ok(Number(open.headers['retry-after']) >= 29);
  t.equal(down.served.length, 2);
});

t.test('under a storm of mixed faults no request is lost or hangs', async (t) => {
  const faults: Fault[] = [];
  for (let i = 0; i < 60; i++) faults.push(i % 5 === 0 ? 'reset' : i % 3 === 0 ? { status: 503 } : i % 7 === 0 ? { status: 429, retryAfter: 0 } : { delayMs: 20 });
  const a = await upstreamWith(t, { faults });
  const b = await upstreamWith(t, { faults: [{ status: 500 }, 'reset'] });
  const { url } = await startTestRouter(t, `
providers:
${provider('a', a.url, ', timeouts: { headers: 2s }')}
${provider('b', b.url)}
pipeline:
  - use: router
    with: { default: [a/m, b/m] }
  - use: fallback
  - use: retry
    with: { attempts: 3, base_delay: 5ms, max_delay: 50ms, budget: { ratio: 1 } }
  - use: breaker
    with: { consecutive: 50, min_requests: 100 }
  - use: scheduler
    with: { concurrency: 8 }
`);
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => chat(url, { model: 'gpt-4o', stream: i % 2 === 0 })));
  t.equal(answers.length, 40);
  for (const answer of answers) {
    t.ok(answer.status === 200 || (answer.status >= 400 && answer.json.error?.message), `answered: ${answer.status}`);
    if (answer.status === 200 && answer.headers['content-type']?.toString().includes('event-stream')) t.match(answer.text, /data: \[DONE\]\n\n$/, 'a complete stream');
  }
  t.ok(answers.filter((x) => x.status === 200).length >= 36, 'nearly all answered despite the faults');
});
