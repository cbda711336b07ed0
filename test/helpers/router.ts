/**
 * Starts a real router for a test: router.yaml written to a temporary folder, listening on a free
 * port of 127.0.0.1, logs captured as parsed JSON lines, everything closed on teardown.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRouter, type RunningRouter } from '../../core/router.ts';
import { captureLogs } from './logs.ts';

export interface TestRouter {
  router: RunningRouter;
  url: string;
  dir: string;
  file: string;
  logs: Array<Record<string, any>>;
  /** Raw log text, for checks that nothing secret was written. */
  logText(): string;
  writeConfig(yaml: string): void;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function startTestRouter(t: Teardown, yaml: string, options: { watch?: boolean; env?: Record<string, string>; files?: Record<string, string> } = {}): Promise<TestRouter> {
  const dir = testDir(undefined);
  const file = join(dir, 'router.yaml');
  for (const [name, text] of Object.entries(options.files ?? {})) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  writeFileSync(file, yaml);
  const { log, lines: logs, text: logText } = captureLogs();
  const router = await startRouter({ configFile: file, port: 0, watch: options.watch ?? false, logger: log, env: { ...process.env, ...options.env } });
  t.teardown(async () => {
    await router.close(2000);
    rmSync(dir, { recursive: true, force: true });
  });
  return { router, url: router.url, dir, file, logs, logText, writeConfig: (text) => writeFileSync(file, text) };
}

/**
 * A scratch folder inside the repository (test/.tmp), so local plugin files written there resolve
 * `import ... from 'router-kernel'` the way they do in a user's project. Removed on teardown.
 */
export function testDir(t: Teardown | undefined): string {
  const root = fileURLToPath(new URL('../.tmp/', import.meta.url));
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(join(root, 'rk-'));
  t?.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The default test config: the mock provider, instant, behind the router. */
export const mockConfig = `
providers:
  mock:
    use: mock
    models: [mock-fast, mock-smart]
pipeline:
  - use: router
    with: { default: mock/mock-fast }
`;

/** Tests that start the router as a command need its build current (npm test builds first; a lone run may not). */
export async function ensureBuilt(): Promise<void> {
  // @ts-expect-error plain JavaScript module without declarations
  const { buildIfStale } = (await import('../../bin/build.js')) as { buildIfStale(): boolean };
  buildIfStale();
}
