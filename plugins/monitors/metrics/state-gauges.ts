/**
 * Gauges read from the live plugins' state at scrape time (the same state `GET /admin/state`
 * shows): key health and usage per provider key, queues and requests in flight per provider,
 * circuit breakers, coalescing, retries and client limits. Keys appear by fingerprint only.
 */
import { Gauge, type Registry } from 'prom-client';
import type { PluginStateReport } from 'router-kernel';

const health: Record<string, number> = { healthy: 0, cooling: 1, quarantined: 2, disabled: 3 };
const circuit: Record<string, number> = { closed: 0, half_open: 1, open: 2 };

type Read = () => PluginStateReport[];

export function stateGauges(registry: Registry, read: () => Read | undefined): void {
  const registers = [registry];
  const states = (plugin: string) => (read()?.() ?? []).filter((p) => p.plugin === plugin).map((p) => p.state as Record<string, any>);
  const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        fill(this);
      },
    });

  gauge('router_key_health', 'Provider key health: 0 healthy, 1 cooling down after a 429, 2 quarantined after a refusal, 3 disabled.', ['provider', 'key'], (g) => {
    for (const state of states('scheduler.scheduler')) for (const [provider, pool] of Object.entries(state)) for (const key of pool.keys) g.set({ provider, key: key.id }, health[key.health] ?? -1);
  });
  gauge('router_key_inflight', 'Requests in flight per provider key.', ['provider', 'key'], (g) => {
    for (const state of states('scheduler.scheduler')) for (const [provider, pool] of Object.entries(state)) for (const key of pool.keys) g.set({ provider, key: key.id }, key.inflight);
  });
  gauge('router_key_requests_last_minute', 'Requests sent with each provider key in the last minute.', ['provider', 'key'], (g) => {
    for (const state of states('scheduler.scheduler')) for (const [provider, pool] of Object.entries(state)) for (const key of pool.keys) g.set({ provider, key: key.id }, key.lastMinute.requests);
  });
  gauge('router_provider_inflight', 'Requests in flight per provider (its concurrency limit applies to this).', ['provider'], (g) => {
    for (const state of states('scheduler.scheduler')) for (const [provider, pool] of Object.entries(state)) g.set({ provider }, pool.inflight);
  });
  gauge('router_queue_depth', 'Requests waiting for capacity, per provider and priority class.', ['provider', 'class'], (g) => {
    for (const state of states('scheduler.scheduler')) for (const [provider, pool] of Object.entries(state)) for (const [cls, n] of Object.entries(pool.queued as Record<string, number>)) g.set({ provider, class: cls }, n);
  });
  gauge('router_circuit_state', 'Circuit breaker per target: 0 closed, 1 half-open, 2 open.', ['target'], (g) => {
    for (const state of states('middleware.breaker')) for (const [target, c] of Object.entries(state)) g.set({ target }, circuit[c.status] ?? -1);
  });
  gauge('router_coalesce_inflight', 'Upstream calls currently shared by coalesced requests, and the clients waiting on them.', ['what'], (g) => {
    for (const state of states('cache.coalesce')) {
      g.set({ what: 'calls' }, state.inFlight);
      g.set({ what: 'clients' }, state.waiting);
    }
  });
  gauge('router_coalesced_requests', 'Requests that led or joined a shared upstream call since start.', ['role'], (g) => {
    for (const state of states('cache.coalesce')) {
      g.set({ role: 'leader' }, state.totals.leaders);
      g.set({ role: 'follower' }, state.totals.followers);
    }
  });
  gauge('router_retries', 'Retries since start, and those refused by the retry budget.', ['result'], (g) => {
    for (const state of states('middleware.retry')) {
      g.set({ result: 'retried' }, state.retried);
      g.set({ result: 'budget_exhausted' }, state.budgetExhausted);
    }
  });
  gauge('router_client_limited', 'Requests refused by client rate limits since start, per client.', ['client'], (g) => {
    for (const state of states('middleware.client-limits')) for (const c of Object.values(state)) g.set({ client: c.client }, c.totals.limited);
  });
}
