/**
 * The `router-kernel` command.
 *
 *   router-kernel [start] [--config FILE] [--host H] [--port N] [--no-watch]
 *   router-kernel validate [FILE]
 *   router-kernel bench [--quick] [--cases a,b] [--duration S] [--out DIR] [--no-floor]
 *
 * `start` serves until SIGTERM/SIGINT (drain, then exit 0); SIGHUP reloads router.yaml. Without
 * --config it uses ./router.yaml, or the built-in default (mock provider) when there is none.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isConfigError } from './config/config-error.ts';
import { readConfig } from './config/load.ts';
import { compileGeneration } from './generation/compile.ts';
import { SharedResources } from './generation/shared-resources.ts';
import { TokenCounter } from './tokens/token-counter.ts';
import { createLogger } from './logger.ts';
import { packageRoot } from './package-root.ts';
import { startRouter, type RunningRouter } from './router.ts';
import { kernelVersion } from './version.ts';

const builtinConfig = join(packageRoot, 'router.yaml');

const usage = `router-kernel ${kernelVersion}: an LLM gateway for Anthropic and OpenAI clients

Usage:
  router-kernel [start] [--config FILE] [--host HOST] [--port PORT] [--no-watch]
  router-kernel validate [FILE]
  router-kernel bench [--quick] [--cases ID,ID] [--duration SECONDS] [--rounds N] [--out DIR] [--no-floor] [--write-docs]
  router-kernel --help | --version

Options:
  -c, --config FILE   router.yaml to use (default: ./router.yaml, else the built-in default)
  -H, --host HOST     listen address (overrides server.host)
  -p, --port PORT     listen port (overrides server.port)
      --no-watch      do not reload when router.yaml changes (SIGHUP still reloads)
`;

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'bench') return bench(argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        host: { type: 'string', short: 'H' },
        port: { type: 'string', short: 'p' },
        'no-watch': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    process.stderr.write(`router-kernel: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${kernelVersion}\n`);
    return 0;
  }
  const [command = 'start', ...rest] = positionals;
  if (command === 'validate') return validate(rest[0] ?? values.config ?? defaultConfig());
  if (command !== 'start') {
    process.stderr.write(`router-kernel: unknown command "${command}"\n\n${usage}`);
    return 2;
  }
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      process.stderr.write(`router-kernel: --port must be a number from 0 to 65535, got "${values.port}"\n`);
      return 2;
    }
  }
  return start(values.config ?? defaultConfig(), values.host, port, values['no-watch'] ? false : undefined);
}

function defaultConfig(): string {
  if (existsSync('router.yaml')) return 'router.yaml';
  process.stderr.write(`router-kernel: no ./router.yaml here; using the built-in default (${builtinConfig})\n`);
  return builtinConfig;
}

async function validate(file: string): Promise<number> {
  const log = createLogger({ level: 'silent' });
  try {
    const loaded = await readConfig(file);
    const generation = await compileGeneration(loaded, undefined, { id: 0, log, shared: new SharedResources(), tokens: new TokenCounter({ log }), provision: false });
    const providers = [...generation.providers.keys()];
    const pipeline = loaded.config.pipeline.filter((p) => p.enabled).map((p) => p.name ?? p.use);
    process.stdout.write(`${loaded.displayFile} is valid: providers ${providers.join(', ')}; pipeline ${pipeline.length ? pipeline.join(' → ') : '(empty)'}\n`);
    return 0;
  } catch (err) {
    if (isConfigError(err)) {
      process.stderr.write(`${err.message}\n${err.issues.length} problem${err.issues.length === 1 ? '' : 's'} found; the config is not valid.\n`);
      return 1;
    }
    process.stderr.write(`router-kernel: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

async function start(file: string, host: string | undefined, port: number | undefined, watch: boolean | undefined): Promise<number> {
  let router: RunningRouter;
  try {
    router = await startRouter({ configFile: file, host, port, watch });
  } catch (err) {
    if (isConfigError(err)) {
      process.stderr.write(`router-kernel: cannot start, the config is not valid:\n${err.message}\n`);
    } else if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
      process.stderr.write(`router-kernel: cannot listen on ${e.address ?? host}:${e.port ?? port}: the port is already in use (pick another with --port or server.port)\n`);
    } else if ((err as NodeJS.ErrnoException).code === 'EACCES' || (err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') {
      process.stderr.write(`router-kernel: cannot listen: ${(err as Error).message}\n`);
    } else {
      process.stderr.write(`router-kernel: failed to start: ${(err as Error).stack ?? String(err)}\n`);
    }
    return 1;
  }

  const generation = router.generation();
  const providers = [...generation.providers.keys()].map((name) => {
    const models = generation.catalog.models(name).map((m) => m.name);
    return models.length ? `${name} (${models.join(', ')})` : name;
  });
  const listening = router.host === '0.0.0.0' || router.host === '::' ? ` (all interfaces, port ${router.port})` : '';
  process.stdout.write(`router-kernel ${kernelVersion} ready on ${router.url}${listening} · config ${resolve(file)} · providers: ${providers.join(', ')} · pid ${process.pid}\n`);

  process.on('SIGHUP', () => void router.reload('SIGHUP'));
  process.on('unhandledRejection', (reason) => router.log.error({ err: reason }, 'unhandled promise rejection (still serving)'));
  process.on('uncaughtException', (err) => router.log.error({ err }, 'uncaught exception (still serving)'));

  return new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        router.log.warn(`${signal} again: exiting without waiting for requests to finish`);
        done(1);
        return;
      }
      stopping = true;
      router.log.info({ signal, inflight: router.generation().inflight }, 'shutting down: draining in-flight requests');
      router.close().then(
        () => {
          router.log.info('stopped');
          done(0);
        },
        (err: unknown) => {
          router.log.error({ err }, 'error while shutting down');
          done(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

/**
 * The benchmark harness (bench/run.ts) is TypeScript run through tsx, in its own process: it starts
 * the router, mocks and load generator as processes of their own anyway, and keeping it out of
 * the compiled build keeps the router's install small.
 */
function bench(args: string[]): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(packageRoot, 'bench/run.ts'), ...args], { stdio: 'inherit', cwd: process.cwd() });
  return new Promise((resolve) => {
    // Ctrl-C reaches the child too (same process group); it stops what it started, then exits.
    const ignore = () => {};
    process.on('SIGINT', ignore);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve(code ?? (signal ? 130 : 1));
    });
  });
}
