/**
 * The resilience plugins' live state, as operators see it: `GET /admin/state` and the Prometheus
 * gauges on `/metrics`, with keys shown only as fingerprints.
 */
import t from 'tap';
import { request } from 'undici';
import { faultUpstream } from '../../helpers/fault-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';

t.test('admin state and metrics show keys, queues, circuits, coalescing, retries and client limits', async (t) => {
  const up = await faultUpstream({ keys: { 'secret-busy-key': { limit: 0, windowMs: 60_000 } }, faults: [{ status: 503 }] });
  t.teardown(() => up.close());
  const { url } = await startTestRouter(
    t,
    `
server: { admin_key: admin-0123456789 }
providers:
  up: { use: openai, base_url: ${up.url}/v1, keys: [secret-busy-key, secret-free-key], models: [m] }
pipeline:
  - use: metrics
  - use: client-limits
    with: { default: { rpm: 100 } }
  - use: router
    with: { default: up/m }
  - use: coalesce
  - use: retry
    with: { base_delay: 5ms }
  - use: breaker
  - use: scheduler
    with: { strategy: priority }
`,
  );
  const chat = async () => (await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', temperature: 0, messages: [{ role: 'user', content: 'hi' }] }) })).body.text();
  await chat(); // 503 retried, then the busy key's 429 moves it to the free key
  await chat();

  const state = (await (await request(`${url}/admin/state`, { headers: { authorization: 'Bearer admin-0123456789' } })).body.json()) as { plugins: Array<{ plugin: string; state: any }> };
  const of = (id: string) => state.plugins.find((p) => p.plugin === id)?.state;
  t.match(of('scheduler.scheduler'), { up: { strategy: 'priority', keys: [{ health: 'cooling' }, { health: 'healthy' }] } });
  t.match(of('middleware.retry'), { retried: 1 });
  t.match(of('middleware.breaker'), { 'up/m': { status: 'closed', totals: { failed: 1 } } });
  t.match(of('cache.coalesce'), { totals: { leaders: 2 } });
  t.match(of('middleware.client-limits'), { anonymous: { requestsLeft: Number } });

  const metrics = await (await request(`${url}/metrics`)).body.text();
  t.match(metrics, /router_key_health\{provider="up",key="key_[0-9a-f]{8}"\} 1/);
  t.match(metrics, /router_key_health\{provider="up",key="key_[0-9a-f]{8}"\} 0/);
  t.match(metrics, /router_queue_depth\{provider="up",class="normal"\} 0/);
  t.match(metrics, /router_circuit_state\{target="up\/m"\} 0/);
  t.match(metrics, /router_coalesced_requests\{role="leader"\} 2/);
  t.match(metrics, /router_retries\{result="retried"\} 1/);
  t.match(metrics, /router_client_limited\{client="anonymous"\} 0/);
  t.notMatch(metrics + JSON.stringify(state), /secret-busy-key|secret-free-key/, 'no key anywhere');
});
