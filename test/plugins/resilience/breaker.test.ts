/**
 * The circuit breaker's states against a fault-injecting provider: how it opens (failures in a row,
 * or an error ratio), and how half-open is decided by its probes alone, never by requests admitted
 * under an earlier state.
 */
import t, { type Test } from 'tap';
import { request } from 'undici';
import { faultUpstream, type Fault } from '../../helpers/fault-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';
import { waitFor } from '../../helpers/wait.ts';

async function setup(t: Test, faults: Fault[], breaker: string) {
  const upstream = await faultUpstream({ faults });
  t.teardown(() => upstream.close());
  const router = await startTestRouter(
    t,
    `
server: { admin_key: admin-0123456789 }
providers:
  up: { use: openai, base_url: ${upstream.url}/v1, api_key: key-up, models: [m] }
pipeline:
  - use: router
    with: { default: up/m }
  - use: breaker
    with: ${breaker}
`,
  );
  const circuit = async () => {
    const state = (await (await request(`${router.url}/admin/state`, { headers: { 'x-api-key': 'admin-0123456789' } })).body.json()) as any;
    return state.plugins.find((p: any) => p.plugin === 'middleware.breaker').state['up/m'];
  };
  const chat = (label: string, signal?: AbortSignal) =>
    request(`${router.url}/v1/chat/completions`, { method: 'POST', signal, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: label }] }) }).then(
      async (res) => ({ status: res.statusCode, code: ((await res.body.json()) as any).error?.code as string | undefined }),
      () => ({ status: 0, code: 'aborted' }),
    );
  /** Resolves once the open circuit's cooldown has passed (the next request will be a probe). */
  const cooled = () => waitFor(async () => (await circuit()).reopensInMs === 0, 5000, 'the cooldown to pass');
  return { upstream, ...router, circuit, chat, cooled };
}

const served = (upstream: { requests: Array<{ json: any }> }) => upstream.requests.map((r) => r.json.messages[0].content);

t.test('an error ratio over the window opens the circuit once there are enough requests', async (t) => {
  const { chat, circuit } = await setup(t, [{ status: 502 }, { status: 502 }], '{ consecutive: 100, window: 10, min_requests: 4, error_ratio: 0.5, cooldown: 30s }');
  for (const label of ['a', 'b', 'c']) await chat(label);
  t.match(await circuit(), { status: 'closed', recent: { requests: 3, failures: 2 } }, 'two failures of three, but fewer than min_requests');
  t.equal((await chat('d')).status, 200);
  t.match(await circuit(), { status: 'open', totals: { opened: 1 } }, 'two of four: the ratio is reached');
  t.match(await chat('e'), { status: 503 });
});

t.test('half-open lets `probes` requests through at once; the others fail fast until a probe decides', async (t) => {
  const { chat, circuit, cooled, upstream } = await setup(t, [{ status: 502 }, { status: 502 }, { delayMs: 600 }], '{ consecutive: 2, cooldown: 300ms, probes: 1 }');
  await chat('f1');
  await chat('f2');
  await cooled();
  const probe = chat('probe');
  await waitFor(() => upstream.requests.length === 3, 3000, 'the probe upstream');
  t.match(await circuit(), { status: 'half_open', probing: 1 });
  t.match(await chat('while-probing'), { status: 503 }, 'the probe slot is taken');
  t.match(await probe, { status: 200 });
  t.match(await circuit(), { status: 'closed' }, 'the probe succeeded');
  t.match(await chat('after'), { status: 200 });
  t.same(served(upstream), ['f1', 'f2', 'probe', 'after']);
});

t.test('a request admitted while closed that ends during half-open frees no probe slot and decides nothing', async (t) => {
  const { chat, circuit, cooled, upstream } = await setup(t, [{ delayMs: 1500 }, { status: 502 }, { status: 502 }, { delayMs: 1500 }], '{ consecutive: 2, cooldown: 300ms, probes: 1 }');
  const early = new AbortController();
  const admittedWhileClosed = chat('early', early.signal);
  await waitFor(() => upstream.requests.length === 1, 3000, 'the early request upstream');
  await chat('f1');
  await chat('f2');
  await cooled();
  const probe = chat('probe');
  await waitFor(() => upstream.requests.length === 4, 3000, 'the probe upstream');
  early.abort(); // its client leaves: it was never a probe
  t.match(await admittedWhileClosed, { code: 'aborted' });
  t.match(await chat('while-probing'), { status: 503 }, 'still only one probe at a time');
  t.match(await circuit(), { status: 'half_open', probing: 1 });
  t.match(await probe, { status: 200 });
  t.same(served(upstream), ['early', 'f1', 'f2', 'probe']);
});

t.test('a late success from before the circuit opened does not close it', async (t) => {
  const { chat, circuit, cooled, upstream } = await setup(t, [{ delayMs: 1500 }, { status: 502 }, { status: 502 }, { status: 502, delayMs: 2000 }], '{ consecutive: 2, cooldown: 300ms, probes: 1 }');
  const early = chat('early');
  await waitFor(() => upstream.requests.length === 1, 3000, 'the early request upstream');
  await chat('f1');
  await chat('f2');
  await cooled();
  const probe = chat('probe');
  await waitFor(() => upstream.requests.length === 4, 3000, 'the probe upstream');
  t.match(await early, { status: 200 }, 'the early request ends well, while the probe is out');
  t.match(await circuit(), { status: 'half_open' }, 'it was not a probe: the circuit waits for the probe');
  t.match(await probe, { status: 502 });
  t.match(await circuit(), { status: 'open', totals: { opened: 2 } }, 'the failed probe opened it again');
});

t.test('a late failure while open does not restart the cooldown', async (t) => {
  const { chat, circuit } = await setup(t, [{ status: 502, delayMs: 1000 }, { status: 502 }, { status: 502 }], '{ consecutive: 2, cooldown: 400ms, probes: 1 }');
  const slow = chat('slow');
  await chat('f1');
  await chat('f2');
  t.match(await circuit(), { status: 'open' });
  t.match(await slow, { status: 502 }, 'the slow failure arrives after the cooldown has passed');
  t.match(await chat('probe'), { status: 200 }, 'the next request is let through as a probe: the cooldown ran from when it opened');
  t.match(await circuit(), { status: 'closed', totals: { opened: 1, ignoredLate: 1 } });
});
