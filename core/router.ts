/**
 * router-kernel as a library: load router.yaml, compile the first generation, listen, watch.
 * The CLI is a thin shell around this; tests start routers the same way.
 *
 *   const router = await startRouter({ configFile: 'router.yaml', port: 0 });
 *   console.log(router.url);   // http://127.0.0.1:54321
 *   await router.close();      // stop accepting, drain, clean up
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from './contract.ts';
import type { Generation } from './generation/generation.ts';
import { createRouterServer } from './http/server.ts';
import { createLogger } from './logger.ts';
import { Supervisor, type ReloadResult } from './supervisor.ts';
import { watchConfig, type ConfigWatcher } from './watcher.ts';
import { readConfig } from './config/load.ts';

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address === '::ffff:127.0.0.1';
}

export interface StartOptions {
  configFile: string;
  /** Override `server.host` / `server.port` (0 picks a free port). */
  host?: string;
  port?: number;
  /** Watch router.yaml and local plugins (default: `watch` in the YAML, which defaults to true). */
  watch?: boolean;
  logger?: Logger;
  env?: Record<string, string | undefined>;
}

export interface RunningRouter {
  url: string;
  host: string;
  port: number;
  supervisor: Supervisor;
  log: Logger;
  generation(): Generation;
  reload(reason?: string): Promise<ReloadResult>;
  /** Stop accepting, let in-flight requests finish (bounded by `server.drain_timeout`), clean up. */
  close(timeoutMs?: number): Promise<void>;
}

export async function startRouter(options: StartOptions): Promise<RunningRouter> {
  const env = options.env ?? process.env;
  // The first load decides the logger (reloads may change its level). A file with problems is
  // compiled anyway below, so that every problem is reported at once.
  const first = await readConfig(options.configFile, env);
  const logUsable = !first.issues.some((issue) => issue.path.startsWith('log'));
  const log = options.logger ?? createLogger(logUsable ? { level: first.config.log.level, format: first.config.log.format } : {});
  const supervisor = new Supervisor(options.configFile, log, env);
  const generation = await supervisor.start(first);
  const { server, beginShutdown } = createRouterServer(supervisor, log);
  server.keepAliveTimeout = generation.settings.keepAliveTimeout;

  const host = options.host ?? generation.settings.host;
  const port = options.port ?? generation.settings.port;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await supervisor.close(0);
    throw err;
  }
  const address = server.address() as AddressInfo;
  // An all-interfaces listener is reached locally through loopback; print an address that works.
  const wildcard = address.address === '0.0.0.0' || address.address === '::';
  const urlHost = wildcard ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  if (!isLoopback(address.address) && generation.settings.authKeys.length === 0) {
    log.warn({ host: address.address }, 'listening beyond this machine with no server.auth.keys: anyone who can reach this port can use your providers');
  }

  let watcher: ConfigWatcher | undefined;
  const reload = async (reason = 'requested'): Promise<ReloadResult> => {
    const before = supervisor.current.settings;
    const result = await supervisor.reload(reason);
    if (result.ok) {
      const current = supervisor.current;
      log.level = current.settings.logLevel;
      watcher?.track(current.files);
      const restartOnly = (['host', 'port', 'keepAliveTimeout'] as const).filter((key) => current.settings[key] !== before[key]);
      if (restartOnly.length > 0) log.warn({ changed: restartOnly }, `server ${restartOnly.join(', ')} changes apply on restart; the listener keeps its current settings`);
    }
    return result;
  };
  if (options.watch ?? first.config.watch) {
    watcher = await watchConfig(supervisor.configFile, generation.files, (file) => void reload(`file changed: ${file}`), log);
  }

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}`,
    host: address.address,
    port: address.port,
    supervisor,
    log,
    generation: () => supervisor.current,
    reload,
    close(timeoutMs?: number) {
      closing ??= (async () => {
        beginShutdown();
        await watcher?.close();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await supervisor.close(timeoutMs);
        server.closeAllConnections();
        await stopped;
      })();
      return closing;
    },
  };
}
