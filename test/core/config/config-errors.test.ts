import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import { isConfigError, type ConfigError } from '../../../core/config/config-error.ts';
import { loadConfig, readConfig } from '../../../core/config/load.ts';
import { compileGeneration } from '../../../core/generation/compile.ts';
import { SharedResources } from '../../../core/generation/shared-resources.ts';
import { TokenCounter } from '../../../core/tokens/token-counter.ts';

/** Loads and compiles a config the way a reload does; returns the error it is rejected with. */
async function rejection(yaml: string, env: Record<string, string> = {}): Promise<ConfigError> {
  const dir = mkdtempSync(join(tmpdir(), 'rk-config-'));
  const file = join(dir, 'router.yaml');
  writeFileSync(file, yaml);
  try {
    const loaded = await readConfig(file, env);
    await compileGeneration(loaded, undefined, { id: 1, log: pino({ level: 'silent' }), shared: new SharedResources(), tokens: new TokenCounter({ log: pino({ level: 'silent' }) }), provision: false });
  } catch (err) {
    if (isConfigError(err)) return err;
    throw err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  throw new Error('config was accepted');
}

const good = `providers:
  mock:
    use: mock
    models: [m1]
pipeline:
  - use: router
    with:
      default: mock/m1
`;

t.test('a YAML syntax error names the file and line', async (t) => {
  const err = await rejection('providers:\n  mock:\n    use: mock\n    models: [m1\npipeline: []\n');
  t.match(err.issues[0], { file: /router\.yaml$/, line: Number, message: /YAML syntax/ });
  t.match(err.message, /router\.yaml:\d+:\d+ YAML syntax/);
});

t.test('a duplicated key is a syntax error at its line', async (t) => {
  const err = await rejection('providers:\n  mock:\n    use: mock\nproviders: {}\n');
  t.match(err.issues[0], { line: 4, message: /unique/ });
});

t.test('an unknown top-level field is reported at its line with a suggestion', async (t) => {
  const err = await rejection(good + 'pipelines: []\n');
  t.match(err.issues[0], { path: 'pipelines', line: 9, message: /not a known field \(did you mean "pipeline"\?\)/ });
});

t.test('a wrong type is reported with its YAML path', async (t) => {
  const err = await rejection('server:\n  port: lots\n' + good);
  t.match(err.issues[0], { path: 'server.port', line: 2, message: 'must be an integer' });
  t.match(err.message, /router\.yaml:2:3 server\.port: must be an integer/);
});

t.test("a plugin's own option schema is checked, with the path inside the pipeline", async (t) => {
  const err = await rejection(`providers:
  mock:
    use: mock
    latency: soon
pipeline:
  - use: router
    with:
      default: mock/m1
      fallbacks: []
`);
  const paths = err.issues.map((i) => `${i.line} ${i.path}: ${i.message}`);
  t.match(paths, [/^4 providers\.mock\.latency: must be a duration/, /^9 pipeline\[0\]\.with\.fallbacks: is not a known field/]);
});

t.test('an unknown plugin is reported at its `use` line with the built-ins listed', async (t) => {
  const err = await rejection(good.replace('use: router', 'use: ruter'));
  t.match(err.issues[0], { path: 'pipeline[0].use', line: 6, message: /"ruter" is not a built-in plugin \(.*router.*\)/ });
});

t.test('a provider plugin used in the pipeline is refused', async (t) => {
  const err = await rejection(good.replace('use: router\n    with:\n      default: mock/m1', 'use: mock'));
  t.match(err.issues[0], { path: 'pipeline[0].use', message: /provider plugin/ });
});

t.test('a missing environment variable is named, with its path and line', async (t) => {
  const err = await rejection(`providers:
  remote:
    use: openai
    base_url: https://example.invalid/v1
    api_key: \${REMOTE_KEY}
`);
  t.match(err.issues[0], { path: 'providers.remote.api_key', line: 5, message: /environment variable REMOTE_KEY is not set/ });
});

t.test('a failed validate hook rejects the config at the plugin', async (t) => {
  const err = await rejection(good.replace('default: mock/m1', 'default: elsewhere/m1'));
  t.match(err.issues[0], { path: 'pipeline[0]', line: 6, message: /failed to validate: default: "elsewhere\/m1" names provider "elsewhere", which is not configured/ });
});

t.test('a missing required field is reported at the parent', async (t) => {
  const err = await rejection('providers:\n  mock:\n    models: [a]\n');
  t.match(err.issues[0], { path: 'providers.mock.use', line: 2, message: 'is required' });
});

t.test('a missing file is reported plainly', async (t) => {
  await t.rejects(loadConfig('/nonexistent/router.yaml'), { message: /cannot read config: file not found/ });
});

t.test('every problem in a file is reported at once', async (t) => {
  const err = await rejection('server:\n  port: x\n  host: 5\nlog:\n  level: loud\nproviders:\n  m:\n    use: mock\n');
  t.ok(err.issues.length >= 2);
  t.match(err.issues.map((i) => i.path), ['server.port', 'log.level']);
});

t.test('problems in the file and in plugins are reported in one attempt', async (t) => {
  const err = await rejection(`server:
  port: nope
providers:
  mock:
    use: mock
    chunk_dely: 5
pipeline:
  - use: ruter
  - use: router
    with: { default: elsewhere/m1 }
`);
  t.match(err.issues.map((i) => i.path), ['server.port', 'providers.mock.chunk_dely', 'pipeline[0].use']);
});

t.test('every failing validate hook is reported, not just the first', async (t) => {
  const err = await rejection(`providers:
  mock:
    use: mock
pipeline:
  - use: router
    with: { default: one/m }
  - use: router
    name: second
    with: { default: two/m }
`);
  t.match(err.issues, [{ path: 'pipeline[0]', message: /"one"/ }, { path: 'pipeline[1]', message: /"two"/ }]);
});
