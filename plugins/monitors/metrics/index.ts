/**
 * monitor.metrics: Prometheus metrics at `/metrics` (prom-client). It observes the kernel's
 * diagnostics channels rather than sitting in the request path, and its counters survive reloads
 * (an unchanged instance is reused; a changed one inherits the registry).
 *
 *   pipeline:
 *     - use: metrics
 *       with: { path: /metrics, access: client }
 *
 * router_requests_total, router_request_duration_seconds, router_tokens_total,
 * router_dropped_features_total (the loud downgrades), router_errors_total, router_reloads_total,
 * and gauges of the resilience plugins' live state (state-gauges.ts): keys, queues, circuits,
 * coalescing, retries, client limits.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { channels, definePlugin, type MiddlewareInstance, type PluginStateReport, type RequestContext, type RouterError, type Usage } from 'router-kernel';
import { stateGauges } from './state-gauges.ts';

interface MetricsOptions {
  path: string;
  access: 'public' | 'client' | 'admin';
  process_metrics: boolean;
}

interface Instruments {
  /**
   * The instance that counts. During a reload the old and the new instance are both subscribed
   * until the old one drains; only the owner counts, so nothing is counted twice.
   */
  owner?: object;
  registry: Registry;
  requests: Counter;
  duration: Histogram;
  tokens: Counter;
  dropped: Counter;
  errors: Counter;
  reloads: Counter;
  /** How the owning instance reads the live plugins' state (for the state gauges). */
  states?: () => PluginStateReport[];
}

function instruments(processMetrics: boolean): Instruments {
  const registry = new Registry();
  if (processMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({ name: 'router_requests_total', help: 'Model requests answered, by client dialect, route and HTTP status.', labelNames: ['dialect', 'provider', 'model', 'status'], registers }),
    duration: new Histogram({ name: 'router_request_duration_seconds', help: 'Time from request to last byte written.', labelNames: ['dialect', 'provider'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300], registers }),
    tokens: new Counter({ name: 'router_tokens_total', help: 'Tokens reported by providers, by kind (input, output, cache_read, cache_write).', labelNames: ['provider', 'model', 'kind'], registers }),
    dropped: new Counter({ name: 'router_dropped_features_total', help: 'Things translation could not carry to the provider (also in x-router-dropped).', labelNames: ['feature', 'provider'], registers }),
    errors: new Counter({ name: 'router_errors_total', help: 'Failed requests by error code.', labelNames: ['code'], registers }),
    reloads: new Counter({ name: 'router_reloads_total', help: 'Configuration reloads by result.', labelNames: ['result'], registers }),
  };
}

function withStateGauges(m: Instruments): Instruments {
  stateGauges(m.registry, () => m.states);
  return m;
}

export default definePlugin<MetricsOptions, MiddlewareInstance>({
  id: 'monitor.metrics',
  kind: 'monitor',
  version: '1.0.0',
  description: 'Prometheus metrics for requests, tokens, downgrades, errors and reloads.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      path: { type: 'string', pattern: '^/', default: '/metrics' },
      access: { enum: ['public', 'client', 'admin'], default: 'client' },
      process_metrics: { type: 'boolean', default: true },
    },
  },
  create(options, scope) {
    const m = (scope.inherited as Instruments | undefined) ?? withStateGauges(instruments(options.process_metrics));
    const self = {};
    let previous: object | undefined;

    const onEnd = (message: unknown) => {
      if (m.owner !== self) return;
      const { ctx, status, error, usage, durationMs } = message as { ctx: RequestContext; status: number; error?: RouterError; usage?: Usage; durationMs: number };
      const provider = ctx.route?.provider ?? '';
      const model = ctx.route?.model ?? '';
      m.requests.inc({ dialect: ctx.dialect, provider, model, status: String(status) });
      m.duration.observe({ dialect: ctx.dialect, provider }, durationMs / 1000);
      if (error) m.errors.inc({ code: error.code });
      if (usage) {
        m.tokens.inc({ provider, model, kind: 'input' }, usage.inputTokens);
        m.tokens.inc({ provider, model, kind: 'output' }, usage.outputTokens);
        if (usage.cacheReadTokens) m.tokens.inc({ provider, model, kind: 'cache_read' }, usage.cacheReadTokens);
        if (usage.cacheWriteTokens) m.tokens.inc({ provider, model, kind: 'cache_write' }, usage.cacheWriteTokens);
      }
    };
    const onDropped = (message: unknown) => {
      if (m.owner !== self) return;
      const { ctx, feature } = message as { ctx: RequestContext; feature: string };
      m.dropped.inc({ feature, provider: ctx.route?.provider ?? '' });
    };
    const onReload = (message: unknown) => {
      if (m.owner === self) m.reloads.inc({ result: (message as { ok: boolean }).ok ? 'ok' : 'failed' });
    };

    return {
      provision() {
        previous = m.owner;
        m.owner = self;
        m.states = () => scope.pluginStates();
        subscribe(channels.requestEnd, onEnd);
        subscribe(channels.dropped, onDropped);
        subscribe(channels.reload, onReload);
      },
      cleanup() {
        // A replacement that failed to start hands counting back to the instance still serving.
        if (m.owner === self) m.owner = previous;
        unsubscribe(channels.requestEnd, onEnd);
        unsubscribe(channels.dropped, onDropped);
        unsubscribe(channels.reload, onReload);
      },
      handover: () => m,
      routes: [
        {
          method: 'GET',
          path: options.path,
          access: options.access,
          async handle(_req, res) {
            const text = await m.registry.metrics();
            res.writeHead(200, { 'content-type': m.registry.contentType });
            res.end(text);
          },
        },
      ],
    };
  },
});
