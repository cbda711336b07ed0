/**
 * Builds the undici dispatcher behind one provider's connections: a keep-alive pool per origin
 * (undici's Agent), with HTTP/2 when asked, cached DNS lookups (undici's dns interceptor), a custom
 * CA or no verification for self-hosted upstreams, and at most one proxy agent when a proxy is
 * configured or set in the environment (HTTPS_PROXY / HTTP_PROXY, honouring NO_PROXY).
 */
import { readFileSync } from 'node:fs';
import { Agent, EnvHttpProxyAgent, interceptors, ProxyAgent, type Dispatcher } from 'undici';

export interface DispatcherSettings {
  connections: number;
  connectTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
  keepAliveTimeout: number;
  http2: boolean;
  dnsCache: boolean;
  /** A proxy URL, false for none, or 'env' to follow HTTPS_PROXY / HTTP_PROXY / NO_PROXY. */
  proxy: string | false | 'env';
  caFile?: string;
  insecure: boolean;
}

export function createDispatcher(settings: DispatcherSettings, env: NodeJS.ProcessEnv = process.env): Dispatcher {
  const tls = {
    timeout: settings.connectTimeout,
    ...(settings.caFile ? { ca: readFileSync(settings.caFile) } : {}),
    ...(settings.insecure ? { rejectUnauthorized: false } : {}),
  };
  const pool = {
    connections: settings.connections,
    headersTimeout: settings.headersTimeout,
    bodyTimeout: settings.bodyTimeout,
    keepAliveTimeout: settings.keepAliveTimeout,
    keepAliveMaxTimeout: Math.max(settings.keepAliveTimeout, 600_000),
    allowH2: settings.http2,
  };
  if (settings.proxy === 'env') {
    const httpsProxy = env.HTTPS_PROXY ?? env.https_proxy;
    const httpProxy = env.HTTP_PROXY ?? env.http_proxy;
    if (httpsProxy || httpProxy) {
      return new EnvHttpProxyAgent({ ...pool, connect: tls, httpProxy, httpsProxy, noProxy: env.NO_PROXY ?? env.no_proxy ?? '' });
    }
  } else if (settings.proxy) {
    return new ProxyAgent({ ...pool, uri: settings.proxy, requestTls: tls, proxyTls: tls });
  }
  const agent = new Agent({ ...pool, connect: tls });
  return settings.dnsCache ? agent.compose(interceptors.dns({ maxTTL: 60_000 })) : agent;
}
